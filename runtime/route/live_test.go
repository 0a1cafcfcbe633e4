package route

import (
	"strconv"
	"testing"
	"time"

	"smartrouter/format"
	"smartrouter/runtime/outcome"
)

func TestHealthFormulas(t *testing.T) {
	clk := newClock()
	l := NewLive(clk.Now)
	h := 1.0
	steps := []bool{false, false, false, true, true, false, true}
	for i, ok := range steps {
		if ok {
			l.Report("c", "m", success, 0)
			h = min(1, 1.01*h+0.01)
		} else {
			l.Report("c", "m", failed(outcome.Server, time.Second), 0)
			clk.Advance(time.Hour) // each failure its own incident
			h = max(0, 0.9*h-0.1)
		}
		if got := l.Channel("c").Health; !near(got, h) {
			t.Fatalf("step %d: health %v, want %v", i, got, h)
		}
	}
	// Floors at 0, caps at 1.
	for i := 0; i < 30; i++ {
		l.Report("c", "m", failed(outcome.Server, time.Second), 0)
		clk.Advance(time.Hour)
	}
	if got := l.Channel("c").Health; got != 0 {
		t.Fatalf("health floor: %v", got)
	}
	for i := 0; i < 1000; i++ {
		l.Report("c", "m", success, 0)
	}
	if got := l.Channel("c").Health; got != 1 {
		t.Fatalf("health cap: %v", got)
	}
}

func TestCooldownPeriods(t *testing.T) {
	tests := []struct {
		kind   outcome.Kind
		period time.Duration
		want   time.Duration
	}{
		{outcome.Quota, 0, 1800 * time.Second},
		{outcome.RateLimit, 0, 10 * time.Second},
		{outcome.RateLimit, 42 * time.Second, 42 * time.Second}, // Retry-After from the caller
		{outcome.NotFound, 0, 300 * time.Second},
		{outcome.Server, 0, 60 * time.Second},
		{outcome.Timeout, 0, 30 * time.Second},
	}
	for _, tt := range tests {
		clk := newClock()
		l := NewLive(clk.Now)
		cs := l.state("c")
		if got := l.Report("c", "m", failed(tt.kind, tt.period), 0); got != tt.want {
			t.Errorf("%v: period %v, want %v", tt.kind, got, tt.want)
		}
		now := clk.Now().UnixNano()
		if !cs.pairCooling("m", now+int64(tt.want)-1) || cs.pairCooling("m", now+int64(tt.want)) {
			t.Errorf("%v: pair should cool exactly %v", tt.kind, tt.want)
		}
		if cs.pairCooling("other", now) || cs.channelCooling(now) {
			t.Errorf("%v: only the pair cools", tt.kind)
		}
	}
}

func TestCooldownDoubling(t *testing.T) {
	clk := newClock()
	l := NewLive(clk.Now)
	// A failed trial (a failure after the period) doubles, up to the
	// kind's cap (MaxServerCooldown for 5xx).
	want := []time.Duration{60, 120, 240, 480, 600, 600}
	for i, w := range want {
		got := l.Report("c", "m", failed(outcome.Server, 0), 0)
		if got != w*time.Second {
			t.Fatalf("repeat %d: %v, want %v", i, got, w*time.Second)
		}
		if st := l.Channel("c").Pairs[0]; st.Strikes != i+1 {
			t.Fatalf("repeat %d: strikes %d", i, st.Strikes)
		}
		clk.Advance(got)             // the trial is due
		l.state("c").consec.Store(0) // keep the whole-channel rule out of this test
	}
	// Another kind starts from its own base period, and caps at
	// MaxNetworkCooldown.
	for i, w := range []time.Duration{30, 60, 120, 240, 300, 300} {
		got := l.Report("c", "m", failed(outcome.Timeout, 0), 0)
		if got != w*time.Second {
			t.Fatalf("timeout repeat %d: %v, want %v", i, got, w*time.Second)
		}
		clk.Advance(got)
		l.state("c").consec.Store(0)
	}
	// A success forgets the streak.
	l.Report("c", "m", success, 0)
	if got := l.Report("c", "m", failed(outcome.Timeout, 0), 0); got != 30*time.Second {
		t.Fatalf("after a success: %v", got)
	}
	// Quota doubles once to the cap.
	if l.Report("c", "q", failed(outcome.Quota, 0), 0) != 1800*time.Second {
		t.Fatal("quota period")
	}
	clk.Advance(1800 * time.Second)
	if l.Report("c", "q", failed(outcome.Quota, 0), 0) != 3600*time.Second {
		t.Fatal("quota doubling")
	}
}

