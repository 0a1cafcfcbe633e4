package query

import (
	"errors"
	"fmt"
	"math"
	"math/bits"
	"strings"
)

// Kind says how a model string was read.
type Kind uint8

// The three readings of a model string, checked in this order.
const (
	KindParams   Kind = iota + 1 // PREFIX->8b: pairs tagged PREFIX whose parameter count compares true
	KindTags                     // tag:a,b,!c,>8b or any string with a comma
	KindPhysical                 // a model id, a complete segment, an alias or a configured model_name
)

func (k Kind) String() string {
	switch k {
	case KindParams:
		return "params"
	case KindTags:
		return "tags"
	case KindPhysical:
		return "physical"
	}
	return "unknown"
}

// MarshalText makes a Kind print as its name in JSON.
func (k Kind) MarshalText() ([]byte, error) { return []byte(k.String()), nil }

// Dim is the size a size filter compares.
type Dim uint8

// Sizes a filter can compare.
const (
	DimParams  Dim = iota + 1 // parameter count, in millions
	DimContext                // input context length, in tokens
	DimOutput                 // maximum output tokens
)

func (d Dim) String() string {
	switch d {
	case DimParams:
		return "params"
	case DimContext:
		return "context"
	case DimOutput:
		return "output"
	}
	return "unknown"
}

// MarshalText makes a Dim print as its name in JSON.
func (d Dim) MarshalText() ([]byte, error) { return []byte(d.String()), nil }

// Op is a comparison.
type Op uint8

// Comparisons of a size filter.
const (
	OpGT Op = iota + 1
	OpGE
	OpLT
	OpLE
)

func (o Op) String() string {
	switch o {
	case OpGT:
		return ">"
	case OpGE:
		return ">="
	case OpLT:
		return "<"
	case OpLE:
		return "<="
	}
	return "?"
}

// MarshalText makes an Op print as its symbol in JSON.
func (o Op) MarshalText() ([]byte, error) { return []byte(o.String()), nil }

// SizeFilter keeps the pairs whose known size compares true; an unknown size
// (zero) always fails.
type SizeFilter struct {
	Dim   Dim
	Op    Op
	Value uint64 // millions of parameters for DimParams, tokens otherwise
}

// Match reports whether a size passes the filter. Zero means unknown and fails.
func (f SizeFilter) Match(v uint64) bool {
	if v == 0 {
		return false
	}
	switch f.Op {
	case OpGT:
		return v > f.Value
	case OpGE:
		return v >= f.Value
	case OpLT:
		return v < f.Value
	case OpLE:
		return v <= f.Value
	}
	return false
}

// String writes the filter in query syntax (">=8000m", ">=32000i", ">8000o").
func (f SizeFilter) String() string {
	unit := "m"
	switch f.Dim {
	case DimContext:
		unit = "i"
	case DimOutput:
		unit = "o"
	}
	return fmt.Sprintf("%s%d%s", f.Op, f.Value, unit)
}

// Query is a parsed model string.
type Query struct {
	Raw     string       `json:"raw"`
	Kind    Kind         `json:"kind"`
	Name    string       `json:"name,omitempty"`    // KindPhysical: the string as given
	Include []string     `json:"include,omitempty"` // tags that must be present (lowercase)
	Exclude []string     `json:"exclude,omitempty"` // tags that must be absent
	Sizes   []SizeFilter `json:"sizes,omitempty"`   // size filters (KindParams has exactly one)
}

// String writes the query in a canonical form that Parse reads back to the
// same query.
func (q *Query) String() string {
	switch q.Kind {
	case KindPhysical:
		return q.Name
	case KindParams:
		if len(q.Include) == 1 && len(q.Sizes) == 1 {
			return q.Include[0] + "-" + q.Sizes[0].String()
		}
	}
	items := make([]string, 0, len(q.Include)+len(q.Exclude)+len(q.Sizes))
	items = append(items, q.Include...)
	for _, t := range q.Exclude {
		items = append(items, "!"+t)
	}
	for _, s := range q.Sizes {
		items = append(items, s.String())
	}
	return "tag:" + strings.Join(items, ",")
}

// ErrBadQuery is wrapped by every *ParseError; the server answers 400.
var ErrBadQuery = errors.New("bad model string")

