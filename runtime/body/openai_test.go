package body

import (
	"bytes"
	"encoding/json"
	"errors"
	"reflect"
	"regexp"
	"slices"
	"testing"
	"unicode/utf8"
)

func TestParseOpenAIChat(t *testing.T) {
	tests := []struct {
		name string
		body string
		want Features
	}{
		{"plain text: 1 per 4 characters + 4 per message",
			`{"model":"gpt-4o","messages":[{"role":"user","content":"abcdefgh"},{"role":"assistant","content":"abc"}]}`,
			Features{Model: "gpt-4o", Messages: 2, InputTokens: (2 + 4) + (0 + 4), HasMessages: true}},
		{"CJK characters count 1 each, escaped or not",
			`{"model":"m","messages":[{"role":"user","content":"你好世界 ab\u4f60"}]}`,
			Features{Model: "m", Messages: 1, InputTokens: 5 + 0 + 4, HasMessages: true}}, // 5 CJK; " ab" is 3 others, rounded down to 0
		{"content parts: text counted, image_url needs vision",
			`{"model":"m","messages":[{"role":"user","content":[{"type":"text","text":"12345678"},{"type":"image_url","image_url":{"url":"data:..."}}]}]}`,
			Features{Model: "m", Messages: 1, InputTokens: 2 + 4, NeedVision: true, HasMessages: true}},
		{"tools non-empty needs tools; max_tokens; stream",
			`{"model":"m","stream":true,"max_tokens":256,"tools":[{"type":"function"}],"messages":[]}`,
			Features{Model: "m", MaxTokens: 256, NeedTools: true, Stream: true, HasMessages: true}},
		{"empty tools and functions do not need tools",
			`{"model":"m","tools":[],"functions":[],"messages":[{"content":null}]}`,
			Features{Model: "m", Messages: 1, InputTokens: 4, HasMessages: true}},
		{"functions non-empty needs tools; max_completion_tokens when max_tokens is absent",
			`{"functions":[{"name":"f"}],"max_completion_tokens":99,"model":"m","messages":[{"content":"x"}]}`,
			Features{Model: "m", Messages: 1, InputTokens: 4, MaxTokens: 99, NeedTools: true, HasMessages: true}},
		{"max_tokens wins over max_completion_tokens; a float is ignored",
			`{"max_completion_tokens":99,"max_tokens":7,"model":"m","messages":[]}`,
			Features{Model: "m", MaxTokens: 7, HasMessages: true}},
		{"non-integer max_tokens is absent",
			`{"max_tokens":1.5,"model":"m","messages":[]}`,
			Features{Model: "m", HasMessages: true}},
		{"escaped model and keys, nested unknown members skipped",
			`{"mod\u0065l":"a\/b","x":{"y":[1,2,{"z":"]}"}]},"messages":[{"content":"abcd","name":"n"}]}`,
			Features{Model: "a/b", Messages: 1, InputTokens: 1 + 4, HasMessages: true}},
		{"no messages", `{"model":"m"}`, Features{Model: "m"}},
		{"surrogate pair is one character", `{"messages":[{"content":"\ud83d\ude00abc"}]}`,
			Features{Messages: 1, InputTokens: 1 + 4, HasMessages: true}},
	}
	for _, tt := range tests {
		got, err := ParseOpenAIChat([]byte(tt.body))
		if err != nil {
			t.Errorf("%s: %v", tt.name, err)
			continue
		}
		if got != tt.want {
			t.Errorf("%s:\n got %+v\nwant %+v", tt.name, got, tt.want)
		}
	}
	for _, bad := range []string{``, `[]`, `{"model":}`, `{"messages":[{"content":"x"}`, `{"a":1} x`, "{\"a\":\"\n\"}", `{"a" 1}`,
		`{"model":"m","messages":[],"n":01}`, `{"model":"m","x":nul}`, `{"model":"\q","messages":[]}`, `{"messages":[1,]}`,
		`{"stream":tru}`, `{"max_tokens":1.}`, `{"messages":[{"content":[{"type":"text","text":"a"},]}]}`} {
		var se *SyntaxError
		if _, err := ParseOpenAIChat([]byte(bad)); !errors.As(err, &se) {
			t.Errorf("%q: err = %v, want a *SyntaxError", bad, err)
		}
	}
	n, err := OpenAIMessagesTokens([]byte(`[{"content":"abcdefgh"},{"content":"日本"}]`))
	if err != nil || n != (2+4)+(2+4) {
		t.Errorf("OpenAIMessagesTokens = %d, %v", n, err)
	}
	if n, err := OpenAIMessagesTokens([]byte(` null `)); err != nil || n != 0 {
		t.Errorf("OpenAIMessagesTokens(null) = %d, %v", n, err)
	}
	if _, err := OpenAIMessagesTokens([]byte(`[{"content":"a"}] x`)); err == nil {
		t.Error("OpenAIMessagesTokens accepted trailing data")
	}
}

