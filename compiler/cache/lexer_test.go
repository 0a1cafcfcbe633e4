package cache

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"strings"
	"testing"
	"testing/iotest"
	"unicode/utf8"

	"smartrouter/compiler/diag"
)

// skipDoc validates a whole document with skipValue, reading through r.
func skipDoc(r io.Reader) error {
	return decodeStream(r, "t.json", nil, func(d *decoder) error { return d.skipValue() })
}

// readers returns the ways a test feeds input: whole, and one byte per Read
// (every token then crosses a buffer refill).
func readers(s string) map[string]io.Reader {
	return map[string]io.Reader{
		"whole":   strings.NewReader(s),
		"onebyte": iotest.OneByteReader(strings.NewReader(s)),
		"half":    iotest.HalfReader(strings.NewReader(s)),
	}
}

func TestSkipValid(t *testing.T) {
	docs := []string{
		`{}`, `[]`, `0`, `-0`, `1.5e-7`, `-12.25E+3`, `"x"`, `true`, `false`, `null`,
		` {"a" : [1, 2, {"b": null}], "c": "d\"\\\/\b\f\n\r\t\u00e9\ud83d\ude00"} `,
		"[\"\u4e2d\u6587 caf\u00e9 \U0001F600\"]",
		`{"nested": [[[[[[[]]]]]]], "e": {}, "f": [{}]}`,
		"\xEF\xBB\xBF{\"bom\": 1}",
		`[NaN, Infinity, -Infinity, 1]`,
		`"\ud800"`, // lone surrogate: accepted, decoded as U+FFFD
	}
	for _, doc := range docs {
		for name, r := range readers(doc) {
			if err := skipDoc(r); err != nil {
				t.Errorf("%s %q: %v", name, doc, err)
			}
		}
	}
}

func TestSkipInvalid(t *testing.T) {
	tests := []struct {
		doc    string
		offset int64
		msg    string
	}{
		{``, 0, "empty"},
		{`   `, 3, "truncated"},
		{`{"a": 1`, 7, "truncated"},
		{`{"a": 1,}`, 8, `'}' where a string key`},
		{`{"a" 1}`, 5, `':'`},
		{`[1 2]`, 3, `',' or ']'`},
		{`[1,]`, 3, "a value"},
		{`{"a": [1}`, 8, `',' or ']'`},
		{`01`, 1, "after the end"},
		{`1.`, 2, "truncated"},
		{`1.x`, 2, "invalid number"},
		{`-`, 1, "truncated"},
		{`1e`, 2, "truncated"},
		{`tru`, 3, "truncated"},
		{`trux`, 3, `"true"`},
		{`nul`, 3, "truncated"},
		{`"abc`, 4, "truncated"},
		{"\"a\x01\"", 2, "control character"},
		{"\"a\xff\"", 2, "UTF-8"},
		{"\"\xe4\xb8\"", 1, "UTF-8"},
		{`"\x"`, 1, "invalid escape"},
		{`"\u12g4"`, 1, `\u escape`},
		{`{"a":1} x`, 8, "after the end"},
		{`{"a":1}{}`, 7, "after the end"},
		{`<html>`, 0, "not valid JSON"},
		{"\xff", 0, "not UTF-8"},
		{`{1: 2}`, 1, "a string key"},
	}
	for _, tc := range tests {
		for name, r := range readers(tc.doc) {
			err := skipDoc(r)
			var de *diag.Error
			if !errors.As(err, &de) {
				t.Errorf("%s %q: got %v, want a *diag.Error", name, tc.doc, err)
				continue
			}
			if de.Pos.Offset != tc.offset || !strings.Contains(de.Error(), tc.msg) {
				t.Errorf("%s %q: got %q at %d, want %q at %d", name, tc.doc, de.Error(), de.Pos.Offset, tc.msg, tc.offset)
			}
		}
	}
}