// ParseError tells which item of a model string could not be read.
type ParseError struct {
	Input string // the whole model string
	Item  string // the offending item ("" when the whole string is at fault)
	Msg   string // what is wrong and how to write it
}

func (e *ParseError) Error() string {
	if e.Item == "" {
		return fmt.Sprintf("bad model string %q: %s", e.Input, e.Msg)
	}
	return fmt.Sprintf("bad model string %q: item %q: %s", e.Input, e.Item, e.Msg)
}

// Unwrap makes errors.Is(err, ErrBadQuery) true.
func (e *ParseError) Unwrap() error { return ErrBadQuery }

// maxQueryLen bounds the model strings the parser accepts.
const maxQueryLen = 4096

// Parse reads a model string (routing rules "What the model string means", in
// order): a parameter comparison PREFIX->8b / -<72b / ->=8b / -<=30b; a tag
// query (tag: or tags: prefix in any case, or any string with a comma); else a
// physical name.
func Parse(s string) (Query, error) {
	if strings.TrimSpace(s) == "" {
		return Query{}, &ParseError{Input: s, Msg: "empty model string; name a model or write a tag query such as tag:free"}
	}
	if len(s) > maxQueryLen {
		return Query{}, &ParseError{Input: s[:64] + "...", Msg: fmt.Sprintf("longer than %d bytes", maxQueryLen)}
	}
	if q, ok, err := parseParams(s); ok || err != nil {
		return q, err
	}
	if body, ok := cutTagPrefix(s); ok {
		return parseTags(s, body)
	}
	if strings.Contains(s, ",") {
		return parseTags(s, s)
	}
	return Query{Raw: s, Kind: KindPhysical, Name: s}, nil
}

func cutTagPrefix(s string) (string, bool) {
	t := strings.TrimLeft(s, " \t")
	for _, p := range [...]string{"tags:", "tag:"} {
		if len(t) >= len(p) && strings.EqualFold(t[:len(p)], p) {
			return t[len(p):], true
		}
	}
	return "", false
}

// parseParams recognises PREFIX-OP NUMBER[unit]. ok is false when s is not of
// that form; err is set when it is but the number or unit is wrong.
func parseParams(s string) (Query, bool, error) {
	i := strings.LastIndex(s, "->")
	if j := strings.LastIndex(s, "-<"); j > i {
		i = j
	}
	if i <= 0 {
		return Query{}, false, nil
	}
	prefix := strings.ToLower(strings.TrimSpace(s[:i]))
	if prefix == "" || strings.ContainsAny(prefix, ",<>") {
		return Query{}, false, nil
	}
	if _, ok := cutTagPrefix(prefix); ok {
		return Query{}, false, nil
	}
	f, err := parseSize(strings.ToLower(strings.TrimSpace(s[i+1:])), true)
	if err != nil {
		return Query{}, true, &ParseError{Input: s, Item: s[i+1:], Msg: err.Error()}
	}
	return Query{Raw: s, Kind: KindParams, Include: []string{prefix}, Sizes: []SizeFilter{f}}, true, nil
}

func parseTags(raw, body string) (Query, error) {
	q := Query{Raw: raw, Kind: KindTags}
	for item := range strings.SplitSeq(body, ",") {
		it := strings.ToLower(strings.TrimSpace(item))
		switch {
		case it == "":
			continue // "a,,b" and a trailing comma are harmless
		case it[0] == '>' || it[0] == '<':
			f, err := parseSize(it, false)
			if err != nil {
				return Query{}, &ParseError{Input: raw, Item: strings.TrimSpace(item), Msg: err.Error()}
			}
			q.Sizes = appendSize(q.Sizes, f)
		case it[0] == '!':
			t := strings.TrimSpace(it[1:])
			if t == "" {
				return Query{}, &ParseError{Input: raw, Item: strings.TrimSpace(item), Msg: "'!' needs a tag after it, e.g. !free"}
			}
			if strings.ContainsAny(t, "<>!") {
				return Query{}, &ParseError{Input: raw, Item: strings.TrimSpace(item), Msg: "a negative item is a single tag; size filters cannot be negated, write the opposite comparison"}
			}
			q.Exclude = appendUnique(q.Exclude, t)
		default:
			if strings.ContainsAny(it, "<>") {
				return Query{}, &ParseError{Input: raw, Item: strings.TrimSpace(item), Msg: "a size filter is an item of its own, e.g. tag:qwen,>8b"}
			}
			q.Include = appendUnique(q.Include, it)
		}
	}
	if len(q.Include)+len(q.Exclude)+len(q.Sizes) == 0 {
		return Query{}, &ParseError{Input: raw, Msg: "tag query has no items; write e.g. tag:free or tag:qwen,!free"}
	}
	return q, nil
}

