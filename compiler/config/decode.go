package config

import (
	"fmt"
	"math"
	"net/url"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"smartrouter/compiler/diag"
)

// state carries what every decoding step shares: options, warnings and the
// first error (sticky: once set, the rest of the decoding is skipped where it
// matters and its findings are dropped).
type state struct {
	opts Options
	w    *diag.Warnings
	err  error
}

func at(file string, n *yaml.Node) diag.Pos {
	if n == nil {
		return diag.Pos{File: file}
	}
	return diag.At(file, n.Line, n.Column)
}

func (s *state) fail(p diag.Pos, path, format string, args ...any) {
	if s.err != nil {
		return
	}
	msg := fmt.Sprintf(format, args...)
	if path != "" {
		msg = path + ": " + msg
	}
	s.err = &diag.Error{Pos: p, Msg: msg}
}

func (s *state) warn(p diag.Pos, group, path, format string, args ...any) {
	if s.err != nil {
		return
	}
	msg := fmt.Sprintf(format, args...)
	if path != "" {
		msg = path + ": " + msg
	}
	s.w.Add(p, group, "%s", msg)
}

// entry is one key of a mapping with the file it came from, so that merged
// sections keep exact positions.
type entry struct {
	file string
	key  string
	kn   *yaml.Node // key node
	vn   *yaml.Node // value node, aliases resolved
}

// join appends a mapping key to a key path, quoting keys that would read
// ambiguously.
func join(path, key string) string {
	if strings.ContainsAny(key, ".[]\" ") || key == "" {
		key = "[" + strconv.Quote(key) + "]"
		return path + key
	}
	if path == "" {
		return key
	}
	return path + "." + key
}

func index(path string, i int) string { return fmt.Sprintf("%s[%d]", path, i) }

// resolve follows aliases. The size check in parse has already rejected
// alias cycles.
func resolve(n *yaml.Node) *yaml.Node {
	for i := 0; n != nil && n.Kind == yaml.AliasNode && i < 1000; i++ {
		n = n.Alias
	}
	return n
}

func isNull(n *yaml.Node) bool {
	return n == nil || n.Kind == 0 || (n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null")
}

// describe names a node's type (and a short excerpt of a scalar) for errors.
func describe(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		if n.ShortTag() == "!!null" {
			return "nothing"
		}
		v := n.Value
		if len(v) > 32 {
			v = v[:29] + "..."
		}
		return strconv.Quote(v)
	}
	return "an unsupported YAML node"
}

// mapping returns the entries of a mapping node: explicit keys in file order,
// then keys brought by "<<" merge keys that are not explicit. A repeated key
// is a warning and the later value wins, as in PyYAML. A null node is an
// empty mapping.
func (s *state) mapping(file, path string, n *yaml.Node) []entry {
	n = resolve(n)
	if isNull(n) || s.err != nil {
		return nil
	}
	if n.Kind != yaml.MappingNode {
		s.fail(at(file, n), path, "expected a mapping, got %s", describe(n))
		return nil
	}
	out := make([]entry, 0, len(n.Content)/2)
	idx := make(map[string]int, len(n.Content)/2)
	var merges []*yaml.Node
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if k.Kind == yaml.ScalarNode && k.ShortTag() == "!!merge" {
			merges = append(merges, v)
			continue
		}
		rk := resolve(k)
		if rk == nil || rk.Kind != yaml.ScalarNode {
			s.fail(at(file, k), path, "mapping keys must be plain values, got %s", describe(rk))
			return nil
		}
		e := entry{file: file, key: rk.Value, kn: k, vn: resolve(v)}
		if j, ok := idx[e.key]; ok {
			s.warn(at(file, k), "duplicate key", join(path, e.key), "repeats the key of line %d; the later value wins", out[j].kn.Line)
			out[j] = e
			continue
		}
		idx[e.key] = len(out)
		out = append(out, e)
	}
	for _, m := range merges {
		m = resolve(m)
		srcs := []*yaml.Node{m}
		if m != nil && m.Kind == yaml.SequenceNode {
			srcs = m.Content
		}
		for _, src := range srcs {
			for _, e := range s.mapping(file, path, src) {
				if _, ok := idx[e.key]; !ok {
					idx[e.key] = len(out)
					out = append(out, e)
				}
			}
		}
	}
	return out
}

// seq returns the items of a list node (aliases resolved); null is empty.
func (s *state) seq(file, path string, n *yaml.Node) []*yaml.Node {
	n = resolve(n)
	if isNull(n) || s.err != nil {
		return nil
	}
	if n.Kind != yaml.SequenceNode {
		s.fail(at(file, n), path, "expected a list, got %s", describe(n))
		return nil
	}
	out := make([]*yaml.Node, len(n.Content))
	for i, c := range n.Content {
		out[i] = resolve(c)
	}
	return out
}

