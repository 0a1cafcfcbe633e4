package cache

import (
	"bytes"
	"math"
	"strconv"
	"strings"
	"time"

	"smartrouter/format"
)

// Warning groups used by this package.
const (
	GroupWrongType   = "cache: value of the wrong type (skipped)"
	GroupBadPrice    = "cache: unusable price (treated as unknown)"
	GroupBadValue    = "cache: unusable value (skipped)"
	GroupUnknownKey  = "cache: unknown key (ignored)"
	GroupDuplicate   = "cache: duplicate key (last one wins)"
	GroupFileChoice  = "cache: two files for the same cache"
	GroupUnknownEnum = "cache: unknown value"
)

// wrong warns that the value at off has the wrong kind and skips it.
func (d *decoder) wrong(off int64, got byte, want string) error {
	d.warnf(off, GroupWrongType, "found %s where %s was expected", kindName(got), want)
	return d.skipValue()
}

// unknownKey warns once per file and key name about a key this package does
// not read, then skips its value.
func (d *decoder) unknownKey(key []byte) error {
	if d.unknown == nil {
		d.unknown = make(map[string]struct{})
	}
	if _, seen := d.unknown[string(key)]; !seen && len(d.unknown) < maxUnknownKey {
		d.unknown[string(key)] = struct{}{}
		d.warnf(d.valueOff(), GroupUnknownKey, "key %q is not used (reported once per file)", key)
	}
	return d.skipValue()
}

// object opens an object value. ok=false means the value was null or of
// another kind (warned and skipped) and nothing is to be read.
func (d *decoder) object(want string) (bool, error) {
	k, err := d.peekKind()
	if err != nil {
		return false, err
	}
	switch k {
	case kObject:
		d.openObject()
		return true, nil
	case kNull:
		return false, d.literal("null")
	}
	return false, d.wrong(d.offset(), k, want)
}

// array opens a list value, like object.
func (d *decoder) array(want string) (bool, error) {
	k, err := d.peekKind()
	if err != nil {
		return false, err
	}
	switch k {
	case kArray:
		d.openArray()
		return true, nil
	case kNull:
		return false, d.literal("null")
	}
	return false, d.wrong(d.offset(), k, want)
}

// getString reads a string. null gives ok=false; another kind is warned and
// skipped; a string longer than maxKeptString is warned and dropped.
func (d *decoder) getString() (string, bool, error) {
	k, err := d.peekKind()
	if err != nil {
		return "", false, err
	}
	off := d.offset()
	switch k {
	case kString:
		if err := d.scanString(&d.sbuf); err != nil {
			return "", false, err
		}
		if d.long {
			d.warnf(off, GroupBadValue, "string longer than %d bytes", maxKeptString)
			return "", false, nil
		}
		return d.intern(d.sbuf), true, nil
	case kNull:
		return "", false, d.literal("null")
	}
	return "", false, d.wrong(off, k, "a string")
}

// getStrings reads a list of strings; elements of another kind are warned
// and skipped. null gives nil.
func (d *decoder) getStrings() ([]string, error) {
	ok, err := d.array("a list of strings")
	if !ok || err != nil {
		return nil, err
	}
	var out []string
	for i := 0; ; i++ {
		more, err := d.nextElem()
		if err != nil || !more {
			return out, err
		}
		d.pushIndex(i)
		s, ok, err := d.getString()
		d.pop()
		if err != nil {
			return out, err
		}
		if ok {
			out = append(out, s)
		}
	}
}

// getBool reads true or false; null gives ok=false.
func (d *decoder) getBool() (bool, bool, error) {
	k, err := d.peekKind()
	if err != nil {
		return false, false, err
	}
	switch k {
	case kTrue:
		return true, true, d.literal("true")
	case kFalse:
		return false, true, d.literal("false")
	case kNull:
		return false, false, d.literal("null")
	}
	return false, false, d.wrong(d.offset(), k, "true or false")
}

// numberText reads a number, or a string holding one, and returns its text
// (in d.nbuf or d.sbuf, valid until the next read). null and "" give
// ok=false silently; NaN, Infinity, other kinds and non-numeric strings are
// warned (in group) and give ok=false.
func (d *decoder) numberText(group, what string) (text []byte, off int64, ok bool, err error) {
	k, err := d.peekKind()
	if err != nil {
		return nil, 0, false, err
	}
	off = d.offset()
	switch k {
	case kNumber:
		nk, err := d.scanNumber(true)
		if err != nil {
			return nil, off, false, err
		}
		if nk != numFinite {
			d.warnf(off, group, "%s is not a finite number", what)
			return nil, off, false, nil
		}
		if d.long {
			d.warnf(off, group, "%s has more than %d digits", what, maxNumberLen)
			return nil, off, false, nil
		}
		return d.nbuf, off, true, nil
	case kString:
		if err := d.scanString(&d.sbuf); err != nil {
			return nil, off, false, err
		}
		s := bytes.TrimSpace(d.sbuf)
		if len(s) == 0 && !d.long {
			return nil, off, false, nil
		}
		if d.long || len(s) > maxNumberLen {
			d.warnf(off, group, "%s is a string that is not a number", what)
			return nil, off, false, nil
		}
		if _, ok := parseDecimal(s); !ok {
			if _, ferr := strconv.ParseFloat(string(s), 64); ferr == nil {
				d.warnf(off, group, "%s is %q, not a finite number", what, s)
			} else {
				d.warnf(off, group, "%s is the string %q, which is not a number", what, s)
			}
			return nil, off, false, nil
		}
		return s, off, true, nil
	case kNull:
		return nil, off, false, d.literal("null")
	}
	return nil, off, false, d.wrong(off, k, "a number")
}

