package body

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"unicode/utf8"
)

// This file holds the package's one JSON scanner. It checks the grammar of
// encoding/json (RFC 8259; invalid UTF-8 inside strings is tolerated, as
// encoding/json tolerates it) and walks objects and arrays by offset, without
// decoding or allocating. A walk stops on a value's first byte and lets the
// caller either read the value itself (and say where it ended) or pass over
// it, so one pass both validates a body and reads the members a format needs.
// Duplicate members are all visited; the functions on top of it let the last
// one win, as encoding/json does, unless they say otherwise.

// maxDepth bounds nesting like encoding/json does, so a hostile body cannot
// exhaust the stack.
const maxDepth = 10000

// SyntaxError reports a body that is not valid JSON, or not the JSON object a
// function expects. Off is the byte offset of the problem.
type SyntaxError struct {
	Off int
	Msg string
}

func (e *SyntaxError) Error() string {
	return fmt.Sprintf("request body: %s at byte %d; send a JSON object", e.Msg, e.Off)
}

func syntaxErr(off int, msg string) error { return &SyntaxError{Off: off, Msg: msg} }

// strPlain marks the bytes that need no attention inside a string.
var strPlain = func() (t [256]bool) {
	for c := 0x20; c < 256; c++ {
		t[c] = c != '"' && c != '\\'
	}
	return t
}()

// hexVal holds the value of each hex digit; other bytes map to 0xff.
var hexVal = func() (t [256]byte) {
	for c := range t {
		switch {
		case c >= '0' && c <= '9':
			t[c] = byte(c - '0')
		case c >= 'a' && c <= 'f':
			t[c] = byte(c-'a') + 10
		case c >= 'A' && c <= 'F':
			t[c] = byte(c-'A') + 10
		default:
			t[c] = 0xff
		}
	}
	return t
}()

// hex4 decodes the four hex digits of a \u escape the scanner has checked.
func hex4(b []byte) rune {
	return rune(hexVal[b[0]])<<12 | rune(hexVal[b[1]])<<8 | rune(hexVal[b[2]])<<4 | rune(hexVal[b[3]])
}

