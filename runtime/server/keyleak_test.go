package server

import (
	"encoding/base64"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"unicode/utf16"

	"smartrouter/runtime/internal/servertest"
)

// escapeEvery writes s as a JSON string literal with every character
// escaped \uXXXX, as some upstreams' encoders do.
func escapeEvery(s string) string {
	const hex = "0123456789abcdef"
	var b strings.Builder
	b.WriteByte('"')
	for _, r := range s {
		for _, u := range utf16.Encode([]rune{r}) {
			b.WriteString(`\u`)
			b.WriteByte(hex[u>>12&0xf])
			b.WriteByte(hex[u>>8&0xf])
			b.WriteByte(hex[u>>4&0xf])
			b.WriteByte(hex[u&0xf])
		}
	}
	b.WriteByte('"')
	return b.String()
}

// showsKey reports whether text holds key raw, inside a JSON string however
// escaped, URL-encoded or in base64.
func showsKey(text, key string) bool {
	forms := []string{key, url.QueryEscape(key), url.PathEscape(key), base64.StdEncoding.EncodeToString([]byte(key))}
	for _, f := range forms {
		if strings.Contains(text, f) {
			return true
		}
	}
	// Decode every JSON string literal of text (whole values, SSE payloads,
	// log lines in JSON).
	for _, line := range strings.Split(text, "\n") {
		line = strings.TrimPrefix(strings.TrimSpace(line), "data: ")
		var v any
		if json.Unmarshal([]byte(line), &v) != nil {
			continue
		}
		found := false
		var walk func(any)
		walk = func(x any) {
			switch x := x.(type) {
			case string:
				for _, f := range forms {
					found = found || strings.Contains(x, f)
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
	return false
}

// An upstream that echoes the key escaped in every way a JSON encoder may:
// no answer (non-stream error, all_channels_failed, the upstream's own 400
// relayed, the mid-stream error event) and no log line shows it.
func TestKeyEchoedEscapedReachesNoClient(t *testing.T) {
	keys := map[string]string{
		"KEY_A": "sk-a/b+c=-0123456789-secret",
		"KEY_B": `sk-"quoted"-\-0123456789`,
		"KEY_C": "sk-clé-日本-😀-0123456789",
	}
	env := map[string]string{"ROUTER_TOKEN": "client-token-1", "ADMIN_TOKEN": "admin-token-1"}
	for k, v := range keys {
		env[k] = v
	}
	up := newLoopbackServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		key := strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")
		lit := escapeEvery("Incorrect API key provided: " + key)
		slash, _ := json.Marshal("key " + key)
		switch r.URL.Query().Get("case") {
		case "401":
			w.WriteHeader(401)
			w.Write([]byte(`{"error":{"message":` + lit + `,"type":"invalid_request_error","code":"invalid_api_key","param":null}}`))
		case "400":
			w.WriteHeader(400)
			w.Write([]byte(`{"error":{"message":` + strings.ReplaceAll(string(slash), "/", `\/`) +
				`,"type":"invalid_request_error","code":"bad","param":"` + url.QueryEscape(key) + `"}}`))
		case "inbody":
			w.Write([]byte(`{"error":{"message":` + lit + `,"code":500}}`))
		case "stream":
			w.Header().Set("Content-Type", "text/event-stream")
			w.Write([]byte("data: {\"choices\":[{\"delta\":{\"content\":\"a\"}}]}\n\ndata: {\"error\":{\"message\":" + lit + "}}\n\n"))
		}
	}))
	var logs syncBuffer
	for _, cs := range []string{"401", "400", "inbody", "stream"} {
		t.Run(cs, func(t *testing.T) {
			h := start(t, harnessOpt{
				env: env,
				spec: func(s *servertest.Spec) {
					for i := range s.Channels {
						s.Channels[i].BaseURL = up + "/v1?case=" + cs
					}
				},
				options: func(o *Options) {
					o.Logger = slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
				},
			})
			for _, model := range []string{"gpt-4o-mini", "qwen/qwen3-8b:free"} {
				stream := cs == "stream"
				body := `{"model":"` + model + `","stream":` + map[bool]string{true: "true", false: "false"}[stream] +
					`,"messages":[{"role":"user","content":"hi"}]}`
				a := h.chat(body, nil)
				text := string(a.body)
				for name, vs := range a.header {
					text += "\n" + name + ": " + strings.Join(vs, ",")
				}
				for env, key := range keys {
					if showsKey(text, key) {
						t.Errorf("answer to %s shows %s: %s", model, env, a.body)
					}
				}
				if !strings.Contains(text, redactedMark) {
					t.Errorf("answer to %s lost the upstream's message: %d %s", model, a.status, a.body)
				}
			}
		})
	}
	for env, key := range keys {
		if showsKey(logs.String(), key) {
			t.Errorf("the log shows %s:\n%s", env, logs.String())
		}
	}
}

// redactedMark is what upstream puts in place of a key.
const redactedMark = "[redacted]"
