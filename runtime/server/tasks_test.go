package server

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"smartrouter/runtime/internal/servertest"
	"smartrouter/runtime/patterns"
	"smartrouter/runtime/tasks"
)

// fakeCache stands for the discovery cache: the model list of ch-a. The
// refresher "discovers" by adding a model; the build "compiles" the spec
// from the cache, as compiler.BuildBytes would from the JSON files.
type fakeCache struct {
	mu     sync.Mutex
	models []string
	gen    uint64
	fail   error // the build fails with it when set
}

func (fc *fakeCache) add(m string) {
	fc.mu.Lock()
	fc.models = append(fc.models, m)
	fc.mu.Unlock()
}

func (fc *fakeCache) build(h *harness) func(context.Context) ([]byte, error) {
	return func(context.Context) ([]byte, error) {
		fc.mu.Lock()
		defer fc.mu.Unlock()
		if fc.fail != nil {
			return nil, fc.fail
		}
		fc.gen++
		sp := baseSpec(h.mock.URL())
		sp.Generation = 100 + fc.gen
		for _, m := range fc.models {
			sp.Channels[0].Models = append(sp.Channels[0].Models, servertest.Model{ID: m, In: 1, Out: 1, Ctx: 8000})
		}
		return sp.Encode()
	}
}

func startWithTasks(t *testing.T, fc *fakeCache, refresher tasks.Func) (*harness, *tasks.Runner) {
	t.Helper()
	h := start(t, harnessOpt{})
	r, err := tasks.New(tasks.Options{
		Jobs:       []tasks.Job{{Name: tasks.ModelDiscovery, Refresh: true, Run: refresher}},
		Build:      fc.build(h),
		Write:      func(b []byte) error { return servertest.WriteFileAtomic(h.snapPath, b) },
		Reload:     h.srv.Reload,
		Logger:     quietLogger(),
		Registerer: h.srv.Metrics().Registry(),
	})
	if err != nil {
		t.Fatal(err)
	}
	h.srv.SetTasks(r)
	// Registered after the harness, so it runs before the harness's folders
	// are removed: a refresh still writing the snapshot file finishes first.
	t.Cleanup(func() { _ = r.Stop(context.Background()) })
	return h, r
}

func chatBody(model string) string {
	return `{"model":"` + model + `","messages":[{"role":"user","content":"hi"}]}`
}

// TestRefreshServesNewModelWithoutFailures refreshes three times while a
// request loop runs on loopback: every request succeeds, and each model the
// refresher added is served after its refresh.
func TestRefreshServesNewModelWithoutFailures(t *testing.T) {
	fc := &fakeCache{}
	var n atomic.Int32
	h, _ := startWithTasks(t, fc, func(context.Context) (bool, error) {
		fc.add("new-model-" + string(rune('a'+n.Add(1)-1)))
		return true, nil
	})
	if a := h.chat(chatBody("new-model-a"), nil); a.status != http.StatusNotFound {
		t.Fatalf("new-model-a served before the refresh: %d", a.status)
	}

	stop := make(chan struct{})
	var ok, failed atomic.Int64
	var firstErr atomic.Value
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				resp, err := h.client.Post(h.url+PathChat, "application/json", strings.NewReader(chatBody("gpt-4o-mini")))
				if err != nil {
					failed.Add(1)
					firstErr.CompareAndSwap(nil, err.Error())
					continue
				}
				resp.Body.Close()
				if resp.StatusCode != http.StatusOK {
					failed.Add(1)
					firstErr.CompareAndSwap(nil, resp.Status)
					continue
				}
				ok.Add(1)
			}
		}()
	}
	for i, model := range []string{"new-model-a", "new-model-b", "new-model-c"} {
		a := h.do(http.MethodPost, PathAdminRefresh, nil, nil)
		if a.status != http.StatusOK {
			t.Fatalf("refresh %d: %d %s", i, a.status, a.body)
		}
		m := a.json(t)
		if m["status"] != "refreshed" {
			t.Fatalf("refresh answer %s", a.body)
		}
		if c := h.chat(chatBody(model), nil); c.status != http.StatusOK {
			t.Fatalf("after refresh %d, %s: %d %s", i, model, c.status, c.body)
		}
	}
	close(stop)
	wg.Wait()
	if failed.Load() != 0 {
		t.Fatalf("%d of %d requests failed during the swaps; first: %v", failed.Load(), failed.Load()+ok.Load(), firstErr.Load())
	}
	if ok.Load() == 0 {
		t.Fatal("the request loop sent nothing")
	}
	if gen := h.srv.Manager().Info().Generation; gen != 103 {
		t.Fatalf("generation %d after three refreshes, want 103", gen)
	}
	snap := h.do(http.MethodGet, PathAdminSnap, nil, nil).json(t)
	ts, _ := snap["tasks"].(map[string]any)
	lr, _ := ts["last_refresh"].(map[string]any)
	if lr["result"] != "ok" || lr["trigger"] != "admin" {
		t.Fatalf("admin/snapshot tasks: %v", snap["tasks"])
	}
	if snap["generation"] == nil || snap["mode"] != "snapshot" {
		t.Fatalf("admin/snapshot lost the manager's info: %v", snap)
	}
}

