package server

import (
	"sync"
	"testing"
	"time"

	"smartrouter/fixtures/mockllm"
	"smartrouter/format"
	"smartrouter/runtime/internal/servertest"
	"smartrouter/runtime/outcome"
)

// freeModel is served by ch-c alone: a single-channel model.
const (
	freeModel  = `{"model":"qwen/qwen3-8b:free","messages":[{"role":"user","content":"hi"}]}`
	freeStream = `{"model":"qwen/qwen3-8b:free","stream":true,"messages":[{"role":"user","content":"hi"}]}`
)

// A single-channel model survives a 1-s upstream restart with 10 requests in
// flight: the failures of the outage are one incident (one strike, the base
// period, no whole-channel cooldown, health after one failure), and the
// first request after the upstream is back is served on its first attempt,
// without waiting for the cooldown to run out (panic routing or the
// connection trial let it through), after which no cooldown is left.
func TestSingleChannelSurvivesUpstreamRestart(t *testing.T) {
	h := start(t, harnessOpt{mock: mockllm.Config{Latency: 200 * time.Millisecond}})
	if a := h.chat(freeModel, nil); a.status != 200 {
		t.Fatalf("warm-up: %d %s", a.status, a.body)
	}
	// 10 requests in flight (half of them streams) when the upstream goes.
	var wg sync.WaitGroup
	statuses := make([]int, 10)
	for i := range 10 {
		body := freeModel
		if i%2 == 1 {
			body = freeStream
		}
		wg.Go(func() { statuses[i] = h.chat(body, nil).status })
	}
	for h.mock.Count() < 11 {
		time.Sleep(time.Millisecond)
	}
	down := time.Now()
	if err := h.mock.Stop(); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	// More requests while it is down: refused connections.
	for range 5 {
		if a := h.chat(freeModel, nil); a.status != 503 || a.errorCode(t) != codeAllFailed {
			t.Fatalf("during the outage: %d %s", a.status, a.body)
		}
	}
	for i, st := range statuses {
		if st != 503 {
			t.Errorf("request %d in flight during the outage: status %d, want 503", i, st)
		}
	}
	st := h.srv.Live().Channel("ch-c")
	if st.ConsecutiveFailures != 1 || st.Cooling != nil || st.Health < 0.8-1e-9 || len(st.Pairs) != 1 {
		t.Fatalf("the outage counted as more than one incident: %+v", st)
	}
	if p := st.Pairs[0]; p.Kind != outcome.Timeout || p.Strikes != 1 || p.Period != outcome.NetworkCooldown || p.TrialAt.IsZero() {
		t.Fatalf("pair cooldown after the outage: %+v", p)
	}
	// The outage lasts 1 s (the scenario itself, not an assertion).
	time.Sleep(time.Until(down.Add(time.Second)))
	if err := h.mock.Restart(); err != nil {
		t.Fatalf("restart the upstream: %v", err)
	}
	a := h.chat(freeModel, nil)
	if a.status != 200 || a.header.Get(HeaderAttempts) != "1" || a.header.Get(HeaderChannel) != "ch-c" {
		t.Fatalf("first request after the restart: %d attempts %s %s", a.status, a.header.Get(HeaderAttempts), a.body)
	}
	if st := h.srv.Live().Channel("ch-c"); len(st.Pairs) != 0 || st.Cooling != nil || st.ConsecutiveFailures != 0 {
		t.Fatalf("cooldown left after a success: %+v", st)
	}
	for i := range 10 {
		body := freeModel
		if i%2 == 1 {
			body = freeStream
		}
		if a := h.chat(body, nil); a.status != 200 || a.header.Get(HeaderAttempts) != "1" {
			t.Fatalf("request %d after the restart: %d %s", i, a.status, a.body)
		}
	}
}

// With two channels, the one that failed is skipped while it cools, gets a
// trial request once its period ended, and is back when that succeeds.
func TestRestartTrialWithTwoChannels(t *testing.T) {
	var mu sync.Mutex
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	advance := func(d time.Duration) { mu.Lock(); now = now.Add(d); mu.Unlock() }
	h := start(t, harnessOpt{options: func(o *Options) { o.Clock = clock; o.ProbeTick = -1 }})
	h.mock.SetRules([]mockllm.Rule{{Key: keyA, Status: 503}})
	if a := h.chat(hello, nil); a.status != 200 || a.header.Get(HeaderChannel) != "ch-b" || a.header.Get(HeaderAttempts) != "2" {
		t.Fatalf("ch-a fails, ch-b answers: %d %s attempts %s", a.status, a.header.Get(HeaderChannel), a.header.Get(HeaderAttempts))
	}
	// Cooling: ch-b only, one attempt.
	if a := h.chat(hello, nil); a.header.Get(HeaderChannel) != "ch-b" || a.header.Get(HeaderAttempts) != "1" {
		t.Fatalf("cooling ch-a was tried: %s", a.header.Get(HeaderAttempts))
	}
	// ch-a is healthy again; ch-b (ranked first now: it is the faster one
	// so far) fails, so only a trial of ch-a can answer.
	h.mock.SetRules([]mockllm.Rule{{Key: keyB, Status: 500}})
	advance(outcome.ServerCooldown)
	a := h.chat(hello, nil)
	if a.status != 200 || a.header.Get(HeaderChannel) != "ch-a" {
		t.Fatalf("trial: %d %s", a.status, a.header.Get(HeaderChannel))
	}
	if st := h.srv.Live().Channel("ch-a"); len(st.Pairs) != 0 {
		t.Fatalf("trial success left %+v", st.Pairs)
	}
}

