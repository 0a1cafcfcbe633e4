package body

import (
	"encoding/json"
	"errors"
	"testing"
	"unicode/utf8"
)

func TestParseOpenAIEmbeddings(t *testing.T) {
	cases := []struct {
		body string
		want Features
	}{
		{`{"model":"text-embedding-3-small","input":"hello world!"}`,
			Features{Model: "text-embedding-3-small", HasInput: true, Messages: 1, InputTokens: 3}},
		{`{"model":"e","input":["abcd","你好"],"encoding_format":"base64","dimensions":256}`,
			Features{Model: "e", HasInput: true, Messages: 2, InputTokens: 1 + 2}},
		{`{"model":"e","input":[1,2,3,-4]}`, Features{Model: "e", HasInput: true, Messages: 1, InputTokens: 4}},
		{`{"model":"e","input":[[1,2],[3],[]]}`, Features{Model: "e", HasInput: true, Messages: 3, InputTokens: 3}},
		{`{"model":"e","input":"a\u4f60"}`, Features{Model: "e", HasInput: true, Messages: 1, InputTokens: 1}},
		{`{"mod\u0065l":"e","input":"x","stream":true,"max_tokens":5}`, Features{Model: "e", HasInput: true, Messages: 1}},
		// Shapes the API refuses: HasInput false, the body still reads.
		{`{"model":"e"}`, Features{Model: "e"}},
		{`{"model":"e","input":[]}`, Features{Model: "e"}},
		{`{"model":"e","input":null}`, Features{Model: "e"}},
		{`{"model":"e","input":42}`, Features{Model: "e"}},
		{`{"model":"e","input":{"text":"x"}}`, Features{Model: "e"}},
		{`{"model":"e","input":["a",1]}`, Features{Model: "e", Messages: 2, InputTokens: 1}},
		{`{"model":"e","input":[["a"]]}`, Features{Model: "e", Messages: 1, InputTokens: 1}},
		{`{"model":"e","input":[[1,[2]]]}`, Features{Model: "e", Messages: 1, InputTokens: 2}},
		{`{"model":"e","input":[true]}`, Features{Model: "e", Messages: 1}},
		{`{"model":7,"input":"x"}`, Features{HasInput: true, Messages: 1}},
		// The last member wins.
		{`{"model":"e","input":"x","input":5}`, Features{Model: "e"}},
	}
	for _, tc := range cases {
		got, err := ParseOpenAIEmbeddings([]byte(tc.body))
		if err != nil {
			t.Errorf("%s: %v", tc.body, err)
			continue
		}
		if got != tc.want {
			t.Errorf("%s:\n got %+v\nwant %+v", tc.body, got, tc.want)
		}
	}
	for _, bad := range []string{``, `[]`, `{"model":"e","input":["a",]}`, `{"model":"e","input":[1,2`, `{"model":"e"} x`, `{"input":[[1,01]]}`} {
		if _, err := ParseOpenAIEmbeddings([]byte(bad)); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

func TestParseOpenAICompletion(t *testing.T) {
	cases := []struct {
		body string
		want Features
	}{
		{`{"model":"gpt-3.5-turbo-instruct","prompt":"Say this is a test","max_tokens":7,"temperature":0}`,
			Features{Model: "gpt-3.5-turbo-instruct", HasInput: true, Messages: 1, InputTokens: 4, MaxTokens: 7}},
		{`{"model":"m","prompt":["abcd","efgh"],"stream":true,"stream_options":{"include_usage":true}}`,
			Features{Model: "m", HasInput: true, Messages: 2, InputTokens: 2, Stream: true}},
		{`{"model":"m","prompt":[1,2],"stream":false,"max_tokens":1.5}`,
			Features{Model: "m", HasInput: true, Messages: 1, InputTokens: 2}},
		{`{"model":"m","prompt":"x","max_tokens":9,"max_tokens":"9"}`, Features{Model: "m", HasInput: true, Messages: 1}},
		{`{"model":"m","input":"x"}`, Features{Model: "m"}},
		{`{"model":"m","prompt":{}}`, Features{Model: "m"}},
	}
	for _, tc := range cases {
		got, err := ParseOpenAICompletion([]byte(tc.body))
		if err != nil {
			t.Errorf("%s: %v", tc.body, err)
			continue
		}
		if got != tc.want {
			t.Errorf("%s:\n got %+v\nwant %+v", tc.body, got, tc.want)
		}
	}
	if _, err := ParseOpenAICompletion([]byte(`{"model":"m","prompt":"x",}`)); err == nil {
		t.Error("trailing comma accepted")
	}
}

func TestParseOpenAIInputAllocs(t *testing.T) {
	b := []byte(`{"model":"text-embedding-3-small","input":["abcd","你好",""],"dimensions":8}`)
	p := []byte(`{"model":"m","prompt":[[1,2],[3]],"stream":true,"max_tokens":9}`)
	n := testing.AllocsPerRun(100, func() {
		_, _ = ParseOpenAIEmbeddings(b)
		_, _ = ParseOpenAICompletion(p)
	})
	if n > 2 { // the two model strings
		t.Errorf("%v allocations, want at most 2", n)
	}
}

// inputReference decodes an input with encoding/json: whether the shape is
// accepted, the count and the token estimate.
func inputReference(raw json.RawMessage) (ok bool, n, toks int) {
	est := func(s string) int {
		cjk, other := 0, 0
		for _, r := range s {
			if isCJK(r) {
				cjk++
			} else {
				other++
			}
		}
		return cjk + other/4
	}
	var s string
	if json.Unmarshal(raw, &s) == nil && len(raw) > 0 && raw[0] == '"' {
		return true, 1, est(s)
	}
	var elems []json.RawMessage
	if json.Unmarshal(raw, &elems) != nil || len(elems) == 0 {
		return false, 0, 0
	}
	kind := elementKind(elems[0][0])
	for _, e := range elems {
		if elementKind(e[0]) != kind {
			return false, 0, 0
		}
		switch kind {
		case inString:
			var s string
			_ = json.Unmarshal(e, &s)
			toks += est(s)
		case inNumber:
			toks++
		case inArray:
			var inner []json.RawMessage
			_ = json.Unmarshal(e, &inner)
			for _, x := range inner {
				if elementKind(x[0]) != inNumber {
					return false, 0, 0
				}
			}
			toks += len(inner)
		default:
			return false, 0, 0
		}
	}
	if kind == inNumber {
		return true, 1, toks
	}
	return true, len(elems), toks
}

func FuzzParseOpenAIEmbeddings(f *testing.F) {
	for _, s := range []string{
		`{"model":"e","input":"hello 你好"}`,
		`{"model":"e","input":["a","b"],"dimensions":3,"encoding_format":"float"}`,
		`{"model":"e","input":[1,2,3]}`,
		`{"model":"e","input":[[1],[2,3]]}`,
		`{"model":"e","input":[["a"],1,null]}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) { checkInputParse(t, b, ParseOpenAIEmbeddings, "input") })
}

func FuzzParseOpenAICompletion(f *testing.F) {
	for _, s := range []string{
		`{"model":"m","prompt":"hello","max_tokens":5,"stream":true}`,
		`{"model":"m","prompt":["a","b"],"stream_options":{"include_usage":true}}`,
		`{"model":"m","prompt":[[1],[2,3]],"max_tokens":-1}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) { checkInputParse(t, b, ParseOpenAICompletion, "prompt") })
}

// checkInputParse holds parse to encoding/json: it accepts exactly the valid
// JSON objects and, on simple bodies, reads the model and input as a decode
// does.
func checkInputParse(t *testing.T, b []byte, parse func([]byte) (Features, error), input string) {
	got, err := parse(b)
	var top map[string]json.RawMessage
	object := json.Unmarshal(b, &top) == nil && top != nil
	if err != nil {
		var se *SyntaxError
		if !errors.As(err, &se) {
			t.Fatalf("error %v is not a *SyntaxError", err)
		}
		if json.Valid(b) && object {
			t.Fatalf("valid object %.200q refused: %v", b, err)
		}
		return
	}
	if !json.Valid(b) || !object {
		t.Fatalf("accepted %.200q, which is not a valid JSON object", b)
	}
	if !utf8.Valid(b) || dupOrEscapedKeys(b) {
		return
	}
	var model string
	if m, ok := top["model"]; ok && json.Unmarshal(m, &model) != nil {
		model = ""
	}
	if got.Model != model {
		t.Fatalf("%.200q: model %q, want %q", b, got.Model, model)
	}
	ok, n, toks := inputReference(top[input])
	if got.HasInput != ok || ok && (got.Messages != n || got.InputTokens != toks) {
		t.Fatalf("%.200q: got %+v, want ok %v n %d tokens %d", b, got, ok, n, toks)
	}
}