func TestSkipDepthLimit(t *testing.T) {
	deep := strings.Repeat("[", maxDepth+1) + strings.Repeat("]", maxDepth+1)
	if err := skipDoc(strings.NewReader(deep)); err == nil || !strings.Contains(err.Error(), "nested") {
		t.Fatalf("got %v, want a nesting error", err)
	}
	ok := strings.Repeat("[", maxDepth) + strings.Repeat("]", maxDepth)
	if err := skipDoc(strings.NewReader(ok)); err != nil {
		t.Fatalf("depth %d: %v", maxDepth, err)
	}
}

type failReader struct{ n int }

func (f *failReader) Read(p []byte) (int, error) {
	if f.n == 0 {
		return 0, errors.New("disk on fire")
	}
	p[0] = '['
	f.n--
	return 1, nil
}

func TestReadErrorIsReported(t *testing.T) {
	err := skipDoc(&failReader{n: 3})
	var de *diag.Error
	if !errors.As(err, &de) || !strings.Contains(err.Error(), "disk on fire") || de.Pos.Offset != 3 {
		t.Fatalf("got %v", err)
	}
}

// TestStringsMatchEncodingJSON checks decoded keys and values against the
// standard library, across buffer boundaries.
func TestStringsMatchEncodingJSON(t *testing.T) {
	values := []string{
		`"plain"`, `"\u00e9\u4e2d"`, `"\ud83d\ude00 smile"`, `"tab\there"`, `"q\"b\\s\/"`,
		`"caf\u00e9 — 中文 😀"`, `"\ud83d"`, `"\ud83dx"`, `"\ude00"`, `""`,
	}
	for _, v := range values {
		var want string
		if err := json.Unmarshal([]byte(v), &want); err != nil {
			t.Fatalf("%s: %v", v, err)
		}
		doc := `{` + v + `: ` + v + `}`
		for name, r := range readers(doc) {
			var gotKey, gotVal string
			err := decodeStream(r, "t.json", nil, func(d *decoder) error {
				if err := d.topObject("x"); err != nil {
					return err
				}
				k, _, err := d.nextKey()
				if err != nil {
					return err
				}
				gotKey = string(k)
				gotVal, _, err = d.getString()
				if err != nil {
					return err
				}
				_, _, err = d.nextKey()
				return err
			})
			if err != nil || gotKey != want || gotVal != want {
				t.Errorf("%s %s: key %q value %q err %v, want %q", name, v, gotKey, gotVal, err, want)
			}
		}
	}
}

// differential checks our verdict on b against encoding/json's: the same,
// except that Python's NaN/Infinity literals and a leading BOM are accepted
// and invalid UTF-8 is rejected.
func differential(t *testing.T, b []byte) {
	err := skipDoc(bytes.NewReader(b))
	ok := json.Valid(b) && utf8.Valid(b) // encoding/json tolerates bad UTF-8; we do not
	if ok && err != nil {
		t.Fatalf("valid JSON rejected: %q: %v", b, err)
	}
	if !ok && err == nil {
		if !bytes.Contains(b, []byte("NaN")) && !bytes.Contains(b, []byte("Infinity")) && !bytes.HasPrefix(b, []byte("\xEF\xBB\xBF")) {
			t.Fatalf("invalid JSON accepted: %q", b)
		}
	}
	if err != nil {
		var de *diag.Error
		if !errors.As(err, &de) {
			t.Fatalf("error is not a *diag.Error: %v", err)
		}
		if de.Pos.Offset < 0 || de.Pos.Offset > int64(len(b)) {
			t.Fatalf("offset %d outside input of %d bytes", de.Pos.Offset, len(b))
		}
	}
	err2 := skipDoc(iotest.OneByteReader(bytes.NewReader(b)))
	if (err == nil) != (err2 == nil) || (err != nil && err.Error() != err2.Error()) {
		t.Fatalf("chunking changed the result: %v vs %v", err, err2)
	}
}

func FuzzSkip(f *testing.F) {
	for _, s := range []string{`{"a":[1,2.5e3,"x\u00e9"],"b":null}`, `[true,false]`, `"\ud83d\ude00"`, `{"a":1,}`, `[NaN]`, "\"\xff\"", `-0.0e-0`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) { differential(t, b) })
}
