package usage

import (
	"encoding/binary"
	"errors"
	"math"
	"time"
	"unicode/utf8"
)

// Record is one request as the ledger keeps it. Strings are heap copies: a
// Record may outlive the request and the snapshot it came from.
type Record struct {
	Time           time.Time // when the request ended (for a stream: when the relay ended)
	RequestID      string
	Key            string // the client key's name; "" for the shared token or when auth is off
	Surface        string // chat, messages, gemini, embeddings, completions
	ModelRequested string // the model string the client sent
	Channel        string // channel id of the last attempt; "" when none was made
	ModelUsed      string // model id of the last attempt; "" when none was made
	Attempts       int    // upstream attempts made
	Status         int    // HTTP status sent to the client
	ErrorCode      string // the error code of the answer; "" on success
	InputTokens    int64
	OutputTokens   int64
	CostUSD        float64
	UpstreamMs     float64 // time in upstream calls (a stream's: until its first chunk)
	OverheadMs     float64 // the router's own time
	Stream         bool
}

// Field names a string field of an Entry.
type Field uint8

// The string fields of an Entry, in their storage order.
const (
	FieldRequestID Field = iota
	FieldKey
	FieldSurface
	FieldModelRequested
	FieldChannel
	FieldModelUsed
	FieldErrorCode
	numFields
)

// fieldCap is the most bytes an Entry keeps of each string field; longer
// values are cut (at a UTF-8 boundary). The caps hold every request id the
// server accepts (128 bytes) and model strings far longer than real ones.
var fieldCap = [numFields]int{128, 64, 16, 200, 64, 200, 48}

// fieldOff is where each field starts in Entry.buf.
var fieldOff = func() (o [numFields + 1]int) {
	for i := range numFields {
		o[i+1] = o[i] + fieldCap[i]
	}
	return o
}()

const entryBuf = 720 // sum of fieldCap

// Entry is a Record in a fixed-size value: its strings are copied into an
// array of its own, so that filling one and handing it to a Recorder or a
// Ledger allocates nothing, whatever memory the strings came from (the
// request's buffers, the snapshot's mapping). Build one on the stack or in
// a pooled struct, set its fields, and pass a pointer; the receiver copies
// it before returning.
type Entry struct {
	Time         int64 // Unix nanoseconds
	Attempts     int32
	Status       int32
	InputTokens  int64
	OutputTokens int64
	CostUSD      float64
	UpstreamMs   float64
	OverheadMs   float64
	Stream       bool

	uid int64 // the ledger's unique id of the record (set by Enqueue; replays insert it once)
	n   [numFields]uint8
	buf [entryBuf]byte
}

// Set copies s into field f (cut to the field's cap).
func (e *Entry) Set(f Field, s string) {
	n := cutLen(s, fieldCap[f])
	e.n[f] = uint8(copy(e.buf[fieldOff[f]:fieldOff[f]+n], s[:n]))
}

// SetBytes copies b into field f (cut to the field's cap).
func (e *Entry) SetBytes(f Field, b []byte) {
	n := cutLenBytes(b, fieldCap[f])
	e.n[f] = uint8(copy(e.buf[fieldOff[f]:fieldOff[f]+n], b[:n]))
}

// Bytes returns field f; the slice aliases the Entry.
func (e *Entry) Bytes(f Field) []byte {
	return e.buf[fieldOff[f] : fieldOff[f]+int(e.n[f])]
}

// Str returns a copy of field f.
func (e *Entry) Str(f Field) string { return string(e.Bytes(f)) }

// Reset clears every field.
func (e *Entry) Reset() { *e = Entry{} }

// Record returns the entry as a Record (its strings are copies).
func (e *Entry) Record() Record {
	return Record{
		Time:           time.Unix(0, e.Time).UTC(),
		RequestID:      e.Str(FieldRequestID),
		Key:            e.Str(FieldKey),
		Surface:        e.Str(FieldSurface),
		ModelRequested: e.Str(FieldModelRequested),
		Channel:        e.Str(FieldChannel),
		ModelUsed:      e.Str(FieldModelUsed),
		Attempts:       int(e.Attempts),
		Status:         int(e.Status),
		ErrorCode:      e.Str(FieldErrorCode),
		InputTokens:    e.InputTokens,
		OutputTokens:   e.OutputTokens,
		CostUSD:        e.CostUSD,
		UpstreamMs:     e.UpstreamMs,
		OverheadMs:     e.OverheadMs,
		Stream:         e.Stream,
	}
}

