package cache

import (
	"errors"
	"fmt"
	"io"
	"strconv"
	"unicode/utf8"

	"smartrouter/compiler/diag"
)

// Limits that keep memory bounded whatever the input.
const (
	bufSize       = 256 << 10 // read buffer; tokens never need to fit in it
	maxDepth      = 10000     // nesting depth of any value
	maxKeptString = 1 << 20   // longest string value or key that is kept
	maxNumberLen  = 1024      // longest number text that is kept for parsing
	maxUnknownKey = 64        // distinct unknown key names warned per file
)

// Value kinds as reported by peekKind.
const (
	kObject = '{'
	kArray  = '['
	kString = '"'
	kNumber = '0' // also NaN, Infinity, -Infinity (Python's json writes them)
	kTrue   = 't'
	kFalse  = 'f'
	kNull   = 'n'
)

func kindName(k byte) string {
	switch k {
	case kObject:
		return "an object"
	case kArray:
		return "a list"
	case kString:
		return "a string"
	case kNumber:
		return "a number"
	case kTrue, kFalse:
		return "a boolean"
	case kNull:
		return "null"
	}
	return "a value"
}

// strSafe marks the bytes a string can hold without further checks: printable
// ASCII except the quote and the backslash.
var strSafe = func() (t [256]bool) {
	for c := 0x20; c < 0x80; c++ {
		t[c] = c != '"' && c != '\\'
	}
	return t
}()

// decoder is a streaming JSON reader over an io.Reader. It never holds more
// than one buffer of input plus the strings the caller keeps; values that are
// skipped are validated byte by byte and thrown away. Every error is a
// *diag.Error with the byte offset and the JSON path of the value being read.
type decoder struct {
	src  io.Reader
	file string
	buf  []byte
	r, w int
	base int64 // input offset of buf[0]
	eof  bool
	rerr error // read error other than io.EOF
	err  error // first error; sticky

	opened bool // the last token was '{' or '['

	kbuf  []byte // last key
	sbuf  []byte // last kept string value
	nbuf  []byte // last number text
	long  bool   // the last kept string went past maxKeptString
	stack []byte // containers open while skipping

	path    []byte // rendered JSON path of the current value, e.g. $.a["b c"][3]
	pathLen []int  // lengths of path before each push

	warn    *diag.Warnings
	unknown map[string]struct{}
	skips   int // values skipped (or prices made unknown) with a warning

	strs map[string]string // interned short strings (ids, "model", "text", ...)
}

// Interning bounds: short strings only, and a bounded table.
const (
	maxInternLen   = 128
	maxInternCount = 1 << 16
)

// intern returns b as a string, sharing one copy of each short value seen in
// the file: model ids repeat across channels and fields.
func (d *decoder) intern(b []byte) string {
	if len(b) > maxInternLen {
		return string(b)
	}
	if s, ok := d.strs[string(b)]; ok {
		return s
	}
	s := string(b)
	if d.strs == nil {
		d.strs = make(map[string]string, 256)
	}
	if len(d.strs) < maxInternCount {
		d.strs[s] = s
	}
	return s
}

func newDecoder(src io.Reader, file string, w *diag.Warnings) *decoder {
	if w == nil {
		w = &diag.Warnings{}
	}
	return &decoder{
		src:  src,
		file: file,
		buf:  make([]byte, bufSize),
		path: append(make([]byte, 0, 256), '$'),
		warn: w,
	}
}

// valueOff skips whitespace and returns the offset where the next value
// starts (a read error is kept and reported by the next read).
func (d *decoder) valueOff() int64 {
	_, _ = d.peekByte()
	return d.offset()
}

// offset is the input offset of the next unread byte.
func (d *decoder) offset() int64 { return d.base + int64(d.r) }

func (d *decoder) pos(off int64) diag.Pos { return diag.AtOffset(d.file, off, string(d.path)) }

// fail records the first error and returns it.
func (d *decoder) fail(off int64, format string, args ...any) error {
	if d.err == nil {
		d.err = &diag.Error{Pos: d.pos(off), Msg: fmt.Sprintf(format, args...)}
	}
	return d.err
}