// getPrice reads a price (number or numeric string) in a unit given by
// scale, converts it with rate and returns pico-USD, or format.PriceUnknown
// when it is absent or unusable (warned).
func (d *decoder) getPrice(scale int, rate float64) (uint64, error) {
	text, off, ok, err := d.numberText(GroupBadPrice, "price")
	if err != nil || !ok {
		return format.PriceUnknown, err
	}
	dec, _ := parseDecimal(text)
	v, ok := dec.convert(scale, rate)
	if !ok {
		if dec.neg {
			d.warnf(off, GroupBadPrice, "price %s is negative", text)
		} else {
			d.warnf(off, GroupBadPrice, "price %s is too large", text)
		}
		return format.PriceUnknown, nil
	}
	return v, nil
}

// getUint reads a non-negative integer (a number, a numeric string, or a
// float with no fraction such as 8192.0). Others are warned and skipped.
func (d *decoder) getUint(what string) (uint64, bool, error) {
	text, off, ok, err := d.numberText(GroupBadValue, what)
	if err != nil || !ok {
		return 0, false, err
	}
	dec, _ := parseDecimal(text)
	v, ok := dec.integer()
	if !ok {
		d.warnf(off, GroupBadValue, "%s %s is not a non-negative whole number", what, text)
		return 0, false, nil
	}
	return v, true, nil
}

// getFloat reads a finite number (or numeric string).
func (d *decoder) getFloat(what string) (float64, bool, error) {
	text, off, ok, err := d.numberText(GroupBadValue, what)
	if err != nil || !ok {
		return 0, false, err
	}
	f, perr := strconv.ParseFloat(string(text), 64)
	if perr != nil || math.IsInf(f, 0) {
		d.warnf(off, GroupBadValue, "%s %s is out of range", what, text)
		return 0, false, nil
	}
	return f, true, nil
}

// getTime reads a timestamp: an ISO 8601 string as Python writes it
// ("2025-09-12T16:31:37.135249", a space instead of the T, an optional
// offset or Z; no offset means UTC) or a number of Unix seconds. It returns
// Unix seconds; ok=false when absent or unusable (warned).
func (d *decoder) getTime(what string) (int64, bool, error) {
	k, err := d.peekKind()
	if err != nil {
		return 0, false, err
	}
	off := d.offset()
	if k == kNumber {
		f, ok, err := d.getFloat(what)
		if err != nil || !ok {
			return 0, false, err
		}
		if f < 0 || f > 1e11 {
			d.warnf(off, GroupBadValue, "%s %v is not a plausible Unix time", what, f)
			return 0, false, nil
		}
		return int64(f), true, nil
	}
	s, ok, err := d.getString()
	if err != nil || !ok || s == "" {
		return 0, false, err
	}
	t, ok := parseTime(s)
	if !ok {
		d.warnf(off, GroupBadValue, "%s %q is not a date and time", what, s)
		return 0, false, nil
	}
	return t, true, nil
}

var timeLayouts = []string{
	"2006-01-02T15:04:05.999999999Z07:00",
	"2006-01-02T15:04:05.999999999",
	"2006-01-02 15:04:05.999999999Z07:00",
	"2006-01-02 15:04:05.999999999",
	"2006-01-02",
}

func parseTime(s string) (int64, bool) {
	s = strings.TrimSpace(s)
	for _, l := range timeLayouts {
		if t, err := time.Parse(l, s); err == nil {
			return t.Unix(), true
		}
	}
	return 0, false
}

// redact replaces what looks like a credential in upstream text (error
// messages may echo a key): a word starting with "sk-", or a run of 24+
// letters, digits, '-', '_' or '.' that mixes letters and digits.
func redact(s string) string {
	var b strings.Builder
	changed := false
	for i := 0; i < len(s); {
		j := i
		letters, digits := false, false
		for j < len(s) && isKeyByte(s[j]) {
			c := s[j]
			letters = letters || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z'
			digits = digits || c >= '0' && c <= '9'
			j++
		}
		if j == i {
			b.WriteByte(s[i])
			i++
			continue
		}
		word := s[i:j]
		if strings.HasPrefix(word, "sk-") || j-i >= 24 && letters && digits {
			b.WriteString("[redacted]")
			changed = true
		} else {
			b.WriteString(word)
		}
		i = j
	}
	if !changed {
		return s
	}
	return b.String()
}

func isKeyByte(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.'
}

// members walks the members of an object value (null, or a value of another
// type, is handled by object: nothing, or a warning and a skip). fn reads the
// value of each member, with the member's key on the JSON path, and its
// error ends the walk.
func (d *decoder) members(want string, fn func(key []byte) error) error {
	ok, err := d.object(want)
	if !ok || err != nil {
		return err
	}
	for {
		key, more, err := d.nextKey()
		if err != nil || !more {
			return err
		}
		d.push(key)
		err = fn(key)
		d.pop()
		if err != nil {
			return err
		}
	}
}