// fields calls fn for every entry whose value is not null (a null value
// leaves the default in place, as an absent key does); fn reports whether it
// knows the key. Unknown keys are warnings.
func (s *state) fields(path string, es []entry, fn func(key string, v val) bool) {
	for _, e := range es {
		if s.err != nil {
			return
		}
		if isNull(e.vn) {
			continue
		}
		if !fn(e.key, val{s: s, file: e.file, path: join(path, e.key), n: e.vn}) {
			s.warn(at(e.file, e.kn), "unknown key", join(path, e.key), "unknown key, ignored")
		}
	}
}

// require reports the first of keys that is absent from es.
func (s *state) require(file, path string, n *yaml.Node, es []entry, keys ...string) {
	for _, k := range keys {
		if find(es, k) == nil {
			s.fail(at(file, n), path, "missing required key %q", k)
			return
		}
	}
}

func find(es []entry, key string) *entry {
	for i := range es {
		if es[i].key == key {
			return &es[i]
		}
	}
	return nil
}

// val is one non-null value being decoded. Getters return the zero value
// after recording an error.
type val struct {
	s    *state
	file string
	path string
	n    *yaml.Node
}

func (v val) pos() diag.Pos { return at(v.file, v.n) }

func (v val) fail(format string, args ...any) {
	v.s.fail(v.pos(), v.path, format, args...)
}

func (v val) scalar(want string) bool {
	if v.n.Kind != yaml.ScalarNode {
		v.fail("expected %s, got %s", want, describe(v.n))
		return false
	}
	return true
}

// str accepts any scalar (PyYAML + pydantic turn 42 into "42" for string
// fields) and returns its text.
func (v val) str() string {
	if !v.scalar("a string") {
		return ""
	}
	return v.n.Value
}

// nonEmpty is str that refuses an empty or blank string.
func (v val) nonEmpty() string {
	s := strings.TrimSpace(v.str())
	if s == "" && v.s.err == nil {
		v.fail("must not be empty")
	}
	return s
}

// boolean accepts YAML booleans and, like PyYAML, unquoted yes/no/on/off.
func (v val) boolean() bool {
	if !v.scalar("true or false") {
		return false
	}
	if v.n.ShortTag() == "!!bool" {
		var b bool
		if err := v.n.Decode(&b); err == nil {
			return b
		}
	}
	if v.n.Style == 0 {
		switch v.n.Value {
		case "yes", "Yes", "YES", "on", "On", "ON":
			return true
		case "no", "No", "NO", "off", "Off", "OFF":
			return false
		}
	}
	v.fail("expected true or false, got %s", describe(v.n))
	return false
}

// number accepts an integer or float, or a quoted decimal number, and
// refuses NaN and infinities.
func (v val) number() float64 {
	if !v.scalar("a number") {
		return 0
	}
	var f float64
	ok := false
	switch v.n.ShortTag() {
	case "!!int", "!!float":
		ok = v.n.Decode(&f) == nil
	case "!!str":
		var err error
		f, err = strconv.ParseFloat(strings.TrimSpace(v.n.Value), 64)
		ok = err == nil
	}
	if !ok {
		v.fail("expected a number, got %s", describe(v.n))
		return 0
	}
	if math.IsNaN(f) || math.IsInf(f, 0) {
		v.fail("expected a finite number, got %s", describe(v.n))
		return 0
	}
	return f
}

// nonNeg is number refusing values below zero; what names the unit.
func (v val) nonNeg(what string) float64 {
	f := v.number()
	if f < 0 {
		v.fail("must not be negative (%s), got %s", what, describe(v.n))
		return 0
	}
	return f
}

// integer accepts an integer, an integral float or a quoted integer within
// [lo, hi].
func (v val) integer(lo, hi int64) int64 {
	if !v.scalar("an integer") {
		return 0
	}
	var i int64
	ok := false
	switch v.n.ShortTag() {
	case "!!int":
		ok = v.n.Decode(&i) == nil
	case "!!float":
		var f float64
		if v.n.Decode(&f) == nil && integral(f) {
			i, ok = int64(f), true
		}
	case "!!str":
		t := strings.TrimSpace(v.n.Value)
		var err error
		if i, err = strconv.ParseInt(t, 10, 64); err == nil {
			ok = true
		} else if f, err := strconv.ParseFloat(t, 64); err == nil && integral(f) {
			i, ok = int64(f), true
		}
	}
	if !ok {
		v.fail("expected an integer, got %s", describe(v.n))
		return 0
	}
	if i < lo || i > hi {
		if hi == math.MaxInt64 {
			v.fail("must be at least %d, got %d", lo, i)
		} else {
			v.fail("must be between %d and %d, got %d", lo, hi, i)
		}
		return 0
	}
	return i
}

func integral(f float64) bool { return f == math.Trunc(f) && math.Abs(f) < 1<<62 }

// maxSeconds bounds durations (about 31 years) so conversions cannot overflow.
const maxSeconds = 1e9