// failEOF reports an input that ended inside a value (or a read error).
func (d *decoder) failEOF() error {
	if d.rerr != nil {
		if d.err == nil {
			d.err = &diag.Error{Pos: d.pos(d.offset()), Msg: "cannot read the file; check that it is readable", Err: d.rerr}
		}
		return d.err
	}
	if d.offset() == 0 {
		return d.fail(0, "the file is empty; delete it or let the router rewrite it")
	}
	return d.fail(d.offset(), "unexpected end of file: the JSON is truncated; restore the file or delete it so the router rewrites it")
}

func (d *decoder) warnf(off int64, group, format string, args ...any) {
	switch group {
	case GroupWrongType, GroupBadValue, GroupBadPrice:
		d.skips++
	}
	d.warn.Add(d.pos(off), group, format, args...)
}

// more reads more input, keeping the unread bytes buf[r:w]. It reports
// whether at least one byte was added.
func (d *decoder) more() bool {
	if d.eof {
		return false
	}
	if d.r > 0 {
		n := copy(d.buf, d.buf[d.r:d.w])
		d.base += int64(d.r)
		d.r, d.w = 0, n
	}
	for zero := 0; zero < 100; zero++ {
		n, err := d.src.Read(d.buf[d.w:])
		d.w += n
		if err != nil {
			d.eof = true
			if !errors.Is(err, io.EOF) {
				d.rerr = err
			}
			return n > 0
		}
		if n > 0 {
			return true
		}
	}
	d.eof = true
	d.rerr = io.ErrNoProgress
	return false
}

// need makes at least n unread bytes contiguous in buf; false at end of input.
func (d *decoder) need(n int) bool {
	for d.w-d.r < n {
		if !d.more() {
			return false
		}
	}
	return true
}

// peekByte skips whitespace and returns the next byte without consuming it.
func (d *decoder) peekByte() (byte, error) {
	if d.err != nil {
		return 0, d.err
	}
	for {
		buf := d.buf[d.r:d.w]
		for i, c := range buf {
			if c != ' ' && c != '\n' && c != '\r' && c != '\t' {
				d.r += i
				return c, nil
			}
		}
		d.r = d.w
		if !d.more() {
			return 0, d.failEOF()
		}
	}
}

// start checks the beginning of the input: a UTF-8 byte order mark is
// skipped, an empty input is an error.
func (d *decoder) start() error {
	if !d.need(1) {
		if d.rerr != nil {
			return d.failEOF()
		}
		return d.fail(0, "the file is empty; delete it or let the router rewrite it")
	}
	if d.need(3) && d.buf[d.r] == 0xEF && d.buf[d.r+1] == 0xBB && d.buf[d.r+2] == 0xBF {
		d.r += 3
	}
	return nil
}

// finish checks that only whitespace follows the top-level value.
func (d *decoder) finish() error {
	if d.err != nil {
		return d.err
	}
	for {
		buf := d.buf[d.r:d.w]
		for i, c := range buf {
			if c != ' ' && c != '\n' && c != '\r' && c != '\t' {
				d.r += i
				return d.fail(d.offset(), "unexpected %s after the end of the top-level value; the file is not valid JSON", quoteByte(c))
			}
		}
		d.r = d.w
		if !d.more() {
			if d.rerr != nil {
				return d.failEOF()
			}
			return nil
		}
	}
}

func quoteByte(c byte) string {
	if c >= 0x20 && c < 0x7f {
		return strconv.QuoteRune(rune(c))
	}
	return fmt.Sprintf("byte 0x%02x", c)
}

// peekKind skips whitespace and reports the kind of the next value.
func (d *decoder) peekKind() (byte, error) {
	c, err := d.peekByte()
	if err != nil {
		return 0, err
	}
	switch c {
	case '{', '[', '"', 't', 'f', 'n':
		return c, nil
	case '-', '0', '1', '2', '3', '4', '5', '6', '7', '8', '9', 'N', 'I':
		return kNumber, nil
	}
	return 0, d.unexpected(c, "a value")
}

func (d *decoder) unexpected(c byte, want string) error {
	if c >= 0x80 {
		return d.fail(d.offset(), "unexpected %s where %s was expected; the file is not valid JSON (or not UTF-8)", quoteByte(c), want)
	}
	return d.fail(d.offset(), "unexpected %s where %s was expected; the file is not valid JSON", quoteByte(c), want)
}

// expect consumes the byte c after optional whitespace.
func (d *decoder) expect(c byte, want string) error {
	b, err := d.peekByte()
	if err != nil {
		return err
	}
	if b != c {
		return d.unexpected(b, want)
	}
	d.r++
	return nil
}