// POST /v1/admin/cooldowns/reset ends cooldowns on demand (admin auth, an
// optional channel filter); a reload ends them too.
func TestAdminCooldownsReset(t *testing.T) {
	h := start(t, harnessOpt{
		mock: mockllm.Config{Rules: []mockllm.Rule{{Key: keyA, Status: 401}, {Key: keyB, Status: 500}}},
		spec: func(s *servertest.Spec) {
			s.Settings.AdminEnabled = true
			s.Settings.AdminToken = format.Secret{Env: "ADMIN_TOKEN"}
		},
		options: func(o *Options) { o.ProbeTick = -1 },
	})
	admin := map[string]string{"Authorization": "Bearer admin-token-1"}
	if a := h.chat(hello, nil); a.status != 503 {
		t.Fatalf("both channels fail: %d", a.status)
	}
	if h.srv.Live().Channel("ch-a").Cooling == nil || len(h.srv.Live().Channel("ch-b").Pairs) != 1 {
		t.Fatal("no cooldowns recorded")
	}
	if a := h.do("POST", PathAdminCooldownsReset, nil, nil); a.status != 401 {
		t.Fatalf("without the admin token: %d", a.status)
	}
	if a := h.do("POST", PathAdminCooldownsReset+"?channel=nope", nil, admin); a.status != 404 {
		t.Fatalf("unknown channel: %d %s", a.status, a.body)
	}
	a := h.do("POST", PathAdminCooldownsReset+"?channel=ch-b", nil, admin)
	if a.status != 200 || a.json(t)["cleared"] != 1.0 || a.json(t)["channel"] != "ch-b" {
		t.Fatalf("reset ch-b: %d %s", a.status, a.body)
	}
	if h.srv.Live().Channel("ch-a").Cooling == nil || len(h.srv.Live().Channel("ch-b").Pairs) != 0 {
		t.Fatal("the channel filter was not applied")
	}
	if a := h.do("POST", PathAdminCooldownsReset, nil, admin); a.status != 200 || a.json(t)["cleared"] != 1.0 {
		t.Fatalf("reset all: %d %s", a.status, a.body)
	}
	if h.srv.Live().Channel("ch-a").Cooling != nil {
		t.Fatal("reset all kept ch-a's auth cooldown")
	}
	h.chat(hello, nil)
	if h.srv.Live().Channel("ch-a").Cooling == nil {
		t.Fatal("no cooldown after the second failure")
	}
	if a := h.do("POST", PathAdminReload, nil, admin); a.status != 200 {
		t.Fatalf("reload: %d %s", a.status, a.body)
	}
	if st := h.srv.Live().Channel("ch-a"); st.Cooling != nil {
		t.Fatalf("reload kept the cooldown: %+v", st.Cooling)
	}
}

// routing.enable_fallback false tries only the first candidate.
func TestEnableFallbackOff(t *testing.T) {
	h := start(t, harnessOpt{
		mock: mockllm.Config{Rules: []mockllm.Rule{{Key: keyA, Status: 500}}},
		spec: func(s *servertest.Spec) { s.Settings.EnableFallback = false },
	})
	a := h.chat(hello, nil)
	if a.status != 503 || a.header.Get(HeaderAttempts) != "1" || h.mock.Count() != 1 {
		t.Fatalf("fallback off: %d attempts %s upstream calls %d", a.status, a.header.Get(HeaderAttempts), h.mock.Count())
	}
}

// A request whose context fits no model is a 400 context_length_exceeded
// (clients do not retry it), not a 503.
func TestContextLengthExceeded(t *testing.T) {
	h := start(t, harnessOpt{})
	big := `{"model":"qwen/qwen3-8b:free","max_tokens":40000,"messages":[{"role":"user","content":"hi"}]}`
	a := h.chat(big, nil)
	if a.status != 400 || a.errorCode(t) != codeContextLength || a.header.Get(HeaderStatus) != "context-length-exceeded" {
		t.Fatalf("%d %s %s", a.status, a.header.Get(HeaderStatus), a.body)
	}
	if h.mock.Count() != 0 {
		t.Fatal("the upstream was called")
	}
	if a := h.do("GET", PathAdminRoute+"?model=qwen/qwen3-8b:free&max_tokens=40000", nil, nil); a.status != 400 || a.json(t)["outcome"] != codeContextLength {
		t.Fatalf("admin route: %d %s", a.status, a.body)
	}
}
