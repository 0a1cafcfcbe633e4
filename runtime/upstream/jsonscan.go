package upstream

import (
	"fmt"
	"unicode/utf8"
)

// This file holds a small JSON scanner that validates a document with the same
// grammar as encoding/json (RFC 8259, invalid UTF-8 inside strings tolerated)
// and walks the members of an object without decoding anything. It lets the
// body functions edit one member in place and copy every other byte as it came.

// maxDepth bounds nesting like encoding/json does, so a hostile body cannot
// exhaust the stack.
const maxDepth = 10000

// SyntaxError reports a body that is not the JSON the body functions expect. Off is
// the byte offset of the problem.
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

func isWS(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

func skipWS(b []byte, i int) int {
	for i < len(b) && isWS(b[i]) {
		i++
	}
	return i
}

func isHex(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F'
}

// scanString expects b[i] == '"' and returns the index after the closing
// quote and whether the string holds an escape.
func scanString(b []byte, i int) (end int, esc bool, err error) {
	i++
	for {
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
				if i+6 > len(b) || !isHex(b[i+2]) || !isHex(b[i+3]) || !isHex(b[i+4]) || !isHex(b[i+5]) {
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

// skipValue expects b[i] to be the first byte of a value (whitespace already
// skipped) and returns the index after it.
func skipValue(b []byte, i, depth int) (int, error) {
	if i >= len(b) {
		return 0, syntaxErr(i, "unexpected end of input")
	}
	switch c := b[i]; {
	case c == '"':
		end, _, err := scanString(b, i)
		return end, err
	case c == '{':
		o, err := openObject(b, i, depth)
		if err != nil {
			return 0, err
		}
		for {
			if _, ok := o.next(); !ok {
				break
			}
		}
		return o.end, o.err
	case c == '[':
		return skipArray(b, i, depth)
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

func skipArray(b []byte, i, depth int) (int, error) {
	if depth >= maxDepth {
		return 0, syntaxErr(i, "nesting too deep")
	}
	i = skipWS(b, i+1)
	if i < len(b) && b[i] == ']' {
		return i + 1, nil
	}
	for {
		var err error
		if i, err = skipValue(b, i, depth+1); err != nil {
			return 0, err
		}
		i = skipWS(b, i)
		if i >= len(b) {
			return 0, syntaxErr(i, "unterminated array")
		}
		switch b[i] {
		case ',':
			i = skipWS(b, i+1)
		case ']':
			return i + 1, nil
		default:
			return 0, syntaxErr(i, "expected , or ] in array")
		}
	}
}

// member locates one object member: the key's bytes between its quotes and
// the value's bytes.
type member struct {
	keyStart, keyEnd int // inside the quotes
	keyEsc           bool
	valStart, valEnd int
}

// key reports whether the member's key decodes to name (an ASCII string).
func (m member) key(b []byte, name string) bool {
	raw := b[m.keyStart:m.keyEnd]
	if !m.keyEsc {
		return string(raw) == name
	}
	return unquoteEqualsASCII(raw, name)
}

// object walks the members of one JSON object. After next reports false, err
// is the syntax error if any, and close/end locate the closing brace.
type object struct {
	b     []byte
	i     int
	depth int
	first bool
	close int // index of the closing '}'
	end   int // index after it
	err   error
}

func openObject(b []byte, i, depth int) (object, error) {
	if i >= len(b) || b[i] != '{' {
		return object{}, syntaxErr(i, "expected a JSON object")
	}
	if depth >= maxDepth {
		return object{}, syntaxErr(i, "nesting too deep")
	}
	return object{b: b, i: i + 1, depth: depth, first: true}, nil
}

func (o *object) next() (member, bool) {
	b := o.b
	i := skipWS(b, o.i)
	if i >= len(b) {
		o.err = syntaxErr(i, "unterminated object")
		return member{}, false
	}
	if o.first {
		o.first = false
		if b[i] == '}' {
			o.close, o.end = i, i+1
			return member{}, false
		}
	} else {
		switch b[i] {
		case '}':
			o.close, o.end = i, i+1
			return member{}, false
		case ',':
			i = skipWS(b, i+1)
		default:
			o.err = syntaxErr(i, "expected , or } in object")
			return member{}, false
		}
	}
	if i >= len(b) || b[i] != '"' {
		o.err = syntaxErr(i, "expected a string key")
		return member{}, false
	}
	kEnd, esc, err := scanString(b, i)
	if err != nil {
		o.err = err
		return member{}, false
	}
	m := member{keyStart: i + 1, keyEnd: kEnd - 1, keyEsc: esc}
	i = skipWS(b, kEnd)
	if i >= len(b) || b[i] != ':' {
		o.err = syntaxErr(i, "expected : after object key")
		return member{}, false
	}
	i = skipWS(b, i+1)
	m.valStart = i
	if i, err = skipValue(b, i, o.depth+1); err != nil {
		o.err = err
		return member{}, false
	}
	m.valEnd = i
	o.i = i
	return m, true
}

// topObject opens the document's top-level object.
func topObject(b []byte) (object, error) {
	return openObject(b, skipWS(b, 0), 0)
}

// finish checks that only whitespace follows the top-level object.
func (o *object) finish() error {
	if o.err != nil {
		return o.err
	}
	if i := skipWS(o.b, o.end); i != len(o.b) {
		return syntaxErr(i, "data after the top-level object")
	}
	return nil
}

// unquoteEqualsASCII reports whether the raw string contents (escapes not yet
// decoded, already validated by scanString) decode to the ASCII string name.
// Any byte or rune outside ASCII cannot match, so invalid UTF-8 and
// surrogates need no special care.
func unquoteEqualsASCII(raw []byte, name string) bool {
	j := 0
	for i := 0; i < len(raw); {
		c := raw[i]
		if c == '\\' {
			switch raw[i+1] {
			case 'u':
				r := 0
				for _, h := range raw[i+2 : i+6] {
					r = r<<4 | hexVal(h)
				}
				if r >= utf8.RuneSelf {
					return false
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
			i++
		}
		if j >= len(name) || name[j] != c {
			return false
		}
		j++
	}
	return j == len(name)
}

func hexVal(c byte) int {
	switch {
	case c >= '0' && c <= '9':
		return int(c - '0')
	case c >= 'a' && c <= 'f':
		return int(c-'a') + 10
	default:
		return int(c-'A') + 10
	}
}
