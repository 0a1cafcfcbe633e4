package route

import (
	"math"
	"time"

	"smartrouter/runtime/outcome"
)

// Sharing the live state between replicas (runtime/cluster): the changes a
// replica should tell the others (OnChange), and the methods that apply what
// the others told (Apply, ApplySignal). Nothing here runs on the route
// decision path: emitting is one atomic load when nothing is shared, and a
// call of the observer only when a cooldown begins or ends.

// ChangeKind says what a Change is.
type ChangeKind uint8

// The kinds of change shared between replicas.
const (
	// PairCooled: a pair (Channel, Model) began a cooldown (an incident).
	PairCooled ChangeKind = iota + 1
	// ChannelCooled: the whole channel began a cooldown (Until = Forever
	// for an auth failure: until a reload or a recovery).
	ChannelCooled
	// Cleared: a success ended the channel cooldown and, when Model is
	// set (a half-open trial of that pair succeeded), the pair's record and
	// the channel's other network and server cooldowns.
	Cleared
	// Recovered: a recovery probe of the channel succeeded (Live.Recover).
	Recovered
)

// Forever is the Until of a cooldown that only a reload or a recovery ends.
const Forever int64 = forever

// Change is one change of the live state that other replicas should learn.
// Channel and Model are stable names (channel id, model id), never snapshot
// ordinals, so replicas on different generations agree on them; both are
// heap strings that the receiver may keep.
type Change struct {
	Kind     ChangeKind
	Channel  string
	Model    string       // PairCooled, Cleared after a trial; else ""
	Cooldown outcome.Kind // PairCooled, ChannelCooled: the cooldown kind
	Period   time.Duration
	Until    int64 // Unix ns: end of the cooldown (Forever: none)
	TrialAt  int64 // Unix ns: when a half-open trial may go (≤ Until)
	Strikes  int32
}

// OnChange makes fn hear every change of this replica's own live state that
// other replicas should learn: cooldowns that begin (PairCooled,
// ChannelCooled) and end (Cleared, Recovered). Changes applied with Apply
// are not told again. fn is called on the request path, sometimes under a
// channel's lock: it must not block, and should only queue the change
// (runtime/cluster drops it when its queue is full). nil stops it.
func (l *Live) OnChange(fn func(Change)) {
	if fn == nil {
		l.onChange.Store(nil)
		return
	}
	l.onChange.Store(&fn)
}

// emit tells the observer, if any, about c.
func (cs *chanState) emit(c Change) {
	if cs.live == nil {
		return
	}
	if fn := cs.live.onChange.Load(); fn != nil {
		(*fn)(c)
	}
}

// emitRec tells the observer that rec began (kind PairCooled or
// ChannelCooled).
func (cs *chanState) emitRec(kind ChangeKind, rec *coolRec) {
	if cs.live == nil || cs.live.onChange.Load() == nil {
		return
	}
	c := Change{Kind: kind, Channel: cs.id, Cooldown: rec.kind, Period: rec.period,
		Until: rec.until, TrialAt: rec.trialAt, Strikes: rec.strikes}
	if kind == PairCooled {
		c.Model = rec.model
	}
	cs.emit(c)
}

// Apply applies a change that another replica observed, without telling
// the observer again. A cooldown is taken when it ends later than the one
// this replica already has for the pair or channel (so applying the same
// change twice, or changes out of order, converges on the longest), and
// counts as an incident for the channel's health; Cleared and Recovered do
// what the success or recovery did on the other replica. Changes of
// unknown kinds are ignored.
func (l *Live) Apply(c Change) {
	if c.Channel == "" {
		return
	}
	switch c.Kind {
	case PairCooled:
		if c.Model == "" {
			return
		}
		l.state(c.Channel).applyPair(c, l.nowNs())
	case ChannelCooled:
		l.state(c.Channel).applyChannel(c, l.nowNs())
	case Cleared:
		cs := l.state(c.Channel)
		cs.mu.Lock()
		cs.clearAfterSuccess(c.Model)
		cs.mu.Unlock()
	case Recovered:
		l.state(c.Channel).recover()
	}
}

