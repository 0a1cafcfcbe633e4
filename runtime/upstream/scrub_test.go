package upstream

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"unicode/utf16"

	"smartrouter/format"
)

// Keys with the characters encoders treat specially.
var scrubKeys = []string{
	"sk-live-0123456789abcdef",
	"sk-a/b+c=d-0123456789",
	`sk-quote"back\slash-0123`,
	"sk-clé-日本-😀-0123456789",
	"<sk&amp>-0123456789",
}

// escapeAll writes s as a JSON string literal with every character escaped
// as \uXXXX (surrogate pairs beyond the BMP), as some encoders do.
func escapeAll(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for _, r := range s {
		for _, u := range utf16.Encode([]rune{r}) {
			b.WriteString(`\u`)
			const hex = "0123456789ABCDEF"
			b.WriteByte(hex[u>>12&0xf])
			b.WriteByte(hex[u>>8&0xf])
			b.WriteByte(hex[u>>4&0xf])
			b.WriteByte(hex[u&0xf])
		}
	}
	b.WriteByte('"')
	return b.String()
}

// echoes are the ways an upstream may echo key in a JSON error body.
func echoes(key string) map[string]string {
	std, _ := json.Marshal(key) // <, >, & as \u003c ...
	slash := strings.ReplaceAll(string(std), "/", `\/`)
	basic := base64.StdEncoding.EncodeToString([]byte("user:" + key))
	return map[string]string{
		"json":       `{"error":{"message":` + string(std)[:1] + `Incorrect API key provided: ` + string(std)[1:] + `}}`,
		"json-slash": `{"error":{"message":` + slash + `}}`,
		"json-u":     `{"error":{"message":` + escapeAll("key="+key+" is wrong") + `}}`,
		"query":      `{"error":{"message":"GET /v1?key=` + url.QueryEscape(key) + `"}}`,
		"query-low":  `{"error":{"message":"GET /v1?key=` + lowerHex(url.QueryEscape(key)) + `"}}`,
		"path":       `{"error":"` + url.PathEscape(key) + `"}`,
		"base64":     `{"error":{"message":"token ` + base64.StdEncoding.EncodeToString([]byte(key)) + `"}}`,
		"base64url":  `{"detail":"` + base64.RawURLEncoding.EncodeToString([]byte(key)) + `"}`,
		"basic":      `{"error":{"message":"Authorization: Basic ` + basic + `"}}`,
		"not-json":   `<html>key ` + key + `</html>`,
	}
}

// leaks reports whether text shows key in any form an upstream may use.
func leaks(text, key string) bool {
	if strings.Contains(text, key) {
		return true
	}
	// Decode every JSON string literal and look again.
	var v any
	if json.Unmarshal([]byte(text), &v) == nil {
		found := false
		var walk func(any)
		walk = func(x any) {
			switch x := x.(type) {
			case string:
				if strings.Contains(x, key) || strings.Contains(x, url.QueryEscape(key)) {
					found = true
				}
			case map[string]any:
				for _, y := range x {
					walk(y)
				}
			case []any:
				for _, y := range x {
					walk(y)
				}
			}
		}
		walk(v)
		if found {
			return true
		}
	}
	for _, f := range []string{url.QueryEscape(key), lowerHex(url.QueryEscape(key)), url.PathEscape(key),
		base64.StdEncoding.EncodeToString([]byte(key)), base64.RawURLEncoding.EncodeToString([]byte(key))} {
		if strings.Contains(text, f) {
			return true
		}
	}
	return false
}

func TestScrubEveryEncoding(t *testing.T) {
	for _, key := range scrubKeys {
		for name, body := range echoes(key) {
			got := scrub([]byte(body), key)
			if leaks(string(got), key) {
				t.Errorf("key %q, %s echo: scrubbed text still shows it: %s", key, name, got)
			}
			if name == "basic" {
				enc := base64.StdEncoding.EncodeToString([]byte("user:" + key))
				if bytes.Contains(got, []byte(enc[12:len(enc)-4])) {
					t.Errorf("key %q: the Basic credential survived: %s", key, got)
				}
			}
			if !bytes.Contains(got, []byte(redacted)) {
				t.Errorf("key %q, %s echo: nothing marked redacted: %s", key, name, got)
			}
			if json.Valid([]byte(body)) && !json.Valid(got) {
				t.Errorf("key %q, %s echo: scrubbing broke the JSON: %s", key, name, got)
			}
			msg := scrubString(errorMessage(got), key)
			if leaks(msg, key) {
				t.Errorf("key %q, %s echo: message shows it: %q", key, name, msg)
			}
		}
	}
}