func appendUnique(list []string, s string) []string {
	for _, x := range list {
		if x == s {
			return list
		}
	}
	return append(list, s)
}

func appendSize(list []SizeFilter, f SizeFilter) []SizeFilter {
	for _, x := range list {
		if x == f {
			return list
		}
	}
	return append(list, f)
}

// parseSize reads OP NUMBER UNIT (lowercase input). paramsOnly restricts the
// units to b (default), m and t. In a tag query the units are b/m/t (or none)
// for parameters, ki/mi/i for input context and ko/mo/o for output tokens,
// with k = 1,000 and m = 1,000,000.
func parseSize(s string, paramsOnly bool) (SizeFilter, error) {
	var f SizeFilter
	switch {
	case strings.HasPrefix(s, ">="):
		f.Op, s = OpGE, s[2:]
	case strings.HasPrefix(s, "<="):
		f.Op, s = OpLE, s[2:]
	case strings.HasPrefix(s, ">"):
		f.Op, s = OpGT, s[1:]
	case strings.HasPrefix(s, "<"):
		f.Op, s = OpLT, s[1:]
	default:
		return f, errors.New("a size comparison starts with >, >=, < or <=")
	}
	s = strings.TrimSpace(s)
	n := 0
	for n < len(s) && (s[n] >= '0' && s[n] <= '9' || s[n] == '.') {
		n++
	}
	num, unit := s[:n], strings.TrimSpace(s[n:])
	if num == "" {
		return f, errors.New("a size comparison needs a number, e.g. >8b, >=32ki, >=8ko")
	}
	var mul uint64
	switch unit {
	case "", "b":
		f.Dim, mul = DimParams, 1_000
	case "m":
		f.Dim, mul = DimParams, 1
	case "t":
		f.Dim, mul = DimParams, 1_000_000
	case "i", "ki", "mi", "o", "ko", "mo":
		if paramsOnly {
			return f, fmt.Errorf("unit %q: a parameter comparison takes b (default), m or t", unit)
		}
		f.Dim, mul = DimContext, 1
		if unit[len(unit)-1] == 'o' {
			f.Dim = DimOutput
		}
		switch unit[0] {
		case 'k':
			mul = 1_000
		case 'm':
			mul = 1_000_000
		}
	case "k":
		return f, errors.New("unit k is ambiguous: write ki for input context or ko for output tokens")
	default:
		if paramsOnly {
			return f, fmt.Errorf("unknown unit %q: use b (default), m or t", unit)
		}
		return f, fmt.Errorf("unknown unit %q: use b, m, t (parameters), ki, mi (input context) or ko, mo (output tokens)", unit)
	}
	v, ok := scaleDecimal(num, mul)
	if !ok {
		return f, fmt.Errorf("bad number %q", num)
	}
	f.Value = v
	return f, nil
}

// scaleDecimal returns round(num × mul) for a decimal "12" or "0.6"; false on
// a malformed number or overflow.
func scaleDecimal(num string, mul uint64) (uint64, bool) {
	ip, fp, hasDot := strings.Cut(num, ".")
	if ip == "" || (hasDot && fp == "") || strings.Contains(fp, ".") || len(fp) > 9 {
		return 0, false
	}
	var iv uint64
	for i := 0; i < len(ip); i++ {
		d := uint64(ip[i] - '0')
		if iv > (math.MaxUint64-d)/10 {
			return 0, false
		}
		iv = iv*10 + d
	}
	var fv, den uint64 = 0, 1
	for i := 0; i < len(fp); i++ {
		fv = fv*10 + uint64(fp[i]-'0')
		den *= 10
	}
	hiWord, lo := bits.Mul64(iv, mul)
	if hiWord != 0 {
		return 0, false
	}
	// fv < den <= 1e9 and mul <= 1e6: fv*mul*2 fits in 64 bits.
	sum, carry := bits.Add64(lo, (fv*mul*2+den)/(2*den), 0)
	if carry != 0 {
		return 0, false
	}
	return sum, true
}
