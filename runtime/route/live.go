package route

import (
	"math"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"smartrouter/format"
	"smartrouter/format/query"
	"smartrouter/runtime/outcome"
)

// Limits of the live state (routing rules "Failures" and "Filters"; see
// docs/routing.md, "Cooldowns that converge").
const (
	MaxCooldown         = 3600 * time.Second // no cooldown grows beyond this
	MaxNetworkCooldown  = 300 * time.Second  // cap of timeouts and connection failures
	MaxServerCooldown   = 600 * time.Second  // cap of 5xx and other server failures
	ConnectionTrial     = time.Second        // first half-open trial after a connection failure
	TrialLease          = 60 * time.Second   // a trial whose outcome never came is given up after this
	MinHealth           = 0.3                // a channel below this health is skipped
	ChannelFailureLimit = 5                  // consecutive failed incidents that cool the whole channel
	ChannelCoolingPairs = 3                  // cooling pairs that cool the whole channel
	LatencyAlpha        = 0.2                // weight of a new sample in the latency average
)

// forever is the end of a cooldown that only a reload or a recovery ends.
const forever = math.MaxInt64

// Live is the state that routing learns while serving: channel health,
// latency, cooldowns and last-use times. It is keyed by channel id and
// (channel id, model id), never by snapshot ordinals, so it survives a snapshot
// swap. It is safe for concurrent use; routing reads it with atomics and, only
// for channels that have cooling pairs, a read lock.
//
// Cooldowns follow a circuit breaker: a failure opens one (an incident), the
// failures that belong to the same incident (attempts that were already
// running when it began, or made while it cools) change nothing, a half-open
// trial lets one attempt through when it ends (after ConnectionTrial, doubling,
// for a connection failure), the trial's success closes it and its failure
// opens the next incident with a longer period (doubling, capped per kind).
type Live struct {
	now   func() time.Time
	mu    sync.RWMutex
	chans map[string]*chanState
}

// NewLive returns an empty live state. now is the clock (nil: time.Now); tests
// pass a fake one.
func NewLive(now func() time.Time) *Live {
	if now == nil {
		now = time.Now
	}
	return &Live{now: now, chans: make(map[string]*chanState)}
}

func (l *Live) nowNs() int64 { return l.now().UnixNano() }

// coolRec is one cooldown (one incident).
type coolRec struct {
	kind    outcome.Kind // a cooldown kind (outcome.Kind.CooldownKind)
	period  time.Duration
	since   int64 // Unix ns: when the incident began
	until   int64 // Unix ns: end of the period
	trialAt int64 // Unix ns: when a half-open trial may go (≤ until)
	lease   int64 // Unix ns: a trial is running until then; 0 = none
	strikes int32 // incidents in a row of this kind since the last success
}

// blockedUntil returns until when the record keeps routing away at now:
// before its trial time, or while a trial runs. 0 = not blocked.
func (r *coolRec) blockedUntil(now int64) int64 {
	switch {
	case r.trialAt > now:
		return r.trialAt
	case r.lease > now:
		return r.lease
	}
	return 0
}

// panicOK reports whether panic routing may try a pair or channel cooled by
// this record: never after an auth failure (the key is refused), a spent
// quota or a missing model, which no retry fixes.
func (r *coolRec) panicOK() bool {
	switch r.kind {
	case outcome.Auth, outcome.Quota, outcome.NotFound:
		return false
	}
	return true
}

// transient reports records that a successful trial or probe of the channel
// clears: network and server failures.
func (r *coolRec) transient() bool { return r.kind == outcome.Timeout || r.kind == outcome.Server }

type chanState struct {
	id        string
	health    atomic.Uint64 // float64 bits
	latency   atomic.Uint64 // float64 bits of the latency average in ms; 0 = no traffic yet
	lastUse   atomic.Int64  // Unix ns of the last use; 0 = never
	coolUntil atomic.Int64  // Unix ns the channel blocks routing until; 0 = not; forever = until reload/recovery
	consec    atomic.Int32  // consecutive failed incidents
	npairs    atomic.Int32  // len(pairs), read without the lock
	dayUse    atomic.Uint64 // UTC day << 32 | attempts that day (limits.go)
	rateTAT   atomic.Int64  // GCRA theoretical arrival time of rate_limit, Unix ns (limits.go)

	mu     sync.RWMutex
	chRec  coolRec
	pairs  map[string]*coolRec // model id → the pair's incident since its last success
	seeded int64               // timestamp+1 of the key state last seeded from; 0 = none
}

func newChanState(id string) *chanState {
	cs := &chanState{id: id, pairs: make(map[string]*coolRec)}
	cs.health.Store(math.Float64bits(1))
	return cs
}

