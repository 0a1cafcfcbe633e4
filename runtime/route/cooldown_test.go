package route

import (
	"errors"
	"math"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"smartrouter/runtime/outcome"
)

// Failures of one incident do not stack: attempts that were already running
// when the incident began, and attempts made while the pair cools, change
// neither the period, nor the health, nor the failure streak.
func TestIncidentFailuresDoNotStack(t *testing.T) {
	clk := newClock()
	l := NewLive(clk.Now)
	// Ten attempts in flight for 2 s all fail at about the same time.
	for i := range 10 {
		got := l.Report("c", "m", failed(outcome.Connection, 0), 2*time.Second)
		if i == 0 && got != outcome.NetworkCooldown {
			t.Fatalf("first failure: period %v", got)
		}
		clk.Advance(10 * time.Millisecond)
	}
	st := l.Channel("c")
	if st.ConsecutiveFailures != 1 || !near(st.Health, 0.8) || st.Cooling != nil {
		t.Fatalf("10 failures of one incident: %+v", st)
	}
	if p := st.Pairs[0]; p.Strikes != 1 || p.Period != outcome.NetworkCooldown || !p.Cooling {
		t.Fatalf("pair record: %+v", p)
	}
	// Failures of attempts that began after the incident but before its
	// trial time (panic-routed ones) are part of it too.
	clk.Advance(100 * time.Millisecond)
	l.Report("c", "m", failed(outcome.Connection, 0), 0)
	if st := l.Channel("c"); st.ConsecutiveFailures != 1 || st.Pairs[0].Strikes != 1 {
		t.Fatalf("failure while cooling counted: %+v", st)
	}
	// The same holds for a concurrent 5xx burst and for auth.
	for range 20 {
		l.Report("d", "m", failed(outcome.Server, 0), time.Second)
		l.Report("e", "m", failed(outcome.Auth, 0), time.Second)
	}
	if st := l.Channel("d"); st.ConsecutiveFailures != 1 || st.Pairs[0].Period != outcome.ServerCooldown || st.Cooling != nil {
		t.Fatalf("5xx burst: %+v", st)
	}
	if st := l.Channel("e"); st.ConsecutiveFailures != 1 || !near(st.Health, 0.8) {
		t.Fatalf("auth burst: %+v", st)
	}
}

// A connection failure (refused, reset) allows a half-open trial after
// ConnectionTrial, doubling with each failed trial; other kinds at the end
// of their period. Only one attempt holds the trial at a time.
func TestHalfOpenTrial(t *testing.T) {
	f := &fixture{chans: []tch{{id: "a", priority: 1}, {id: "b", priority: 2}},
		pairs: []tpair{{ch: "a", id: "m"}, {ch: "b", id: "m"}}}
	r, live, clk := setup(t, f)
	var d Decision
	route := func() []string {
		t.Helper()
		if err := r.Route(Request{Model: "m"}, &d); err != nil {
			t.Fatal(err)
		}
		return names(r, d.Pairs)
	}
	if got := route(); got[0] != "a|m" {
		t.Fatalf("order %q", got)
	}
	pa := slices.Clone(d.Pairs[:1])
	r.Report(pa[0], failed(outcome.Connection, 0), 0)
	if got := route(); !slices.Equal(got, []string{"b|m"}) {
		t.Fatalf("cooling pair routed: %q", got)
	}
	wantTrial := []time.Duration{time.Second, 2 * time.Second, 4 * time.Second, 8 * time.Second}
	for i, w := range wantTrial {
		clk.Advance(w - time.Millisecond)
		if got := route(); len(got) != 1 {
			t.Fatalf("trial %d: routed before %v: %q", i, w, got)
		}
		clk.Advance(time.Millisecond)
		if got := route(); !slices.Equal(got, []string{"a|m", "b|m"}) {
			t.Fatalf("trial %d: not offered after %v: %q", i, w, got)
		}
		r.Used(pa[0]) // this attempt holds the trial
		if got := route(); !slices.Equal(got, []string{"b|m"}) {
			t.Fatalf("trial %d: a second request got the trial: %q", i, got)
		}
		r.Report(pa[0], failed(outcome.Connection, 0), 0) // the trial failed
		live.state("a").consec.Store(0)                   // keep the whole-channel rule out
	}
	// Each failed trial cost health; lift it so that only the cooldown
	// decides here (low health is the prober's business).
	live.state("a").health.Store(math.Float64bits(1))
	// The trial succeeds: closed, for every request.
	clk.Advance(16 * time.Second)
	route()
	r.Used(pa[0])
	r.Report(pa[0], success, time.Millisecond)
	if got := route(); !slices.Equal(got, []string{"a|m", "b|m"}) || len(live.Channel("a").Pairs) != 0 {
		t.Fatalf("after a successful trial: %q %+v", got, live.Channel("a"))
	}

	// A trial whose outcome never comes is given up after TrialLease; a
	// canceled one frees it at once.
	r.Report(pa[0], failed(outcome.Timeout, 0), 0)
	clk.Advance(outcome.NetworkCooldown)
	route()
	r.Used(pa[0])
	r.Report(pa[0], outcome.Of(outcome.Canceled), 0)
	if got := route(); len(got) != 2 {
		t.Fatalf("canceled trial kept its lease: %q", got)
	}
	r.Used(pa[0])
	clk.Advance(TrialLease)
	if got := route(); len(got) != 2 {
		t.Fatalf("lost trial kept its lease: %q", got)
	}
}