func isWS(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

func skipWS(b []byte, i int) int {
	for i < len(b) && isWS(b[i]) {
		i++
	}
	return i
}

// Masks for testing the eight bytes of a word at once.
const (
	ones  = 0x0101010101010101
	highs = 0x8080808080808080
)

// plainWord reports whether none of the eight bytes of w is a quote, a
// backslash or a control character. It may answer false for a plain word
// (a byte above 0x7f can set a false alarm), never true for one that is not.
func plainWord(w uint64) bool {
	q := w ^ ('"' * ones)
	e := w ^ ('\\' * ones)
	return ((q-ones)&^q|(e-ones)&^e|(w-0x20*ones)&^w)&highs == 0
}

// scanString expects b[i] == '"' and returns the index after the closing
// quote and whether the string holds an escape.
func scanString(b []byte, i int) (end int, esc bool, err error) {
	i++
	for {
		for i+8 <= len(b) && plainWord(binary.LittleEndian.Uint64(b[i:])) {
			i += 8
		}
		for i < len(b) && strPlain[b[i]] {
			i++
		}
		if i >= len(b) {
			return 0, false, syntaxErr(i, "unterminated string")
		}
		switch c := b[i]; {
		case c == '"':
			return i + 1, esc, nil
		case c == '\\':
			esc = true
			if i+1 >= len(b) {
				return 0, false, syntaxErr(i, "unterminated escape")
			}
			switch b[i+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				i += 2
			case 'u':
				if i+6 > len(b) || hexVal[b[i+2]]|hexVal[b[i+3]]|hexVal[b[i+4]]|hexVal[b[i+5]] > 0xf {
					return 0, false, syntaxErr(i, "bad \\u escape")
				}
				i += 6
			default:
				return 0, false, syntaxErr(i, "bad escape")
			}
		default:
			return 0, false, syntaxErr(i, "control character in string")
		}
	}
}

func scanNumber(b []byte, i int) (int, error) {
	start := i
	if i < len(b) && b[i] == '-' {
		i++
	}
	switch {
	case i < len(b) && b[i] == '0':
		i++
	case i < len(b) && b[i] >= '1' && b[i] <= '9':
		for i < len(b) && b[i] >= '0' && b[i] <= '9' {
			i++
		}
	default:
		return 0, syntaxErr(start, "bad number")
	}
	if i < len(b) && b[i] == '.' {
		i++
		d := i
		for i < len(b) && b[i] >= '0' && b[i] <= '9' {
			i++
		}
		if i == d {
			return 0, syntaxErr(i, "bad number fraction")
		}
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		d := i
		for i < len(b) && b[i] >= '0' && b[i] <= '9' {
			i++
		}
		if i == d {
			return 0, syntaxErr(i, "bad number exponent")
		}
	}
	return i, nil
}

func scanLiteral(b []byte, i int, lit string) (int, error) {
	if len(b)-i < len(lit) || string(b[i:i+len(lit)]) != lit {
		return 0, syntaxErr(i, "invalid literal")
	}
	return i + len(lit), nil
}

// skipValue expects b[i] to be the first byte of a value at the given depth
// (whitespace already skipped) and returns the index after it.
func skipValue(b []byte, i, depth int) (int, error) {
	if i >= len(b) {
		return 0, syntaxErr(i, "unexpected end of input")
	}
	switch c := b[i]; {
	case c == '"':
		end, _, err := scanString(b, i)
		return end, err
	case c == '{' || c == '[':
		w, err := open(b, i, depth, c == '{')
		if err != nil {
			return 0, err
		}
		for w.next() {
		}
		return w.end, w.err
	case c == '-' || c >= '0' && c <= '9':
		return scanNumber(b, i)
	case c == 't':
		return scanLiteral(b, i, "true")
	case c == 'f':
		return scanLiteral(b, i, "false")
	case c == 'n':
		return scanLiteral(b, i, "null")
	}
	return 0, syntaxErr(i, "invalid character")
}

// walk visits the members of one object or the elements of one array. next
// stops on each value (val is its first byte, never past the input); the
// caller reads it and reports its end with took, or leaves it for the next
// call of next to pass over. When next reports false, err holds the syntax
// error if any; otherwise close and end locate the closing bracket.
type walk struct {
	b       []byte
	i       int // where next reads on: after the opening bracket or a taken value
	depth   int // the container's own depth; its values are one deeper
	obj     bool
	first   bool
	pending bool // the value at val was not taken
	ks, ke  int  // the current member's key, inside the quotes (objects)
	kesc    bool // the key holds an escape
	val     int
	close   int // index of the closing bracket
	end     int // index after it
	err     error
}

// open starts a walk of the object (obj) or array at b[i].
func open(b []byte, i, depth int, obj bool) (walk, error) {
	want, what := byte('['), "expected a JSON array"
	if obj {
		want, what = '{', "expected a JSON object"
	}
	if i >= len(b) || b[i] != want {
		return walk{}, syntaxErr(i, what)
	}
	if depth >= maxDepth {
		return walk{}, syntaxErr(i, "nesting too deep")
	}
	return walk{b: b, i: i + 1, depth: depth, obj: obj, first: true}, nil
}

// inner starts a walk of the current value, the object (obj) or array it
// must be; the caller hands its end to took when it is done.
func (w *walk) inner(obj bool) (walk, error) { return open(w.b, w.val, w.depth+1, obj) }

// topObject opens the document's top-level object.
func topObject(b []byte) (walk, error) {
	return open(b, skipWS(b, 0), 0, true)
}

func (w *walk) fail(err error) bool {
	w.err, w.pending = err, false
	return false
}

// next moves to the next member or element, passing over the current value
// if it was not taken.
func (w *walk) next() bool {
	if w.err != nil {
		return false
	}
	if w.pending {
		if _, err := w.skip(); err != nil {
			return false
		}
	}
	b := w.b
	closer, kind := byte(']'), "array"
	if w.obj {
		closer, kind = '}', "object"
	}
	i := skipWS(b, w.i)
	if i >= len(b) {
		return w.fail(syntaxErr(i, "unterminated "+kind))
	}
	switch {
	case b[i] == closer:
		w.close, w.end = i, i+1
		return false
	case w.first:
		w.first = false
	case b[i] == ',':
		i = skipWS(b, i+1)
	default:
		return w.fail(syntaxErr(i, "expected , or "+string(closer)+" in "+kind))
	}
	if w.obj {
		if i >= len(b) || b[i] != '"' {
			return w.fail(syntaxErr(i, "expected a string key"))
		}
		kEnd, esc, err := scanString(b, i)
		if err != nil {
			return w.fail(err)
		}
		w.ks, w.ke, w.kesc = i+1, kEnd-1, esc
		i = skipWS(b, kEnd)
		if i >= len(b) || b[i] != ':' {
			return w.fail(syntaxErr(i, "expected : after object key"))
		}
		i = skipWS(b, i+1)
	}
	if i >= len(b) {
		return w.fail(syntaxErr(i, "unexpected end of input"))
	}
	w.val, w.pending = i, true
	return true
}

// skip passes over the current value and returns its end.
func (w *walk) skip() (int, error) {
	end, err := skipValue(w.b, w.val, w.depth+1)
	if err != nil {
		w.fail(err)
		return 0, err
	}
	w.took(end)
	return end, nil
}

// took records that the caller read the current value up to end.
func (w *walk) took(end int) { w.i, w.pending = end, false }

// keyBuf holds the decoding of an escaped key; it is large enough for every
// key the package looks for.
type keyBuf [32]byte

// keyName returns the current member's key to switch on: its raw bytes, or
// for an escaped key its decoding (into buf) when that is ASCII, else nil:
// no name the package looks for has a byte outside ASCII.
func (w *walk) keyName(buf *keyBuf) []byte {
	raw := w.b[w.ks:w.ke]
	if !w.kesc {
		return raw
	}
	name, ok := unquoteASCII(buf[:0], raw)
	if !ok {
		return nil
	}
	return name
}

// key reports whether the current member's key decodes to name (ASCII).
func (w *walk) key(name string) bool {
	var buf keyBuf
	k := w.keyName(&buf)
	return k != nil && string(k) == name
}

// finish checks that only whitespace follows the top-level object.
func (w *walk) finish() error {
	if w.err != nil {
		return w.err
	}
	if i := skipWS(w.b, w.end); i != len(w.b) {
		return syntaxErr(i, "data after the top-level object")
	}
	return nil
}

// field is Field by offsets: vs < 0 when the member is absent.
func field(b []byte, key string) (vs, ve int, err error) {
	o, err := topObject(b)
	if err != nil {
		return -1, -1, err
	}
	vs, ve = -1, -1
	for o.next() {
		if o.key(key) {
			if ve, err = o.skip(); err != nil {
				break
			}
			vs = o.val
		}
	}
	if err := o.finish(); err != nil {
		return -1, -1, err
	}
	return vs, ve, nil
}

// Field returns the raw bytes of the value of the top-level member key of the
// JSON object b (the last one when the key repeats, as encoding/json
// decides), whether it is present, and a *SyntaxError when b is not a valid
// JSON object. Keys match exactly (case-sensitive), escapes decoded; key must
// be ASCII. The returned slice aliases b.
func Field(b []byte, key string) (value []byte, ok bool, err error) {
	vs, ve, err := field(b, key)
	if err != nil || vs < 0 {
		return nil, false, err
	}
	return b[vs:ve], true, nil
}

// unquoteASCII appends to dst the decoding of the raw string contents
// (escapes not yet decoded, already validated by scanString) and reports
// whether it is all ASCII; it stops at the first byte or rune that is not,
// so invalid UTF-8 and surrogates need no special care.
func unquoteASCII(dst, raw []byte) ([]byte, bool) {
	for i := 0; i < len(raw); {
		c := raw[i]
		if c == '\\' {
			switch raw[i+1] {
			case 'u':
				r := hex4(raw[i+2 : i+6])
				if r >= utf8.RuneSelf {
					return dst, false
				}
				c = byte(r)
				i += 6
			case 'b':
				c, i = '\b', i+2
			case 'f':
				c, i = '\f', i+2
			case 'n':
				c, i = '\n', i+2
			case 'r':
				c, i = '\r', i+2
			case 't':
				c, i = '\t', i+2
			default: // " \ /
				c, i = raw[i+1], i+2
			}
		} else {
			if c >= utf8.RuneSelf {
				return dst, false
			}
			i++
		}
		dst = append(dst, c)
	}
	return dst, true
}

// unquote decodes a JSON string with escapes that scanString has checked.
func unquote(quoted []byte) string {
	var s string
	_ = json.Unmarshal(quoted, &s) // cannot fail on a checked string
	return s
}

// stringIs reports whether the value at b[i] is a JSON string that decodes to
// the ASCII name, and returns the end of the value when it is a string.
func stringIs(b []byte, i int, name string) (is bool, end int, err error) {
	end, esc, err := scanString(b, i)
	if err != nil {
		return false, 0, err
	}
	raw := b[i+1 : end-1]
	if esc {
		var buf keyBuf
		dec, ok := unquoteASCII(buf[:0], raw)
		return ok && string(dec) == name, end, nil
	}
	return string(raw) == name, end, nil
}

// plainUint reads digits, the text of a JSON number, as a non-negative
// integer: false when it holds anything but digits (a sign, a fraction, an
// exponent) or its value is above max.
func plainUint(digits []byte, max uint64) (uint64, bool) {
	var v uint64
	for _, c := range digits {
		d := uint64(c - '0')
		if d > 9 || v > max/10 || v == max/10 && d > max%10 {
			return 0, false
		}
		v = v*10 + d
	}
	return v, len(digits) > 0
}
