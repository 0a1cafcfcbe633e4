package tenant

import (
	"math"
	"sync"
	"time"
)

// Denial says which limit refused a request.
type Denial uint8

// Denials, in the order they are checked.
const (
	Admitted      Denial = iota
	MonthlyBudget        // spend this UTC month reached budget.monthly_usd
	DailyBudget          // spend this UTC day reached budget.daily_usd
	Concurrency          // limits.concurrent requests in flight
	RequestRate          // limits.requests_per_minute
	TokenRate            // limits.tokens_per_minute
)

var denialNames = [...]string{
	Admitted:      "admitted",
	MonthlyBudget: "monthly_budget",
	DailyBudget:   "daily_budget",
	Concurrency:   "concurrent",
	RequestRate:   "requests_per_minute",
	TokenRate:     "tokens_per_minute",
}

func (d Denial) String() string {
	if int(d) < len(denialNames) {
		return denialNames[d]
	}
	return "unknown"
}

// Budget reports whether the denial is a spent budget (not a rate limit).
func (d Denial) Budget() bool { return d == MonthlyBudget || d == DailyBudget }

// Verdict is the answer of Admit: admitted (Denial 0), or refused by a
// limit with the time after which the same request may pass.
type Verdict struct {
	Denial     Denial
	RetryAfter time.Duration
}

// RetryAfterSeconds is RetryAfter in whole seconds, rounded up, at least 1:
// the value of a Retry-After header.
func (v Verdict) RetryAfterSeconds() int64 {
	return max(1, int64((v.RetryAfter+time.Second-1)/time.Second))
}

// Counters keeps the live counts behind the limits of every key, by key
// name. Implementations are safe for concurrent use and take the time from
// the caller. Local is the in-process one; a shared one (Redis) can replace
// it behind this interface.
type Counters interface {
	// Admit checks every limit of the key at now, in the order of the
	// Denial constants, and when all pass counts the request: one request,
	// estTokens tokens and one request in flight.
	Admit(name string, lim *Limits, now time.Time, estTokens int64) Verdict
	// Release ends a request that Admit admitted (its stream included).
	Release(name string)
	// Charge corrects the tokens counted at admission (estTokens) to the
	// real ones and adds usd to the day's and the month's spend.
	Charge(name string, lim *Limits, now time.Time, estTokens, realTokens int64, usd float64)
	// SeedSpend sets the spend so far of the UTC day and month of now, per
	// key name (routerd loads it from the usage ledger at start).
	SeedSpend(now time.Time, day, month map[string]float64)
	// Spend returns a key's spend in the UTC day and month of now, and its
	// requests in flight.
	Spend(name string, now time.Time) (day, month float64, inFlight int64)
}

// Local is the in-process Counters.
type Local struct {
	mu   sync.RWMutex
	keys map[string]*counter
}

// NewLocal returns empty in-process counters.
func NewLocal() *Local { return &Local{keys: make(map[string]*counter)} }

// counter is the state of one key.
type counter struct {
	mu       sync.Mutex
	reqLevel float64 // requests available (token bucket); valid once reqLast != 0
	reqLast  int64   // Unix ns of the last refill
	tokLevel float64 // tokens available; may be negative (debt)
	tokLast  int64
	inFlight int64
	day      int64 // UTC day number of daySpend
	daySpend float64
	month    int64 // year*12 + month-1 of monthSpend
	monSpend float64
}

