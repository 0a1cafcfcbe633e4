package cluster

import (
	"context"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
)

// Counter counts events across replicas over windows (the requests of a
// client key per minute, its spend per UTC day, a channel's attempts per
// UTC day) without a Redis round trip on the request path: Add counts
// locally; every CounterFlushEvery while Redis answers, one pipeline per
// replica adds every counter's local count to its window's Redis key (a
// script: raise to the seeded floor, INCRBY, expiry of two windows) and
// reads the fleet's total back. Total is that total plus what was added
// here since.
//
// The error bound: Total misses what the other replicas counted since their
// last flush, at most (replicas − 1) × rate × (CounterFlushEvery + one
// Redis round trip); a count added in the last flush interval of a window
// may land in the next window. While Redis does not answer, each replica
// sees the last fleet total it read plus its own count (fail-open) and
// keeps its count pending until Redis is back, when it is added to the
// window current then.
type Counter struct {
	n     *Node
	name  string
	index func(time.Time) int64 // window number of a time
	ttl   time.Duration         // expiry of a window's key

	pending atomic.Int64 // added here, not yet flushed
	sending atomic.Int64 // taken from pending by the flush under way
	fleet   atomic.Int64 // fleet total of window `at` read at the last flush
	at      atomic.Int64 // index of the window fleet belongs to
	floor   atomic.Int64 // seeded minimum of window floorAt (Seed)
	floorAt atomic.Int64
	used    atomic.Int64 // window index of the last Add or Seed
	mu      sync.Mutex   // one flush at a time
}

// CounterFlushEvery is how often counters are flushed.
const CounterFlushEvery = 100 * time.Millisecond

// counterScript raises the window's key to the seeded floor (ARGV[2]),
// adds ARGV[1] and keeps the key for ARGV[3] ms; it returns the total.
var counterScript = redis.NewScript(`
local v = tonumber(redis.call('GET', KEYS[1]) or '0')
local f = tonumber(ARGV[2])
if v < f then v = f end
v = v + tonumber(ARGV[1])
redis.call('SET', KEYS[1], v, 'PX', ARGV[3])
return v`)

// Counter returns the counter of name over fixed windows of window
// (aligned on the Unix epoch, so a 24 h window is a UTC day), created at
// the first call; the same counter afterwards, whatever window says.
func (n *Node) Counter(name string, window time.Duration) *Counter {
	if c, ok := n.counters.Load(name); ok {
		return c.(*Counter)
	}
	if window <= 0 {
		window = time.Minute
	}
	w := int64(window)
	return n.counter(name, func(t time.Time) int64 { return t.UnixNano() / w }, 2*window)
}

// MonthCounter returns the counter of name over UTC calendar months.
func (n *Node) MonthCounter(name string) *Counter {
	if c, ok := n.counters.Load(name); ok {
		return c.(*Counter)
	}
	return n.counter(name, func(t time.Time) int64 {
		u := t.UTC()
		return int64(u.Year())*12 + int64(u.Month()) - 1
	}, 62*24*time.Hour)
}

func (n *Node) counter(name string, index func(time.Time) int64, ttl time.Duration) *Counter {
	c := &Counter{n: n, name: name, index: index, ttl: ttl}
	c.at.Store(-1)
	c.floorAt.Store(-1)
	c.used.Store(-1)
	v, _ := n.counters.LoadOrStore(name, c)
	return v.(*Counter)
}

// Add counts d events now (no allocation, no Redis). d may be negative (a
// correction of an estimate).
func (c *Counter) Add(d int64) {
	c.pending.Add(d)
	if idx := c.index(c.n.o.Now()); c.used.Load() != idx {
		c.used.Store(idx)
	}
}

// Seed sets a minimum of the current window's count (say the spend the
// usage ledger holds at start): the fleet's count is raised to it at the
// next flush, never lowered, so replicas that seed the same figure do not
// add it up. Until then Total is at least v.
func (c *Counter) Seed(v int64) {
	idx := c.index(c.n.o.Now())
	c.floor.Store(max(v, 0))
	c.floorAt.Store(idx)
	c.used.Store(idx)
}

// Total is the count of the current window across the fleet as far as
// this replica knows: the fleet's total at the last flush (0 when that was
// an earlier window) plus what was added here since, at least the seeded
// floor.
func (c *Counter) Total() int64 {
	idx := c.index(c.n.o.Now())
	t := c.pending.Load()
	if c.at.Load() == idx {
		t += c.fleet.Load()
	}
	if c.floorAt.Load() == idx {
		t = max(t, c.floor.Load()+c.pending.Load())
	}
	return t
}

// fleetNow is the fleet's count of the current window read at the last
// flush (0 when that was an earlier window), without this replica's count
// since.
func (c *Counter) fleetNow() int64 {
	if c.at.Load() == c.index(c.n.o.Now()) {
		return c.fleet.Load()
	}
	return 0
}