// A successful trial or probe ends the channel's other network and server
// cooldowns; quota, not-found and rate-limit ones stay.
func TestTrialClearsChannelCooldowns(t *testing.T) {
	clk := newClock()
	l := NewLive(clk.Now)
	l.Report("c", "m1", failed(outcome.Connection, 0), 0)
	l.Report("c", "m2", failed(outcome.Server, 0), 0)
	l.Report("c", "q", failed(outcome.Quota, 0), 0)
	l.Report("c", "n", failed(outcome.NotFound, 0), 0)
	if l.Channel("c").Cooling == nil {
		t.Fatal("three cooling pairs did not cool the channel")
	}
	clk.Advance(time.Second)
	l.Report("c", "m1", success, time.Millisecond)
	st := l.Channel("c")
	var left []string
	for _, p := range st.Pairs {
		left = append(left, p.Model)
	}
	if st.Cooling != nil || !slices.Equal(left, []string{"n", "q"}) {
		t.Fatalf("after the trial: cooling %+v pairs %q", st.Cooling, left)
	}
	l.Report("d", "m1", failed(outcome.Timeout, 0), 0)
	l.Report("d", "r", failed(outcome.RateLimit, 20*time.Second), 0)
	l.Recover("d")
	if st := l.Channel("d"); len(st.Pairs) != 1 || st.Pairs[0].Model != "r" {
		t.Fatalf("after a probe: %+v", st.Pairs)
	}
}

// A rate limit cools for the upstream's period and never doubles.
func TestRateLimitNotDoubled(t *testing.T) {
	clk := newClock()
	l := NewLive(clk.Now)
	for range 5 {
		if got := l.Report("c", "m", failed(outcome.RateLimit, 7*time.Second), 0); got != 7*time.Second {
			t.Fatalf("period %v", got)
		}
		clk.Advance(7 * time.Second)
		l.state("c").consec.Store(0)
	}
}

