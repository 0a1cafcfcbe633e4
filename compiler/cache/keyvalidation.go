package cache

import (
	"io"
	"math"

	"smartrouter/compiler/diag"
	"smartrouter/format"
)

// knownKeyError reports whether s is one of the error types of a
// key-validation result.
func knownKeyError(s string) bool {
	switch s {
	case "invalid_key", "quota_exceeded", "rate_limit", "server_error", "network_error", "unknown":
		return true
	}
	return false
}

// KeyValidation is the key-validation cache: one verdict per channel id.
type KeyValidation struct {
	Source     format.Source
	LastUpdate int64        // last_update, Unix seconds; 0 when absent
	Verdicts   []KeyVerdict // in order of first appearance of the channel id
	idx        map[string]int32
}

// KeyVerdict merges a channel's validation_results and key_status entries.
// The plaintext api_key and the error_message (which may echo a key) are
// never read into it.
type KeyVerdict struct {
	ChannelID string
	Pos       diag.Pos // first entry of the channel, for the caller's warnings

	HasResult  bool   // validation_results had an entry
	Valid      bool   // is_valid (validation_results, else key_status)
	ValidKnown bool   // is_valid was given
	ErrorType  string // invalid_key, quota_exceeded, rate_limit, server_error, network_error, unknown; "" when valid
	StatusCode uint16
	LatencyMs  uint32
	Timestamp  int64 // Unix seconds, 0 unknown

	HasStatus           bool // key_status had an entry
	ConsecutiveFailures uint32
	HealthScore         float32 // 0..1; -1 when absent
	LastValidated       int64   // Unix seconds, 0 unknown
	NextValidation      int64
}

// Lookup returns the verdict for a channel id, or nil.
func (k *KeyValidation) Lookup(channelID string) *KeyVerdict {
	if k == nil {
		return nil
	}
	if i, ok := k.idx[channelID]; ok {
		return &k.Verdicts[i]
	}
	return nil
}

func (k *KeyValidation) verdict(id string, pos diag.Pos) *KeyVerdict {
	if i, ok := k.idx[id]; ok {
		return &k.Verdicts[i]
	}
	if k.idx == nil {
		k.idx = make(map[string]int32)
	}
	k.Verdicts = append(k.Verdicts, KeyVerdict{ChannelID: id, Pos: pos, HealthScore: -1})
	k.idx[id] = int32(len(k.Verdicts) - 1)
	return &k.Verdicts[len(k.Verdicts)-1]
}

// ReadKeyValidation reads cache/api_key_validation.json (or
// api_key_validation_cache.json; see FindKeyValidation).
func ReadKeyValidation(path string, w *diag.Warnings) (*KeyValidation, error) {
	k := &KeyValidation{}
	src, err := decodeFile(path, w, func(d *decoder) error { return d.keyValidation(k) })
	if err != nil {
		return nil, err
	}
	k.Source = src
	return k, nil
}

// DecodeKeyValidation is ReadKeyValidation over any reader.
func DecodeKeyValidation(r io.Reader, name string, w *diag.Warnings) (*KeyValidation, error) {
	k := &KeyValidation{}
	if err := decodeStream(r, name, w, func(d *decoder) error { return d.keyValidation(k) }); err != nil {
		return nil, err
	}
	return k, nil
}

func (d *decoder) keyValidation(k *KeyValidation) error {
	if err := d.topObject("a key-validation cache"); err != nil {
		return err
	}
	for {
		key, more, err := d.nextKey()
		if err != nil || !more {
			return err
		}
		d.push(key)
		switch string(key) {
		case "validation_results":
			err = d.keyEntries(k, d.keyResult)
		case "key_status":
			err = d.keyEntries(k, d.keyStatus)
		case "last_update":
			k.LastUpdate, _, err = d.getTime("last_update")
		default:
			err = d.unknownKey(key)
		}
		d.pop()
		if err != nil {
			return err
		}
	}
}

