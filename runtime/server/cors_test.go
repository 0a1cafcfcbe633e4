package server

import (
	"net/http"
	"testing"

	"smartrouter/runtime/internal/servertest"
)

func TestCORS(t *testing.T) {
	h := start(t, harnessOpt{spec: func(s *servertest.Spec) {
		s.Settings.CORSOrigins = []string{"https://chat.example/"}
	}})
	body := `{"model":"gpt-4o-mini","messages":[{"role":"user","content":"hi"}]}`

	pre := h.do(http.MethodOptions, PathChat, nil, map[string]string{"Origin": "https://chat.example",
		"Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "authorization, content-type"})
	if pre.status != http.StatusNoContent || pre.header.Get("Access-Control-Allow-Origin") != "https://chat.example" ||
		pre.header.Get("Access-Control-Allow-Headers") != "authorization, content-type" {
		t.Fatalf("preflight from an allowed origin: %d %v", pre.status, pre.header)
	}
	if bad := h.do(http.MethodOptions, PathChat, nil, map[string]string{"Origin": "https://evil.example",
		"Access-Control-Request-Method": "POST"}); bad.status != http.StatusForbidden || bad.header.Get("Access-Control-Allow-Origin") != "" {
		t.Fatalf("preflight from another origin: %d %v", bad.status, bad.header)
	}
	a := h.chat(body, map[string]string{"Origin": "https://chat.example"})
	if a.status != 200 || a.header.Get("Access-Control-Allow-Origin") != "https://chat.example" ||
		a.header.Get("Access-Control-Expose-Headers") == "" {
		t.Fatalf("chat from an allowed origin: %d %v", a.status, a.header)
	}
	if a := h.chat(body, map[string]string{"Origin": "https://evil.example"}); a.header.Get("Access-Control-Allow-Origin") != "" {
		t.Fatalf("CORS headers for an origin not in the list: %v", a.header)
	}
	if a := h.chat(body, nil); a.status != 200 || a.header.Get("Access-Control-Allow-Origin") != "" {
		t.Fatalf("CORS headers without an Origin: %d %v", a.status, a.header)
	}
}

func TestCORSPolicy(t *testing.T) {
	if p := newCORSPolicy([]string{"*"}); !p.allows("https://any.example") {
		t.Fatal(`"*" must allow any origin`)
	}
	if p := newCORSPolicy(nil); p.allows("https://any.example") {
		t.Fatal("an empty list must allow no origin")
	}
	if p := newCORSPolicy([]string{" HTTPS://A.example/ "}); !p.allows("https://a.example") || p.allows("https://b.example") {
		t.Fatal("origins compare case-insensitively without a trailing slash")
	}
}