func TestWholeChannelCooling(t *testing.T) {
	t.Run("five consecutive failures", func(t *testing.T) {
		clk := newClock()
		l := NewLive(clk.Now)
		for i := 1; i <= 5; i++ {
			l.Report("c", "m", failed(outcome.Timeout, time.Second), 0)
			cooling := l.Channel("c").Cooling != nil
			if cooling != (i == 5) {
				t.Fatalf("after %d failures channel cooling = %v", i, cooling)
			}
			clk.Advance(2 * time.Minute) // the pair cooldown has ended each time
		}
		// A success ends it and resets the streak.
		l.Report("c", "m", success, 0)
		if l.Channel("c").Cooling != nil || l.Channel("c").ConsecutiveFailures != 0 {
			t.Fatal("success did not end the channel cooldown")
		}
	})
	t.Run("three cooling pairs", func(t *testing.T) {
		clk := newClock()
		l := NewLive(clk.Now)
		l.Report("c", "m1", failed(outcome.Server, 0), 0)
		l.Report("c", "m2", failed(outcome.Server, 0), 0)
		if l.Channel("c").Cooling != nil {
			t.Fatal("two cooling pairs cooled the channel")
		}
		l.Report("c", "m3", failed(outcome.Server, 0), 0)
		st := l.Channel("c")
		if st.Cooling == nil || st.Cooling.Kind != outcome.Server || st.Cooling.Period != 60*time.Second {
			t.Fatalf("three cooling pairs: %+v", st.Cooling)
		}
		clk.Advance(60 * time.Second)
		if l.Channel("c").Cooling != nil {
			t.Fatal("channel still cooling after the period")
		}
	})
	t.Run("expired pairs do not count", func(t *testing.T) {
		clk := newClock()
		l := NewLive(clk.Now)
		l.Report("c", "m1", failed(outcome.Timeout, time.Second), 0)
		l.Report("c", "x", success, 0) // breaks the consecutive streak
		clk.Advance(2 * time.Second)
		l.Report("c", "m2", failed(outcome.Timeout, time.Second), 0)
		l.Report("c", "m3", failed(outcome.Timeout, time.Second), 0)
		if l.Channel("c").Cooling != nil {
			t.Fatal("an expired pair cooldown was counted")
		}
	})
}

func TestAuthCooldown(t *testing.T) {
	f := &fixture{chans: []tch{{id: "c"}, {id: "d"}}, pairs: []tpair{{ch: "c", id: "m"}, {ch: "d", id: "m"}}}
	clk := newClock()
	l := NewLive(clk.Now)
	snap := f.snapshot(t)
	l.Load(snap)
	if got := l.Report("c", "m", failed(outcome.Auth, 0), 0); got != -1 {
		t.Fatalf("auth period %v", got)
	}
	clk.Advance(100 * time.Hour)
	if st := l.Channel("c"); st.Cooling == nil || st.Cooling.Kind != outcome.Auth || !st.Cooling.Until.IsZero() {
		t.Fatalf("auth cooldown should last until reload: %+v", st.Cooling)
	}
	l.Load(snap) // a reload ends it
	if l.Channel("c").Cooling != nil {
		t.Fatal("reload did not end the auth cooldown")
	}
	l.Report("c", "m", failed(outcome.Auth, 0), 0)
	l.Recover("c") // a successful recovery probe ends it too
	if l.Channel("c").Cooling != nil {
		t.Fatal("recovery did not end the auth cooldown")
	}
}