// When every matched pair that could serve cools, routing tries the one
// whose cooldown ends first instead of refusing (panic routing); pairs cooled
// for auth, quota or a missing model never qualify.
func TestPanicRouting(t *testing.T) {
	f := &fixture{chans: []tch{{id: "a"}, {id: "b"}, {id: "c"}, {id: "d"}},
		pairs: []tpair{{ch: "a", id: "m"}, {ch: "b", id: "m"}, {ch: "c", id: "m"}, {ch: "d", id: "m"}}}
	r, live, clk := setup(t, f)
	live.Report("a", "m", failed(outcome.Auth, 0), 0)
	live.Report("b", "m", failed(outcome.Server, 0), 0)  // 60 s
	live.Report("c", "m", failed(outcome.Timeout, 0), 0) // 30 s
	live.Report("d", "m", failed(outcome.Quota, 0), 0)
	var d Decision
	if err := r.Route(Request{Model: "m", Explain: true}, &d); err != nil {
		t.Fatalf("panic routing refused: %v", err)
	}
	if got := names(r, d.Pairs); !d.Panic || !d.Explain.Panic || !slices.Equal(got, []string{"c|m"}) {
		t.Fatalf("panic decision %v %q", d.Panic, got)
	}
	// Without Explain, the same.
	if err := r.Route(Request{Model: "m"}, &d); err != nil || !d.Panic || names(r, d.Pairs)[0] != "c|m" {
		t.Fatalf("panic without explain: %v %q", err, names(r, d.Pairs))
	}
	// A panic-routed failure is part of the incident.
	r.Report(d.Pairs[0], failed(outcome.Timeout, 0), 0)
	if st := live.Channel("c"); st.Pairs[0].Strikes != 1 {
		t.Fatalf("panic failure counted: %+v", st.Pairs)
	}
	// Only auth and quota left: refused.
	r.Report(d.Pairs[0], success, 0)
	live.Report("c", "m", failed(outcome.NotFound, 0), 0)
	clk.Advance(time.Millisecond)
	live.Report("b", "m", failed(outcome.Auth, 0), 0)
	err := r.Route(Request{Model: "m"}, &d)
	var nc *NoChannelsError
	if !errors.As(err, &nc) || d.Panic {
		t.Fatalf("auth/quota/not-found cooled pairs: %v panic=%v", err, d.Panic)
	}
}

// A request too large for every pair that could serve it is a
// ContextLengthError; when a pair is left out for another live reason, it
// stays a NoChannelsError.
func TestContextLengthError(t *testing.T) {
	f := &fixture{chans: []tch{{id: "a"}, {id: "b"}, {id: "off", disabled: true}},
		pairs: []tpair{{ch: "a", id: "m", ctx: 8000}, {ch: "b", id: "m", ctx: 16000}, {ch: "off", id: "m", ctx: 1_000_000}}}
	r, live, _ := setup(t, f)
	var d Decision
	err := r.Route(Request{Model: "m", InputTokens: 15000, MaxTokens: 2000}, &d)
	var ce *ContextLengthError
	if !errors.As(err, &ce) || !errors.Is(err, ErrContextLength) || ce.Need != 17000 || ce.Largest != 16000 || ce.Filtered != 2 {
		t.Fatalf("err %v (%+v)", err, ce)
	}
	if err := r.Route(Request{Model: "m", InputTokens: 10000}, &d); err != nil || names(r, d.Pairs)[0] != "b|m" {
		t.Fatalf("fits b: %v", err)
	}
	live.Report("b", "m", failed(outcome.Auth, 0), 0)
	err = r.Route(Request{Model: "m", InputTokens: 10000}, &d)
	var nc *NoChannelsError
	if !errors.As(err, &nc) {
		t.Fatalf("a fitting pair was cooling: %v, want NoChannelsError", err)
	}
}