func (cs *chanState) applyPair(c Change, now int64) {
	if c.Until <= now {
		return
	}
	cs.mu.Lock()
	defer cs.mu.Unlock()
	rec := cs.pairs[c.Model]
	if rec != nil && rec.until >= c.Until {
		return
	}
	updateFloat(&cs.health, func(h float64) float64 { return math.Max(0, 0.9*h-0.1) })
	if rec == nil {
		rec = &coolRec{model: c.Model}
		cs.pairs[c.Model] = rec
		cs.npairs.Store(int32(len(cs.pairs)))
	}
	*rec = coolRec{model: rec.model, kind: c.Cooldown, period: c.Period, since: now,
		until: c.Until, trialAt: min(max(c.TrialAt, now), c.Until), strikes: max(c.Strikes, 1)}
}

func (cs *chanState) applyChannel(c Change, now int64) {
	if c.Until <= now {
		return
	}
	cs.mu.Lock()
	defer cs.mu.Unlock()
	if cs.chRec.until >= c.Until && cs.coolUntil.Load() != 0 {
		return
	}
	updateFloat(&cs.health, func(h float64) float64 { return math.Max(0, 0.9*h-0.1) })
	trial := min(max(c.TrialAt, now), c.Until)
	cs.chRec = coolRec{kind: c.Cooldown, period: c.Period, since: now, until: c.Until, trialAt: trial, strikes: max(c.Strikes, 1)}
	cs.coolUntil.Store(trial)
}

// channelList is every channel's live state, copied out under the read
// lock so that the caller can visit them without holding it.
func (l *Live) channelList() []*chanState {
	l.mu.RLock()
	defer l.mu.RUnlock()
	list := make([]*chanState, 0, len(l.chans))
	for _, cs := range l.chans {
		list = append(list, cs)
	}
	return list
}

// Cooldowns returns the cooldowns running now, as the changes that began
// them: what a replica that (re)connects to the others republishes.
func (l *Live) Cooldowns() []Change {
	list := l.channelList()
	now := l.nowNs()
	var out []Change
	for _, cs := range list {
		cs.mu.RLock()
		if r := &cs.chRec; r.until > now && cs.coolUntil.Load() > now {
			out = append(out, Change{Kind: ChannelCooled, Channel: cs.id, Cooldown: r.kind, Period: r.period,
				Until: r.until, TrialAt: r.trialAt, Strikes: r.strikes})
		}
		for _, r := range cs.pairs {
			if r.until > now {
				out = append(out, Change{Kind: PairCooled, Channel: cs.id, Model: r.model, Cooldown: r.kind,
					Period: r.period, Until: r.until, TrialAt: r.trialAt, Strikes: r.strikes})
			}
		}
		cs.mu.RUnlock()
	}
	return out
}

// Signal is the health and latency average of one channel as one replica
// sees them.
type Signal struct {
	Channel   string
	Health    float64
	LatencyMs float64 // 0: no traffic yet
}

// Signals calls fn with the health and latency of every channel.
func (l *Live) Signals(fn func(Signal)) {
	list := l.channelList()
	for _, cs := range list {
		fn(Signal{Channel: cs.id, Health: cs.healthValue(), LatencyMs: cs.latencyMs()})
	}
}

// ApplySignal moves this replica's health and latency average of a channel
// towards what another replica sees, with the weight LatencyAlpha of one new
// latency sample: replicas converge on one view without any of them
// overwriting the others'. Out-of-range values are ignored.
func (l *Live) ApplySignal(s Signal) {
	if s.Channel == "" {
		return
	}
	cs := l.state(s.Channel)
	if s.Health >= 0 && s.Health <= 1 {
		updateFloat(&cs.health, func(h float64) float64 { return h + LatencyAlpha*(s.Health-h) })
	}
	if s.LatencyMs > 0 && !math.IsInf(s.LatencyMs, 0) {
		updateFloat(&cs.latency, func(avg float64) float64 {
			if avg == 0 {
				return s.LatencyMs
			}
			return avg + LatencyAlpha*(s.LatencyMs-avg)
		})
	}
}
