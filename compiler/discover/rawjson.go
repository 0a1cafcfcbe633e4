package discover

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
)

// member is one member of a JSON object: its decoded name and its value's
// bytes exactly as they were.
type member struct {
	Name string
	Raw  []byte
}

// splitObject splits a JSON object into its members without decoding their
// values, so that values this package does not manage are written back as
// they were (including what Python's json writes and encoding/json refuses,
// such as NaN). It checks the object's structure (strings, brackets,
// separators), not the numbers or literals inside the values.
func splitObject(b []byte) ([]member, error) {
	i := skipWS(b, 0)
	if i >= len(b) || b[i] != '{' {
		return nil, errors.New("not a JSON object")
	}
	i = skipWS(b, i+1)
	var out []member
	if i < len(b) && b[i] == '}' {
		if j := skipWS(b, i+1); j != len(b) {
			return nil, fmt.Errorf("unexpected bytes after the object at offset %d", j)
		}
		return out, nil
	}
	for {
		if i >= len(b) || b[i] != '"' {
			return nil, fmt.Errorf("expected a member name at offset %d", i)
		}
		end, err := stringEnd(b, i)
		if err != nil {
			return nil, err
		}
		var name string
		if err := json.Unmarshal(b[i:end], &name); err != nil {
			return nil, fmt.Errorf("bad member name at offset %d", i)
		}
		i = skipWS(b, end)
		if i >= len(b) || b[i] != ':' {
			return nil, fmt.Errorf("expected ':' at offset %d", i)
		}
		i = skipWS(b, i+1)
		vEnd, err := valueEnd(b, i)
		if err != nil {
			return nil, err
		}
		out = append(out, member{Name: name, Raw: b[i:vEnd]})
		i = skipWS(b, vEnd)
		if i >= len(b) {
			return nil, errors.New("the object is not closed (truncated file?)")
		}
		switch b[i] {
		case ',':
			i = skipWS(b, i+1)
		case '}':
			if j := skipWS(b, i+1); j != len(b) {
				return nil, fmt.Errorf("unexpected bytes after the object at offset %d", j)
			}
			return out, nil
		default:
			return nil, fmt.Errorf("expected ',' or '}' at offset %d", i)
		}
	}
}

func skipWS(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
}

// stringEnd returns the offset after the string that starts at b[i] == '"'.
func stringEnd(b []byte, i int) (int, error) {
	for j := i + 1; j < len(b); {
		k := bytes.IndexByte(b[j:], '"')
		if k < 0 {
			break
		}
		q := j + k
		// The quote closes the string unless an odd run of backslashes
		// escapes it.
		n := 0
		for p := q - 1; p > i && b[p] == '\\'; p-- {
			n++
		}
		if n%2 == 0 {
			return q + 1, nil
		}
		j = q + 1
	}
	return 0, fmt.Errorf("string at offset %d is not closed (truncated file?)", i)
}

// valueEnd returns the offset after the value that starts at b[i].
func valueEnd(b []byte, i int) (int, error) {
	if i >= len(b) {
		return 0, errors.New("missing value (truncated file?)")
	}
	switch b[i] {
	case '"':
		return stringEnd(b, i)
	case '{', '[':
		depth := 0
		for j := i; j < len(b); j++ {
			switch b[j] {
			case '"':
				e, err := stringEnd(b, j)
				if err != nil {
					return 0, err
				}
				j = e - 1
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					return j + 1, nil
				}
			}
		}
		return 0, fmt.Errorf("value at offset %d is not closed (truncated file?)", i)
	case ',', '}', ']', ':':
		return 0, fmt.Errorf("missing value at offset %d", i)
	}
	j := i
	for j < len(b) && !bytes.ContainsRune([]byte(" \t\r\n,}]"), rune(b[j])) {
		j++
	}
	return j, nil
}

// objectWriter writes a JSON object with one member per line.
type objectWriter struct {
	buf   bytes.Buffer
	first bool
	ind   string
}

func newObject(indent string) *objectWriter {
	o := &objectWriter{first: true, ind: indent}
	o.buf.WriteByte('{')
	return o
}

func (o *objectWriter) raw(name string, raw []byte) {
	if !o.first {
		o.buf.WriteByte(',')
	}
	o.first = false
	o.buf.WriteString("\n" + o.ind + "  ")
	q, _ := json.Marshal(name) // a string: cannot fail
	o.buf.Write(q)
	o.buf.WriteString(": ")
	o.buf.Write(raw)
}

func (o *objectWriter) value(name string, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		b = []byte("null") // only plain values are passed: cannot happen
	}
	o.raw(name, b)
}

func (o *objectWriter) bytes() []byte {
	if !o.first {
		o.buf.WriteString("\n" + o.ind)
	}
	o.buf.WriteByte('}')
	return o.buf.Bytes()
}

func find(ms []member, name string) []byte {
	for i := range ms {
		if ms[i].Name == name {
			return ms[i].Raw
		}
	}
	return nil
}