func (cs *chanState) healthValue() float64 { return math.Float64frombits(cs.health.Load()) }

func (cs *chanState) latencyMs() float64 { return math.Float64frombits(cs.latency.Load()) }

// channelCooling reports whether the whole channel blocks routing at now.
func (cs *chanState) channelCooling(now int64) bool { return cs.coolUntil.Load() > now }

// pairCooling reports whether the pair (this channel, model) blocks routing
// at now.
func (cs *chanState) pairCooling(model string, now int64) bool {
	if cs.npairs.Load() == 0 {
		return false
	}
	cs.mu.RLock()
	rec := cs.pairs[model]
	cooling := rec != nil && rec.blockedUntil(now) != 0
	cs.mu.RUnlock()
	return cooling
}

// panicEnd tells whether panic routing may try the pair (this channel,
// model), filtered at now for cooling or health, and when its cooldowns end
// (the later of the channel's and the pair's).
func (cs *chanState) panicEnd(model string, now int64) (int64, bool) {
	cs.mu.RLock()
	defer cs.mu.RUnlock()
	end := now
	if cs.chRec.until > now || cs.coolUntil.Load() > now {
		if !cs.chRec.panicOK() {
			return 0, false
		}
		end = max(end, cs.coolUntil.Load())
	}
	if rec := cs.pairs[model]; rec != nil {
		if b := rec.blockedUntil(now); b != 0 {
			if !rec.panicOK() {
				return 0, false
			}
			end = max(end, b)
		}
	}
	return end, true
}

func updateFloat(a *atomic.Uint64, f func(float64) float64) {
	for {
		old := a.Load()
		nv := math.Float64bits(f(math.Float64frombits(old)))
		if a.CompareAndSwap(old, nv) {
			return
		}
	}
}