// keyEntries reads {channel_id: {...}} with read for each object member.
func (d *decoder) keyEntries(k *KeyValidation, read func(v *KeyVerdict) error) error {
	ok, err := d.object("an object keyed by channel id")
	if !ok || err != nil {
		return err
	}
	for {
		key, more, err := d.nextKey()
		if err != nil || !more {
			return err
		}
		d.push(key)
		pos := d.pos(d.valueOff())
		ok, err := d.object("an object (a channel's key verdict)")
		if err != nil {
			return err
		}
		if ok {
			if err := read(k.verdict(d.intern(key), pos)); err != nil {
				return err
			}
		}
		d.pop()
	}
}

func (d *decoder) keyResult(v *KeyVerdict) error {
	v.HasResult = true
	for {
		key, more, err := d.nextKey()
		if err != nil || !more {
			return err
		}
		d.push(key)
		switch string(key) {
		case "is_valid":
			var b, ok bool
			if b, ok, err = d.getBool(); ok {
				v.Valid, v.ValidKnown = b, true
			}
		case "error_type":
			off := d.valueOff()
			var s string
			var ok bool
			if s, ok, err = d.getString(); ok && s != "" {
				switch {
				case knownKeyError(s):
					v.ErrorType = s
				case s == "invalid_response":
					v.ErrorType = "unknown"
				default:
					v.ErrorType = "unknown"
					d.warnf(off, GroupUnknownEnum, "error_type %q is not a known kind; treated as unknown", s)
				}
			}
		case "status_code":
			var n uint64
			var ok bool
			off := d.valueOff()
			if n, ok, err = d.getUint("status_code"); ok {
				if n > math.MaxUint16 {
					d.warnf(off, GroupBadValue, "status_code %d is out of range", n)
				} else {
					v.StatusCode = uint16(n)
				}
			}
		case "latency_ms":
			var f float64
			var ok bool
			off := d.valueOff()
			if f, ok, err = d.getFloat("latency_ms"); ok {
				if f < 0 || f > math.MaxUint32 {
					d.warnf(off, GroupBadValue, "latency_ms %v is out of range", f)
				} else {
					v.LatencyMs = uint32(math.Round(f))
				}
			}
		case "timestamp":
			v.Timestamp, _, err = d.getTime("timestamp")
		case "api_key", "error_message", "models_discovered", "channel_id", "provider", "model_count", "api_key_hash":
			err = d.skipValue() // never kept, or not needed
		default:
			err = d.unknownKey(key)
		}
		d.pop()
		if err != nil {
			return err
		}
	}
}

func (d *decoder) keyStatus(v *KeyVerdict) error {
	v.HasStatus = true
	for {
		key, more, err := d.nextKey()
		if err != nil || !more {
			return err
		}
		d.push(key)
		switch string(key) {
		case "is_valid":
			var b, ok bool
			if b, ok, err = d.getBool(); ok && !(v.HasResult && v.ValidKnown) {
				v.Valid, v.ValidKnown = b, true
			}
		case "consecutive_failures":
			var n uint64
			var ok bool
			if n, ok, err = d.getUint("consecutive_failures"); ok {
				v.ConsecutiveFailures = uint32(min(n, math.MaxUint32))
			}
		case "health_score":
			var f float64
			var ok bool
			off := d.valueOff()
			if f, ok, err = d.getFloat("health_score"); ok {
				if f < 0 || f > 1 {
					d.warnf(off, GroupBadValue, "health_score %v is outside 0..1", f)
				} else {
					v.HealthScore = float32(f)
				}
			}
		case "last_validated":
			v.LastValidated, _, err = d.getTime("last_validated")
		case "next_validation":
			v.NextValidation, _, err = d.getTime("next_validation")
		case "api_key", "usage_stats", "channel_id", "provider", "api_key_hash":
			err = d.skipValue()
		default:
			err = d.unknownKey(key)
		}
		d.pop()
		if err != nil {
			return err
		}
	}
}
