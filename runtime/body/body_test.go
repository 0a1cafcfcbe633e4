package body

import (
	"errors"
	"strings"
	"testing"
)

func TestRewriteModel(t *testing.T) {
	tests := []struct {
		name, body, model, want string
	}{
		{"simple", `{"model":"a","messages":[]}`, "b", `{"model":"b","messages":[]}`},
		{"whitespace kept", "{ \"model\" :\t\"a\" ,\n \"x\":1 }", "b", "{ \"model\" :\t\"b\" ,\n \"x\":1 }"},
		{"last member", `{"messages":[{"role":"user","content":"hi"}],"model":"a"}`, "q/w:free",
			`{"messages":[{"role":"user","content":"hi"}],"model":"q/w:free"}`},
		{"nested model untouched", `{"tools":[{"model":"x"}],"meta":{"model":"y"},"model":"a"}`, "b",
			`{"tools":[{"model":"x"}],"meta":{"model":"y"},"model":"b"}`},
		{"model inside a string untouched", `{"content":"\"model\":\"x\"","model":"a"}`, "b",
			`{"content":"\"model\":\"x\"","model":"b"}`},
		{"escaped key", `{"mod\u0065l":"a"}`, "b", `{"mod\u0065l":"b"}`},
		{"escaped slash key is not model", `{"model\/":"a","model":"c"}`, "b", `{"model\/":"a","model":"b"}`},
		{"duplicate keys all replaced", `{"model":"a","model":"c"}`, "b", `{"model":"b","model":"b"}`},
		{"non-string value replaced", `{"model":{"x":[1,2]},"n":1}`, "b", `{"model":"b","n":1}`},
		{"new value escaped", `{"model":"a"}`, "x\"y\\z\n\x01é", `{"model":"x\"y\\z\n\u0001é"}`},
		{"invalid utf8 in new value", `{"model":"a"}`, "x\xffy", `{"model":"x\ufffdy"}`},
		{"unicode and odd fields kept", `{"model":"a","stop":["\u2028","日本"],"seed":1e3,"n":-0.5,"x":null,"t":true,"f":false}`,
			"b", `{"model":"b","stop":["\u2028","日本"],"seed":1e3,"n":-0.5,"x":null,"t":true,"f":false}`},
		{"surrounding whitespace", " \n{\"model\":\"a\"}\r\n ", "b", " \n{\"model\":\"b\"}\r\n "},
		{"case-sensitive key", `{"Model":"a","model":"c"}`, "b", `{"Model":"a","model":"b"}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := RewriteModel([]byte("prefix:"), []byte(tt.body), tt.model)
			if err != nil {
				t.Fatalf("RewriteModel: %v", err)
			}
			if string(got) != "prefix:"+tt.want {
				t.Errorf("got  %s\nwant prefix:%s", got, tt.want)
			}
		})
	}
}

func TestRewriteModelErrors(t *testing.T) {
	tests := []struct {
		name, body string
		noModel    bool
	}{
		{"empty", "", false},
		{"array", `[{"model":"a"}]`, false},
		{"string", `"model"`, false},
		{"no model", `{"messages":[]}`, true},
		{"empty object", `{}`, true},
		{"model only nested", `{"x":{"model":"a"}}`, true},
		{"trailing garbage", `{"model":"a"}x`, false},
		{"two objects", `{"model":"a"}{}`, false},
		{"unterminated", `{"model":"a"`, false},
		{"trailing comma", `{"model":"a",}`, false},
		{"bad escape", `{"model":"\q"}`, false},
		{"short unicode escape", `{"model":"\u12"}`, false},
		{"control char", "{\"model\":\"a\x01\"}", false},
		{"leading zero", `{"model":"a","n":01}`, false},
		{"bare minus", `{"model":"a","n":-}`, false},
		{"dot no digits", `{"model":"a","n":1.}`, false},
		{"bad literal", `{"model":"a","n":nul}`, false},
		{"single quotes", `{'model':'a'}`, false},
		{"missing colon", `{"model" "a"}`, false},
		{"unclosed array", `{"model":"a","m":[1,2}`, false},
		{"deep nesting", `{"model":"a","x":` + strings.Repeat("[", maxDepth+1) + strings.Repeat("]", maxDepth+1) + `}`, false},
		{"bom", "\ufeff{\"model\":\"a\"}", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dst := []byte("keep")
			got, err := RewriteModel(dst, []byte(tt.body), "b")
			if err == nil {
				t.Fatalf("RewriteModel(%q) = %q, want an error", tt.body, got)
			}
			if string(got) != "keep" {
				t.Errorf("dst changed on error: %q", got)
			}
			var se *SyntaxError
			if tt.noModel != errors.Is(err, ErrNoModel) || !tt.noModel && !errors.As(err, &se) {
				t.Errorf("error %v: want ErrNoModel=%v, else a *SyntaxError", err, tt.noModel)
			}
		})
	}
}

func TestRewriteModelNoAllocs(t *testing.T) {
	body := []byte(`{"model":"gpt-4o","messages":[{"role":"user","content":"hello"}],"stream":true}`)
	dst := make([]byte, 0, 256)
	allocs := testing.AllocsPerRun(100, func() {
		var err error
		if dst, err = RewriteModel(dst[:0], body, "openai/gpt-4o-2024-08-06"); err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Errorf("RewriteModel with a large enough dst allocates %v times, want 0", allocs)
	}
}

func TestField(t *testing.T) {
	body := []byte(`{"model":"a","stream":true,"usage":{"prompt_tokens":3},"x":1,"x":[2]}`)
	tests := []struct {
		key, want string
		ok        bool
	}{
		{"model", `"a"`, true},
		{"stream", `true`, true},
		{"usage", `{"prompt_tokens":3}`, true},
		{"x", `[2]`, true},
		{"missing", ``, false},
		{"Model", ``, false},
	}
	for _, tt := range tests {
		v, ok, err := Field(body, tt.key)
		if err != nil || ok != tt.ok || string(v) != tt.want {
			t.Errorf("Field(%q) = %s, %v, %v; want %s, %v", tt.key, v, ok, err, tt.want, tt.ok)
		}
	}
	if _, _, err := Field([]byte(`{"a":1`), "a"); err == nil {
		t.Error("Field accepted an unterminated object")
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
		at, ne := SpliceEnd([]byte(tc.in))
		if at != tc.at || ne != tc.nonEmpty {
			t.Errorf("SpliceEnd(%q) = %d, %v; want %d, %v", tc.in, at, ne, tc.at, tc.nonEmpty)
		}
	}
}