// reference computes Features with encoding/json, for valid JSON.
func reference(body []byte) (Features, bool) {
	var top map[string]json.RawMessage
	if json.Unmarshal(body, &top) != nil {
		return Features{}, false
	}
	var f Features
	_ = json.Unmarshal(top["model"], &f.Model)
	var stream bool
	if json.Unmarshal(top["stream"], &stream) == nil {
		f.Stream = stream
	}
	nonEmpty := func(raw json.RawMessage) bool {
		var a []json.RawMessage
		return json.Unmarshal(raw, &a) == nil && len(a) > 0
	}
	f.NeedTools = nonEmpty(top["tools"]) || nonEmpty(top["functions"])
	plainInt := regexp.MustCompile(`^(0|[1-9][0-9]*)$`)
	readInt := func(raw json.RawMessage) (int, bool) {
		var n json.Number
		if json.Unmarshal(raw, &n) != nil || !plainInt.MatchString(string(n)) || len(n) > 10 {
			return 0, false
		}
		var v int
		_ = json.Unmarshal(raw, &v)
		return v, v <= maxTokensLimit
	}
	if v, ok := readInt(top["max_tokens"]); ok {
		f.MaxTokens = v
	} else if v, ok := readInt(top["max_completion_tokens"]); ok {
		f.MaxTokens = v
	}
	var msgs []json.RawMessage
	if json.Unmarshal(top["messages"], &msgs) == nil && top["messages"] != nil && string(top["messages"]) != "null" {
		f.HasMessages = true
		f.Messages = len(msgs)
		for _, m := range msgs {
			var obj map[string]json.RawMessage
			var cjk, other int
			if json.Unmarshal(m, &obj) == nil {
				count := func(s string) {
					for _, r := range s {
						if isCJK(r) {
							cjk++
						} else {
							other++
						}
					}
				}
				var s string
				var parts []json.RawMessage
				if json.Unmarshal(obj["content"], &s) == nil {
					count(s)
				} else if json.Unmarshal(obj["content"], &parts) == nil {
					for _, p := range parts {
						var po map[string]json.RawMessage
						if json.Unmarshal(p, &po) != nil {
							continue
						}
						var typ, text string
						_ = json.Unmarshal(po["type"], &typ)
						if typ == "image_url" {
							f.NeedVision = true
						}
						if json.Unmarshal(po["text"], &text) == nil {
							count(text)
						}
					}
				}
			}
			f.InputTokens += cjk + other/4 + 4
		}
	}
	return f, true
}

