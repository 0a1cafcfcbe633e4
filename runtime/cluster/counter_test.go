package cluster

import (
	"context"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"smartrouter/runtime/internal/redistest"
	"smartrouter/runtime/route"
)

// fakeNow is a settable clock for the counter windows.
type fakeNow struct {
	mu sync.Mutex
	t  time.Time
}

func (f *fakeNow) Now() time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.t
}

func (f *fakeNow) Advance(d time.Duration) {
	f.mu.Lock()
	f.t = f.t.Add(d)
	f.mu.Unlock()
}

// TestCounterAcrossReplicas: counts added on two replicas add up after
// their flushes; a flush that fails keeps its count for the next; a new
// window starts from zero.
func TestCounterAcrossReplicas(t *testing.T) {
	srv := redistest.Start(t)
	ro, err := redis.ParseURL(srv.URL())
	if err != nil {
		t.Fatal(err)
	}
	clk := &fakeNow{t: time.Date(2026, 1, 1, 0, 0, 10, 0, time.UTC)}
	mk := func() *Node {
		n, err := New(Options{Redis: ro, Live: route.NewLive(nil), Logger: slog.New(slog.DiscardHandler), Now: clk.Now})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = n.rdb.Close() })
		return n
	}
	a, b := mk(), mk()
	ctx := context.Background()
	ca, cb := a.Counter("rpm:key1", time.Minute), b.Counter("rpm:key1", time.Minute)
	if a.Counter("rpm:key1", time.Hour) != ca {
		t.Fatal("a second call returned another counter")
	}
	ca.Add(10)
	cb.Add(5)
	if ca.Total() != 10 || cb.Total() != 5 {
		t.Fatalf("before any flush: %d %d", ca.Total(), cb.Total())
	}
	for _, c := range []*Counter{ca, cb, ca} {
		if err := c.Flush(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if ca.Total() != 15 || cb.Total() != 15 {
		t.Fatalf("after the flushes: %d %d, want 15", ca.Total(), cb.Total())
	}
	ca.Add(1)
	if ca.Total() != 16 {
		t.Errorf("local add not seen: %d", ca.Total())
	}

	srv.Kill()
	if err := ca.Flush(ctx); err == nil {
		t.Fatal("a flush with Redis killed succeeded")
	}
	if ca.Total() != 16 {
		t.Errorf("with Redis away: %d, want the last fleet total plus the local count (16)", ca.Total())
	}
	srv.Restart() // empty: the window's key is gone
	if err := ca.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if ca.Total() != 1 {
		t.Errorf("after Redis came back empty: %d, want the count kept while it was away (1)", ca.Total())
	}

	clk.Advance(time.Minute)
	if ca.Total() != 0 {
		t.Errorf("a new window: %d, want 0", ca.Total())
	}
	ca.Add(2)
	if err := ca.Flush(ctx); err != nil || ca.Total() != 2 {
		t.Errorf("new window after a flush: %d, %v", ca.Total(), err)
	}
}

// TestCounterAddDoesNotAllocate guards the request path.
func TestCounterAddDoesNotAllocate(t *testing.T) {
	ro, _ := redis.ParseURL("redis://127.0.0.1:1/0")
	n, err := New(Options{Redis: ro, Live: route.NewLive(nil), Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	n.Counter("k", time.Minute)
	if got := testing.AllocsPerRun(100, func() {
		c := n.Counter("k", time.Minute)
		c.Add(1)
		_ = c.Total()
	}); got != 0 {
		t.Errorf("Counter+Add+Total allocate %v times", got)
	}
}
