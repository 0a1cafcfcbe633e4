package route

import (
	"bytes"
	"encoding/json"
	"errors"
	"regexp"
	"testing"
	"unicode/utf8"
)

func TestRequestFeatures(t *testing.T) {
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
		got, err := RequestFeatures([]byte(tt.body))
		if err != nil {
			t.Errorf("%s: %v", tt.name, err)
			continue
		}
		if got != tt.want {
			t.Errorf("%s:\n got %+v\nwant %+v", tt.name, got, tt.want)
		}
	}
	for _, bad := range []string{``, `[]`, `{"model":}`, `{"messages":[{"content":"x"}`, `{"a":1} x`, "{\"a\":\"\n\"}", `{"a" 1}`} {
		if _, err := RequestFeatures([]byte(bad)); !errors.Is(err, ErrBadBody) {
			t.Errorf("%q: err = %v, want ErrBadBody", bad, err)
		}
	}
	n, err := EstimateTokens([]byte(`[{"content":"abcdefgh"},{"content":"日本"}]`))
	if err != nil || n != (2+4)+(2+4) {
		t.Errorf("EstimateTokens = %d, %v", n, err)
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

func FuzzRequestFeatures(f *testing.F) {
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
		got, err := RequestFeatures(body)
		if err != nil {
			if !errors.Is(err, ErrBadBody) {
				t.Fatalf("error %v does not wrap ErrBadBody", err)
			}
			return
		}
		if !json.Valid(body) || !utf8.Valid(body) {
			return // the scanner is not a validator
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
