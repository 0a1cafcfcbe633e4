package server

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"smartrouter/format"
	"smartrouter/runtime/internal/servertest"
)

// The page's three files are served from the binary with their content
// types and a policy that lets no inline script run; together they stay
// small.
func TestStatusPageAssets(t *testing.T) {
	h := start(t, harnessOpt{})
	total := 0
	for path, ctype := range map[string]string{
		PathStatus: "text/html", PathStatus + "/": "text/html",
		PathStatusCSS: "text/css", PathStatusJS: "text/javascript",
	} {
		a := h.do(http.MethodGet, path, nil, nil)
		if a.status != 200 || !strings.HasPrefix(a.header.Get("Content-Type"), ctype) {
			t.Fatalf("GET %s: %d %q", path, a.status, a.header.Get("Content-Type"))
		}
		if csp := a.header.Get("Content-Security-Policy"); !strings.Contains(csp, "script-src 'self'") || strings.Contains(csp, "unsafe-inline") {
			t.Errorf("GET %s: Content-Security-Policy %q", path, csp)
		}
		if a.header.Get("X-Content-Type-Options") != "nosniff" {
			t.Errorf("GET %s: no nosniff", path)
		}
		if path != PathStatus+"/" {
			total += len(a.body)
		}
	}
	if total > 60<<10 {
		t.Errorf("the page weighs %d bytes, over 60 KiB", total)
	}
	// Nothing in the page reaches outside the server (no CDN, no font).
	for _, p := range []string{PathStatus, PathStatusCSS, PathStatusJS} {
		if b := h.do(http.MethodGet, p, nil, nil).body; strings.Contains(string(b), "http://") && p != PathStatusJS ||
			strings.Contains(string(b), "https://") || strings.Contains(string(b), "@import") {
			t.Errorf("%s refers to an outside resource", p)
		}
	}
	if a := h.do(http.MethodGet, PathStatus+"/nope.js", nil, nil); a.status != 404 {
		t.Errorf("unknown asset: %d", a.status)
	}
}

// GET /v1/admin/channels lists every channel with its configuration and
// live state; a failed attempt shows up as a pair cooldown with its kind
// and until-time; the request totals count answered requests.
func TestAdminChannels(t *testing.T) {
	env := map[string]string{"KEY_A": keyA, "KEY_B": keyB, "KEY_C": keyC, "KEY_X": "key-fail-500",
		"ADMIN_TOKEN": "admin-token-1"}
	h := start(t, harnessOpt{env: env, spec: func(s *servertest.Spec) {
		s.Channels = append(s.Channels, servertest.Channel{ID: "ch-x", Name: "Channel X", Provider: "mock",
			BaseURL: h0(s), Key: format.Secret{Env: "KEY_X"}, Tags: []string{"xss"},
			Models: []servertest.Model{{ID: "flaky-1", In: 1, Out: 1}}})
		s.Settings.AdminEnabled, s.Settings.AdminToken = true, format.Secret{Env: "ADMIN_TOKEN"}
	}})
	admin := map[string]string{"Authorization": "Bearer admin-token-1"}
	if a := h.do(http.MethodGet, PathAdminChannels, nil, nil); a.status != 401 || a.errorCode(t) != codeAuth {
		t.Fatalf("without the admin token: %d %s", a.status, a.body)
	}
	if a := h.chat(freeModel, nil); a.status != 200 {
		t.Fatalf("chat: %d %s", a.status, a.body)
	}
	if a := h.chat(`{"model":"flaky-1","messages":[{"role":"user","content":"hi"}]}`, nil); a.status < 500 {
		t.Fatalf("a request to the failing channel: %d %s", a.status, a.body)
	}
	a := h.do(http.MethodGet, PathAdminChannels, nil, admin)
	if a.status != 200 {
		t.Fatalf("channels: %d %s", a.status, a.body)
	}
	type pair struct {
		Model   string
		Cooling bool
		Kind    string
		Until   time.Time
	}
	var out struct {
		Object     string
		Generation uint64
		Traffic    struct {
			Requests, Errors uint64
			Uptime           float64 `json:"uptime_s"`
		}
		Data []struct {
			ID, Name, Provider string
			Enabled            bool
			Tags               []string
			Models             int
			DailyLimit         uint64 `json:"daily_limit"`
			Health             float64
			LatencyMs          float64 `json:"latency_ms"`
			Pairs              []pair
		}
	}
	if err := json.Unmarshal(a.body, &out); err != nil {
		t.Fatalf("%v: %s", err, a.body)
	}
	if out.Object != "list" || out.Generation != 1 || len(out.Data) != 4 {
		t.Fatalf("answer: %s", a.body)
	}
	if out.Traffic.Requests != 2 || out.Traffic.Errors != 1 || out.Traffic.Uptime <= 0 {
		t.Errorf("traffic %+v, want 2 requests and 1 error", out.Traffic)
	}
	c, x := out.Data[2], out.Data[3]
	if c.ID != "ch-c" || c.Name != "Channel C" || c.Provider != "other" || !c.Enabled || c.Models != 2 ||
		len(c.Tags) != 1 || c.LatencyMs <= 0 || c.Health != 1 {
		t.Errorf("ch-c: %+v", c)
	}
	if x.ID != "ch-x" || len(x.Pairs) != 1 || !x.Pairs[0].Cooling || x.Pairs[0].Model != "flaky-1" ||
		x.Pairs[0].Kind != "server" || x.Pairs[0].Until.IsZero() || x.Health >= 1 {
		t.Fatalf("ch-x after a 500: %+v", x)
	}
}

// h0 is the mock URL of the first channel of a spec.
func h0(s *servertest.Spec) string { return s.Channels[0].BaseURL }
