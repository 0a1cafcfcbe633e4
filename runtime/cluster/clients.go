package cluster

import (
	"context"
	"math"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"

	"smartrouter/runtime/tenant"
)

// ClientCounters is the tenant.Counters of a fleet: the client keys'
// requests and tokens per minute and their day and month budgets are
// counted across replicas through the node's Counters (counter.go), while
// requests in flight stay per replica. Admission never waits on Redis: it
// compares the last known fleet count plus this replica's own since (Total)
// with the limit, then asks the in-process tenant.Local (which keeps the
// per-replica token buckets, the in-flight count and the spend of this
// replica as a floor). Until Attach, and whenever no node is attached, it
// is exactly tenant.Local.
//
// Error bounds (docs/scaling.md, "Shared limits and budgets"), with N
// replicas, F = CounterFlushEvery plus one Redis round trip, and r the
// rate at which one replica admits a key's requests:
//
//   - requests per minute: fixed UTC-minute windows; within one window the
//     fleet admits at most limit + (N−1) × r × F, and never more than
//     N × limit (each replica counts its own admissions at once);
//   - tokens per minute: the same, in tokens, counted at admission from the
//     estimate and corrected at Charge;
//   - budgets: spend reaches the fleet's count at the next flush, so the
//     fleet may overshoot a budget by the spend of the requests in flight
//     plus (N−1) × spend rate × F;
//   - concurrent: per replica; the fleet may hold N × concurrent.
//
// Redis away: every replica goes on with the last fleet counts it read
// plus its own (fail-open, at most N × limit per window) and adds its
// counts when Redis is back.
type ClientCounters struct {
	local *tenant.Local
	node  atomic.Pointer[Node]
	mu    sync.RWMutex
	keys  map[string]*keyCounters
}

// keyCounters are the shared counters of one client key.
type keyCounters struct {
	name                 string
	rpm, tpm, day, month *Counter
}

// nanoUSD is the unit of the shared spend counters (so a sum of small costs loses nothing).
const nanoUSD = 1e9

// NewClientCounters returns counters that are local until Attach.
func NewClientCounters() *ClientCounters {
	return &ClientCounters{local: tenant.NewLocal(), keys: make(map[string]*keyCounters)}
}

// Attach shares the counting through n from now on.
func (s *ClientCounters) Attach(n *Node) {
	n.names.mu.Lock()
	n.names.known = make(map[string]int)
	n.names.create = func(name string) { s.get(n, name) }
	n.names.mu.Unlock()
	s.node.Store(n)
}

