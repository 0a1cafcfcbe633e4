package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"smartrouter/fixtures/mockllm"
)

// mockInstall starts a mock upstream and writes an installation with an
// empty cache whose two channels point at it.
func mockInstall(t *testing.T) (*mockllm.Server, string) {
	t.Helper()
	m, err := mockllm.Start(mockllm.Config{Models: []string{"mock-a", "mock-b"}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = m.Close() })
	dir := t.TempDir()
	for _, d := range []string{"config", "cache"} {
		if err := os.Mkdir(filepath.Join(dir, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	y := `providers:
  relay:
    base_url: "` + m.URL() + `/v1"
channels:
  - id: "one"
    provider: "relay"
    model_name: "auto"
    api_key: "${DISCOVER_TEST_KEY_ONE}"
  - id: "two"
    provider: "relay"
    model_name: "auto"
    api_key: "${DISCOVER_TEST_KEY_TWO}"
`
	if err := os.WriteFile(filepath.Join(dir, "config", "router_config.yaml"), []byte(y), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Setenv("DISCOVER_TEST_KEY_ONE", "sk-cli-test-one-1")
	t.Setenv("DISCOVER_TEST_KEY_TWO", "sk-cli-test-two-1")
	return m, dir
}

func TestDiscoverThenCompile(t *testing.T) {
	m, dir := mockInstall(t)
	cfg, cch := filepath.Join(dir, "config"), filepath.Join(dir, "cache")
	o, e, code := routerc("discover", "-config", cfg, "-cache", cch)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, e)
	}
	if !strings.Contains(e, "[2/2]") || !strings.Contains(o, "2 ok, 0 failed") || !strings.Contains(o, "written") {
		t.Errorf("stdout %q stderr %q", o, e)
	}
	if !strings.Contains(o, "one      ok      2       +2 -0") {
		t.Errorf("table:\n%s", o)
	}
	snap := filepath.Join(t.TempDir(), "router.snap")
	if o, e, code := routerc("compile", "-config", cfg, "-cache", cch, "-o", snap, "-q"); code != 0 || !strings.Contains(o, "2 channels, 4 pairs") {
		t.Fatalf("compile exit %d: %s %s", code, o, e)
	}
	// A failing channel keeps its models; -fail-on-error reports it.
	if err := m.SetRules([]mockllm.Rule{{Key: "sk-cli-test-two-1", Status: 500}}); err != nil {
		t.Fatal(err)
	}
	m.SetModels([]string{"mock-a", "mock-c"})
	o, _, code = routerc("discover", "-config", cfg, "-cache", cch, "-q", "-fail-on-error")
	if code != 3 || !strings.Contains(o, "HTTP 500") || !strings.Contains(o, "+1 -1") || !strings.Contains(o, "1 ok, 1 failed") {
		t.Errorf("exit %d:\n%s", code, o)
	}
	if strings.Contains(o, "sk-cli-test") {
		t.Error("the output holds a key")
	}
	if o, _, code := routerc("compile", "-config", cfg, "-cache", cch, "-o", snap, "-q"); code != 0 || !strings.Contains(o, "2 channels, 4 pairs, 3 models") {
		t.Errorf("compile after the failure: %s", o)
	}
}

func TestDiscoverErrors(t *testing.T) {
	_, dir := mockInstall(t)
	_, e, code := routerc("discover", "-config", filepath.Join(dir, "config"), "-cache", filepath.Join(dir, "cache"), "-channels", "one,nope")
	if code != 1 || !strings.Contains(e, `no channel "nope"`) {
		t.Errorf("exit %d: %s", code, e)
	}
	if _, _, code := routerc("discover", "extra"); code != 2 {
		t.Errorf("a positional argument: exit %d", code)
	}
}
