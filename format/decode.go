package format

import (
	"math"
	"strconv"
	"unsafe"
)

// bstr returns b as a string without copying. The snapshot's buffer must not
// change while the string is in use, which Open's contract already demands.
func bstr(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	return unsafe.String(&b[0], len(b))
}

// dec reads a sequential section with a sticky error, so that decoding code
// stays a flat list of fields; the first problem wins and later reads return
// zero values.
type dec struct {
	b    []byte // the section
	off  int    // read position in b
	base int64  // file offset of b[0]
	sec  string // section name for errors
	strs []byte // the strings section
	err  error
}

func (d *dec) fail(at int, err error, msg string) {
	if d.err == nil {
		d.err = ferr(d.sec, d.base+int64(at), err, msg)
	}
}

func (d *dec) take(n int) []byte {
	if d.err != nil {
		return nil
	}
	if len(d.b)-d.off < n {
		d.fail(d.off, ErrOutOfBounds, "field runs past the end of the section")
		return nil
	}
	v := d.b[d.off : d.off+n]
	d.off += n
	return v
}

func (d *dec) u8() uint8 {
	if v := d.take(1); v != nil {
		return v[0]
	}
	return 0
}

func (d *dec) u16() uint16 {
	if v := d.take(2); v != nil {
		return le.Uint16(v)
	}
	return 0
}

func (d *dec) u32() uint32 {
	if v := d.take(4); v != nil {
		return le.Uint32(v)
	}
	return 0
}

func (d *dec) u64() uint64 {
	if v := d.take(8); v != nil {
		return le.Uint64(v)
	}
	return 0
}

func (d *dec) i32() int32   { return int32(d.u32()) }
func (d *dec) f32() float32 { return math.Float32frombits(d.u32()) }
func (d *dec) f64() float64 { return math.Float64frombits(d.u64()) }

func (d *dec) bool() bool {
	at := d.off
	v := d.u8()
	if v > 1 {
		d.fail(at, ErrCorrupt, "boolean byte is "+strconv.Itoa(int(v)))
	}
	return v == 1
}

func (d *dec) str() string {
	at := d.off
	o, n := d.u32(), d.u32()
	if d.err != nil {
		return ""
	}
	s, ok := strAt(d.strs, o, n)
	if !ok {
		d.fail(at, ErrOutOfBounds, "string reference outside the strings section")
	}
	return s
}

// count reads a list length and checks that the list, at min bytes per
// element, fits in what is left of the section before anything is allocated.
func (d *dec) count(min int) int {
	at := d.off
	n := d.u32()
	if d.err != nil {
		return 0
	}
	if uint64(n)*uint64(min) > uint64(len(d.b)-d.off) {
		d.fail(at, ErrOutOfBounds, "list of "+strconv.FormatUint(uint64(n), 10)+" entries does not fit in the section")
		return 0
	}
	return int(n)
}

func (d *dec) strList() []string {
	n := d.count(strRefSize)
	if n == 0 {
		return nil
	}
	out := make([]string, n)
	for i := range out {
		out[i] = d.str()
	}
	return out
}

func (d *dec) secret() Secret { return Secret{Env: d.str(), Literal: d.str()} }

// done reports the sticky error, or an error if bytes are left over.
func (d *dec) done() error {
	if d.err == nil && d.off != len(d.b) {
		d.fail(d.off, ErrCorrupt, "unexpected bytes at the end of the section")
	}
	return d.err
}

// strAt resolves a string reference against the strings section.
func strAt(strs []byte, off, n uint32) (string, bool) {
	if uint64(off)+uint64(n) > uint64(len(strs)) {
		return "", false
	}
	return bstr(strs[off : off+n]), true
}

// fixedSection is a checked view of a fixed-record section.
type fixedSection struct {
	name string
	base int64  // file offset of the section
	n    int    // records
	rec  int    // bytes per record (>= this version's record size)
	body []byte // records (and, for prewarm, the tail after them)
}

// at returns record i (only the prefix this version knows is guaranteed).
func (f *fixedSection) at(i int) []byte { return f.body[i*f.rec : (i+1)*f.rec] }

// off returns the file offset of field fo of record i.
func (f *fixedSection) off(i, fo int) int64 {
	return f.base + recHeaderSize + int64(i)*int64(f.rec) + int64(fo)
}

// openFixed checks the record header of a fixed-record section. With exact,
// the records must fill the section; otherwise a tail may follow them.
func openFixed(b []byte, base int64, name string, minRec int, exact bool) (fixedSection, error) {
	f := fixedSection{name: name, base: base}
	if len(b) < recHeaderSize {
		return f, ferr(name, base, ErrCorrupt, "section too short for its record header")
	}
	n, rec := le.Uint32(b), le.Uint32(b[4:])
	if rec < uint32(minRec) {
		return f, ferr(name, base+4, ErrCorrupt,
			"record size "+strconv.FormatUint(uint64(rec), 10)+" is below "+strconv.Itoa(minRec))
	}
	avail := uint64(len(b) - recHeaderSize)
	need := uint64(n) * uint64(rec)
	if need > avail {
		return f, ferr(name, base, ErrOutOfBounds,
			strconv.FormatUint(uint64(n), 10)+" records do not fit in the section")
	}
	if exact && need != avail {
		return f, ferr(name, base+recHeaderSize+int64(need), ErrCorrupt, "unexpected bytes after the records")
	}
	f.n, f.rec, f.body = int(n), int(rec), b[recHeaderSize:]
	return f, nil
}

func float32frombits(v uint32) float32 { return math.Float32frombits(v) }