func (s *ClientCounters) get(n *Node, name string) *keyCounters {
	s.mu.RLock()
	k := s.keys[name]
	s.mu.RUnlock()
	if k != nil {
		return k
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if k = s.keys[name]; k == nil {
		name = strings.Clone(name)
		k = &keyCounters{name: name,
			rpm:   n.Counter("rpm:"+name, time.Minute),
			tpm:   n.Counter("tpm:"+name, time.Minute),
			day:   n.Counter("usd-day:"+name, 24*time.Hour),
			month: n.MonthCounter("usd-month:" + name),
		}
		s.keys[name] = k
		n.names.announce(k.name)
	}
	return k
}

func nano(usd float64) int64 {
	if usd <= 0 || math.IsInf(usd, 0) || math.IsNaN(usd) {
		return 0
	}
	return int64(math.Round(usd * nanoUSD))
}

// Admit implements tenant.Counters.
func (s *ClientCounters) Admit(name string, lim *tenant.Limits, now time.Time, estTokens int64) tenant.Verdict {
	n := s.node.Load()
	if n == nil || !sharedLimits(lim) {
		return s.local.Admit(name, lim, now, estTokens)
	}
	k := s.get(n, name)
	if lim.MonthlyUSD > 0 && k.month.Total() >= nano(lim.MonthlyUSD) {
		u := now.UTC()
		next := time.Date(u.Year(), u.Month()+1, 1, 0, 0, 0, 0, time.UTC)
		return tenant.Verdict{Denial: tenant.MonthlyBudget, RetryAfter: next.Sub(now)}
	}
	if lim.DailyUSD > 0 && k.day.Total() >= nano(lim.DailyUSD) {
		return tenant.Verdict{Denial: tenant.DailyBudget, RetryAfter: untilNext(now, 24*time.Hour)}
	}
	if lim.RPM > 0 {
		if k.rpm.Total() >= int64(lim.RPM) {
			return tenant.Verdict{Denial: tenant.RequestRate, RetryAfter: untilNext(now, time.Minute)}
		}
		// This replica's share of what the fleet has left, per flush.
		if n.fresh() && k.rpm.unread() >= shareOf(int64(lim.RPM)-k.rpm.fleetNow(), n.replicas()) {
			return tenant.Verdict{Denial: tenant.RequestRate, RetryAfter: CounterFlushEvery}
		}
	}
	if lim.TPM > 0 && k.tpm.Total() >= int64(min(lim.TPM, math.MaxInt64)) {
		return tenant.Verdict{Denial: tenant.TokenRate, RetryAfter: untilNext(now, time.Minute)}
	}
	v := s.local.Admit(name, lim, now, estTokens)
	if v.Denial == tenant.Admitted {
		if lim.RPM > 0 {
			k.rpm.Add(1)
		}
		if lim.TPM > 0 {
			k.tpm.Add(max(estTokens, 0))
		}
	}
	return v
}

// sharedLimits reports whether a key has a limit counted across replicas
// (a key with none, or only concurrent, has no shared counters).
func sharedLimits(lim *tenant.Limits) bool {
	return lim.RPM > 0 || lim.TPM > 0 || lim.DailyUSD > 0 || lim.MonthlyUSD > 0
}

// shareOf is a replica's share of left requests between two flushes:
// ⌈left / replicas⌉, at least 1.
func shareOf(left, replicas int64) int64 {
	return max(1, (left+replicas-1)/max(replicas, 1))
}

// untilNext is the time from now to the end of its window of w.
func untilNext(now time.Time, w time.Duration) time.Duration {
	ns := now.UnixNano()
	return time.Duration(int64(w) - ns%int64(w))
}

// Release implements tenant.Counters (in flight is per replica).
func (s *ClientCounters) Release(name string) { s.local.Release(name) }

// Charge implements tenant.Counters.
func (s *ClientCounters) Charge(name string, lim *tenant.Limits, now time.Time, estTokens, realTokens int64, usd float64) {
	s.local.Charge(name, lim, now, estTokens, realTokens, usd)
	n := s.node.Load()
	if n == nil || !sharedLimits(lim) {
		return
	}
	k := s.get(n, name)
	if lim.TPM > 0 {
		k.tpm.Add(max(realTokens, 0) - max(estTokens, 0))
	}
	if m := nano(usd); m > 0 {
		k.day.Add(m)
		k.month.Add(m)
	}
}

// SeedSpend implements tenant.Counters: the local spend is set, and the
// fleet's day and month spend raised to at least the figures (never added:
// replicas reading one ledger seed the same spend).
func (s *ClientCounters) SeedSpend(now time.Time, day, month map[string]float64) {
	s.local.SeedSpend(now, day, month)
	n := s.node.Load()
	if n == nil {
		return
	}
	for name, v := range day {
		s.get(n, name).day.Seed(nano(v))
	}
	for name, v := range month {
		s.get(n, name).month.Seed(nano(v))
	}
}

// Spend implements tenant.Counters: the fleet's spend as far as this
// replica knows, and this replica's requests in flight.
func (s *ClientCounters) Spend(name string, now time.Time) (day, month float64, inFlight int64) {
	day, month, inFlight = s.local.Spend(name, now)
	s.mu.RLock()
	k := s.keys[name]
	s.mu.RUnlock()
	if k == nil || s.node.Load() == nil {
		return day, month, inFlight // not counted by the fleet from here
	}
	return max(day, float64(k.day.Total())/nanoUSD), max(month, float64(k.month.Total())/nanoUSD), inFlight
}

var _ tenant.Counters = (*ClientCounters)(nil)

// nameSet shares which client keys the fleet counts (a Redis set): a
// replica creates the counters of a key another replica counted before its
// own first request of that key, so that request is judged on the fleet's
// count read at the flush before, not on nothing.
type nameSet struct {
	mu     sync.Mutex
	add    []string       // names to add to the set at the next flush
	create func(string)   // ClientCounters.ensure; nil: not attached
	known  map[string]int // names added or read already
}

// announce queues a name this replica counts for the set.
func (s *nameSet) announce(name string) {
	s.mu.Lock()
	s.add = append(s.add, name)
	s.mu.Unlock()
}

// queue adds the queued names and reads the set back on pipe (nil when no
// client counters are attached).
func (s *nameSet) queue(ctx context.Context, pipe redis.Pipeliner, key string) *redis.StringSliceCmd {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.create == nil {
		return nil
	}
	if len(s.add) > 0 {
		args := make([]any, len(s.add))
		for i, a := range s.add {
			args[i] = a
		}
		pipe.SAdd(ctx, key, args...)
		s.add = s.add[:0]
	}
	return pipe.SMembers(ctx, key)
}

// done creates the counters of the names this replica did not know.
func (s *nameSet) done(cmd *redis.StringSliceCmd) {
	if cmd == nil {
		return
	}
	names, err := cmd.Result()
	if err != nil {
		return
	}
	s.mu.Lock()
	create := s.create
	var fresh []string
	for _, name := range names {
		if _, ok := s.known[name]; !ok {
			s.known[name] = 1
			fresh = append(fresh, name)
		}
	}
	s.mu.Unlock()
	for _, name := range fresh {
		create(name)
	}
}
