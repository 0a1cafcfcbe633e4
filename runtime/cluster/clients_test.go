package cluster

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"smartrouter/runtime/internal/redistest"
	"smartrouter/runtime/route"
	"smartrouter/runtime/tenant"
)

// sharedPair is two replicas' client counters on one real Redis, with a
// fake clock, flushed by hand.
func sharedPair(t *testing.T, clk *fakeNow) (a, b *ClientCounters, na, nb *Node, la, lb *route.Live) {
	t.Helper()
	srv := redistest.Start(t)
	ro, err := redis.ParseURL(srv.URL())
	if err != nil {
		t.Fatal(err)
	}
	mk := func() (*ClientCounters, *Node, *route.Live) {
		live := route.NewLive(clk.Now)
		n, err := New(Options{Redis: ro, Live: live, Logger: slog.New(slog.DiscardHandler), Now: clk.Now})
		if err != nil {
			t.Fatal(err)
		}
		n.connected.Store(true)
		t.Cleanup(func() { _ = n.rdb.Close() })
		c := NewClientCounters()
		c.Attach(n)
		return c, n, live
	}
	a, na, la = mk()
	b, nb, lb = mk()
	return
}

func flush(t *testing.T, ns ...*Node) {
	t.Helper()
	for _, n := range ns {
		if err := n.flushCounters(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
}

// Requests per minute across two replicas: each admits its share of what
// it last read as left between flushes; once the fleet's count is read,
// both refuse; a new minute starts again.
func TestClientCountersRequestRate(t *testing.T) {
	clk := &fakeNow{t: time.Date(2026, 1, 1, 0, 0, 5, 0, time.UTC)}
	a, b, na, nb, _, _ := sharedPair(t, clk)
	lim := &tenant.Limits{RPM: 10}
	flush(t, na, nb) // both see 2 replicas once both flushed
	flush(t, na, nb)
	admitted := 0
	for range 10 {
		if a.Admit("k", lim, clk.Now(), 0).Denial == tenant.Admitted {
			admitted++
			a.Release("k")
		}
	}
	if admitted != 5 {
		t.Fatalf("replica a admitted %d before a flush, want its share 5 of 10", admitted)
	}
	flush(t, na, nb, na)
	for range 10 {
		if b.Admit("k", lim, clk.Now(), 0).Denial == tenant.Admitted {
			admitted++
			b.Release("k")
		}
	}
	flush(t, nb, na, nb)
	for range 10 {
		if a.Admit("k", lim, clk.Now(), 0).Denial == tenant.Admitted {
			admitted++
			a.Release("k")
		}
		if b.Admit("k", lim, clk.Now(), 0).Denial == tenant.Admitted {
			admitted++
			b.Release("k")
		}
	}
	if admitted != 10 {
		t.Errorf("admitted %d across the replicas, want exactly the limit 10 when flushes come between", admitted)
	}
	v := a.Admit("k", lim, clk.Now(), 0)
	if v.Denial != tenant.RequestRate || v.RetryAfter != 55*time.Second {
		t.Errorf("over the limit: %+v, want requests_per_minute until the minute ends (55s)", v)
	}
	clk.Advance(time.Minute)
	if v := b.Admit("k", lim, clk.Now(), 0); v.Denial != tenant.Admitted {
		t.Errorf("a new minute: %+v", v)
	}
}

// A budget spent on one replica refuses the key on the other after the
// flushes; a seed raises the fleet's spend without adding to it twice.
func TestClientCountersBudgetAndSeed(t *testing.T) {
	clk := &fakeNow{t: time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)}
	a, b, na, nb, _, _ := sharedPair(t, clk)
	lim := &tenant.Limits{DailyUSD: 1, MonthlyUSD: 10}
	a.SeedSpend(clk.Now(), map[string]float64{"k": 0.5}, map[string]float64{"k": 4})
	b.SeedSpend(clk.Now(), map[string]float64{"k": 0.5}, map[string]float64{"k": 4})
	flush(t, na, nb, na)
	if d, m, _ := a.Spend("k", clk.Now()); d != 0.5 || m != 4 {
		t.Fatalf("after two replicas seeded the same spend: %v %v, want 0.5 4 (a floor, not a sum)", d, m)
	}
	if v := b.Admit("k", lim, clk.Now(), 0); v.Denial != tenant.Admitted {
		t.Fatalf("under budget: %+v", v)
	}
	b.Charge("k", lim, clk.Now(), 0, 0, 0.6)
	b.Release("k")
	if v := a.Admit("k", lim, clk.Now(), 0); v.Denial != tenant.Admitted {
		t.Fatalf("replica a before the flush: %+v (it has not read b's spend yet)", v)
	}
	a.Release("k")
	flush(t, nb, na)
	v := a.Admit("k", lim, clk.Now(), 0)
	if v.Denial != tenant.DailyBudget || v.RetryAfter != 12*time.Hour {
		t.Errorf("replica a after the flush: %+v, want daily_budget for 12h", v)
	}
	if d, m, _ := a.Spend("k", clk.Now()); d < 1.0999 || d > 1.1001 || m < 4.5999 || m > 4.6001 {
		t.Errorf("fleet spend seen by a: %v %v, want 1.1 4.6", d, m)
	}
}

// A key counted only by replica a gets counters on replica b through the
// shared set of names, so b's first request is judged on the fleet count.
func TestClientCountersLearnKeys(t *testing.T) {
	clk := &fakeNow{t: time.Date(2026, 1, 1, 0, 0, 5, 0, time.UTC)}
	a, b, na, nb, _, _ := sharedPair(t, clk)
	lim := &tenant.Limits{RPM: 2}
	for range 2 {
		if v := a.Admit("only-a", lim, clk.Now(), 0); v.Denial != tenant.Admitted {
			t.Fatalf("%+v", v)
		}
		a.Release("only-a")
	}
	flush(t, na, nb, nb)
	if v := b.Admit("only-a", lim, clk.Now(), 0); v.Denial != tenant.RequestRate {
		t.Errorf("replica b's first request of a key spent on a: %+v, want requests_per_minute", v)
	}
}

// Channel day counts add up across replicas; the ledger's seed is a floor.
func TestChannelDayShared(t *testing.T) {
	clk := &fakeNow{t: time.Date(2026, 1, 1, 10, 0, 0, 0, time.UTC)}
	_, _, na, nb, la, lb := sharedPair(t, clk)
	day := dayNumber(clk.Now())
	la.SeedChannelDay(map[string]int{"ch": 3})
	na.SeedChannelDay(map[string]int{"ch": 3})
	lb.SeedChannelDay(map[string]int{"ch": 3})
	nb.SeedChannelDay(map[string]int{"ch": 3})
	la.AddChannelDay("ch", day, 2) // two attempts on a
	lb.AddChannelDay("ch", day, 1) // one on b
	flush(t, na, nb, na)
	count := func(l *route.Live) (n uint64) {
		l.ChannelDays(func(id string, v uint64) {
			if id == "ch" {
				n = v
			}
		})
		return n
	}
	if ca, cb := count(la), count(lb); ca != 6 || cb != 6 {
		t.Errorf("day counts after the flushes: a %d, b %d; want 3 (seed) + 2 + 1 = 6", ca, cb)
	}
	clk.Advance(24 * time.Hour)
	if count(la) != 0 {
		t.Errorf("a new day starts at 0")
	}
}

// The request path of the shared counters allocates nothing.
func TestClientCountersAdmitDoesNotAllocate(t *testing.T) {
	ro, _ := redis.ParseURL("redis://127.0.0.1:1/0")
	n, err := New(Options{Redis: ro, Live: route.NewLive(nil), Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	c := NewClientCounters()
	c.Attach(n)
	lim := &tenant.Limits{RPM: 1 << 30, TPM: 1 << 40, DailyUSD: 1e9, MonthlyUSD: 1e9}
	now := time.Now()
	c.Admit("k", lim, now, 1)
	if got := testing.AllocsPerRun(100, func() {
		c.Admit("k", lim, now, 1)
		c.Charge("k", lim, now, 1, 2, 1e-6)
		c.Release("k")
	}); got != 0 {
		t.Errorf("Admit+Charge+Release allocate %v times", got)
	}
}
