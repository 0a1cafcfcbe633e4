package server

import (
	"context"
	"sync"
	"testing"
	"time"

	"smartrouter/fixtures/mockllm"
)

// A 401 cools a channel until a reload or a successful recovery probe. The
// prober probes /models of the cooled channel at most once per spacing, and
// a success brings the channel back for the next request.
func TestRecoveryProbe(t *testing.T) {
	var mu sync.Mutex
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	advance := func(d time.Duration) { mu.Lock(); now = now.Add(d); mu.Unlock() }

	h := start(t, harnessOpt{
		// keyA fails the chat call and the first probe, then answers.
		mock:    mockllm.Config{Rules: []mockllm.Rule{{Key: keyA, Status: 401, Times: 2}}},
		options: func(o *Options) { o.Clock = clock; o.ProbeTick = -1 },
	})
	body := `{"model":"gpt-4o-mini","messages":[{"role":"user","content":"hi"}]}`
	if a := h.chat(body, nil); a.status != 200 || a.header.Get(HeaderChannel) != "ch-b" {
		t.Fatalf("first request: status %d channel %q, want 200 from ch-b after ch-a's 401", a.status, a.header.Get(HeaderChannel))
	}
	if !h.srv.Live().NeedsProbe("ch-a") {
		t.Fatal("ch-a is not waiting for a recovery probe after a 401")
	}
	ctx := context.Background()
	if n := h.srv.probeOnce(ctx); n != 1 {
		t.Fatalf("probed %d channels, want 1 (ch-a)", n)
	}
	if !h.srv.Live().NeedsProbe("ch-a") {
		t.Fatal("a failed probe ended the auth cooldown")
	}
	if n := h.srv.probeOnce(ctx); n != 0 {
		t.Fatalf("probed %d channels again within the spacing", n)
	}
	if a := h.chat(body, nil); a.header.Get(HeaderChannel) != "ch-b" {
		t.Fatalf("cooled ch-a used before recovery: %q", a.header.Get(HeaderChannel))
	}
	advance(DefaultProbeSpacing)
	if n := h.srv.probeOnce(ctx); n != 1 {
		t.Fatalf("probed %d channels after the spacing, want 1", n)
	}
	if h.srv.Live().NeedsProbe("ch-a") {
		t.Fatal("a successful probe did not end the auth cooldown")
	}
	// ch-b (faster so far, so ranked first) now fails: only a recovered ch-a
	// can answer.
	h.mock.SetRules([]mockllm.Rule{{Key: keyB, Status: 500}})
	if a := h.chat(body, nil); a.status != 200 || a.header.Get(HeaderChannel) != "ch-a" {
		t.Fatalf("after recovery: status %d channel %q, want 200 from ch-a", a.status, a.header.Get(HeaderChannel))
	}
}