// unread is what this replica counted that its last read of the fleet's
// count does not include: the pending count and the flush under way.
func (c *Counter) unread() int64 { return c.pending.Load() + c.sending.Load() }

func (c *Counter) key(idx int64) string {
	return c.n.o.Prefix + ":counter:" + c.name + ":" + strconv.FormatInt(idx, 10)
}

// flushArgs takes the pending count for a flush.
func (c *Counter) flushArgs(idx int64) (d, floor int64) {
	c.sending.Store(c.pending.Load())
	d = c.pending.Swap(0)
	c.sending.Store(d)
	if c.floorAt.Load() == idx {
		floor = c.floor.Load()
	}
	return d, floor
}

// Flush adds the pending count to the fleet's and reads the total back
// (counterLoop flushes all counters in one pipeline instead).
func (c *Counter) Flush(ctx context.Context) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	idx := c.index(c.n.o.Now())
	d, floor := c.flushArgs(idx)
	cctx, cancel := c.n.opCtx(ctx)
	defer cancel()
	v, err := counterScript.Run(cctx, c.n.rdb, []string{c.key(idx)}, d, floor, c.ttl.Milliseconds()).Int64()
	if err != nil {
		c.pending.Add(d) // not counted by the fleet: keep it for the next flush
		c.sending.Store(0)
		return err
	}
	c.fleet.Store(v)
	c.at.Store(idx)
	c.sending.Store(0)
	return nil
}

// flushCounters flushes every counter and the channels' day counts, and
// learns the client keys the fleet counts, in one pipeline.
func (n *Node) flushCounters(ctx context.Context) error {
	now := n.o.Now()
	type item struct {
		c      *Counter
		idx, d int64
		cmd    *redis.Cmd
	}
	var items []item
	cctx, cancel := n.opCtx(ctx)
	defer cancel()
	if !n.scriptLoaded.Load() {
		// Once per Redis (again after a NOSCRIPT, e.g. Redis restarted
		// empty): the pipeline then runs the script by its hash.
		if err := counterScript.Load(cctx, n.rdb).Err(); err != nil {
			return err
		}
		n.scriptLoaded.Store(true)
	}
	pipe := n.rdb.Pipeline()
	n.counters.Range(func(_, v any) bool {
		c := v.(*Counter)
		idx := c.index(now)
		c.mu.Lock()
		d, floor := c.flushArgs(idx)
		it := item{c: c, idx: idx, d: d}
		it.cmd = counterScript.EvalSha(cctx, pipe, []string{c.key(idx)}, d, floor, c.ttl.Milliseconds())
		items = append(items, it)
		return true
	})
	chans := n.channelDayArgs(cctx, pipe, now)
	members := n.names.queue(cctx, pipe, n.o.Prefix+":clientkeys")
	// The replicas that flushed in the last second: the count the shares
	// of requests_per_minute divide by.
	rkey := n.o.Prefix + ":replicas"
	pipe.ZAdd(cctx, rkey, redis.Z{Score: float64(now.UnixMilli()), Member: n.id})
	pipe.ZRemRangeByScore(cctx, rkey, "-inf", "("+strconv.FormatInt(now.Add(-time.Second).UnixMilli(), 10))
	pipe.PExpire(cctx, rkey, time.Minute)
	card := pipe.ZCard(cctx, rkey)
	_, err := pipe.Exec(cctx)
	if err != nil && redis.HasErrorPrefix(err, "NOSCRIPT") {
		n.scriptLoaded.Store(false) // loaded again at the next flush
	}
	for _, it := range items {
		v, e := it.cmd.Int64()
		if e != nil {
			it.c.pending.Add(it.d) // kept for the next flush
		} else {
			it.c.fleet.Store(v)
			it.c.at.Store(it.idx)
		}
		it.c.sending.Store(0)
		it.c.mu.Unlock()
	}
	n.applyChannelDays(chans)
	n.names.done(members)
	if err == nil {
		n.nreplicas.Store(max(card.Val(), 1))
		n.flushedAt.Store(n.o.Now().UnixNano())
		n.flushes.Add(1)
	}
	return err
}

// counterLoop flushes every counter every CounterFlushEvery while Redis
// answers.
func (n *Node) counterLoop(ctx context.Context) {
	n.everyConnected(ctx, CounterFlushEvery, func() {
		if err := n.flushCounters(ctx); err != nil && ctx.Err() == nil {
			n.fail("counter flush", err)
		}
	})
}

// replicas is how many replicas flushed in the last second, as of this
// replica's last flush (1 before any).
func (n *Node) replicas() int64 { return max(n.nreplicas.Load(), 1) }

// fresh reports whether the last flush answered within three flush
// intervals: the fleet's counts read then are current enough to share
// what is left between the replicas.
func (n *Node) fresh() bool {
	return n.connected.Load() && n.o.Now().UnixNano()-n.flushedAt.Load() <= int64(3*CounterFlushEvery)
}
