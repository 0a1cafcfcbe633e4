package discover

import (
	"encoding/json"
	"testing"
)

// FuzzSplitObject: the raw splitter never panics, and what it accepts
// re-joins into the same members.
func FuzzSplitObject(f *testing.F) {
	for _, s := range []string{`{}`, `{"a": 1, "b": {"c": [1, "}"]}}`, `{"a": NaN}`, `{"a":`, `{"a" "b"}`, `[1]`, `{"\"": "\\"}`} {
		f.Add([]byte(s))
	}
	f.Add([]byte(`{"a\\": "x\\\"}", "b": ["\\\\", "]"]}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		ms, err := splitObject(b)
		var obj map[string]json.RawMessage
		isObj := json.Unmarshal(b, &obj) == nil && obj != nil
		if err != nil {
			if isObj {
				t.Fatalf("a valid JSON object was refused: %v", err)
			}
			return
		}
		if isObj {
			// Agree with encoding/json on every member (the last of a
			// repeated name wins in both).
			last := map[string][]byte{}
			for _, m := range ms {
				last[m.Name] = m.Raw
			}
			if len(last) != len(obj) {
				t.Fatalf("%d members, encoding/json has %d", len(last), len(obj))
			}
			for k, v := range obj {
				if string(last[k]) != string(v) {
					t.Fatalf("member %q: %s, encoding/json %s", k, last[k], v)
				}
			}
		}
		o := newObject("")
		for _, m := range ms {
			o.raw(m.Name, m.Raw)
		}
		again, err := splitObject(o.bytes())
		if err != nil || len(again) != len(ms) {
			t.Fatalf("re-split: %v (%d vs %d members)", err, len(again), len(ms))
		}
		for i := range ms {
			if again[i].Name != ms[i].Name || string(again[i].Raw) != string(ms[i].Raw) {
				t.Fatalf("member %d differs", i)
			}
		}
	})
}

// FuzzParseList: any answer of any shape parses or is refused, never a
// panic, and every model it yields has an id and encodable data.
func FuzzParseList(f *testing.F) {
	for _, s := range []string{
		`{"object":"list","data":[{"id":"a","created":1,"owned_by":"x"}]}`,
		`{"data":[{"id":"a","context_length":8,"pricing":{"prompt":"0","completion":"0"},"top_provider":{"max_completion_tokens":4},"architecture":{"modality":"text"}}]}`,
		`{"data":[{"type":"model","id":"c","created_at":"2025-01-01T00:00:00Z"}],"has_more":true,"last_id":"c"}`,
		`{"models":[{"name":"models/g","inputTokenLimit":10,"outputTokenLimit":5}],"nextPageToken":"t"}`,
		`{"models":[{"name":"llama3:8b","details":{"parameter_size":"8.0B"}}]}`,
		`[{"id":"bare"}]`, `<html>`, `{"data":null}`, `{"data":[1,"x",null]}`,
	} {
		f.Add([]byte(s), uint8(0))
	}
	shapes := []Shape{ShapeOpenAI, ShapeOpenRouter, ShapeAnthropic, ShapeGemini, ShapeOllama}
	f.Fuzz(func(t *testing.T, b []byte, sh uint8) {
		p, ok := parseList(shapes[int(sh)%len(shapes)], b)
		if !ok {
			return
		}
		for _, m := range p.models {
			if m.ID == "" {
				t.Fatal("a model without id")
			}
			if _, err := json.Marshal(m.Data); err != nil {
				t.Fatalf("models_data does not encode: %v", err)
			}
		}
	})
}
