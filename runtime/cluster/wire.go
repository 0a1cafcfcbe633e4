package cluster

import (
	"encoding/json"
	"errors"
	"math"
	"strconv"
	"time"

	"smartrouter/runtime/outcome"
	"smartrouter/runtime/route"
)

// Limits of what a message may carry: a message over them is refused whole,
// so a damaged or foreign publisher cannot make a replica allocate much.
const (
	maxMessageBytes = 1 << 20
	maxNameBytes    = 512  // a channel or model id
	maxItems        = 4096 // changes or signals in one message
)

// message is one pub/sub message (JSON on the events channel).
type message struct {
	From     string       `json:"from"`
	Changes  []wireChange `json:"changes,omitempty"`
	Signals  []wireSignal `json:"signals,omitempty"`
	Snapshot *wireSnap    `json:"snapshot,omitempty"`
}

// wireChange is a route.Change on the wire. In a message the times are
// relative (milliseconds left when it was sent, -1 for forever), so that
// clocks of replicas need not agree; in the cooldown hash they are absolute
// (Unix milliseconds), because a re-sync reads them later.
type wireChange struct {
	Kind     string `json:"kind"`
	Channel  string `json:"channel"`
	Model    string `json:"model,omitempty"`
	Cooldown string `json:"cooldown,omitempty"`
	PeriodMs int64  `json:"period_ms,omitempty"`
	TTLMs    int64  `json:"ttl_ms,omitempty"`
	TrialMs  int64  `json:"trial_ms,omitempty"`
	UntilMs  int64  `json:"until_unix_ms,omitempty"`
	TrialAt  int64  `json:"trial_unix_ms,omitempty"`
	Strikes  int32  `json:"strikes,omitempty"`
}

// wireSignal is a route.Signal on the wire.
type wireSignal struct {
	Channel   string  `json:"channel"`
	Health    float64 `json:"health"`
	LatencyMs float64 `json:"latency_ms,omitempty"`
}

// wireSnap announces a snapshot: its generation and the xxhash64 of its
// bytes (hex), which are in the snapshot key.
type wireSnap struct {
	Generation uint64 `json:"generation"`
	Hash       string `json:"xxhash64"`
}

var kindNames = map[route.ChangeKind]string{
	route.PairCooled: "pair_cooled", route.ChannelCooled: "channel_cooled",
	route.Cleared: "cleared", route.Recovered: "recovered",
}

func changeKind(s string) (route.ChangeKind, bool) {
	for k, n := range kindNames {
		if n == s {
			return k, true
		}
	}
	return 0, false
}

func outcomeKind(s string) (outcome.Kind, bool) {
	for k := outcome.OK; k <= outcome.Other; k++ {
		if k.String() == s {
			return k, true
		}
	}
	return 0, false
}

const nsPerMs = int64(time.Millisecond)

// relMs is the milliseconds from now to t (Unix ns), -1 for forever, at
// least 0.
func relMs(t, now int64) int64 {
	if t == route.Forever {
		return -1
	}
	return max(t-now, 0) / nsPerMs
}

// fromRel is the Unix ns of ms milliseconds after now (-1: forever).
func fromRel(ms, now int64) int64 {
	if ms < 0 || ms > math.MaxInt64/nsPerMs-now/nsPerMs {
		return route.Forever
	}
	return now + ms*nsPerMs
}

// absMs is t as Unix ms, -1 for forever.
func absMs(t int64) int64 {
	if t == route.Forever {
		return -1
	}
	return t / nsPerMs
}

func fromAbs(ms int64) int64 {
	if ms < 0 || ms > math.MaxInt64/nsPerMs {
		return route.Forever
	}
	return ms * nsPerMs
}