// seconds reads a duration written in seconds (integer or fraction).
func (v val) seconds(positive bool) time.Duration {
	f := v.nonNeg("seconds")
	if v.s.err != nil {
		return 0
	}
	if positive && f == 0 {
		v.fail("must be more than 0 seconds")
		return 0
	}
	if f > maxSeconds {
		v.fail("%g seconds is too long", f)
		return 0
	}
	return secondsToDuration(f)
}

// maxConcurrent bounds tasks.*.max_concurrent.
const maxConcurrent = 1 << 20

// maxMemory bounds memory_usage_limit: 1 PiB, far above any machine.
const maxMemory = 1 << 50

// memUnits are the units memory accepts, upper case, all binary.
var memUnits = map[string]float64{
	"B": 1, "KB": 1 << 10, "KIB": 1 << 10, "K": 1 << 10, "MB": 1 << 20, "MIB": 1 << 20, "M": 1 << 20,
	"GB": 1 << 30, "GIB": 1 << 30, "G": 1 << 30, "TB": 1 << 40, "TIB": 1 << 40, "T": 1 << 40,
}

// memory reads a memory size: a plain number is MB; a string may carry a
// unit (B, KB, MB, GB, TB and the KiB/MiB/GiB/TiB spellings, all binary, case
// ignored, spaces allowed). It returns bytes; 0 means not set.
func (v val) memory() uint64 {
	if !v.scalar("a memory size") {
		return 0
	}
	text := strings.TrimSpace(v.n.Value)
	num, unit := text, "MB"
	if v.n.ShortTag() == "!!str" {
		i := strings.IndexFunc(text, func(r rune) bool { return (r < '0' || r > '9') && r != '.' })
		if i >= 0 {
			num, unit = strings.TrimSpace(text[:i]), strings.ToUpper(strings.TrimSpace(text[i:]))
		}
	} else if t := v.n.ShortTag(); t != "!!int" && t != "!!float" {
		v.fail("expected a memory size such as 500 (MB) or \"500MB\", got %s", describe(v.n))
		return 0
	}
	mult := memUnits[unit]
	f, err := strconv.ParseFloat(num, 64)
	if mult == 0 || err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
		v.fail("expected a memory size such as 500 (MB) or \"500MB\", got %s", describe(v.n))
		return 0
	}
	if f < 0 {
		v.fail("must not be negative (memory size), got %s", describe(v.n))
		return 0
	}
	b := f * mult
	if b > maxMemory {
		v.fail("%s is too large for a memory limit", text)
		return 0
	}
	return uint64(math.Round(b))
}

func secondsToDuration(f float64) time.Duration {
	return time.Duration(math.Round(f * float64(time.Second)))
}

// strs reads a list of strings; an empty list is nil.
func (v val) strs() []string {
	items := v.s.seq(v.file, v.path, v.n)
	if len(items) == 0 {
		return nil
	}
	out := make([]string, 0, len(items))
	for i, it := range items {
		out = append(out, val{s: v.s, file: v.file, path: index(v.path, i), n: it}.str())
	}
	return out
}

// url reads an http(s) base URL.
func (v val) url() string {
	s := strings.TrimSpace(v.str())
	if s == "" || v.s.err != nil {
		return s
	}
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		v.fail("expected an http:// or https:// URL, got %s", describe(v.n))
		return ""
	}
	return s
}

// urls reads a base_url written as one string or a list of strings.
func (v val) urls() []string {
	if v.n.Kind != yaml.SequenceNode {
		if u := v.url(); u != "" {
			return []string{u}
		}
		return nil
	}
	var out []string
	for i, it := range v.s.seq(v.file, v.path, v.n) {
		u := val{s: v.s, file: v.file, path: index(v.path, i), n: it}.url()
		if u == "" && v.s.err == nil {
			v.s.fail(at(v.file, it), index(v.path, i), "must not be empty")
		}
		out = append(out, u)
	}
	return out
}

// generic converts a node to plain Go data (aliases expanded, bounded by the
// size check in parse).
func (s *state) generic(file, path string, n *yaml.Node) any {
	n = resolve(n)
	if isNull(n) || s.err != nil {
		return nil
	}
	switch n.Kind {
	case yaml.MappingNode:
		es := s.mapping(file, path, n)
		m := make(map[string]any, len(es))
		for _, e := range es {
			m[e.key] = s.generic(e.file, join(path, e.key), e.vn)
		}
		return m
	case yaml.SequenceNode:
		l := make([]any, len(n.Content))
		for i, c := range n.Content {
			l[i] = s.generic(file, index(path, i), c)
		}
		return l
	}
	switch n.ShortTag() {
	case "!!bool":
		var b bool
		if n.Decode(&b) == nil {
			return b
		}
	case "!!int":
		var i int
		if n.Decode(&i) == nil {
			return i
		}
	case "!!float":
		var f float64
		if n.Decode(&f) == nil {
			return f
		}
	}
	return n.Value
}
