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

// Limits of the live state (routing rules "Failures" and "Filters").
const (
	MaxCooldown         = 3600 * time.Second // a repeated failure doubles its period up to this
	MinHealth           = 0.3                // a channel below this health is skipped
	ChannelFailureLimit = 5                  // consecutive failures that cool the whole channel
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

// coolRec is one cooldown: its kind, its period (for doubling) and its end.
type coolRec struct {
	kind   outcome.Kind // a cooldown kind (outcome.Kind.CooldownKind)
	period time.Duration
	until  int64 // Unix ns
}

type chanState struct {
	id        string
	health    atomic.Uint64 // float64 bits
	latency   atomic.Uint64 // float64 bits of the latency average in ms; 0 = no traffic yet
	lastUse   atomic.Int64  // Unix ns of the last use; 0 = never
	coolUntil atomic.Int64  // Unix ns; 0 = not cooling; forever = until reload/recovery
	consec    atomic.Int32  // consecutive failures
	npairs    atomic.Int32  // len(pairs), read without the lock

	mu     sync.RWMutex
	chRec  coolRec
	pairs  map[string]*coolRec // model id → last failure since the pair's last success
	seeded int64               // timestamp+1 of the key state last seeded from; 0 = none
}

func newChanState(id string) *chanState {
	cs := &chanState{id: id, pairs: make(map[string]*coolRec)}
	cs.health.Store(math.Float64bits(1))
	return cs
}

func (cs *chanState) healthValue() float64 { return math.Float64frombits(cs.health.Load()) }

func (cs *chanState) latencyMs() float64 { return math.Float64frombits(cs.latency.Load()) }

// channelCooling reports whether the whole channel cools at now.
func (cs *chanState) channelCooling(now int64) bool { return cs.coolUntil.Load() > now }

// pairCooling reports whether the pair (this channel, model) cools at now.
func (cs *chanState) pairCooling(model string, now int64) bool {
	if cs.npairs.Load() == 0 {
		return false
	}
	cs.mu.RLock()
	rec := cs.pairs[model]
	cooling := rec != nil && rec.until > now
	cs.mu.RUnlock()
	return cooling
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
// (0: unknown; only a success uses it) and returns how long the pair (or,
// for a channel-wide failure, the channel) now cools: 0 for a success or a
// neutral outcome, -1 for until a reload.
//
// A success: health h = min(1, 1.01h + 0.01), the latency average moves, and
// the failure streak, the pair's failure record and any channel cooldown
// end. A neutral outcome (outcome.Kind.Neutral: canceled, bad request)
// changes nothing. A failure: health h = max(0, 0.9h − 0.1); an auth
// failure cools the channel until a reload or Recover; the others cool the
// pair for o.Cooldown (0: the table's period of the kind), doubled (up to
// MaxCooldown) when the pair's previous failure since its last success was
// of the same cooldown kind. The channel cools as a whole, for the same
// period, after ChannelFailureLimit consecutive failures or with
// ChannelCoolingPairs pairs cooling.
func (l *Live) Report(channel, model string, o outcome.Outcome, latency time.Duration) time.Duration {
	return l.state(channel).report(model, o, latency, l.nowNs)
}

// report applies one outcome to the channel's state; now is called only for
// a failure.
func (cs *chanState) report(model string, o outcome.Outcome, latency time.Duration, now func() int64) time.Duration {
	switch {
	case o.Kind == outcome.OK:
		cs.success(model, latency)
		return 0
	case o.Kind.Neutral():
		return 0
	}
	return cs.failure(model, o, now())
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
		delete(cs.pairs, model)
		cs.npairs.Store(int32(len(cs.pairs)))
	}
	cs.chRec = coolRec{}
	cs.coolUntil.Store(0)
	cs.mu.Unlock()
}

func doubled(prev coolRec, kind outcome.Kind, p time.Duration) time.Duration {
	if prev.kind == kind && prev.period > 0 {
		p = max(p, min(2*prev.period, MaxCooldown))
	}
	return p
}

func (cs *chanState) failure(model string, o outcome.Outcome, now int64) time.Duration {
	updateFloat(&cs.health, func(h float64) float64 { return math.Max(0, 0.9*h-0.1) })
	consec := cs.consec.Add(1)
	cs.mu.Lock()
	defer cs.mu.Unlock()
	kind := o.Kind.CooldownKind()
	if kind.ChannelWide() {
		cs.chRec = coolRec{kind: kind, until: forever}
		cs.coolUntil.Store(forever)
		return -1
	}
	period := o.Cooldown
	if period <= 0 {
		period = kind.Cooldown()
	}
	if period <= 0 {
		period = outcome.ServerCooldown
	}
	rec := cs.pairs[model]
	if rec == nil {
		rec = &coolRec{}
		cs.pairs[strings.Clone(model)] = rec // outlives the snapshot model points into
		cs.npairs.Store(int32(len(cs.pairs)))
	}
	p := doubled(*rec, kind, period)
	*rec = coolRec{kind: kind, period: p, until: now + int64(p)}
	cooling := 0
	for _, r := range cs.pairs {
		if r.until > now {
			cooling++
		}
	}
	if consec >= ChannelFailureLimit || cooling >= ChannelCoolingPairs {
		cp := doubled(cs.chRec, kind, p)
		if until := now + int64(cp); until > cs.chRec.until || cs.chRec.until <= now {
			cs.chRec = coolRec{kind: kind, period: cp, until: until}
			cs.coolUntil.Store(until)
		}
	}
	return p
}

// Used records that a channel was just used, for min_request_interval.
func (l *Live) Used(channel string) { l.state(channel).lastUse.Store(l.nowNs()) }

// RecoveredHealth is the health a successful recovery probe lifts a channel
// to at least: above MinHealth, so the channel is routed again, and low
// enough that two more failures in a row take it out once more.
const RecoveredHealth = 0.5

// Recover ends a channel's cooldown early after a successful recovery probe
// of its /models, and lifts its health to at least RecoveredHealth (a channel
// below MinHealth gets no traffic, so it could never earn its way back by
// successes alone); pair cooldowns stay.
func (l *Live) Recover(channel string) {
	cs := l.state(channel)
	cs.mu.Lock()
	cs.chRec = coolRec{}
	cs.coolUntil.Store(0)
	cs.consec.Store(0)
	cs.mu.Unlock()
	updateFloat(&cs.health, func(h float64) float64 { return math.Max(h, RecoveredHealth) })
}

// NeedsProbe reports whether a channel should be probed for recovery: it is
// cooling down for an auth failure (which has no end of its own), or its
// health is below MinHealth.
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
	return cs.chRec.kind == outcome.Auth && cs.chRec.until > l.nowNs()
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
// channels, ends auth cooldowns (they last until a reload), creates the state
// of new channels (health 1.0) and seeds from every key-validation verdict not
// seen before: its health score, and for an invalid key a channel cooldown by
// error type (invalid_key → auth, quota_exceeded → 1800 s, rate_limit → 10 s,
// others → 60 s).
func (l *Live) Load(snap *format.Snapshot) {
	l.Prune(snap)
	chans := snap.Channels()
	for _, c := range chans {
		cs := l.state(c.ID)
		cs.mu.Lock()
		if cs.chRec.kind == outcome.Auth {
			cs.chRec = coolRec{}
			cs.coolUntil.Store(0)
		}
		cs.mu.Unlock()
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
	rec := coolRec{kind: o.Kind, period: o.Cooldown, until: now + int64(o.Cooldown)}
	if o.Kind.ChannelWide() {
		rec.until = forever
	}
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
	Pairs               []PairCooling `json:"pairs,omitempty"` // pair failure records, by model id
}

// Cooldown is one cooldown; a zero Until means until a reload or a recovery.
type Cooldown struct {
	Kind   outcome.Kind  `json:"kind"` // a cooldown kind (outcome.Kind.CooldownKind)
	Period time.Duration `json:"period_ns"`
	Until  time.Time     `json:"until,omitzero"`
}

// PairCooling is the failure record of one pair.
type PairCooling struct {
	Model   string `json:"model"`
	Cooling bool   `json:"cooling"`
	Cooldown
}

func cooldownOf(r coolRec) *Cooldown {
	c := &Cooldown{Kind: r.kind, Period: r.period}
	if r.until != forever {
		c.Until = time.Unix(0, r.until)
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
	cs.mu.RLock()
	if cs.chRec.until > now {
		st.Cooling = cooldownOf(cs.chRec)
	}
	for model, r := range cs.pairs {
		st.Pairs = append(st.Pairs, PairCooling{Model: model, Cooling: r.until > now, Cooldown: *cooldownOf(*r)})
	}
	cs.mu.RUnlock()
	sort.Slice(st.Pairs, func(i, j int) bool { return st.Pairs[i].Model < st.Pairs[j].Model })
	return st
}
