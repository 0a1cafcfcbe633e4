package upstream

import (
	"encoding/json"
	"errors"
	"reflect"
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

func TestRequestUsage(t *testing.T) {
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
			got, added, err := RequestUsage(nil, []byte(tt.body))
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != tt.want || added != tt.added {
				t.Errorf("got %s added=%v\nwant %s added=%v", got, added, tt.want, tt.added)
			}
		})
	}
	if _, _, err := RequestUsage(nil, []byte(`{"a":}`)); err == nil {
		t.Error("invalid JSON accepted")
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

func TestParseUsage(t *testing.T) {
	u, err := ParseUsage([]byte(`{"prompt_tokens":3,"completion_tokens":4,"total_tokens":7,"prompt_tokens_details":{"cached_tokens":1}}`))
	if err != nil || u != (Usage{3, 4, 7}) {
		t.Errorf("ParseUsage = %+v, %v", u, err)
	}
	if _, err := ParseUsage([]byte(`[1]`)); err == nil {
		t.Error("ParseUsage accepted an array")
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
	uout, added, err := RequestUsage(nil, body)
	if err != nil {
		t.Fatalf("RequestUsage(%q): %v", body, err)
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
			t.Fatalf("RequestUsage(%q) = %q: include_usage not true", body, uout)
		}
		if want := !isObj || so["include_usage"] != true; added != want {
			t.Fatalf("RequestUsage(%q) added = %v, want %v", body, added, want)
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