func FuzzParseOpenAIChat(f *testing.F) {
	for _, s := range []string{
		`{"model":"gpt-4o","messages":[{"role":"user","content":"hello 你好"}]}`,
		`{"model":"m","messages":[{"content":[{"type":"image_url","image_url":{"url":"x"}},{"type":"text","text":"abc"}]}],"tools":[{}],"max_tokens":10}`,
		`{"messages":[{"content":"\ud83d\ude00\u4f60"}],"max_completion_tokens":5,"stream":true}`,
		`{"a":[[[[{}]]]],"messages":null}`,
		`{"model":"m","messages":[1,"x",{"content":{"a":1}}]}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		got, err := ParseOpenAIChat(body)
		var top map[string]json.RawMessage
		object := json.Unmarshal(body, &top) == nil && top != nil
		if err != nil {
			var se *SyntaxError
			if !errors.As(err, &se) {
				t.Fatalf("error %v is not a *SyntaxError", err)
			}
			if json.Valid(body) && object {
				t.Fatalf("valid object %.200q refused: %v", body, err)
			}
			return
		}
		if !json.Valid(body) || !object {
			t.Fatalf("accepted %.200q, which is not a valid JSON object", body)
		}
		if !utf8.Valid(body) {
			return // encoding/json decodes invalid UTF-8 to U+FFFD, counted differently
		}
		// Duplicate keys and escaped member names are rare in practice and
		// change "last wins" details; compare only simple bodies.
		if dupOrEscapedKeys(body) {
			return
		}
		want, ok := reference(body)
		if !ok {
			return
		}
		if got != want {
			t.Fatalf("body %.200q:\n got %+v\nwant %+v", body, got, want)
		}
	})
}

// dupOrEscapedKeys reports whether any object in body repeats a member name
// or spells one with an escape.
func dupOrEscapedKeys(body []byte) bool {
	// A member name repeated inside one object, or a backslash before a
	// colon, is enough to skip the body.
	dec := json.NewDecoder(bytes.NewReader(body))
	var stack []map[string]bool
	expectKey := []bool{}
	for {
		tok, err := dec.Token()
		if err != nil {
			break
		}
		switch tk := tok.(type) {
		case json.Delim:
			switch tk {
			case '{':
				stack = append(stack, map[string]bool{})
				expectKey = append(expectKey, true)
				continue
			case '[':
				stack = append(stack, nil)
				expectKey = append(expectKey, false)
				continue
			default:
				stack = stack[:len(stack)-1]
				expectKey = expectKey[:len(expectKey)-1]
			}
		case string:
			if n := len(stack); n > 0 && stack[n-1] != nil && expectKey[n-1] {
				if stack[n-1][tk] {
					return true
				}
				stack[n-1][tk] = true
				expectKey[n-1] = false
				continue
			}
		}
		if n := len(stack); n > 0 && stack[n-1] != nil {
			expectKey[n-1] = true
		}
	}
	return regexp.MustCompile(`\\[^"]*"\s*:`).Match(body)
}

func TestOpenAIRequestUsage(t *testing.T) {
	tests := []struct {
		name, body, want string
		added            bool
	}{
		{"absent", `{"model":"a","stream":true}`, `{"model":"a","stream":true,"stream_options":{"include_usage":true}}`, true},
		{"absent, whitespace before brace", "{\"model\":\"a\" \n}", "{\"model\":\"a\" \n,\"stream_options\":{\"include_usage\":true}}", true},
		{"empty body object", `{}`, `{"stream_options":{"include_usage":true}}`, true},
		{"null", `{"stream_options":null,"model":"a"}`, `{"stream_options":{"include_usage":true},"model":"a"}`, true},
		{"empty options", `{"stream_options":{ }}`, `{"stream_options":{ "include_usage":true}}`, true},
		{"other option kept", `{"stream_options":{"x":1}}`, `{"stream_options":{"x":1,"include_usage":true}}`, true},
		{"client asked", `{"stream_options":{"include_usage":true},"model":"a"}`, `{"stream_options":{"include_usage":true},"model":"a"}`, false},
		{"client asked, spaced", `{"stream_options": { "include_usage" : true } }`, `{"stream_options": { "include_usage" : true } }`, false},
		{"client said false", `{"stream_options":{"include_usage":false,"y":2}}`, `{"stream_options":{"include_usage":true,"y":2}}`, true},
		{"client said null", `{"stream_options":{"include_usage":null}}`, `{"stream_options":{"include_usage":true}}`, true},
		{"not an object: left alone", `{"stream_options":"x"}`, `{"stream_options":"x"}`, false},
		{"nested stream_options ignored", `{"m":{"stream_options":null}}`, `{"m":{"stream_options":null},"stream_options":{"include_usage":true}}`, true},
		{"duplicates: last decides", `{"stream_options":{"include_usage":true},"stream_options":{}}`,
			`{"stream_options":{"include_usage":true},"stream_options":{"include_usage":true}}`, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, added, err := OpenAIRequestUsage(nil, []byte(tt.body))
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != tt.want || added != tt.added {
				t.Errorf("got %s added=%v\nwant %s added=%v", got, added, tt.want, tt.added)
			}
		})
	}
	if _, _, err := OpenAIRequestUsage(nil, []byte(`{"a":}`)); err == nil {
		t.Error("invalid JSON accepted")
	}
}

// checkRewrite is the oracle shared by the fuzz target and its seeds: for a
// body encoding/json accepts as an object with "model", the rewrite decodes
// to the same object with the new model; any other body is refused.
func checkRewrite(t *testing.T, body []byte, model string) {
	out, err := RewriteModel(nil, body, model)
	var orig map[string]any
	valid := json.Valid(body) && json.Unmarshal(body, &orig) == nil && orig != nil
	_, hasModel := orig["model"]
	if !valid || !hasModel {
		if err == nil {
			t.Fatalf("RewriteModel accepted %q (valid object: %v, model: %v)", body, valid, hasModel)
		}
		return
	}
	if err != nil {
		t.Fatalf("RewriteModel(%q): %v", body, err)
	}
	var got map[string]any
	if err := json.Unmarshal(out, &got); err != nil {
		t.Fatalf("rewritten body %q does not decode: %v", out, err)
	}
	var wantModel any
	mb, _ := json.Marshal(model)
	_ = json.Unmarshal(mb, &wantModel)
	if got["model"] != wantModel {
		t.Fatalf("model = %#v, want %#v", got["model"], wantModel)
	}
	delete(got, "model")
	delete(orig, "model")
	if !reflect.DeepEqual(got, orig) {
		t.Fatalf("rewrite changed other members:\n in  %q\n out %q", body, out)
	}
	// The usage edit obeys the same oracle.
	uout, added, err := OpenAIRequestUsage(nil, body)
	if err != nil {
		t.Fatalf("OpenAIRequestUsage(%q): %v", body, err)
	}
	var u map[string]any
	if err := json.Unmarshal(uout, &u); err != nil {
		t.Fatalf("RequestUsage output %q does not decode: %v", uout, err)
	}
	so, isObj := orig["stream_options"].(map[string]any)
	origSO, present := orig["stream_options"]
	switch {
	case !present || origSO == nil || isObj:
		nso, _ := u["stream_options"].(map[string]any)
		if nso == nil || nso["include_usage"] != true {
			t.Fatalf("OpenAIRequestUsage(%q) = %q: include_usage not true", body, uout)
		}
		if want := !isObj || so["include_usage"] != true; added != want {
			t.Fatalf("OpenAIRequestUsage(%q) added = %v, want %v", body, added, want)
		}
		delete(nso, "include_usage")
		if isObj {
			delete(so, "include_usage")
			if !reflect.DeepEqual(nso, so) {
				t.Fatalf("RequestUsage changed other stream options: %q -> %q", body, uout)
			}
		}
		delete(u, "stream_options")
		delete(orig, "stream_options")
	default:
		if added || string(uout) != string(body) {
			t.Fatalf("RequestUsage changed a non-object stream_options: %q", uout)
		}
	}
	delete(u, "model")
	if !reflect.DeepEqual(u, orig) {
		t.Fatalf("RequestUsage changed other members:\n in  %q\n out %q", body, uout)
	}
}

func FuzzRewriteModel(f *testing.F) {
	seeds := []string{
		`{"model":"a","messages":[{"role":"user","content":"hi"}]}`,
		`{"model":"a","stream":true,"stream_options":{"include_usage":false}}`,
		`{"stream_options":null,"model":1}`,
		`{"mod\u0065l":"x","model":"y","tools":[{"type":"function","function":{"name":"f","parameters":{}}}]}`,
		` {"a":[1,-2.5e-3,true,false,null,{"b":"\ud83d\ude00"}],"model":"\u00e9"} `,
		`{"model":"a","x":"\uD800"}`,
		`{"model":"a"}x`, `[]`, `{"model":}`, "{\"model\":\"\x7f\xff\"}", `{"stream_options":[],"model":"m"}`,
	}
	for _, s := range seeds {
		f.Add([]byte(s), "chosen/model:free")
	}
	f.Fuzz(func(t *testing.T, body []byte, model string) {
		checkRewrite(t, body, model)
	})
}

func TestRewriteOracleSeeds(t *testing.T) {
	for _, s := range []string{
		`{"model":"a","stream_options":{"include_usage":true,"include_usage":false}}`,
		`{"model":"a","stream_options":{"x":[{}]}}`,
		`{"model":null}`,
		`{"model":"a","\u0073tream_options":{}}`,
	} {
		checkRewrite(t, []byte(s), "m\"x")
	}
}

// appendWithout appends b to dst without the given ascending, disjoint spans.
func appendWithout(dst, b []byte, cut []Span) []byte {
	at := 0
	for _, c := range cut {
		dst = append(dst, b[at:c.Start]...)
		at = c.End
	}
	return append(dst, b[at:]...)
}

func cutAll(body string) string {
	return string(appendWithout(nil, []byte(body), OpenAIReasoningSpans(nil, []byte(body))))
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
		{"invalid after the choices untouched", `{"choices":[{"message":{"content":"<think>z</think>q"}}],"x":01}`,
			`{"choices":[{"message":{"content":"<think>z</think>q"}}],"x":01}`},
		{"last choices wins", `{"choices":[{"message":{"content":"<think>z</think>q"}}],"choices":[]}`,
			`{"choices":[{"message":{"content":"<think>z</think>q"}}],"choices":[]}`},
		{"last choices wins, not an array", `{"choices":[{"message":{"content":"<think>z</think>q"}}],"choices":null}`,
			`{"choices":[{"message":{"content":"<think>z</think>q"}}],"choices":null}`},
		{"last message wins", `{"choices":[{"message":{"content":"<think>a</think>x"},"message":{"content":"<think>b</think>y"}}]}`,
			`{"choices":[{"message":{"content":"<think>a</think>x"},"message":{"content":"y"}}]}`},
		{"last content wins", `{"choices":[{"message":{"content":"<think>a</think>x","content":5}},{"message":{"content":"<think>c</think>z"}}]}`,
			`{"choices":[{"message":{"content":"<think>a</think>x","content":5}},{"message":{"content":"z"}}]}`},
		{"escaped keys", `{"ch\u006fices":[{"m\u0065ssage":{"c\u006fntent":"<think>a</think>x"}}]}`,
			`{"ch\u006fices":[{"m\u0065ssage":{"c\u006fntent":"x"}}]}`},
		{"choices of other values", `{"choices":[1,"<think>a</think>",{"message":"<think>a</think>"},{"delta":{"content":"<think>a</think>"}}]}`,
			`{"choices":[1,"<think>a</think>",{"message":"<think>a</think>"},{"delta":{"content":"<think>a</think>"}}]}`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := cutAll(tc.in); got != tc.want {
				t.Errorf("\n got %s\nwant %s", got, tc.want)
			}
		})
	}
}

// referenceReasoning finds the reasoning spans member by member with Field
// (each lookup a walk of its own), where OpenAIReasoningSpans reads the
// answer in one pass.
func referenceReasoning(b []byte) []Span {
	off := func(v []byte) int { return cap(b) - cap(v) }
	choices, ok, err := Field(b, "choices")
	if err != nil || !ok || choices[0] != '[' {
		return nil
	}
	var spans []Span
	a, _ := open(b, off(choices), 1, false)
	for a.next() {
		end, _ := a.skip()
		msg, ok, _ := Field(b[a.val:end], "message")
		if !ok || msg[0] != '{' {
			continue
		}
		content, ok, _ := Field(msg, "content")
		if !ok || content[0] != '"' {
			continue
		}
		spans = thinkSpans(spans, b, off(content)+1, off(content)+len(content)-1)
	}
	return spans
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
		r := ScanOpenAIResponse(b)
		if u := ParseOpenAIUsage(r.Usage); u.PromptTokens < 0 || u.CompletionTokens < 0 || u.TotalTokens < 0 {
			t.Fatalf("negative usage %+v", u)
		}
		if u := ParseOpenAIUsage(b); u.PromptTokens < 0 || u.CompletionTokens < 0 || u.TotalTokens < 0 {
			t.Fatalf("negative usage %+v", u)
		}
		if IsOpenAIError(b) && r.Error == nil && !bytes.Contains(b, []byte("null")) {
			t.Fatalf("an error answer without a non-null error: %s", b)
		}
		cut := OpenAIReasoningSpans(nil, b)
		if ref := referenceReasoning(b); !slices.Equal(cut, ref) {
			t.Fatalf("reasoning spans of %q: %v, reference %v", b, cut, ref)
		}
		prev := 0
		for _, c := range cut {
			if c.Start < prev || c.End < c.Start || c.End > len(b) {
				t.Fatalf("bad span %v after %d in %d bytes", c, prev, len(b))
			}
			prev = c.End
		}
		out := appendWithout(nil, b, cut)
		at, nonEmpty := SpliceEnd(out)
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

func TestParseOpenAIUsage(t *testing.T) {
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
		{`{"usage":{"prompt_tokens":4611686018427387909,"completion_tokens":4611686018427387910}}`, 0, [3]int64{4611686018427387909, 0, 0}},
		{`{"prompt_tokens":3,"completion_tokens":4,"total_tokens":7,"prompt_tokens_details":{"cached_tokens":1}}`, -1, [3]int64{3, 4, 7}},
		{`{"prompt_tokens":3,"prompt_tokens":5}`, -1, [3]int64{5, 0, 0}},
		{`{"prompt_tokens":3,"x":}`, -1, [3]int64{}},
		{`[1]`, -1, [3]int64{}},
		{`{"usage":{"prompt_tokens":1},"usage":{"completion_tokens":2}}`, 0, [3]int64{0, 2, 0}},
		{`{"usage":{"prompt_tokens":1},"usage":null}`, 0, [3]int64{}},
	}
	for _, tc := range cases {
		b := []byte(tc.in)
		if tc.at >= 0 { // a whole answer
			b = ScanOpenAIResponse(b).Usage
		}
		u := ParseOpenAIUsage(b)
		if got := [3]int64{u.PromptTokens, u.CompletionTokens, u.TotalTokens}; got != tc.want {
			t.Errorf("ParseOpenAIUsage(%s) = %v, want %v", tc.in, got, tc.want)
		}
	}
}

func TestScanOpenAIResponse(t *testing.T) {
	tests := []struct {
		name, in   string
		usage, err string
		usageOnly  bool
	}{
		{"content chunk", `{"choices":[{"delta":{"content":"a"}}],"usage":null}`, "", "", false},
		{"usage chunk", `{"choices":[ ],"usage":{"prompt_tokens":1}}`, `{"prompt_tokens":1}`, "", true},
		{"usage with choices", `{"choices":[{}],"usage":{"total_tokens":2}}`, `{"total_tokens":2}`, "", false},
		{"usage not an object", `{"choices":[],"usage":5}`, "", "", false},
		{"error", `{"error":{"message":"x"}}`, "", `{"message":"x"}`, false},
		{"null error", `{"error":null,"choices":[]}`, "", "", false},
		{"last error wins", `{"error":"a","error":null}`, "", "", false},
		{"invalid", `{"error":{"message":"x"}`, "", "", false},
		{"trailing data", `{"error":1} x`, "", "", false},
		{"not an object", `["error"]`, "", "", false},
	}
	for _, tt := range tests {
		r := ScanOpenAIResponse([]byte(tt.in))
		if string(r.Usage) != tt.usage || string(r.Error) != tt.err || r.UsageOnly != tt.usageOnly ||
			(r.Usage == nil) != (tt.usage == "") || (r.Error == nil) != (tt.err == "") {
			t.Errorf("%s: got %+v", tt.name, r)
		}
	}
}

func TestIsOpenAIError(t *testing.T) {
	for in, want := range map[string]bool{
		`{"error":{"message":"bad"}}`: true,
		`{"error":null}`:              true,
		`{"x":1,"error":"e"}`:         true,
		`{"x":{"error":1}}`:           false,
		`{"error":1} `:                false,
		` {"error":1}`:                false,
		`{"error":1}{}`:               false,
		`{"error":1`:                  false,
		`["error"]`:                   false,
		``:                            false,
	} {
		if got := IsOpenAIError([]byte(in)); got != want {
			t.Errorf("IsOpenAIError(%q) = %v", in, got)
		}
	}
}

func TestParseOpenAIChatAllocations(t *testing.T) {
	body := []byte(`{"model":"gpt-4o-mini","stream":true,"max_tokens":512,"tools":[{"type":"function"}],` +
		`"messages":[{"role":"user","content":[{"type":"text","text":"describe 请"},{"type":"image_url","image_url":{"url":"x"}}]}]}`)
	n := testing.AllocsPerRun(100, func() {
		if f, err := ParseOpenAIChat(body); err != nil || !f.NeedVision {
			t.Fatal(f, err)
		}
	})
	if n > 1 {
		t.Errorf("ParseOpenAIChat allocates %v times, want at most 1 (the model string)", n)
	}
}

func TestOpenAIResponseNoAllocations(t *testing.T) {
	answer := []byte(`{"id":"x","choices":[{"message":{"content":"<think>a</think> b"}}],"usage":{"prompt_tokens":3,"completion_tokens":4,"total_tokens":7}}`)
	body := []byte(`{"model":"m","stream":true,"stream_options":{"x":1}}`)
	cut := make([]Span, 0, 4)
	dst := make([]byte, 0, 256)
	n := testing.AllocsPerRun(100, func() {
		r := ScanOpenAIResponse(answer)
		if u := ParseOpenAIUsage(r.Usage); u.TotalTokens != 7 {
			t.Fatal(u)
		}
		if cut = OpenAIReasoningSpans(cut[:0], answer); len(cut) != 1 {
			t.Fatal(cut)
		}
		if IsOpenAIError(answer) {
			t.Fatal("not an error")
		}
		var err error
		if dst, _, err = OpenAIRequestUsage(dst[:0], body); err != nil {
			t.Fatal(err)
		}
	})
	if n != 0 {
		t.Errorf("the answer path allocates %v times, want 0", n)
	}
}
