package route

import (
	"sync"
	"sync/atomic"

	"github.com/RoaringBitmap/roaring/v2"

	"smartrouter/format/query"
)

// candSet is a resolved model string: the pairs it matches before any live
// filter. Small sets are a sorted ordinal list; large ones (negatives-only and
// size-only queries, broad tags) a roaring bitmap.
type candSet struct {
	q    query.Query
	list []uint32        // ascending pair ordinals, or nil when bm is set
	bm   *roaring.Bitmap // read-only
	n    int             // number of pairs
	cost int             // bytes held, for the cache budget (0 for snapshot-owned lists)
	ref  atomic.Bool     // clock bit: used since the hand last passed
}

// cache is a bounded map from model string to candSet with CLOCK eviction:
// lookups take a read lock and set a bit; only inserts take the write lock.
type cache struct {
	mu       sync.RWMutex
	m        map[string]*candSet
	ring     []string // keys, in clock order
	hand     int
	max      int
	bytes    int
	maxBytes int
}

func newCache(entries, maxBytes int) *cache {
	return &cache{m: make(map[string]*candSet, entries), ring: make([]string, 0, entries), max: entries, maxBytes: maxBytes}
}

func (c *cache) get(key string) *candSet {
	if c == nil {
		return nil
	}
	c.mu.RLock()
	e := c.m[key]
	c.mu.RUnlock()
	if e != nil && !e.ref.Load() {
		e.ref.Store(true)
	}
	return e
}

// put stores e under key (which must not alias a reused buffer) and returns
// the entry that is now cached for key. A set larger than the whole budget is
// not stored.
func (c *cache) put(key string, e *candSet) *candSet {
	if c == nil || c.max <= 0 || e.cost > c.maxBytes {
		return e
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if old := c.m[key]; old != nil {
		return old
	}
	for len(c.ring) > 0 && (len(c.m) >= c.max || c.bytes+e.cost > c.maxBytes) {
		c.evictOne()
	}
	c.m[key] = e
	c.ring = append(c.ring, key)
	c.bytes += e.cost
	return e
}

// evictOne advances the hand past recently used entries (clearing their bit)
// and removes the first one not used since the last pass.
func (c *cache) evictOne() {
	for {
		if c.hand >= len(c.ring) {
			c.hand = 0
		}
		k := c.ring[c.hand]
		e := c.m[k]
		if e.ref.Load() {
			e.ref.Store(false)
			c.hand++
			continue
		}
		delete(c.m, k)
		c.bytes -= e.cost
		last := len(c.ring) - 1
		c.ring[c.hand] = c.ring[last]
		c.ring = c.ring[:last]
		return
	}
}