func TestKeyValidationSeeding(t *testing.T) {
	f := &fixture{
		chans: []tch{{id: "inv"}, {id: "quota"}, {id: "rate"}, {id: "other"}, {id: "good"}, {id: "plain"}},
		keys: []format.KeyState{
			{Channel: 0, Valid: false, ErrorType: "invalid_key", HealthScore: -1, Timestamp: 10},
			{Channel: 1, Valid: false, ErrorType: "quota_exceeded", HealthScore: 0.5, Timestamp: 10},
			{Channel: 2, Valid: false, ErrorType: "rate_limit", HealthScore: -1, Timestamp: 10},
			{Channel: 3, Valid: false, ErrorType: "network_error", HealthScore: -1, Timestamp: 10},
			{Channel: 4, Valid: true, HealthScore: 0.75, Timestamp: 10},
		},
	}
	for _, c := range f.chans {
		f.pairs = append(f.pairs, tpair{ch: c.id, id: "m"})
	}
	clk := newClock()
	l := NewLive(clk.Now)
	snap := f.snapshot(t)
	l.Load(snap)
	tests := []struct {
		ch     string
		kind   outcome.Kind
		period time.Duration
		health float64
	}{
		{"inv", outcome.Auth, 0, 1},
		{"quota", outcome.Quota, 1800 * time.Second, 0.5},
		{"rate", outcome.RateLimit, 10 * time.Second, 1},
		{"other", outcome.Server, 60 * time.Second, 1},
		{"good", 0, 0, 0.75},
		{"plain", 0, 0, 1},
	}
	for _, tt := range tests {
		st := l.Channel(tt.ch)
		if !near(st.Health, tt.health) {
			t.Errorf("%s: health %v, want %v", tt.ch, st.Health, tt.health)
		}
		if tt.kind == 0 {
			if st.Cooling != nil {
				t.Errorf("%s: cooling %+v", tt.ch, st.Cooling)
			}
			continue
		}
		if st.Cooling == nil || st.Cooling.Kind != tt.kind || st.Cooling.Period != tt.period {
			t.Errorf("%s: cooling %+v, want %v %v", tt.ch, st.Cooling, tt.kind, tt.period)
		}
	}
	// The router sees it.
	r := New(snap, l, Options{Logger: quiet})
	var d Decision
	if err := r.Route(Request{Model: "m"}, &d); err != nil {
		t.Fatal(err)
	}
	if got := names(r, d.Pairs); len(got) != 2 {
		t.Fatalf("routed %q, want good and plain", got)
	}
	// A reload with the same verdicts does not re-seed: the rate limit that
	// ended stays ended, the live health stays.
	clk.Advance(11 * time.Second)
	l.Report("good", "m", success, 0)
	l.Load(snap)
	if l.Channel("rate").Cooling != nil || near(l.Channel("good").Health, 0.75) {
		t.Fatalf("reload re-seeded: %+v health %v", l.Channel("rate").Cooling, l.Channel("good").Health)
	}
	// A reload ends every cooldown (the operator's "try again"), and does
	// not seed the same verdicts again.
	if l.Channel("quota").Cooling != nil || l.Channel("inv").Cooling != nil {
		t.Fatal("reload: cooldowns should have ended")
	}
}

func TestPrune(t *testing.T) {
	f := &fixture{chans: []tch{{id: "keep"}, {id: "gone"}}, pairs: []tpair{{ch: "keep", id: "m"}, {ch: "gone", id: "m"}}}
	l := NewLive(newClock().Now)
	l.Load(f.snapshot(t))
	l.Report("gone", "m", failed(outcome.Server, 0), 0)
	l.Report("keep", "m", failed(outcome.Server, 0), 0)
	l.Report("keep", "vanished-model", failed(outcome.Server, 0), 0)
	f2 := &fixture{chans: []tch{{id: "keep"}}, pairs: []tpair{{ch: "keep", id: "m"}}}
	l.Prune(f2.snapshot(t))
	l.mu.RLock()
	_, gone := l.chans["gone"]
	_, keep := l.chans["keep"]
	l.mu.RUnlock()
	if gone || !keep {
		t.Fatalf("prune: gone=%v keep=%v", gone, keep)
	}
	st := l.Channel("keep")
	if len(st.Pairs) != 1 || st.Pairs[0].Model != "m" || !st.Pairs[0].Cooling {
		t.Fatalf("pair records after prune: %+v", st.Pairs)
	}
	if st.Health >= 1 {
		t.Fatal("state of a kept channel was reset")
	}
}