// openObject consumes '{'. The caller has checked the kind.
func (d *decoder) openObject() {
	d.r++
	d.opened = true
}

// openArray consumes '['. The caller has checked the kind.
func (d *decoder) openArray() {
	d.r++
	d.opened = true
}

// nextKey moves to the next member of the current object and returns its key
// (valid until the next key is read), or more=false after the closing '}'.
func (d *decoder) nextKey() (key []byte, more bool, err error) {
	c, err := d.peekByte()
	if err != nil {
		return nil, false, err
	}
	if d.opened {
		d.opened = false
		if c == '}' {
			d.r++
			return nil, false, nil
		}
	} else {
		if c == '}' {
			d.r++
			return nil, false, nil
		}
		if c != ',' {
			return nil, false, d.unexpected(c, "',' or '}'")
		}
		d.r++
		if c, err = d.peekByte(); err != nil {
			return nil, false, err
		}
	}
	if c != '"' {
		return nil, false, d.unexpected(c, "a string key")
	}
	off := d.offset()
	if err := d.scanString(&d.kbuf); err != nil {
		return nil, false, err
	}
	if d.long {
		return nil, false, d.fail(off, "object key longer than %d bytes", maxKeptString)
	}
	if err := d.expect(':', "':'"); err != nil {
		return nil, false, err
	}
	return d.kbuf, true, nil
}

// nextElem moves to the next element of the current list; more=false after
// the closing ']'.
func (d *decoder) nextElem() (bool, error) {
	c, err := d.peekByte()
	if err != nil {
		return false, err
	}
	if c == ']' {
		d.r++
		d.opened = false
		return false, nil
	}
	if d.opened {
		d.opened = false
		return true, nil
	}
	if c != ',' {
		return false, d.unexpected(c, "',' or ']'")
	}
	d.r++
	return true, nil
}

// scanString consumes a string; dst (when not nil) receives its decoded
// contents, up to maxKeptString bytes (d.long reports a cut).
func (d *decoder) scanString(dst *[]byte) error {
	d.r++ // opening quote
	d.long = false
	var out []byte
	if dst != nil {
		out = (*dst)[:0]
	}
	keep := dst != nil
	for {
		buf := d.buf[d.r:d.w]
		i := 0
		for i < len(buf) && strSafe[buf[i]] {
			i++
		}
		if keep && i > 0 {
			out = d.appendKept(out, buf[:i])
		}
		d.r += i
		if i == len(buf) {
			if !d.more() {
				return d.failEOF()
			}
			continue
		}
		switch c := buf[i]; {
		case c == '"':
			d.r++
			if keep {
				*dst = out
			}
			return nil
		case c == '\\':
			var err error
			if out, err = d.scanEscape(out, keep); err != nil {
				return err
			}
		case c < 0x20:
			return d.fail(d.offset(), "control character %s inside a string; the file is not valid JSON", quoteByte(c))
		default:
			d.need(utf8.UTFMax)
			rest := d.buf[d.r:d.w]
			if !utf8.FullRune(rest) && d.eof {
				return d.failEOF()
			}
			r, size := utf8.DecodeRune(rest)
			if r == utf8.RuneError && size <= 1 {
				return d.fail(d.offset(), "invalid UTF-8 byte 0x%02x; the file must be UTF-8", rest[0])
			}
			if keep {
				out = d.appendKept(out, rest[:size])
			}
			d.r += size
		}
	}
}

func (d *decoder) appendKept(out, b []byte) []byte {
	if len(out)+len(b) > maxKeptString {
		d.long = true
		return out
	}
	return append(out, b...)
}

