package compiler

import (
	"errors"
	"strconv"
	"testing"

	"smartrouter/compiler/diag"
)

// FuzzCapabilities feeds arbitrary bytes to the model_capabilities.json
// decoder: it must never panic, and every failure must be a positioned
// *diag.Error.
func FuzzCapabilities(f *testing.F) {
	for _, s := range []string{
		`{"llama3.1:8b": {"vision": false, "function_calling": true}, "qwen2.5:7b": ["chat", "function_calling"]}`,
		`{"models": {"gpt-4o": ["vision", "tools"]}, "version": "1"}`,
		`{"a": null, "b": {"tools": true, "capabilities": ["image"]}}`,
		`{"a": [1, 2]}`, `[]`, `{`, ``, "\xef\xbb\xbf{}", `{"a": {"vision": "yes"}}`, `{} {}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		tab, err := decodeCapabilities("model_capabilities.json", data)
		if err != nil {
			var de *diag.Error
			if !errors.As(err, &de) {
				t.Fatalf("error %T %v is not a *diag.Error", err, err)
			}
			if de.Pos.File == "" {
				t.Fatalf("error without a file: %v", err)
			}
			return
		}
		for id := range tab.m {
			tab.lookup(id)
		}
	})
}

func TestCapabilitiesDecode(t *testing.T) {
	tab, err := decodeCapabilities("c.json", []byte(`{
  "models": {
    "a": {"vision": true},
    "b": ["chat", "function_calling"],
    "c": {"tools": false, "capabilities": ["vision"]},
    "d": null
  }
}`))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		id   string
		want capSet
		ok   bool
	}{
		{"a", capSet{visionKnown: true, vision: true}, true},
		{"vendor/a", capSet{visionKnown: true, vision: true}, true},
		{"b", capSet{visionKnown: true, toolsKnown: true, tools: true}, true},
		{"c", capSet{visionKnown: true, vision: true, toolsKnown: true}, true},
		{"d", capSet{}, false},
		{"e", capSet{}, false},
	}
	for _, tc := range tests {
		got, ok := tab.lookup(tc.id)
		if ok != tc.ok || got != tc.want {
			t.Errorf("lookup(%q) = %+v, %t; want %+v, %t", tc.id, got, ok, tc.want, tc.ok)
		}
	}
}

// FuzzParseSourceDateEpoch checks that any value either parses to a time
// that prints back as the same number or is refused, never panics.
func FuzzParseSourceDateEpoch(f *testing.F) {
	for _, s := range []string{"0", "1700000000", "9223372036", "9223372037", "", "-1", "1.5", "00012", " 1"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, v string) {
		tm, err := ParseSourceDateEpoch(v)
		if err != nil {
			return
		}
		n, perr := strconv.ParseInt(v, 10, 64)
		if perr != nil || tm.Unix() != n || n < 0 || n > MaxSourceDateEpoch {
			t.Fatalf("%q parsed to %v", v, tm)
		}
	})
}