func TestFailedRefreshKeepsServingAndShows(t *testing.T) {
	fc := &fakeCache{fail: errors.New("config/router_config.yaml:4: unknown strategy \"fastest\"; use one of cost_first, ...")}
	h, _ := startWithTasks(t, fc, func(context.Context) (bool, error) { return true, nil })
	genBefore := h.srv.Manager().Info().Generation
	a := h.do(http.MethodPost, PathAdminRefresh, nil, nil)
	if a.status != http.StatusUnprocessableEntity || a.errorCode(t) != codeRefresh {
		t.Fatalf("failed refresh answered %d %s", a.status, a.body)
	}
	if !strings.Contains(string(a.body), "unknown strategy") || !strings.Contains(string(a.body), "keeps serving") {
		t.Fatalf("the answer does not say what failed: %s", a.body)
	}
	if c := h.chat(hello, nil); c.status != http.StatusOK {
		t.Fatalf("chat after a failed refresh: %d %s", c.status, c.body)
	}
	if gen := h.srv.Manager().Info().Generation; gen != genBefore {
		t.Fatalf("generation moved from %d to %d", genBefore, gen)
	}
	snap := h.do(http.MethodGet, PathAdminSnap, nil, nil).json(t)
	lr, _ := snap["tasks"].(map[string]any)["last_refresh"].(map[string]any)
	if lr["result"] != "failed" || lr["stage"] != "compile" || !strings.Contains(lr["error"].(string), "unknown strategy") {
		t.Fatalf("last_refresh %v", lr)
	}
	met := string(h.do(http.MethodGet, PathMetrics, nil, nil).body)
	for _, want := range []string{
		`smartrouter_task_runs_total{result="failed",task="refresh"} 1`,
		`smartrouter_task_runs_total{result="ok",task="model_discovery"} 1`,
	} {
		if !strings.Contains(met, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
}

func TestRefreshAndPatternsNotConfigured(t *testing.T) {
	h := start(t, harnessOpt{})
	if a := h.do(http.MethodPost, PathAdminRefresh, nil, nil); a.status != http.StatusNotImplemented || !strings.Contains(string(a.body), "-snapshot") {
		t.Fatalf("refresh without tasks: %d %s", a.status, a.body)
	}
	if a := h.do(http.MethodGet, PathAdminPatterns, nil, nil); a.status != http.StatusNotImplemented {
		t.Fatalf("patterns without a sketch: %d %s", a.status, a.body)
	}
	if a := h.do(http.MethodGet, PathAdminSnap, nil, nil); strings.Contains(string(a.body), `"tasks"`) {
		t.Fatalf("admin/snapshot shows tasks that do not run: %s", a.body)
	}
}

func TestRefreshRefusesBadWait(t *testing.T) {
	fc := &fakeCache{}
	h, r := startWithTasks(t, fc, func(context.Context) (bool, error) { return false, nil })
	if a := h.do(http.MethodPost, PathAdminRefresh+"?wait=forever", nil, nil); a.status != http.StatusBadRequest || a.errorCode(t) != codeInvalid {
		t.Fatalf("wait=forever: %d %s", a.status, a.body)
	}
	// wait=0: the answer does not wait for the cycle.
	a := h.do(http.MethodPost, PathAdminRefresh+"?wait=0s", nil, nil)
	if a.status != http.StatusAccepted && a.status != http.StatusOK {
		t.Fatalf("wait=0s: %d %s", a.status, a.body)
	}
	// Cycles run one at a time: this one starts after the one above ended,
	// so nothing writes into the test's folder after it.
	if res := r.Refresh(context.Background()); res.Result != tasks.ResultOK {
		t.Fatalf("refresh %+v", res)
	}
}

func TestAdminPatternsCountsRoutedModels(t *testing.T) {
	h := start(t, harnessOpt{})
	h.srv.SetPatterns(patterns.New(8))
	for range 3 {
		if a := h.chat(hello, nil); a.status != http.StatusOK {
			t.Fatalf("chat %d", a.status)
		}
	}
	h.chat(chatBody("no-such-model"), nil) // not routed: not counted
	a := h.do(http.MethodGet, PathAdminPatterns+"?limit=5", nil, nil)
	if a.status != http.StatusOK {
		t.Fatalf("patterns: %d %s", a.status, a.body)
	}
	m := a.json(t)
	models, _ := m["models"].([]any)
	if len(models) != 1 || m["k"] != float64(8) {
		t.Fatalf("patterns %s", a.body)
	}
	e := models[0].(map[string]any)
	if e["model"] != "gpt-4o-mini" || e["count"] != float64(3) {
		t.Fatalf("entry %v", e)
	}
	if a := h.do(http.MethodGet, PathAdminPatterns+"?limit=-1", nil, nil); a.status != http.StatusBadRequest {
		t.Fatalf("limit=-1: %d", a.status)
	}
}

func TestPatternsAddNoAllocationsPerRequest(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts differ under -race")
	}
	h := start(t, harnessOpt{})
	p := newInProcess(h, "POST", PathChat, hello)
	for range 5 {
		p.do()
	}
	without := testing.AllocsPerRun(100, func() { p.do() })
	h.srv.SetPatterns(patterns.New(64))
	for range 5 {
		p.do()
	}
	with := testing.AllocsPerRun(100, func() { p.do() })
	if with > without {
		t.Fatalf("counting the model adds %.0f allocations per request", with-without)
	}
}
