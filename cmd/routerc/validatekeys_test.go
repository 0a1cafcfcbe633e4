package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"smartrouter/fixtures/mockllm"
)

func TestValidateKeys(t *testing.T) {
	m, dir := mockInstall(t)
	if err := m.SetRules([]mockllm.Rule{{Key: "sk-cli-test-two-1", Status: 401}}); err != nil {
		t.Fatal(err)
	}
	cfg, cch := filepath.Join(dir, "config"), filepath.Join(dir, "cache")
	o, e, code := routerc("validate-keys", "-config", cfg, "-cache", cch, "-fail-on-error")
	if code != 3 || !strings.Contains(o, "invalid_key") || !strings.Contains(o, "2 checked, 1 with a problem") || !strings.Contains(e, "[2/2]") {
		t.Errorf("exit %d:\n%s\n%s", code, o, e)
	}
	b, err := os.ReadFile(filepath.Join(cch, "api_key_validation.json"))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(b), "sk-cli-test") || strings.Contains(o+e, "sk-cli-test") {
		t.Error("a plaintext key was written")
	}
	// -due skips the keys checked a moment ago.
	o, _, code = routerc("validate-keys", "-config", cfg, "-cache", cch, "-due", "-q")
	if code != 0 || strings.Count(o, "skipped") != 2 || !strings.Contains(o, "unchanged") {
		t.Errorf("exit %d:\n%s", code, o)
	}
	snap := filepath.Join(t.TempDir(), "router.snap")
	if _, e, code := routerc("compile", "-config", cfg, "-cache", cch, "-o", snap, "-q"); code != 0 {
		t.Fatalf("compile: %s", e)
	}
}