// An embeddings request naming a model that matches only chat models is a
// NotEmbeddingError, even when some of those pairs are disabled too; an
// embedding model whose only channel is disabled stays a NoChannelsError,
// and the chat request for the same model routes.
func TestNotEmbeddingError(t *testing.T) {
	f := &fixture{chans: []tch{{id: "a"}, {id: "b"}, {id: "off", disabled: true}},
		pairs: []tpair{{ch: "a", id: "gpt-4o"}, {ch: "b", id: "gpt-4o"}, {ch: "off", id: "gpt-4o"}, {ch: "off", id: "text-embedding-3-small"}}}
	r, _, _ := setup(t, f)
	var d Decision
	for _, explain := range []bool{false, true} {
		err := r.Route(Request{Model: "gpt-4o", Embeddings: true, Explain: explain}, &d)
		var ne *NotEmbeddingError
		if !errors.As(err, &ne) || !errors.Is(err, ErrNotEmbedding) || ne.Model != "gpt-4o" || ne.Matched != 3 || ne.RouterStatus() != "model-not-embedding" {
			t.Fatalf("explain %v: err %v (%+v), want NotEmbeddingError", explain, err, ne)
		}
		if !strings.Contains(err.Error(), "not an embedding model") || !strings.Contains(err.Error(), "GET /v1/models") {
			t.Fatalf("message does not say what to do: %q", err)
		}
	}
	if err := r.Route(Request{Model: "gpt-4o"}, &d); err != nil || len(d.Pairs) != 2 {
		t.Fatalf("chat request for gpt-4o: %v, %d pairs", err, len(d.Pairs))
	}
	err := r.Route(Request{Model: "text-embedding-3-small", Embeddings: true}, &d)
	var nc *NoChannelsError
	if !errors.As(err, &nc) {
		t.Fatalf("embedding model on a disabled channel: %v, want NoChannelsError", err)
	}
}

// routing.error_cooldown_period sets the base period of server failures.
func TestErrorCooldownSetting(t *testing.T) {
	f := &fixture{chans: []tch{{id: "a"}}, pairs: []tpair{{ch: "a", id: "m"}}}
	f.settings.ErrorCooldownSec = 7
	r, _, clk := setup(t, f)
	var d Decision
	if err := r.Route(Request{Model: "m"}, &d); err != nil {
		t.Fatal(err)
	}
	if got := r.Report(d.Pairs[0], outcome.Of(outcome.Server), 0); got != 7*time.Second {
		t.Fatalf("5xx period %v, want 7s", got)
	}
	clk.Advance(7 * time.Second)
	if got := r.Report(d.Pairs[0], outcome.Of(outcome.NotFound), 0); got != outcome.NotFoundCooldown {
		t.Fatal("error_cooldown_period applied to a 404")
	}
}

// Reset (the admin endpoint) and Load (a reload) end every cooldown.
func TestResetCooldowns(t *testing.T) {
	f := &fixture{chans: []tch{{id: "a"}, {id: "b"}}, pairs: []tpair{{ch: "a", id: "m"}, {ch: "b", id: "m"}}}
	clk := newClock()
	l := NewLive(clk.Now)
	snap := f.snapshot(t)
	l.Load(snap)
	for range 30 {
		l.Report("a", "m", failed(outcome.Server, 0), 0)
		clk.Advance(time.Hour)
	}
	l.Report("a", "m", failed(outcome.Server, 0), 0)
	l.Report("b", "m", failed(outcome.Auth, 0), 0)
	if n := l.Reset("a"); n != 2 { // the pair, and the channel (5 incidents in a row)
		t.Fatalf("reset a: %d cleared", n)
	}
	if st := l.Channel("a"); len(st.Pairs) != 0 || st.Health < RecoveredHealth || st.ConsecutiveFailures != 0 {
		t.Fatalf("a after reset: %+v", st)
	}
	if l.Channel("b").Cooling == nil {
		t.Fatal("reset of a touched b")
	}
	l.Load(snap)
	if l.Channel("b").Cooling != nil {
		t.Fatal("reload kept the auth cooldown")
	}
	if n := l.Reset(""); n != 0 {
		t.Fatalf("nothing left to reset, cleared %d", n)
	}
}

// Concurrent reports of one incident, under the race detector: one strike.
func TestConcurrentIncident(t *testing.T) {
	clk := newClock()
	l := NewLive(clk.Now)
	var wg sync.WaitGroup
	for range 50 {
		wg.Go(func() { l.Report("c", "m", failed(outcome.Connection, 0), time.Second) })
	}
	wg.Wait()
	if st := l.Channel("c"); st.ConsecutiveFailures != 1 || st.Pairs[0].Strikes != 1 || st.Cooling != nil {
		t.Fatalf("%+v", st)
	}
}
