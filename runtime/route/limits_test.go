package route

import (
	"slices"
	"testing"
	"time"
)

// limitsFixture: channel "daily" allows 2 requests per UTC day; channels
// "rl1" and "rl2" share a provider whose rate_limit is 2 per minute (each
// channel gets its own 2); "free" has no limit and ranks last.
func limitsFixture() *fixture {
	return &fixture{
		chans: []tch{
			{id: "daily", priority: 1, dailyLimit: 2},
			{id: "rl1", provider: "limited", priority: 2, rateLimit: 2},
			{id: "rl2", provider: "limited", priority: 3},
			{id: "free", priority: 4},
		},
		pairs: []tpair{
			{ch: "daily", id: "m", in: 1, out: 1}, {ch: "rl1", id: "m", in: 1, out: 1},
			{ch: "rl2", id: "m", in: 1, out: 1}, {ch: "free", id: "m", in: 1, out: 1},
		},
	}
}

// reasons returns the filtered channels of an explained decision with
// their reasons.
func reasons(t *testing.T, r *Router, model string) map[string]string {
	t.Helper()
	var d Decision
	if err := r.Route(Request{Model: model, Explain: true}, &d); err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, f := range d.Explain.Filtered {
		out[f.Channel] = f.Reason.String()
	}
	return out
}

// use routes and counts an attempt on every candidate of the decision
// whose channel is in chans.
func use(t *testing.T, r *Router, chans ...string) {
	t.Helper()
	var d Decision
	if err := r.Route(Request{Model: "m"}, &d); err != nil {
		t.Fatal(err)
	}
	for _, p := range d.Pairs {
		if slices.Contains(chans, r.chans[r.snap.Pair(p).Channel].id) {
			r.Used(p)
		}
	}
}

func TestChannelDailyLimit(t *testing.T) {
	r, live, clk := setup(t, limitsFixture())
	clk.t = time.Date(2026, 12, 3, 23, 59, 0, 0, time.UTC)
	use(t, r, "daily")
	if got := reasons(t, r, "m"); got["daily"] != "" {
		t.Fatalf("after 1 of 2: %v", got)
	}
	use(t, r, "daily")
	if got := reasons(t, r, "m"); got["daily"] != "daily_limit" {
		t.Fatalf("after 2 of 2: %v; want daily the daily_limit reason", got)
	}
	if st := live.Channel("daily"); st.DayRequests != 2 {
		t.Errorf("day requests %d", st.DayRequests)
	}
	// The filtered channel gets no traffic; another one serves.
	var d Decision
	if err := r.Route(Request{Model: "m"}, &d); err != nil || names(r, d.Pairs)[0] != "rl1|m" {
		t.Fatalf("order %v, %v", names(r, d.Pairs), err)
	}
	// A new UTC day starts the count again.
	clk.Advance(time.Minute)
	if got := reasons(t, r, "m"); got["daily"] != "" {
		t.Fatalf("next day: %v", got)
	}
	if st := live.Channel("daily"); st.DayRequests != 0 {
		t.Errorf("day requests %d on a new day", st.DayRequests)
	}
	// Seeding (from the ledger at start) sets today's count.
	live.SeedChannelDay(map[string]int{"daily": 5, "rl2": 1})
	if got := reasons(t, r, "m"); got["daily"] != "daily_limit" || got["rl2"] != "" {
		t.Fatalf("seeded: %v", got)
	}
	// The count survives a new Router (a reload): it lives in Live.
	r2 := New(r.snap, live, Options{Logger: quiet})
	if got := reasons(t, r2, "m"); got["daily"] != "daily_limit" {
		t.Fatalf("after a reload: %v", got)
	}
}

func TestProviderRateLimit(t *testing.T) {
	r, _, clk := setup(t, limitsFixture())
	use(t, r, "rl1", "rl2")
	if got := reasons(t, r, "m"); got["rl1"] != "" || got["rl2"] != "" {
		t.Fatalf("after 1 of 2: %v", got)
	}
	use(t, r, "rl1")
	got := reasons(t, r, "m")
	if got["rl1"] != "rate_limited" {
		t.Fatalf("after 2 of 2: %v; want rl1 rate_limited", got)
	}
	if got["rl2"] != "" {
		t.Errorf("rl2 (same provider, its own key) was limited by rl1's use: %v", got)
	}
	// One request comes back every 30 s (2 per minute).
	clk.Advance(29 * time.Second)
	if got := reasons(t, r, "m"); got["rl1"] != "rate_limited" {
		t.Fatalf("after 29 s: %v", got)
	}
	clk.Advance(time.Second)
	if got := reasons(t, r, "m"); got["rl1"] != "" {
		t.Fatalf("after 30 s: %v", got)
	}
	use(t, r, "rl1")
	if got := reasons(t, r, "m"); got["rl1"] != "rate_limited" {
		t.Fatalf("the returned request was not counted: %v", got)
	}
	// A quiet minute gives back the whole burst, and no more.
	clk.Advance(10 * time.Minute)
	use(t, r, "rl1")
	use(t, r, "rl1")
	if got := reasons(t, r, "m"); got["rl1"] != "rate_limited" {
		t.Fatalf("burst above the limit: %v", got)
	}
}

// TestChannelLimitsDoNotAllocate keeps the route decision free of
// allocations with the limits on.
func TestChannelLimitsDoNotAllocate(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts differ under -race")
	}
	r, _, _ := setup(t, limitsFixture())
	var d Decision
	req := Request{Model: "m"}
	for range 3 {
		if err := r.Route(req, &d); err != nil {
			t.Fatal(err)
		}
	}
	n := testing.AllocsPerRun(200, func() {
		if err := r.Route(req, &d); err != nil {
			t.Fatal(err)
		}
		r.Used(d.Pairs[0])
	})
	if n != 0 {
		t.Errorf("%v allocations per decision", n)
	}
}
