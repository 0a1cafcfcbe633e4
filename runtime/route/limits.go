package route

import "time"

// Channel limits: a channel's daily_limit (requests per UTC day) and its
// provider's rate_limit (requests per minute, enforced per channel: each
// channel is one API key, and upstream rate limits apply per key). Both
// count attempts (Router.Used, called before each upstream call, whatever
// its outcome) and filter the channel while exhausted, with the reasons
// daily_limit and rate_limited; neither ever makes a request wait.
//
// The per-minute limit is a GCRA (a token bucket kept as one timestamp):
// a channel may take up to rate_limit requests at once, then one every
// 60 s / rate_limit. The day count resets at 00:00 UTC. Both live in the
// channel's live state, so they survive a reload; SeedChannelDay loads the
// day's count at start (from the usage ledger).

const rateWindow = int64(time.Minute)

// dayShift packs a day count: day number in the high 32 bits, requests in
// the low 32.
const dayShift = 32

func utcDay(now int64) uint64 { return uint64(now / int64(24*time.Hour)) }

// countUse counts one attempt at now: the day's requests and, with a rate
// interval, the rate state.
func (cs *chanState) countUse(now, interval int64) {
	day := utcDay(now)
	for {
		old := cs.dayUse.Load()
		n := uint64(1)
		if old>>dayShift == day {
			n = min(old&(1<<dayShift-1)+1, 1<<dayShift-1)
		}
		if cs.dayUse.CompareAndSwap(old, day<<dayShift|n) {
			break
		}
	}
	if interval <= 0 {
		return
	}
	for {
		tat := cs.rateTAT.Load()
		if cs.rateTAT.CompareAndSwap(tat, max(tat, now)+interval) {
			return
		}
	}
}

// dayRequests is the number of attempts in the UTC day of now.
func (cs *chanState) dayRequests(now int64) uint64 {
	v := cs.dayUse.Load()
	if v>>dayShift != utcDay(now) {
		return 0
	}
	return v & (1<<dayShift - 1)
}

// rateLimited reports whether one more attempt at now would exceed the
// per-minute limit of the given interval.
func (cs *chanState) rateLimited(now, interval int64) bool {
	return cs.rateTAT.Load()-now > rateWindow-interval
}

// SeedChannelDay sets today's (UTC) request count of channels, e.g. from
// the usage ledger at start, so that a restart does not reset daily_limit.
// Channels not named keep their count.
func (l *Live) SeedChannelDay(counts map[string]int) {
	now := l.nowNs()
	day := utcDay(now)
	for id, n := range counts {
		l.state(id).dayUse.Store(day<<dayShift | uint64(min(max(n, 0), 1<<dayShift-1)))
	}
}

// ChannelDays calls fn with every channel's attempts in the current UTC
// day (0 for a channel not used today), for the shared counts of
// daily_limit (runtime/cluster).
func (l *Live) ChannelDays(fn func(id string, n uint64)) {
	now := l.nowNs()
	list := l.channelList()
	for _, cs := range list {
		fn(cs.id, cs.dayRequests(now))
	}
}

// AddChannelDay adds delta (negative allowed, the count stays ≥ 0) to the
// attempts of a channel in the UTC day number day; a count of an earlier
// day counts as 0. It reports false, changing nothing, when the channel's
// count is of a later day.
func (l *Live) AddChannelDay(id string, day uint64, delta int64) bool {
	cs := l.state(id)
	for {
		old := cs.dayUse.Load()
		d := old >> dayShift
		if d > day {
			return false
		}
		cur := int64(0)
		if d == day {
			cur = int64(old & (1<<dayShift - 1))
		}
		n := min(max(cur+delta, 0), 1<<dayShift-1)
		if cs.dayUse.CompareAndSwap(old, day<<dayShift|uint64(n)) {
			return true
		}
	}
}
