package server

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"smartrouter/fixtures/mockllm"
	"smartrouter/runtime/internal/servertest"
	"smartrouter/runtime/outcome"
	"smartrouter/runtime/route"
)

// The fault matrix: every upstream fault, for a plain and a streamed
// request to a single-channel model (ch-c), with what the client gets (status,
// error code, attempts), the cooldown recorded, and how the channel comes
// back once the upstream is healthy again.
func TestFaultMatrix(t *testing.T) {
	var mu sync.Mutex
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	advance := func(d time.Duration) { mu.Lock(); now = now.Add(d); mu.Unlock() }
	h := start(t, harnessOpt{
		spec:    func(s *servertest.Spec) { s.Settings.ReadTimeoutMs = 300 },
		options: func(o *Options) { o.Clock = clock; o.ProbeTick = -1 },
	})
	const model = "qwen/qwen3-8b:free"
	on := func(r mockllm.Rule) []mockllm.Rule { r.Model = model; return []mockllm.Rule{r} }

	// How the channel comes back after the fault is gone.
	const (
		atOnce = iota // the next request (panic routing: the only candidate cools)
		probe         // a successful recovery probe of /models (auth)
		period        // only after the cooldown period (no panic routing)
	)
	tests := []struct {
		name    string
		rules   []mockllm.Rule
		down    bool // the upstream is stopped: connection refused
		status  int  // what the client gets (both modes unless streamStatus)
		code    string
		kind    outcome.Kind // the cooldown recorded
		chWide  bool         // on the channel rather than the pair
		period  time.Duration
		recover int
		// streamStatus, streamEvent: a stream that failed after its first
		// byte is a 200 with an SSE error event.
		streamStatus int
		streamEvent  string
	}{
		{name: "401", rules: on(mockllm.Rule{Status: 401}), status: 503, code: codeAllFailed, kind: outcome.Auth, chWide: true, recover: probe},
		{name: "403", rules: on(mockllm.Rule{Status: 403}), status: 503, code: codeAllFailed, kind: outcome.Auth, chWide: true, recover: probe},
		{name: "404", rules: on(mockllm.Rule{Status: 404}), status: 503, code: codeAllFailed, kind: outcome.NotFound, period: outcome.NotFoundCooldown, recover: period},
		{name: "429 Retry-After", rules: on(mockllm.Rule{Status: 429, RetryAfter: "7"}), status: 503, code: codeAllFailed, kind: outcome.RateLimit, period: 7 * time.Second, recover: atOnce},
		{name: "429 no Retry-After", rules: on(mockllm.Rule{Status: 429}), status: 503, code: codeAllFailed, kind: outcome.RateLimit, period: outcome.RateLimitCooldown, recover: atOnce},
		{name: "429 quota", rules: on(mockllm.Rule{Status: 429, Message: "You exceeded your current quota"}), status: 503, code: codeAllFailed, kind: outcome.Quota, period: outcome.QuotaCooldown, recover: period},
		{name: "500", rules: on(mockllm.Rule{Status: 500}), status: 503, code: codeAllFailed, kind: outcome.Server, period: outcome.ServerCooldown, recover: atOnce},
		{name: "502", rules: on(mockllm.Rule{Status: 502}), status: 503, code: codeAllFailed, kind: outcome.Server, period: outcome.ServerCooldown, recover: atOnce},
		{name: "503", rules: on(mockllm.Rule{Status: 503}), status: 503, code: codeAllFailed, kind: outcome.Server, period: outcome.ServerCooldown, recover: atOnce},
		{name: "timeout", rules: on(mockllm.Rule{Fault: mockllm.FaultSlow, Delay: 2 * time.Second}), status: 503, code: codeAllFailed, kind: outcome.Timeout, period: outcome.NetworkCooldown, recover: atOnce},
		{name: "hang", rules: on(mockllm.Rule{Fault: mockllm.FaultHang}), status: 503, code: codeAllFailed, kind: outcome.Timeout, period: outcome.NetworkCooldown, recover: atOnce},
		{name: "connection refused", down: true, status: 503, code: codeAllFailed, kind: outcome.Timeout, period: outcome.NetworkCooldown, recover: atOnce},
		{name: "mid-stream drop", rules: on(mockllm.Rule{Fault: mockllm.FaultDrop, AfterChunks: 2}), status: 503, code: codeAllFailed, kind: outcome.Timeout, period: outcome.NetworkCooldown, recover: atOnce,
			streamStatus: 200, streamEvent: "upstream_stream_failed"},
		{name: "garbage body", rules: on(mockllm.Rule{Fault: mockllm.FaultGarbage}), status: 503, code: codeAllFailed, kind: outcome.Server, period: outcome.ServerCooldown, recover: atOnce},
		{name: "HTML body", rules: on(mockllm.Rule{Fault: mockllm.FaultHTML, Status: 502}), status: 503, code: codeAllFailed, kind: outcome.Server, period: outcome.ServerCooldown, recover: atOnce},
	}
	for _, tt := range tests {
		for _, stream := range []bool{false, true} {
			name := tt.name
			body := freeModel
			if stream {
				name += "/stream"
				body = freeStream
			}
			t.Run(name, func(t *testing.T) {
				h.srv.Live().Reset("")
				h.mock.SetRules(tt.rules)
				if tt.down {
					if err := h.mock.Stop(); err != nil {
						t.Fatal(err)
					}
				}
				a := h.chat(body, nil)
				wantStatus := tt.status
				if stream && tt.streamStatus != 0 {
					wantStatus = tt.streamStatus
				}
				if a.status != wantStatus || a.header.Get(HeaderAttempts) != "1" {
					t.Fatalf("client got %d, attempts %q, want %d, 1: %s", a.status, a.header.Get(HeaderAttempts), wantStatus, a.body)
				}
				if stream && tt.streamEvent != "" {
					ev := sseEvents(a.body)
					if len(ev) < 2 || ev[len(ev)-1] != "[DONE]" || !strings.Contains(ev[len(ev)-2], tt.streamEvent) {
						t.Fatalf("stream does not end with a %s event and [DONE]: %q", tt.streamEvent, ev)
					}
				} else if code := a.errorCode(t); code != tt.code {
					t.Fatalf("error code %q, want %q: %s", code, tt.code, a.body)
				}
				st := h.srv.Live().Channel("ch-c")
				var got *route.Cooldown
				if tt.chWide {
					got = st.Cooling
				} else if len(st.Pairs) == 1 {
					got = &st.Pairs[0].Cooldown
				}
				if got == nil || got.Kind != tt.kind || got.Period != tt.period || st.ConsecutiveFailures != 1 {
					t.Fatalf("cooldown recorded %+v (streak %d), want %v for %v", got, st.ConsecutiveFailures, tt.kind, tt.period)
				}

				// The fault goes away.
				h.mock.SetRules(nil)
				if tt.down {
					if err := h.mock.Restart(); err != nil {
						t.Fatal(err)
					}
				}
				switch tt.recover {
				case probe:
					if a := h.chat(body, nil); a.status != 503 {
						t.Fatalf("an auth-cooled channel was tried before its probe: %d", a.status)
					}
					advance(DefaultProbeSpacing)
					if n := h.srv.probeOnce(context.Background()); n != 1 {
						t.Fatalf("%d channels probed, want 1", n)
					}
				case period:
					if a := h.chat(body, nil); a.status != 503 || h.srv.Live().Channel("ch-c").Pairs[0].Strikes != 1 {
						t.Fatalf("a %v-cooled pair was tried before its period ended: %d", tt.kind, a.status)
					}
					advance(tt.period)
				}
				a = h.chat(body, nil)
				if a.status != 200 || a.header.Get(HeaderAttempts) != "1" {
					t.Fatalf("after the fault: %d attempts %q: %s", a.status, a.header.Get(HeaderAttempts), a.body)
				}
				// The fake clock did not move: only panic routing can have
				// tried the cooling pair at once.
				if panicked := a.header.Get(HeaderPanic) == "true"; panicked != (tt.recover == atOnce) {
					t.Fatalf("X-Router-Panic %q with recovery %d", a.header.Get(HeaderPanic), tt.recover)
				}
				if stream {
					if ev := sseEvents(a.body); len(ev) == 0 || ev[len(ev)-1] != "[DONE]" || strings.Contains(string(a.body), `"error"`) {
						t.Fatalf("recovered stream: %q", ev)
					}
				}
				if st := h.srv.Live().Channel("ch-c"); len(st.Pairs) != 0 || st.Cooling != nil {
					t.Fatalf("cooldown left after a success: %+v", st)
				}
			})
		}
	}
}