// state returns the state of a channel, creating it (health 1.0) if needed.
func (l *Live) state(id string) *chanState {
	l.mu.RLock()
	cs := l.chans[id]
	l.mu.RUnlock()
	if cs != nil {
		return cs
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if cs = l.chans[id]; cs == nil {
		// Ids often point into a mapped snapshot that a swap unmaps while
		// the live state lives on: keep a heap copy.
		id = strings.Clone(id)
		cs = newChanState(id)
		l.chans[id] = cs
	}
	return cs
}

// Report records the outcome of a call of (channel, model) that took latency
// (0: unknown) and returns how long the pair (or, for a channel-wide
// failure, the channel) now cools: 0 for a success or a neutral outcome,
// -1 for until a reload.
//
// A success: health h = min(1, 1.01h + 0.01), the latency average moves,
// the failure streak, the pair's record and any channel cooldown end; when
// it was a trial (the pair had a record), the channel's other network and
// server cooldowns end too. A neutral outcome (outcome.Kind.Neutral:
// canceled, bad request) only frees a trial. A failure that belongs to the
// pair's running incident (the attempt began before the incident did, or
// the pair is still before its trial time) changes nothing and returns the
// time left. Any other failure opens an incident: health
// h = max(0, 0.9h − 0.1), the failure streak grows; an auth failure cools
// the channel until a reload or Recover; the others cool the pair for
// o.Cooldown (0: the table's period of the kind) doubled for each
// earlier incident of the same kind since the last success, up to the
// kind's cap (a rate limit is never doubled: its period is the upstream's).
// The channel cools as a whole, for the same period, after
// ChannelFailureLimit consecutive incidents or with ChannelCoolingPairs pairs
// cooling.
func (l *Live) Report(channel, model string, o outcome.Outcome, latency time.Duration) time.Duration {
	return l.state(channel).report(model, o, latency, l.nowNs)
}

// report applies one outcome to the channel's state; now is called only for
// a failure or a trial.
func (cs *chanState) report(model string, o outcome.Outcome, latency time.Duration, now func() int64) time.Duration {
	switch {
	case o.Kind == outcome.OK:
		cs.success(model, latency)
		return 0
	case o.Kind.Neutral():
		cs.release(model)
		return 0
	}
	return cs.failure(model, o, now(), latency)
}

// release frees the trial lease of a pair whose attempt ended without a
// verdict.
func (cs *chanState) release(model string) {
	if cs.npairs.Load() == 0 {
		return
	}
	cs.mu.Lock()
	if rec := cs.pairs[model]; rec != nil {
		rec.lease = 0
	}
	cs.mu.Unlock()
}

func (cs *chanState) success(model string, latency time.Duration) {
	updateFloat(&cs.health, func(h float64) float64 { return math.Min(1, 1.01*h+0.01) })
	if latency > 0 {
		ms := float64(latency) / float64(time.Millisecond)
		updateFloat(&cs.latency, func(avg float64) float64 {
			if avg == 0 {
				return ms
			}
			return avg + LatencyAlpha*(ms-avg)
		})
	}
	if cs.consec.Load() != 0 {
		cs.consec.Store(0)
	}
	if cs.npairs.Load() == 0 && cs.coolUntil.Load() == 0 {
		return
	}
	cs.mu.Lock()
	if _, ok := cs.pairs[model]; ok {
		// A trial succeeded: the channel answers again, so its other
		// network and server cooldowns end with this one.
		for m, r := range cs.pairs {
			if m == model || r.transient() {
				delete(cs.pairs, m)
			}
		}
		cs.npairs.Store(int32(len(cs.pairs)))
	}
	cs.chRec = coolRec{}
	cs.coolUntil.Store(0)
	cs.mu.Unlock()
}

// capOf is the longest period a cooldown kind grows to.
func capOf(kind outcome.Kind) time.Duration {
	switch kind {
	case outcome.Timeout:
		return MaxNetworkCooldown
	case outcome.Server:
		return MaxServerCooldown
	case outcome.RateLimit:
		return outcome.MaxRateLimitCooldown
	}
	return MaxCooldown
}

// grown is the period of the strikes-th incident in a row of kind whose
// first period is base: base × 2^(strikes−1), capped by the kind (a rate
// limit keeps the upstream's period).
func grown(kind outcome.Kind, base time.Duration, strikes int32) time.Duration {
	limit := max(capOf(kind), base)
	if kind == outcome.RateLimit {
		return min(base, limit)
	}
	p := base
	for i := int32(1); i < strikes && p < limit; i++ {
		p *= 2
	}
	return min(p, limit)
}

// trialDelay is when, after the start of an incident, its half-open trial may
// go: at the end of the period, but after a connection failure (refused,
// reset: cheap to try again) after ConnectionTrial doubled per strike.
func trialDelay(k outcome.Kind, period time.Duration, strikes int32) time.Duration {
	if k != outcome.Connection {
		return period
	}
	d := ConnectionTrial
	for i := int32(1); i < strikes && d < period; i++ {
		d *= 2
	}
	return min(d, period)
}

func (cs *chanState) failure(model string, o outcome.Outcome, now int64, latency time.Duration) time.Duration {
	began := now - int64(max(latency, 0))
	kind := o.Kind.CooldownKind()
	cs.mu.Lock()
	defer cs.mu.Unlock()
	if kind.ChannelWide() {
		if cs.chRec.kind == outcome.Auth && cs.chRec.until == forever {
			return -1 // the same incident
		}
		cs.hit()
		cs.chRec = coolRec{kind: kind, since: now, until: forever, trialAt: forever}
		cs.coolUntil.Store(forever)
		return -1
	}
	rec := cs.pairs[model]
	if rec != nil && rec.since != 0 && (began < rec.since || now < rec.trialAt) {
		// Part of the running incident: it is already counted.
		return time.Duration(max(rec.until-now, 0))
	}
	cs.hit()
	base := o.Cooldown
	if base <= 0 {
		base = kind.Cooldown()
	}
	if base <= 0 {
		base = outcome.ServerCooldown
	}
	if rec == nil {
		rec = &coolRec{}
		cs.pairs[strings.Clone(model)] = rec // outlives the snapshot model points into
		cs.npairs.Store(int32(len(cs.pairs)))
	}
	strikes := int32(1)
	if rec.kind == kind && rec.strikes > 0 {
		strikes = rec.strikes + 1
	}
	p := grown(kind, base, strikes)
	*rec = coolRec{kind: kind, period: p, since: now, until: now + int64(p),
		trialAt: now + int64(trialDelay(o.Kind, p, strikes)), strikes: strikes}
	cooling := 0
	for _, r := range cs.pairs {
		if r.until > now {
			cooling++
		}
	}
	if cs.consec.Load() >= ChannelFailureLimit || cooling >= ChannelCoolingPairs {
		if cs.chRec.until <= now { // not already cooling: one incident at a time
			cs.chRec = coolRec{kind: kind, period: p, since: now, until: rec.until, trialAt: rec.trialAt, strikes: 1}
			cs.coolUntil.Store(rec.trialAt)
		}
	}
	return p
}

// hit counts a new incident: health and failure streak.
func (cs *chanState) hit() {
	updateFloat(&cs.health, func(h float64) float64 { return math.Max(0, 0.9*h-0.1) })
	cs.consec.Add(1)
}

// Used records that a channel was just used, for min_request_interval.
func (l *Live) Used(channel string) { l.state(channel).lastUse.Store(l.nowNs()) }

// used records a use of (this channel, model) at now: the last-use time and,
// when the pair is past its trial time, the lease of its half-open trial (so
// that routing sends no second request until this one's outcome).
func (cs *chanState) used(model string, now int64) {
	cs.lastUse.Store(now)
	if cs.npairs.Load() == 0 {
		return
	}
	cs.mu.Lock()
	if rec := cs.pairs[model]; rec != nil && rec.since != 0 && rec.trialAt <= now && rec.lease <= now {
		rec.lease = now + int64(TrialLease)
	}
	cs.mu.Unlock()
}

// RecoveredHealth is the health a successful recovery probe lifts a channel
// to at least: above MinHealth, so the channel is routed again, and low
// enough that two more failures in a row take it out once more.
const RecoveredHealth = 0.5

// Recover ends a channel's cooldown early after a successful recovery probe
// of its /models: the channel cooldown (auth included), the network and
// server cooldowns of its pairs (the channel answers), the failure streak;
// and it lifts the health to at least RecoveredHealth (a channel below
// MinHealth gets no traffic, so it could never earn its way back by
// successes alone). Quota, rate-limit and not-found pair cooldowns stay:
// /models answering says nothing about them.
func (l *Live) Recover(channel string) {
	cs := l.state(channel)
	cs.mu.Lock()
	cs.chRec = coolRec{}
	cs.coolUntil.Store(0)
	cs.consec.Store(0)
	for m, r := range cs.pairs {
		if r.transient() {
			delete(cs.pairs, m)
		}
	}
	cs.npairs.Store(int32(len(cs.pairs)))
	cs.mu.Unlock()
	updateFloat(&cs.health, func(h float64) float64 { return math.Max(h, RecoveredHealth) })
}

// Reset ends every cooldown (channel and pairs, of any kind) and failure
// streak of a channel, or of every channel when channel is "", and lifts
// their health to at least RecoveredHealth: the operator's "try again now"
// (POST /v1/admin/cooldowns/reset, and every snapshot reload). It returns
// how many cooldowns were running.
func (l *Live) Reset(channel string) int {
	var list []*chanState
	l.mu.RLock()
	if channel == "" {
		for _, cs := range l.chans {
			list = append(list, cs)
		}
	} else if cs := l.chans[channel]; cs != nil {
		list = append(list, cs)
	}
	l.mu.RUnlock()
	now := l.nowNs()
	n := 0
	for _, cs := range list {
		n += cs.reset(now)
	}
	return n
}

func (cs *chanState) reset(now int64) int {
	cs.mu.Lock()
	n := 0
	if cs.chRec.until > now || cs.coolUntil.Load() > now {
		n++
	}
	for _, r := range cs.pairs {
		if r.until > now || r.blockedUntil(now) != 0 {
			n++
		}
	}
	clear(cs.pairs)
	cs.npairs.Store(0)
	cs.chRec = coolRec{}
	cs.coolUntil.Store(0)
	cs.consec.Store(0)
	cs.mu.Unlock()
	updateFloat(&cs.health, func(h float64) float64 { return math.Max(h, RecoveredHealth) })
	return n
}

// NeedsProbe reports whether a channel should be probed for recovery: it is
// cooling down for an auth failure (which has no end of its own), it cools
// as a whole for a network failure, or its health is below MinHealth.
func (l *Live) NeedsProbe(channel string) bool {
	l.mu.RLock()
	cs := l.chans[channel]
	l.mu.RUnlock()
	if cs == nil {
		return false
	}
	if cs.healthValue() < MinHealth {
		return true
	}
	cs.mu.RLock()
	defer cs.mu.RUnlock()
	return (cs.chRec.kind == outcome.Auth || cs.chRec.kind == outcome.Timeout) && cs.chRec.until > l.nowNs()
}

// Prune drops the state of channels that snap does not have, and the pair
// records of models their channel no longer serves.
func (l *Live) Prune(snap *format.Snapshot) {
	chans := snap.Channels()
	ord := make(map[string]uint32, len(chans))
	for i, c := range chans {
		ord[c.ID] = uint32(i)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	for id, cs := range l.chans {
		ci, ok := ord[id]
		if !ok {
			delete(l.chans, id)
			continue
		}
		cs.mu.Lock()
		for model := range cs.pairs {
			if _, ok := query.FindPair(snap, ci, model); !ok {
				delete(cs.pairs, model)
			}
		}
		cs.npairs.Store(int32(len(cs.pairs)))
		cs.mu.Unlock()
	}
}

// Load makes snap the current snapshot of the live state: it prunes vanished
// channels, ends every cooldown (a reload is the operator's way to say "try
// again", see Reset), creates the state of new channels (health 1.0) and
// seeds from every key-validation verdict not seen before: its health score,
// and for an invalid key a channel cooldown by error type (invalid_key →
// auth, quota_exceeded → 1800 s, rate_limit → 10 s, others → 60 s).
func (l *Live) Load(snap *format.Snapshot) {
	l.Prune(snap)
	l.Reset("")
	chans := snap.Channels()
	for _, c := range chans {
		l.state(c.ID)
	}
	now := l.nowNs()
	for _, ks := range snap.KeyStates() {
		if int(ks.Channel) >= len(chans) {
			continue
		}
		l.state(chans[ks.Channel].ID).seed(ks, now)
	}
}

func (cs *chanState) seed(ks format.KeyState, now int64) {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	if cs.seeded == ks.Timestamp+1 {
		return
	}
	cs.seeded = ks.Timestamp + 1
	if ks.HealthScore >= 0 && !math.IsNaN(float64(ks.HealthScore)) {
		cs.health.Store(math.Float64bits(math.Min(1, float64(ks.HealthScore))))
	}
	if ks.Valid {
		return
	}
	o := outcome.KeyError(ks.ErrorType)
	rec := coolRec{kind: o.Kind, period: o.Cooldown, since: now, until: now + int64(o.Cooldown), strikes: 1}
	if o.Kind.ChannelWide() {
		rec.until = forever
	}
	rec.trialAt = rec.until
	cs.chRec = rec
	cs.coolUntil.Store(rec.until)
}

// ChannelState is a read-out of one channel's live state (admin, explain).
type ChannelState struct {
	Channel             string        `json:"channel"`
	Health              float64       `json:"health"`
	LatencyMs           float64       `json:"latency_ms,omitempty"` // 0 = no traffic yet
	ConsecutiveFailures int           `json:"consecutive_failures"`
	Cooling             *Cooldown     `json:"cooling,omitempty"`
	LastUse             time.Time     `json:"last_use,omitzero"`
	DayRequests         uint64        `json:"day_requests"`    // attempts this UTC day (daily_limit counts them)
	Pairs               []PairCooling `json:"pairs,omitempty"` // pair failure records, by model id
}

// Cooldown is one cooldown; a zero Until means until a reload or a recovery.
type Cooldown struct {
	Kind    outcome.Kind  `json:"kind"` // a cooldown kind (outcome.Kind.CooldownKind)
	Period  time.Duration `json:"period_ns"`
	Until   time.Time     `json:"until,omitzero"`
	TrialAt time.Time     `json:"trial_at,omitzero"` // when a half-open trial may go (before Until after a connection failure)
	Strikes int           `json:"strikes"`           // incidents in a row of this kind since the last success
}

// PairCooling is the failure record of one pair.
type PairCooling struct {
	Model   string `json:"model"`
	Cooling bool   `json:"cooling"`
	Cooldown
}

func cooldownOf(r coolRec) *Cooldown {
	c := &Cooldown{Kind: r.kind, Period: r.period, Strikes: int(r.strikes)}
	if r.until != forever {
		c.Until = time.Unix(0, r.until)
	}
	if r.trialAt != forever && r.trialAt != r.until {
		c.TrialAt = time.Unix(0, r.trialAt)
	}
	return c
}

// Channel returns the live state of a channel (a fresh channel reads as
// health 1.0 and nothing else).
func (l *Live) Channel(id string) ChannelState {
	l.mu.RLock()
	cs := l.chans[id]
	l.mu.RUnlock()
	if cs == nil {
		return ChannelState{Channel: id, Health: 1}
	}
	now := l.nowNs()
	st := ChannelState{
		Channel:             id,
		Health:              cs.healthValue(),
		LatencyMs:           cs.latencyMs(),
		ConsecutiveFailures: int(cs.consec.Load()),
	}
	if lu := cs.lastUse.Load(); lu != 0 {
		st.LastUse = time.Unix(0, lu)
	}
	st.DayRequests = cs.dayRequests(now)
	cs.mu.RLock()
	if cs.chRec.until > now {
		st.Cooling = cooldownOf(cs.chRec)
	}
	for model, r := range cs.pairs {
		st.Pairs = append(st.Pairs, PairCooling{Model: model, Cooling: r.blockedUntil(now) != 0, Cooldown: *cooldownOf(*r)})
	}
	cs.mu.RUnlock()
	sort.Slice(st.Pairs, func(i, j int) bool { return st.Pairs[i].Model < st.Pairs[j].Model })
	return st
}
