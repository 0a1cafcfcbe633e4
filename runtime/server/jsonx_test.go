package server

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"unicode/utf8"

	"smartrouter/runtime/jsonstr"
)

func cutAll(body string) string {
	return string(appendWithout(nil, []byte(body), reasoningSpans(nil, []byte(body))))
}

func TestReasoningSpans(t *testing.T) {
	cases := []struct{ name, in, want string }{
		{"block and blank lines", `{"choices":[{"message":{"content":"<think>a\nb</think>\n\nanswer"}}]}`,
			`{"choices":[{"message":{"content":"answer"}}]}`},
		{"two choices, two blocks", `{"choices":[{"message":{"content":"<think>x</think> A <think>y</think>B"}},{"message":{"content":"<think></think>C"}}]}`,
			`{"choices":[{"message":{"content":"A B"}},{"message":{"content":"C"}}]}`},
		{"unclosed block kept", `{"choices":[{"message":{"content":"<think>never closed"}}]}`,
			`{"choices":[{"message":{"content":"<think>never closed"}}]}`},
		{"no block", `{"choices":[{"message":{"content":"plain"}}]}`, `{"choices":[{"message":{"content":"plain"}}]}`},
		{"null content", `{"choices":[{"message":{"content":null,"tool_calls":[]}}]}`, `{"choices":[{"message":{"content":null,"tool_calls":[]}}]}`},
		{"markers outside content untouched", `{"x":"<think>k</think>","choices":[{"message":{"role":"<think>r</think>","content":"c"}}]}`,
			`{"x":"<think>k</think>","choices":[{"message":{"role":"<think>r</think>","content":"c"}}]}`},
		{"escaped quote inside", `{"choices":[{"message":{"content":"<think>say \"hi\"</think>\tok \"yes\""}}]}`,
			`{"choices":[{"message":{"content":"ok \"yes\""}}]}`},
		{"whitespace everywhere", "{ \"choices\" : [ { \"message\" : { \"content\" : \"<think>z</think>\\r\\nq\" } } ] }",
			"{ \"choices\" : [ { \"message\" : { \"content\" : \"q\" } } ] }"},
		{"malformed answer untouched", `{"choices":[{"message":{"content":"<think>z</think>q"}}`, `{"choices":[{"message":{"content":"<think>z</think>q"}}`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := cutAll(tc.in); got != tc.want {
				t.Errorf("\n got %s\nwant %s", got, tc.want)
			}
		})
	}
}

func TestSpliceEnd(t *testing.T) {
	cases := []struct {
		in       string
		at       int
		nonEmpty bool
	}{
		{`{"a":1}`, 6, true},
		{"{\"a\":1}\n  ", 6, true},
		{`{}`, 1, false},
		{`{ }`, 2, false},
		{`[1]`, -1, false},
		{``, -1, false},
		{`}`, -1, false},
	}
	for _, tc := range cases {
		at, ne := spliceEnd([]byte(tc.in))
		if at != tc.at || ne != tc.nonEmpty {
			t.Errorf("spliceEnd(%q) = %d, %v; want %d, %v", tc.in, at, ne, tc.at, tc.nonEmpty)
		}
	}
}

func TestAppendJSONString(t *testing.T) {
	for _, s := range []string{"", "plain", `q"b\s`, "ctl\x00\x1f\n\r\t", "<a&b>", "é中😀", "bad\xffutf8", "\u2028\u2029"} {
		b := jsonstr.Append(nil, s)
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

func TestAppendFloat(t *testing.T) {
	for _, c := range []struct {
		f    float64
		prec int
		want string
	}{{1.5, 3, "1.5"}, {2, 3, "2"}, {0.0000012345, 10, "0.0000012345"}, {0.1234567, 4, "0.1235"}, {0, 4, "0"}} {
		if got := string(appendFloat(nil, c.f, c.prec)); got != c.want {
			t.Errorf("appendFloat(%v, %d) = %s, want %s", c.f, c.prec, got, c.want)
		}
	}
}

// FuzzAnswerEdit feeds arbitrary upstream answers through the byte-level
// edits of the response path: no panic, and a valid JSON answer stays valid
// JSON after the reasoning cut and the metadata splice.
func FuzzAnswerEdit(f *testing.F) {
	for _, s := range []string{
		`{"choices":[{"message":{"content":"<think>a</think>\nb"}}],"usage":{"prompt_tokens":1}}`,
		`{}`, `{"choices":[]}`, `{"choices":[{"message":{"content":"x\\"}}]}`, `[`, `{"choices":[{"message":5}]}`,
		`{"choices":[{"message":{"content":"<think>\u003c/think></think>"}}]}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		if u := parseUsage(b, 0); u.PromptTokens < 0 || u.CompletionTokens < 0 || u.TotalTokens < 0 {
			t.Fatalf("negative usage %+v", u)
		}
		parseUsage(b, -1)
		cut := reasoningSpans(nil, b)
		prev := 0
		for _, c := range cut {
			if c.s < prev || c.e < c.s || c.e > len(b) {
				t.Fatalf("bad span %v after %d in %d bytes", c, prev, len(b))
			}
			prev = c.e
		}
		out := appendWithout(nil, b, cut)
		at, nonEmpty := spliceEnd(out)
		if at >= 0 {
			meta := []byte(`"smart_ai_router":{}`)
			if nonEmpty {
				meta = append([]byte{','}, meta...)
			}
			out = append(append(append([]byte(nil), out[:at]...), meta...), out[at:]...)
		}
		if json.Valid(b) && !json.Valid(out) {
			t.Fatalf("valid answer became invalid:\n in %s\nout %s", b, out)
		}
		if json.Valid(b) && utf8.Valid(b) && at < 0 && len(bytes.TrimSpace(b)) > 0 && b[0] == '{' {
			t.Fatalf("no splice point in an object: %s", b)
		}
	})
}

func TestValidRequestID(t *testing.T) {
	for s, want := range map[string]bool{"abc-123_x.y:z": true, "": false, strings.Repeat("a", 129): false,
		"a b": false, "a\nb": false, "ü": false} {
		if got := validRequestID([]byte(s)); got != want {
			t.Errorf("validRequestID(%q) = %v", s, got)
		}
	}
}

func TestParseUsage(t *testing.T) {
	cases := []struct {
		in   string
		at   int
		want [3]int64
	}{
		{`{"id":"x","usage":{"prompt_tokens":12,"completion_tokens":3,"total_tokens":15}}`, 0, [3]int64{12, 3, 15}},
		{`{"prompt_tokens":7,"completion_tokens":1,"total_tokens":8,"prompt_tokens_details":{"cached_tokens":2}}`, -1, [3]int64{7, 1, 8}},
		{`{"usage":null}`, 0, [3]int64{}},
		{`{"usage":{"prompt_tokens":"12","completion_tokens":-1,"total_tokens":1.5}}`, 0, [3]int64{}},
		{`{"choices":[]}`, 0, [3]int64{}},
		{`not json`, 0, [3]int64{}},
		{`{"usage":{"prompt_tokens":99999999999999999999999}}`, 0, [3]int64{}},
	}
	for _, tc := range cases {
		u := parseUsage([]byte(tc.in), tc.at)
		if got := [3]int64{u.PromptTokens, u.CompletionTokens, u.TotalTokens}; got != tc.want {
			t.Errorf("parseUsage(%s) = %v, want %v", tc.in, got, tc.want)
		}
	}
}
