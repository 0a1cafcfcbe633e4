package route

import (
	"testing"
	"time"

	"smartrouter/runtime/outcome"
)

// link makes every change a's state tells reach b through Apply, as
// runtime/cluster does across processes, and returns the changes told.
func link(a, b *Live) *[]Change {
	var told []Change
	a.OnChange(func(c Change) {
		told = append(told, c)
		b.Apply(c)
	})
	return &told
}

// TestShareCooldowns checks that a pair cooldown, a channel-wide auth
// cooldown, a successful trial and a recovery seen by one replica are told
// once and reproduced by another, and that applied changes are not told
// again (no echo between replicas).
func TestShareCooldowns(t *testing.T) {
	clk := newClock()
	a, b := NewLive(clk.Now), NewLive(clk.Now)
	told := link(a, b)
	var echoed []Change
	b.OnChange(func(c Change) { echoed = append(echoed, c) })

	a.Report("c1", "m", failed(outcome.Server, 0), 0)
	if len(*told) != 1 || (*told)[0].Kind != PairCooled || (*told)[0].Model != "m" || (*told)[0].Channel != "c1" {
		t.Fatalf("told %+v", *told)
	}
	st := b.Channel("c1")
	if len(st.Pairs) != 1 || !st.Pairs[0].Cooling || st.Pairs[0].Kind != outcome.Server || st.Pairs[0].Period != outcome.ServerCooldown {
		t.Fatalf("b's pair after a's 5xx: %+v", st)
	}
	if !near(st.Health, 0.8) {
		t.Errorf("b's health = %v, want the incident counted (0.8)", st.Health)
	}
	// The same change again, or an older one, changes nothing.
	b.Apply((*told)[0])
	old := (*told)[0]
	old.Until -= int64(time.Second)
	b.Apply(old)
	if st := b.Channel("c1"); !near(st.Health, 0.8) || st.Pairs[0].Until.UnixNano() != (*told)[0].Until {
		t.Errorf("re-applied: %+v", st)
	}

	// The trial succeeds on a: b's pair record ends too.
	clk.Advance(outcome.ServerCooldown + time.Millisecond)
	a.Report("c1", "m", outcome.Outcome{Kind: outcome.OK}, time.Millisecond)
	if last := (*told)[len(*told)-1]; last.Kind != Cleared || last.Model != "m" {
		t.Fatalf("told after the trial: %+v", last)
	}
	if st := b.Channel("c1"); len(st.Pairs) != 0 {
		t.Errorf("b keeps the pair after a's trial: %+v", st)
	}
	// A success with nothing to clear tells nothing.
	n := len(*told)
	a.Report("c1", "m", outcome.Outcome{Kind: outcome.OK}, time.Millisecond)
	if len(*told) != n {
		t.Errorf("a plain success was told: %+v", (*told)[n:])
	}

	// An auth failure cools the whole channel until a recovery, on b too.
	a.Report("c2", "m", failed(outcome.Auth, 0), 0)
	if st := b.Channel("c2"); st.Cooling == nil || st.Cooling.Kind != outcome.Auth || !st.Cooling.Until.IsZero() {
		t.Fatalf("b after a's 401: %+v", st)
	}
	if !b.NeedsProbe("c2") {
		t.Errorf("b does not see c2 as needing a probe")
	}
	a.Recover("c2")
	if st := b.Channel("c2"); st.Cooling != nil || st.Health < RecoveredHealth {
		t.Errorf("b after a's recovery: %+v", st)
	}
	if len(echoed) != 0 {
		t.Errorf("b told applied changes again: %+v", echoed)
	}

	// An expired change is dropped; unknown kinds and empty names too.
	b.Apply(Change{Kind: PairCooled, Channel: "c3", Model: "m", Until: clk.Now().UnixNano() - 1})
	b.Apply(Change{Kind: 99, Channel: "c3"})
	b.Apply(Change{Kind: PairCooled, Channel: "c3"})
	if st := b.Channel("c3"); len(st.Pairs) != 0 || st.Cooling != nil {
		t.Errorf("c3: %+v", st)
	}
}

// TestCooldownsRepublish checks that Cooldowns lists what runs now, in a
// form that Apply reproduces on a replica that knew nothing.
func TestCooldownsRepublish(t *testing.T) {
	clk := newClock()
	a := NewLive(clk.Now)
	a.Report("c1", "m1", failed(outcome.RateLimit, 30*time.Second), 0)
	a.Report("c2", "m", failed(outcome.Auth, 0), 0)
	list := a.Cooldowns()
	if len(list) != 2 {
		t.Fatalf("Cooldowns = %+v", list)
	}
	b := NewLive(clk.Now)
	for _, c := range list {
		b.Apply(c)
	}
	if st := b.Channel("c1"); len(st.Pairs) != 1 || st.Pairs[0].Model != "m1" || st.Pairs[0].Until.Sub(clk.Now()) != 30*time.Second {
		t.Errorf("c1 on b: %+v", st)
	}
	if st := b.Channel("c2"); st.Cooling == nil || st.Cooling.Kind != outcome.Auth {
		t.Errorf("c2 on b: %+v", st)
	}
	clk.Advance(31 * time.Second)
	if got := a.Cooldowns(); len(got) != 1 || got[0].Channel != "c2" {
		t.Errorf("after 31 s: %+v", got)
	}
}

// TestApplySignal checks that health and latency move towards the other
// replica's view by LatencyAlpha, and that bad values are ignored.
func TestApplySignal(t *testing.T) {
	l := NewLive(nil)
	l.Report("c", "m", outcome.Outcome{Kind: outcome.OK}, 100*time.Millisecond)
	l.ApplySignal(Signal{Channel: "c", Health: 0.5, LatencyMs: 200})
	st := l.Channel("c")
	if !near(st.Health, 1+LatencyAlpha*(0.5-1)) || !near(st.LatencyMs, 100+LatencyAlpha*100) {
		t.Errorf("after a signal: %+v", st)
	}
	l.ApplySignal(Signal{Channel: "c", Health: -3, LatencyMs: -1})
	if st2 := l.Channel("c"); st2.Health != st.Health || st2.LatencyMs != st.LatencyMs {
		t.Errorf("bad signal applied: %+v", st2)
	}
	l.ApplySignal(Signal{Channel: "fresh", Health: 1, LatencyMs: 50})
	if st := l.Channel("fresh"); st.LatencyMs != 50 {
		t.Errorf("fresh channel: %+v", st)
	}
	n := 0
	l.Signals(func(Signal) { n++ })
	if n != 2 {
		t.Errorf("Signals visited %d channels, want 2", n)
	}
}

// TestReportWithObserverDoesNotAllocate guards the request path: reporting
// successes with an observer installed allocates nothing.
func TestReportWithObserverDoesNotAllocate(t *testing.T) {
	l := NewLive(nil)
	ch := make(chan Change, 1)
	l.OnChange(func(c Change) {
		select {
		case ch <- c:
		default:
		}
	})
	l.Report("c", "m", outcome.Outcome{Kind: outcome.OK}, time.Millisecond)
	if n := testing.AllocsPerRun(100, func() {
		l.Report("c", "m", outcome.Outcome{Kind: outcome.OK}, time.Millisecond)
	}); n != 0 {
		t.Errorf("Report allocates %v times per success", n)
	}
}