// scanEscape consumes one backslash escape at d.r.
func (d *decoder) scanEscape(out []byte, keep bool) ([]byte, error) {
	if !d.need(2) {
		return out, d.failEOF()
	}
	var c byte
	switch e := d.buf[d.r+1]; e {
	case '"', '\\', '/':
		c = e
	case 'b':
		c = '\b'
	case 'f':
		c = '\f'
	case 'n':
		c = '\n'
	case 'r':
		c = '\r'
	case 't':
		c = '\t'
	case 'u':
		if !d.need(6) {
			return out, d.failEOF()
		}
		r, ok := hex4(d.buf[d.r+2 : d.r+6])
		if !ok {
			return out, d.fail(d.offset(), "invalid \\u escape in a string; the file is not valid JSON")
		}
		n := 6
		if r >= 0xD800 && r < 0xDC00 {
			// A high surrogate; combine with a following low one.
			if d.need(12) && d.buf[d.r+6] == '\\' && d.buf[d.r+7] == 'u' {
				if r2, ok := hex4(d.buf[d.r+8 : d.r+12]); ok && r2 >= 0xDC00 && r2 < 0xE000 {
					r = 0x10000 + (r-0xD800)<<10 + (r2 - 0xDC00)
					n = 12
				}
			}
		}
		if r >= 0xD800 && r < 0xE000 {
			r = utf8.RuneError // lone surrogate
		}
		if keep {
			var tmp [utf8.UTFMax]byte
			out = d.appendKept(out, tmp[:utf8.EncodeRune(tmp[:], r)])
		}
		d.r += n
		return out, nil
	default:
		return out, d.fail(d.offset(), "invalid escape %s in a string; the file is not valid JSON", quoteByte(e))
	}
	if keep {
		out = d.appendKept(out, []byte{c})
	}
	d.r += 2
	return out, nil
}

func hex4(b []byte) (rune, bool) {
	var r rune
	for _, c := range b {
		switch {
		case c >= '0' && c <= '9':
			r = r<<4 | rune(c-'0')
		case c >= 'a' && c <= 'f':
			r = r<<4 | rune(c-'a'+10)
		case c >= 'A' && c <= 'F':
			r = r<<4 | rune(c-'A'+10)
		default:
			return 0, false
		}
	}
	return r, true
}

// Results of scanNumber besides the number text.
const (
	numFinite = iota
	numNaN
	numInf    // +Infinity
	numNegInf // -Infinity
)

// scanNumber consumes a number (or NaN/Infinity/-Infinity). When keep is set
// the text goes to d.nbuf; d.long reports text longer than maxNumberLen.
func (d *decoder) scanNumber(keep bool) (int, error) {
	d.nbuf = d.nbuf[:0]
	d.long = false
	if !d.need(1) {
		return 0, d.failEOF()
	}
	switch d.buf[d.r] {
	case 'N':
		return numNaN, d.literal("NaN")
	case 'I':
		return numInf, d.literal("Infinity")
	case '-':
		if d.need(2) && d.buf[d.r+1] == 'I' {
			return numNegInf, d.literal("-Infinity")
		}
	}
	st := 0
loop:
	for {
		if d.r == d.w && !d.more() {
			break
		}
		c := d.buf[d.r]
		isDigit := c >= '0' && c <= '9'
		switch st {
		case 0: // start
			switch {
			case c == '-':
				st = 1
			case c == '0':
				st = 2
			case isDigit:
				st = 3
			default:
				break loop
			}
		case 1: // after '-'
			switch {
			case c == '0':
				st = 2
			case isDigit:
				st = 3
			default:
				break loop
			}
		case 2, 3: // integer part ('0' alone, or digits)
			switch {
			case isDigit && st == 3:
			case c == '.':
				st = 4
			case c == 'e' || c == 'E':
				st = 6
			default:
				break loop
			}
		case 4: // after '.'
			if !isDigit {
				break loop
			}
			st = 5
		case 5: // fraction digits
			switch {
			case isDigit:
			case c == 'e' || c == 'E':
				st = 6
			default:
				break loop
			}
		case 6: // after 'e'
			switch {
			case c == '+' || c == '-':
				st = 7
			case isDigit:
				st = 8
			default:
				break loop
			}
		case 7: // after exponent sign
			if !isDigit {
				break loop
			}
			st = 8
		case 8: // exponent digits
			if !isDigit {
				break loop
			}
		}
		if keep {
			if len(d.nbuf) < maxNumberLen {
				d.nbuf = append(d.nbuf, c)
			} else {
				d.long = true
			}
		}
		d.r++
	}
	if d.rerr != nil {
		return 0, d.failEOF()
	}
	switch st {
	case 2, 3, 5, 8:
		return numFinite, nil
	}
	if d.r == d.w {
		return 0, d.failEOF()
	}
	return 0, d.fail(d.offset(), "invalid number: unexpected %s; the file is not valid JSON", quoteByte(d.buf[d.r]))
}

