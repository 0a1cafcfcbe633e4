package cluster

import (
	"context"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// Counter counts events across replicas over fixed windows (say requests
// per minute of a client key) without a Redis round trip on the request
// path: Add counts locally; a flush, every CounterFlushEvery while Redis
// answers, adds the local count to the window's Redis key (INCRBY, with an
// expiry of two windows) and reads back the fleet's total. Total is that
// total plus what was added here since.
//
// The error bound: Total misses what the other replicas counted since their
// last flush, at most (replicas − 1) × rate × (CounterFlushEvery + one
// Redis round trip); a count added in the last flush interval of a window
// may land in the next window. While Redis does not answer, each replica
// sees only its own count (fail-open) and keeps it pending until Redis is
// back, when it is added to the window current then.
//
// It is a building block for the client-key limits and budgets of a later
// version; nothing uses it yet.
type Counter struct {
	n      *Node
	name   string
	window time.Duration

	pending atomic.Int64 // added here, not yet flushed
	fleet   atomic.Int64 // fleet total of window `at` read at the last flush
	at      atomic.Int64 // index of the window fleet belongs to
	mu      sync.Mutex   // one flush at a time
}

// CounterFlushEvery is how often counters are flushed.
const CounterFlushEvery = 100 * time.Millisecond

// Counter returns the counter of name over windows of window (created at
// the first call; the same counter afterwards, whatever window says).
func (n *Node) Counter(name string, window time.Duration) *Counter {
	if c, ok := n.counters.Load(name); ok {
		return c.(*Counter)
	}
	if window <= 0 {
		window = time.Minute
	}
	c, _ := n.counters.LoadOrStore(name, &Counter{n: n, name: name, window: window})
	return c.(*Counter)
}

// Add counts d events now (no allocation, no Redis).
func (c *Counter) Add(d int64) { c.pending.Add(d) }

// Total is the count of the current window across the fleet as far as
// this replica knows: the fleet's total at the last flush (0 when that was
// an earlier window) plus what was added here since.
func (c *Counter) Total() int64 {
	t := c.pending.Load()
	if c.at.Load() == c.windowIndex(c.n.o.Now()) {
		t += c.fleet.Load()
	}
	return t
}

func (c *Counter) windowIndex(t time.Time) int64 { return t.UnixNano() / int64(c.window) }

// Flush adds the pending count to the fleet's and reads the total back.
func (c *Counter) Flush(ctx context.Context) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	idx := c.windowIndex(c.n.o.Now())
	d := c.pending.Swap(0)
	key := c.n.o.Prefix + ":counter:" + c.name + ":" + strconv.FormatInt(idx, 10)
	cctx, cancel := c.n.opCtx(ctx)
	defer cancel()
	pipe := c.n.rdb.Pipeline()
	incr := pipe.IncrBy(cctx, key, d)
	pipe.PExpire(cctx, key, 2*c.window)
	if _, err := pipe.Exec(cctx); err != nil {
		c.pending.Add(d) // not counted by the fleet: keep it for the next flush
		return err
	}
	c.fleet.Store(incr.Val()) // the fleet's total, this flush included
	c.at.Store(idx)
	return nil
}

// counterLoop flushes every counter every CounterFlushEvery while Redis
// answers.
func (n *Node) counterLoop(ctx context.Context) {
	t := time.NewTicker(CounterFlushEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if !n.connected.Load() {
			continue
		}
		n.counters.Range(func(_, v any) bool {
			if err := v.(*Counter).Flush(ctx); err != nil {
				n.fail("counter flush", err)
			}
			return ctx.Err() == nil
		})
	}
}