// FromRecord fills e from r (strings cut to the field caps).
func (e *Entry) FromRecord(r *Record) {
	*e = Entry{Time: r.Time.UnixNano(), Attempts: int32(r.Attempts), Status: int32(r.Status),
		InputTokens: r.InputTokens, OutputTokens: r.OutputTokens, CostUSD: r.CostUSD,
		UpstreamMs: r.UpstreamMs, OverheadMs: r.OverheadMs, Stream: r.Stream}
	e.Set(FieldRequestID, r.RequestID)
	e.Set(FieldKey, r.Key)
	e.Set(FieldSurface, r.Surface)
	e.Set(FieldModelRequested, r.ModelRequested)
	e.Set(FieldChannel, r.Channel)
	e.Set(FieldModelUsed, r.ModelUsed)
	e.Set(FieldErrorCode, r.ErrorCode)
}

// cutLen is how many bytes of s fit in max without splitting a UTF-8
// sequence.
func cutLen(s string, max int) int {
	if len(s) <= max {
		return len(s)
	}
	n := max
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return n
}

func cutLenBytes(b []byte, max int) int {
	if len(b) <= max {
		return len(b)
	}
	n := max
	for n > 0 && !utf8.RuneStart(b[n]) {
		n--
	}
	return n
}

// The binary form of an Entry (journal and spill files): a fixed header of
// the numbers, then each string as a length byte and its bytes.
const (
	encVersion = 1
	encFixed   = 1 + 8 + 4 + 4 + 8 + 8 + 8 + 8 + 8 + 1 + 8
	// MaxEncoded is the largest encoded Entry.
	MaxEncoded = encFixed + int(numFields) + entryBuf
)

var le = binary.LittleEndian

// encodedLen is the length of e's binary form.
func (e *Entry) encodedLen() int {
	n := encFixed + int(numFields)
	for _, k := range e.n {
		n += int(k)
	}
	return n
}

// AppendBinary appends the binary form of e to b.
func (e *Entry) AppendBinary(b []byte) []byte {
	b = append(b, encVersion)
	b = le.AppendUint64(b, uint64(e.Time))
	b = le.AppendUint32(b, uint32(e.Attempts))
	b = le.AppendUint32(b, uint32(e.Status))
	b = le.AppendUint64(b, uint64(e.InputTokens))
	b = le.AppendUint64(b, uint64(e.OutputTokens))
	b = le.AppendUint64(b, math.Float64bits(e.CostUSD))
	b = le.AppendUint64(b, math.Float64bits(e.UpstreamMs))
	b = le.AppendUint64(b, math.Float64bits(e.OverheadMs))
	if e.Stream {
		b = append(b, 1)
	} else {
		b = append(b, 0)
	}
	b = le.AppendUint64(b, uint64(e.uid))
	for f := range numFields {
		b = append(b, e.n[f])
		b = append(b, e.Bytes(f)...)
	}
	return b
}

// errEncoding is returned for bytes that are not an encoded Entry.
var errEncoding = errors.New("not a usage entry (corrupt or of another version)")

// DecodeBinary reads an Entry written by AppendBinary; b must hold exactly
// one.
func (e *Entry) DecodeBinary(b []byte) error {
	if len(b) < encFixed+int(numFields) || b[0] != encVersion {
		return errEncoding
	}
	*e = Entry{
		Time:         int64(le.Uint64(b[1:])),
		Attempts:     int32(le.Uint32(b[9:])),
		Status:       int32(le.Uint32(b[13:])),
		InputTokens:  int64(le.Uint64(b[17:])),
		OutputTokens: int64(le.Uint64(b[25:])),
		CostUSD:      math.Float64frombits(le.Uint64(b[33:])),
		UpstreamMs:   math.Float64frombits(le.Uint64(b[41:])),
		OverheadMs:   math.Float64frombits(le.Uint64(b[49:])),
	}
	switch b[57] {
	case 0:
	case 1:
		e.Stream = true
	default:
		return errEncoding
	}
	e.uid = int64(le.Uint64(b[58:]))
	p := b[encFixed:]
	for f := range numFields {
		if len(p) < 1 {
			return errEncoding
		}
		n := int(p[0])
		if n > fieldCap[f] || len(p) < 1+n {
			return errEncoding
		}
		e.n[f] = uint8(copy(e.buf[fieldOff[f]:], p[1:1+n]))
		p = p[1+n:]
	}
	if len(p) != 0 {
		return errEncoding
	}
	return nil
}