// encodeChange turns c into its wire form: relative times when abs is
// false, absolute ones when true.
func encodeChange(c route.Change, now int64, abs bool) wireChange {
	w := wireChange{Kind: kindNames[c.Kind], Channel: c.Channel, Model: c.Model, Strikes: c.Strikes}
	if c.Kind == route.PairCooled || c.Kind == route.ChannelCooled {
		w.Cooldown = c.Cooldown.String()
		w.PeriodMs = c.Period.Milliseconds()
		if abs {
			w.UntilMs, w.TrialAt = absMs(c.Until), absMs(c.TrialAt)
		} else {
			w.TTLMs, w.TrialMs = relMs(c.Until, now), relMs(c.TrialAt, now)
		}
	}
	return w
}

var errBadChange = errors.New("bad change")

// decodeChange turns a wire change back into a route.Change (abs: the
// times are absolute, as in the hash).
func decodeChange(w wireChange, now int64, abs bool) (route.Change, error) {
	k, ok := changeKind(w.Kind)
	if !ok || w.Channel == "" || len(w.Channel) > maxNameBytes || len(w.Model) > maxNameBytes {
		return route.Change{}, errBadChange
	}
	c := route.Change{Kind: k, Channel: w.Channel, Model: w.Model, Strikes: w.Strikes}
	if k != route.PairCooled && k != route.ChannelCooled {
		return c, nil
	}
	ck, ok := outcomeKind(w.Cooldown)
	if !ok || (k == route.PairCooled && w.Model == "") || w.PeriodMs < 0 || w.PeriodMs > math.MaxInt64/nsPerMs {
		return route.Change{}, errBadChange
	}
	c.Cooldown, c.Period = ck, time.Duration(w.PeriodMs)*time.Millisecond
	if abs {
		c.Until, c.TrialAt = fromAbs(w.UntilMs), fromAbs(w.TrialAt)
	} else {
		c.Until, c.TrialAt = fromRel(w.TTLMs, now), fromRel(w.TrialMs, now)
	}
	return c, nil
}

// decodeMessage parses one pub/sub message. It refuses (whole) a message
// that is too large, not JSON, or carries too many items or a bad change;
// a signal with an out-of-range value is dropped by Live.ApplySignal.
func decodeMessage(b []byte) (*message, error) {
	if len(b) > maxMessageBytes {
		return nil, errors.New("message of " + strconv.Itoa(len(b)) + " bytes is over the limit")
	}
	var m message
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, errors.New("message is not valid JSON")
	}
	if len(m.Changes) > maxItems || len(m.Signals) > maxItems {
		return nil, errors.New("message carries too many items")
	}
	for _, c := range m.Changes {
		if _, err := decodeChange(c, 0, false); err != nil {
			return nil, errors.New("message carries a change that cannot be read")
		}
	}
	for _, s := range m.Signals {
		if s.Channel == "" || len(s.Channel) > maxNameBytes {
			return nil, errors.New("message carries a signal without a valid channel")
		}
	}
	return &m, nil
}

// hashValue is the value of a cooldown's field in the hash: the end as Unix
// ms (for the merge script: the latest end wins; forever is written as a
// far end), a space, the JSON of the change with absolute times.
func hashValue(c route.Change) (untilMs int64, value string) {
	w := encodeChange(c, 0, true)
	b, _ := json.Marshal(w)
	untilMs = w.UntilMs
	if untilMs < 0 {
		untilMs = farEndMs
	}
	return untilMs, strconv.FormatInt(untilMs, 10) + " " + string(b)
}

// farEndMs stands for "forever" in the hash's ordering prefix (year 9999).
const farEndMs = 253402300799000

// decodeHashValue parses a field value of the cooldown hash.
func decodeHashValue(v string) (route.Change, error) {
	i := 0
	for i < len(v) && v[i] != ' ' {
		i++
	}
	if i == len(v) || len(v) > maxMessageBytes {
		return route.Change{}, errBadChange
	}
	var w wireChange
	if err := json.Unmarshal([]byte(v[i+1:]), &w); err != nil {
		return route.Change{}, errBadChange
	}
	return decodeChange(w, 0, true)
}

// field is the hash field of a channel (model "") or pair cooldown.
func field(channel, model string) string { return channel + "\x00" + model }
