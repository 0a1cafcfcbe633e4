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

// A disallowed origin's state-changing requests are refused before any
// handler runs, whatever their content type (a browser sends a text/plain
// POST cross-site without a preflight); its GETs pass without CORS headers.
func TestCORSRefusesDisallowedOrigins(t *testing.T) {
	h := start(t, harnessOpt{spec: func(s *servertest.Spec) {
		s.Settings.CORSOrigins = []string{"https://chat.example"}
	}})
	body := `{"model":"gpt-4o-mini","messages":[{"role":"user","content":"hi"}]}`
	reloads := counter(t, h.srv.Metrics(), "smartrouter_snapshot_reloads_total", "success")
	for _, tc := range []struct {
		method, path, origin, ctype string
	}{
		{"POST", PathChat, "https://evil.example", "text/plain"},
		{"POST", PathChat, "https://evil.example", "application/json"},
		{"POST", PathChat, "null", "text/plain"},
		{"POST", PathAdminReload, "https://evil.example", "text/plain"},
		{"POST", PathAdminReload, "null", ""},
	} {
		hdr := map[string]string{"Origin": tc.origin, "Authorization": "Bearer admin-token-1"}
		if tc.ctype != "" {
			hdr["Content-Type"] = tc.ctype
		}
		a := h.do(tc.method, tc.path, []byte(body), hdr)
		if a.status != http.StatusForbidden || a.errorCode(t) != codeOrigin {
			t.Errorf("%s %s from %s: %d %s", tc.method, tc.path, tc.origin, a.status, a.body)
		}
		if a.header.Get("Access-Control-Allow-Origin") != "" {
			t.Errorf("%s %s from %s: CORS headers %v", tc.method, tc.path, tc.origin, a.header)
		}
	}
	if n := h.mock.Count(); n != 0 {
		t.Errorf("refused requests reached the upstream %d times", n)
	}
	if n := counter(t, h.srv.Metrics(), "smartrouter_snapshot_reloads_total", "success"); n != reloads {
		t.Errorf("a refused reload ran")
	}
	a := h.do("GET", PathModels, nil, map[string]string{"Origin": "https://evil.example"})
	if a.status != 200 || a.header.Get("Access-Control-Allow-Origin") != "" {
		t.Errorf("GET from a disallowed origin: %d %v", a.status, a.header)
	}
	if a := h.chat(body, map[string]string{"Origin": "https://chat.example"}); a.status != 200 {
		t.Errorf("POST from the allowed origin: %d %s", a.status, a.body)
	}
}

// "null" is not covered by "*"; it is allowed only when listed.
func TestCORSNullOrigin(t *testing.T) {
	body := `{"model":"gpt-4o-mini","messages":[{"role":"user","content":"hi"}]}`
	h := start(t, harnessOpt{spec: func(s *servertest.Spec) { s.Settings.CORSOrigins = []string{"*"} }})
	if a := h.chat(body, map[string]string{"Origin": "null"}); a.status != 403 || a.header.Get("Access-Control-Allow-Origin") != "" {
		t.Errorf(`Origin: null under "*": %d %v`, a.status, a.header)
	}
	if a := h.chat(body, map[string]string{"Origin": "https://any.example"}); a.status != 200 ||
		a.header.Get("Access-Control-Allow-Origin") != "https://any.example" {
		t.Errorf(`an origin under "*": %d %v`, a.status, a.header)
	}
	pre := h.do(http.MethodOptions, PathChat, nil, map[string]string{"Origin": "null", "Access-Control-Request-Method": "POST"})
	if pre.status != 403 || pre.header.Get("Access-Control-Allow-Origin") != "" {
		t.Errorf(`preflight from null under "*": %d %v`, pre.status, pre.header)
	}

	h2 := start(t, harnessOpt{spec: func(s *servertest.Spec) { s.Settings.CORSOrigins = []string{"null"} }})
	if a := h2.chat(body, map[string]string{"Origin": "null"}); a.status != 200 || a.header.Get("Access-Control-Allow-Origin") != "null" {
		t.Errorf(`Origin: null when listed: %d %v`, a.status, a.header)
	}
}