// literal consumes the exact bytes of lit.
func (d *decoder) literal(lit string) error {
	if !d.need(len(lit)) {
		// Report a mismatch before the end if there is one.
		for i := 0; d.r+i < d.w; i++ {
			if d.buf[d.r+i] != lit[i] {
				d.r += i
				return d.unexpected(d.buf[d.r], fmt.Sprintf("%q", lit))
			}
		}
		d.r = d.w
		return d.failEOF()
	}
	for i := 0; i < len(lit); i++ {
		if d.buf[d.r+i] != lit[i] {
			d.r += i
			return d.unexpected(d.buf[d.r], fmt.Sprintf("%q", lit))
		}
	}
	d.r += len(lit)
	return nil
}

// skipValue consumes one value of any kind, checking its syntax, keeping
// nothing. Memory use is one byte per nesting level.
func (d *decoder) skipValue() error {
	d.opened = false
	d.stack = d.stack[:0]
	for {
		// A value is expected.
		c, err := d.peekByte()
		if err != nil {
			return err
		}
		switch c {
		case '{', '[':
			if len(d.stack) >= maxDepth {
				return d.fail(d.offset(), "values nested more than %d deep", maxDepth)
			}
			d.r++
			n, err := d.peekByte()
			if err != nil {
				return err
			}
			if c == '{' {
				if n == '}' {
					d.r++
					break
				}
				d.stack = append(d.stack, '{')
				if err := d.skipKey(n); err != nil {
					return err
				}
				continue
			}
			if n == ']' {
				d.r++
				break
			}
			d.stack = append(d.stack, '[')
			continue
		case '"':
			if err := d.scanString(nil); err != nil {
				return err
			}
		case '-', '0', '1', '2', '3', '4', '5', '6', '7', '8', '9', 'N', 'I':
			if _, err := d.scanNumber(false); err != nil {
				return err
			}
		case 't':
			err = d.literal("true")
		case 'f':
			err = d.literal("false")
		case 'n':
			err = d.literal("null")
		default:
			return d.unexpected(c, "a value")
		}
		if err != nil {
			return err
		}
		// After a value: close containers or move to the next member.
		for {
			if len(d.stack) == 0 {
				return nil
			}
			c, err := d.peekByte()
			if err != nil {
				return err
			}
			top := d.stack[len(d.stack)-1]
			if c == ',' {
				d.r++
				if top == '{' {
					n, err := d.peekByte()
					if err != nil {
						return err
					}
					if err := d.skipKey(n); err != nil {
						return err
					}
				}
				break
			}
			if (top == '{' && c == '}') || (top == '[' && c == ']') {
				d.r++
				d.stack = d.stack[:len(d.stack)-1]
				continue
			}
			if top == '{' {
				return d.unexpected(c, "',' or '}'")
			}
			return d.unexpected(c, "',' or ']'")
		}
	}
}

// skipKey consumes `"key":` where c is the already-peeked first byte.
func (d *decoder) skipKey(c byte) error {
	if c != '"' {
		return d.unexpected(c, "a string key")
	}
	if err := d.scanString(nil); err != nil {
		return err
	}
	return d.expect(':', "':'")
}

// push appends an object key to the current JSON path.
func (d *decoder) push(key []byte) {
	d.pathLen = append(d.pathLen, len(d.path))
	d.path = appendPathKey(d.path, key)
}

func appendPathKey(path, key []byte) []byte {
	if isIdent(key) {
		path = append(path, '.')
		return append(path, key...)
	}
	path = append(path, '[')
	path = strconv.AppendQuote(path, string(key))
	return append(path, ']')
}

// renderPath renders the JSON path of nested object keys from the top.
func renderPath(keys ...string) string {
	p := []byte{'$'}
	for _, k := range keys {
		p = appendPathKey(p, []byte(k))
	}
	return string(p)
}

// pushIndex appends a list index to the current JSON path.
func (d *decoder) pushIndex(i int) {
	d.pathLen = append(d.pathLen, len(d.path))
	d.path = append(d.path, '[')
	d.path = strconv.AppendInt(d.path, int64(i), 10)
	d.path = append(d.path, ']')
}

func (d *decoder) pop() {
	n := len(d.pathLen) - 1
	d.path = d.path[:d.pathLen[n]]
	d.pathLen = d.pathLen[:n]
}

func isIdent(b []byte) bool {
	if len(b) == 0 || len(b) > 64 {
		return false
	}
	for i, c := range b {
		switch {
		case c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z':
		case c >= '0' && c <= '9' && i > 0:
		default:
			return false
		}
	}
	return true
}
