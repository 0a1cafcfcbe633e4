package jsonstr

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
)

// The encoder must agree with encoding/json: whatever Append writes decodes to
// the string encoding/json would have written for the same input.
func check(t *testing.T, s string) {
	t.Helper()
	var got, want string
	if err := json.Unmarshal(Append(nil, s), &got); err != nil {
		t.Fatalf("Append(%q) is not JSON: %v (%s)", s, err, Append(nil, s))
	}
	std, _ := json.Marshal(s)
	if err := json.Unmarshal(std, &want); err != nil {
		t.Fatal(err)
	}
	if got != want {
		t.Fatalf("Append(%q) decodes to %q, encoding/json to %q", s, got, want)
	}
}

func TestAppend(t *testing.T) {
	for _, s := range []string{"", "plain", `quote " and \ slash`, "ctl \x00\x01\x1f\n\r\t", "<b>&amp;</b>",
		"line\u2028sep\u2029", "bad \xff\xfe utf8", "中文 ✓", "\xed\xa0\x80"} {
		check(t, s)
	}
	if got := string(Append([]byte("x="), "<a>")); got != `x="\u003ca\u003e"` {
		t.Fatalf("got %s", got)
	}
}

func TestAppendDecodesAndEscapesHTML(t *testing.T) {
	for _, s := range []string{"", "plain", `q"b\s`, "ctl\x00\x1f\n\r\t", "<a&b>", "é中😀", "bad\xffutf8", "\u2028\u2029"} {
		b := Append(nil, s)
		var got string
		if err := json.Unmarshal(b, &got); err != nil {
			t.Errorf("%q -> %s: %v", s, b, err)
			continue
		}
		want := strings.ToValidUTF8(s, "\ufffd")
		if got != want {
			t.Errorf("%q -> %s -> %q", s, b, got)
		}
		if bytes.ContainsAny(b, "<>&") {
			t.Errorf("%s not escaped for HTML", b)
		}
	}
}

func TestAppendAllocs(t *testing.T) {
	buf := make([]byte, 0, 256)
	if n := testing.AllocsPerRun(100, func() { buf = Append(buf[:0], "hello \"world\" <tag>") }); n != 0 {
		t.Fatalf("Append allocates %v times into a large enough buffer", n)
	}
}

func FuzzAppend(f *testing.F) {
	f.Add("hello")
	f.Add("\xff\"\\\u2028<")
	f.Fuzz(func(t *testing.T, s string) { check(t, s) })
}