func TestUsedAndRouterReports(t *testing.T) {
	f := &fixture{chans: []tch{{id: "c", minIntervalMs: 500}}, pairs: []tpair{{ch: "c", id: "m"}}}
	r, live, clk := setup(t, f)
	var d Decision
	if err := r.Route(Request{Model: "m"}, &d); err != nil {
		t.Fatal(err)
	}
	p := d.Pairs[0]
	r.Used(p)
	if err := r.Route(Request{Model: "m"}, &d); err == nil {
		t.Fatal("min_request_interval not applied after Used")
	}
	clk.Advance(500 * time.Millisecond)
	if got := r.Report(p, failed(outcome.NotFound, 0), 0); got != 300*time.Second {
		t.Fatalf("Router.Report of a failure: period %v", got)
	}
	if st := live.Channel("c"); len(st.Pairs) != 1 || !st.Pairs[0].Cooling {
		t.Fatalf("Router.Report of a failure did not reach the live state: %+v", st)
	}
	r.Report(p, success, 100*time.Millisecond)
	if st := live.Channel("c"); len(st.Pairs) != 0 || st.LatencyMs != 100 {
		t.Fatalf("Router.Report of a success: %+v", st)
	}
}

// The live state outlives the snapshot whose strings it was given: after the
// snapshot's bytes are gone (a swap unmaps them), its records must still be
// found under the right ids.
func TestLiveOutlivesSnapshotBytes(t *testing.T) {
	f := &fixture{chans: []tch{{id: "chan-a"}}, pairs: []tpair{{ch: "chan-a", id: "model-x", in: 1, out: 1}}}
	b, err := format.Encode(f.model(t))
	if err != nil {
		t.Fatal(err)
	}
	snap, err := format.Open(b)
	if err != nil {
		t.Fatal(err)
	}
	live := NewLive(newClock().Now)
	live.Load(snap)
	r := New(snap, live, Options{Logger: quiet})
	var d Decision
	if err := r.Route(Request{Model: "model-x"}, &d); err != nil || len(d.Pairs) != 1 {
		t.Fatalf("route: %v %v", d.Pairs, err)
	}
	r.Report(d.Pairs[0], failed(outcome.Server, 0), 0)
	for i := range b {
		b[i] = 'z'
	}
	st := live.Channel("chan-a")
	if st.Channel != "chan-a" || st.ConsecutiveFailures != 1 || len(st.Pairs) != 1 || st.Pairs[0].Model != "model-x" {
		t.Fatalf("live state lost its records when the snapshot bytes changed: %+v", st)
	}
}

// A channel that an auth failure cooled, or whose health fell below
// MinHealth, gets no traffic and so cannot heal by itself: it needs a
// recovery probe, and a successful one makes it routable again.
func TestRecoveryProbe(t *testing.T) {
	clk := newClock()
	l := NewLive(clk.Now)
	if l.NeedsProbe("c") {
		t.Fatal("an unknown channel needs no probe")
	}
	l.Report("c", "m", success, 0)
	if l.NeedsProbe("c") {
		t.Fatal("a healthy channel needs no probe")
	}
	l.Report("c", "m", failed(outcome.Auth, 0), 0)
	if !l.NeedsProbe("c") {
		t.Fatal("an auth-cooled channel needs a probe")
	}
	l.Recover("c")
	if l.NeedsProbe("c") || l.Channel("c").Cooling != nil {
		t.Fatal("recovery did not end the auth cooldown")
	}
	for i := 0; i < 4; i++ { // 1 → 0.8 → 0.62 → 0.458 → 0.312 … then below 0.3
		l.Report("d", "m"+strconv.Itoa(i), failed(outcome.Server, time.Second), 0)
	}
	l.Report("d", "m9", failed(outcome.Server, time.Second), 0)
	clk.Advance(time.Hour) // every cooldown over; only the health keeps it out
	if h := l.Channel("d").Health; h >= MinHealth {
		t.Fatalf("health %v, want below %v", h, MinHealth)
	}
	if !l.NeedsProbe("d") {
		t.Fatal("a channel below MinHealth needs a probe")
	}
	l.Recover("d")
	if h := l.Channel("d").Health; h != RecoveredHealth {
		t.Fatalf("health after recovery %v, want %v", h, RecoveredHealth)
	}
	if l.NeedsProbe("d") {
		t.Fatal("a recovered channel still needs a probe")
	}
}