func TestScrubLeavesOtherText(t *testing.T) {
	body := []byte(`{"error":{"message":"model \"x\" not found \/ try \u0041"}}`)
	if got := scrub(body, "sk-live-0123456789abcdef"); !bytes.Equal(got, body) {
		t.Errorf("text without the key changed: %s", got)
	}
	if got := scrub([]byte("abc"), "abc"); string(got) != "abc" {
		t.Errorf("a key under 4 bytes was scrubbed: %s", got)
	}
}

// An upstream that echoes the key escaped, in a 401, a 400 and an error
// inside a stream: no Error field shows it.
func TestKeyEchoedEscapedNeverInErrors(t *testing.T) {
	mux := http.NewServeMux()
	mux.HandleFunc("/v1/chat/completions", func(w http.ResponseWriter, r *http.Request) {
		key := strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")
		lit := escapeAll("Incorrect API key provided: " + key)
		switch r.URL.Query().Get("case") {
		case "401":
			w.WriteHeader(401)
			w.Write([]byte(`{"error":{"message":` + lit + `}}`))
		case "400":
			w.WriteHeader(400)
			w.Write([]byte(`{"error":{"message":` + lit + `,"param":"` + url.QueryEscape(key) + `"}}`))
		case "stream":
			w.Header().Set("Content-Type", "text/event-stream")
			w.Write([]byte("data: {\"choices\":[{\"delta\":{\"content\":\"a\"}}]}\n\ndata: {\"error\":{\"message\":" + lit + "}}\n\n"))
		}
	})
	hs := httptest.NewServer(mux)
	defer hs.Close()
	base := hs.URL
	c := newClient(t, Config{})
	for _, key := range scrubKeys {
		for _, cs := range []string{"401", "400", "stream"} {
			ep := newEndpoint(t, base+"/v1?case="+cs, format.AuthBearer, key, false)
			resp, err := c.Do(context.Background(), &Request{Endpoint: ep, Body: []byte(`{"model":"m"}`), Stream: cs == "stream"})
			if cs == "stream" {
				if err != nil {
					t.Fatal(err)
				}
				_, _, _, err = readStream(t, resp.Stream())
				resp.Close()
			}
			ue := asError(t, err)
			for what, s := range map[string]string{"Error()": ue.Error(), "Message": ue.Message, "Body": string(ue.Body)} {
				if leaks(s, key) {
					t.Errorf("key %q, case %s: %s shows the key: %q", key, cs, what, s)
				}
			}
			if !strings.Contains(ue.Message, redacted) {
				t.Errorf("key %q, case %s: message %q lost its text", key, cs, ue.Message)
			}
		}
	}
}

func FuzzScrub(f *testing.F) {
	for _, key := range scrubKeys {
		for _, body := range echoes(key) {
			f.Add([]byte(body), key)
		}
	}
	f.Fuzz(func(t *testing.T, body []byte, key string) {
		got := scrub(body, key)
		if len(key) >= 4 && containsOutsideEscapes(got, key) && !strings.Contains(redacted, key) {
			t.Fatalf("raw key survives: %q", got)
		}
		if json.Valid(body) && !json.Valid(got) {
			t.Fatalf("valid JSON broken: %q -> %q", body, got)
		}
	})
}

// containsOutsideEscapes reports whether key stands in b other than cutting
// through a backslash escape (where it does not spell the key once decoded).
func containsOutsideEscapes(b []byte, key string) bool {
	for at := 0; ; {
		k := bytes.Index(b[at:], []byte(key))
		if k < 0 {
			return false
		}
		if !cutsEscape(b, at+k, at+k+len(key)) {
			return true
		}
		at += k + 1
	}
}
