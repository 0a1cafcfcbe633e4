package e2e

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"smartrouter/fixtures/mockllm"
)

// buildRouterc builds routerc into a temporary folder (the build cache makes
// it quick after the first time).
func buildRouterc(t *testing.T) string {
	t.Helper()
	gobin, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("the go command is needed to build routerc: %v", err)
	}
	bin := filepath.Join(t.TempDir(), "routerc")
	out, err := exec.Command(gobin, "build", "-o", bin, "smartrouter/cmd/routerc").CombinedOutput()
	if err != nil {
		t.Fatalf("build routerc: %v\n%s", err, out)
	}
	return bin
}

// runRouterc runs routerc and fails the test when it does not exit 0.
func runRouterc(t *testing.T, bin string, args ...string) string {
	t.Helper()
	out, err := exec.Command(bin, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("routerc %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// standAloneConfig is an installation with no cache at all: one channel
// whose models are whatever its provider lists (model_name: auto), and
// discovery every 3 s.
const standAloneConfig = `server:
  host: "127.0.0.1"
  port: 7601
auth:
  enabled: false
  admin:
    enabled: false
providers:
  mock:
    name: "mock"
    adapter_class: "OpenAIAdapter"
    base_url: "%s/v1"
    auth_type: "bearer"
channels:
  - id: "only"
    name: "The only channel"
    provider: "mock"
    model_name: "auto"
    api_key: "standalone-key"
    priority: 1
tasks:
  model_discovery:
    enabled: true
    interval_minutes: 0.05
    run_on_startup: false
`

// From an empty cache/: routerc discover and routerc compile make a
// snapshot that routerd serves; when the provider starts listing a new model,
// routerd's own discovery task finds it, recompiles and swaps, and the new
// model is served without a restart while requests for the old one keep
// succeeding.
func TestStandAloneDiscoverCompileServeRefresh(t *testing.T) {
	mock := startMock(t, mockllm.Config{})
	mock.SetModels([]string{"e2e-model-a"})
	routerc := buildRouterc(t)

	dir := t.TempDir()
	cfg, cache := filepath.Join(dir, "config"), filepath.Join(dir, "cache")
	for _, d := range []string{cfg, cache} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(cfg, "router_config.yaml"), fmt.Appendf(nil, standAloneConfig, mock.URL()), 0o600); err != nil {
		t.Fatal(err)
	}
	snap := filepath.Join(dir, "router.snap")
	runRouterc(t, routerc, "discover", "-config", cfg, "-cache", cache, "-q")
	runRouterc(t, routerc, "compile", "-config", cfg, "-cache", cache, "-o", snap, "-q")

	p := startRouterd(t, "-snapshot", snap, "-config", cfg, "-cache", cache)
	ask := func(model string) (int, error) {
		resp, err := http.Post(p.url+"/v1/chat/completions", "application/json",
			strings.NewReader(`{"model":"`+model+`","messages":[{"role":"user","content":"hi"}]}`))
		if err != nil {
			return 0, err
		}
		defer resp.Body.Close()
		_, err = io.Copy(io.Discard, resp.Body)
		return resp.StatusCode, err
	}
	if st, err := ask("e2e-model-a"); err != nil || st != http.StatusOK {
		t.Fatalf("the discovered model: %d %v", st, err)
	}
	if st, _ := ask("e2e-model-b"); st != http.StatusNotFound {
		t.Fatalf("a model the provider does not list yet: %d, want 404", st)
	}
	gen0 := p.get("/v1/admin/snapshot")["generation"]

	// Requests for the old model run all along.
	var ok, failed atomic.Int64
	var firstErr atomic.Value
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case <-stop:
				return
			default:
			}
			st, err := ask("e2e-model-a")
			if err != nil || st != http.StatusOK {
				failed.Add(1)
				firstErr.CompareAndSwap(nil, fmt.Sprintf("status %d, error %v", st, err))
				continue
			}
			ok.Add(1)
		}
	}()

	mock.SetModels([]string{"e2e-model-a", "e2e-model-b"})
	// The discovery interval is 3 s (±10 %); a cutoff far above it only
	// keeps a broken build from hanging the suite.
	served := false
	for deadline := time.Now().Add(60 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		if st, err := ask("e2e-model-b"); err == nil && st == http.StatusOK {
			served = true
			break
		}
	}
	close(stop)
	wg.Wait()
	if !served {
		t.Fatalf("the new model was never served; routerd log:\n%s", p.logText())
	}
	if n := failed.Load(); n != 0 {
		t.Fatalf("%d of %d requests failed during the refresh (first: %v)", n, n+ok.Load(), firstErr.Load())
	}
	if ok.Load() == 0 {
		t.Fatal("no request ran during the refresh")
	}
	if gen := p.get("/v1/admin/snapshot")["generation"]; gen == gen0 {
		t.Fatalf("the generation did not change (%v): the model was not served from a new snapshot", gen)
	}
	// The refresh wrote the snapshot file, so the next start maps it.
	out := runRouterc(t, routerc, "dump", snap)
	if !strings.Contains(out, "e2e-model-b") {
		t.Fatal("the snapshot file on disk does not have the new model")
	}
}