func (l *Local) get(name string) *counter {
	l.mu.RLock()
	c := l.keys[name]
	l.mu.RUnlock()
	if c != nil {
		return c
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if c = l.keys[name]; c == nil {
		c = &counter{}
		l.keys[name] = c
	}
	return c
}

const nsPerDay = int64(24 * time.Hour)

func dayOf(now time.Time) int64 {
	ns := now.UnixNano()
	d := ns / nsPerDay
	if ns < 0 && ns%nsPerDay != 0 {
		d--
	}
	return d
}

func monthOf(now time.Time) int64 {
	u := now.UTC()
	return int64(u.Year())*12 + int64(u.Month()) - 1
}

// roll starts a new day or month when now is past the recorded one.
// The month is computed only when the day changed: the same UTC day is in
// the same month.
func (c *counter) roll(now time.Time) {
	d := dayOf(now)
	if d == c.day {
		return
	}
	c.day, c.daySpend = d, 0
	if m := monthOf(now); m != c.month {
		c.month, c.monSpend = m, 0
	}
}

// refill adds what a bucket of capacity per minute earned since last.
func refill(level *float64, last *int64, capacity float64, now int64) {
	if *last == 0 {
		*level, *last = capacity, now
		return
	}
	if el := now - *last; el > 0 {
		*level = math.Min(capacity, *level+capacity*float64(el)/float64(time.Minute))
		*last = now
	}
	if *level > capacity {
		*level = capacity // the limit was lowered by a reload
	}
}

// wait is how long a bucket of capacity per minute needs to hold need.
func wait(level, need, capacity float64) time.Duration {
	// Whole microseconds, rounded up; the tolerance absorbs float rounding.
	us := math.Ceil((need-level)/capacity*float64(time.Minute)/1e3 - 1e-3)
	return time.Duration(us) * time.Microsecond
}

// Admit implements Counters.
func (l *Local) Admit(name string, lim *Limits, now time.Time, estTokens int64) Verdict {
	c := l.get(name)
	ns := now.UnixNano()
	c.mu.Lock()
	defer c.mu.Unlock()
	c.roll(now)
	if lim.MonthlyUSD > 0 && c.monSpend >= lim.MonthlyUSD {
		u := now.UTC()
		next := time.Date(u.Year(), u.Month()+1, 1, 0, 0, 0, 0, time.UTC)
		return Verdict{MonthlyBudget, next.Sub(now)}
	}
	if lim.DailyUSD > 0 && c.daySpend >= lim.DailyUSD {
		return Verdict{DailyBudget, time.Duration((c.day+1)*nsPerDay - ns)}
	}
	if lim.Concurrent > 0 && c.inFlight >= int64(lim.Concurrent) {
		return Verdict{Concurrency, time.Second}
	}
	if lim.RPM > 0 {
		capa := float64(lim.RPM)
		refill(&c.reqLevel, &c.reqLast, capa, ns)
		if c.reqLevel < 1 {
			return Verdict{RequestRate, wait(c.reqLevel, 1, capa)}
		}
	}
	est := float64(max(estTokens, 0))
	if lim.TPM > 0 {
		capa := float64(lim.TPM)
		refill(&c.tokLevel, &c.tokLast, capa, ns)
		need := math.Min(est, capa)
		if c.tokLevel < need {
			return Verdict{TokenRate, wait(c.tokLevel, need, capa)}
		}
		c.tokLevel -= est
	}
	if lim.RPM > 0 {
		c.reqLevel--
	}
	c.inFlight++
	return Verdict{}
}

// Release implements Counters.
func (l *Local) Release(name string) {
	c := l.get(name)
	c.mu.Lock()
	if c.inFlight > 0 {
		c.inFlight--
	}
	c.mu.Unlock()
}

// Charge implements Counters.
func (l *Local) Charge(name string, lim *Limits, now time.Time, estTokens, realTokens int64, usd float64) {
	c := l.get(name)
	c.mu.Lock()
	defer c.mu.Unlock()
	c.roll(now)
	if lim.TPM > 0 && c.tokLast != 0 {
		capa := float64(lim.TPM)
		refill(&c.tokLevel, &c.tokLast, capa, now.UnixNano())
		c.tokLevel = math.Min(capa, c.tokLevel-float64(max(realTokens, 0)-max(estTokens, 0)))
	}
	if usd > 0 && !math.IsInf(usd, 0) {
		c.daySpend += usd
		c.monSpend += usd
	}
}

// SeedSpend implements Counters. It replaces the spend of the named keys
// (the ledger's figure already includes anything counted before it).
func (l *Local) SeedSpend(now time.Time, day, month map[string]float64) {
	for name, v := range day {
		c := l.get(name)
		c.mu.Lock()
		c.roll(now)
		c.daySpend = max(v, 0)
		c.mu.Unlock()
	}
	for name, v := range month {
		c := l.get(name)
		c.mu.Lock()
		c.roll(now)
		c.monSpend = max(v, 0)
		c.mu.Unlock()
	}
}

// Spend implements Counters.
func (l *Local) Spend(name string, now time.Time) (day, month float64, inFlight int64) {
	l.mu.RLock()
	c := l.keys[name]
	l.mu.RUnlock()
	if c == nil {
		return 0, 0, 0
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.roll(now)
	return c.daySpend, c.monSpend, c.inFlight
}
