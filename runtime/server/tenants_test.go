package server

import (
	"bufio"
	"context"
	"crypto/sha256"
	"errors"
	"log/slog"
	"maps"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"

	"smartrouter/fixtures/mockllm"
	"smartrouter/format"
	"smartrouter/runtime/internal/servertest"
)

// fakeClock is a settable clock for Options.Clock.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func hashOf(tok string) [32]byte { return sha256.Sum256([]byte(tok)) }

// Client keys of the tenant tests; the tokens are what clients send.
const (
	tokOpen    = "ck-open-0123456789"
	tokTeam    = "ck-team-0123456789" // from the environment
	tokNarrow  = "ck-narrow-0123456789"
	tokRPM     = "ck-rpm-0123456789"
	tokBroke   = "ck-broke-0123456789"
	tokOld     = "ck-old-0123456789"
	tokOne     = "ck-one-0123456789"
	tokMissing = "ck-missing-0123456789" // its variable is not set
	tokBig     = "ck-big-0123456789"     // every limit set, none reached
)

var tenantClock0 = time.Date(2026, 12, 3, 10, 0, 0, 0, time.UTC)

func withClientKeys(sp *servertest.Spec) {
	withEmbeddings(sp)
	sp.ClientKeys = []format.ClientKey{
		{Name: "open", KeyHash: hashOf(tokOpen)},
		{Name: "team", KeyEnv: "TEAM_KEY", Strategy: "free_first"},
		{Name: "narrow", KeyHash: hashOf(tokNarrow), Models: []string{"qwen/qwen3-8b:free", "tag:free"}},
		{Name: "rpm", KeyHash: hashOf(tokRPM), RPM: 1},
		{Name: "broke", KeyHash: hashOf(tokBroke), DailyUSD: 2, MonthlyUSD: 100},
		{Name: "old", KeyHash: hashOf(tokOld), Expires: tenantClock0.Unix() - 1},
		{Name: "one", KeyHash: hashOf(tokOne), Concurrent: 1},
		{Name: "missing", KeyEnv: "MISSING_KEY"},
		{Name: "big", KeyHash: hashOf(tokBig), Models: []string{"gpt-4o-mini", "tag:free"},
			RPM: 1 << 30, TPM: 1 << 40, Concurrent: 1 << 20, DailyUSD: 1e9, MonthlyUSD: 1e9},
	}
}

func tenantHarness(t *testing.T, clk *fakeClock, log *syncBuffer, mock mockllm.Config, more func(*servertest.Spec)) *harness {
	env := maps.Clone(testEnv)
	env["TEAM_KEY"] = tokTeam
	return start(t, harnessOpt{mock: mock, env: env,
		spec: func(sp *servertest.Spec) {
			withClientKeys(sp)
			if more != nil {
				more(sp)
			}
		},
		options: func(o *Options) {
			o.Clock = clk.now
			if log != nil {
				o.Logger = slog.New(slog.NewTextHandler(log, &slog.HandlerOptions{Level: slog.LevelInfo}))
			}
		}})
}

// tenantSurface is one API surface: how to ask it for a model, and how to
// read the error it answers.
type tenantSurface struct {
	name  string
	model string // a model every test key may call there (but narrow)
	req   func(h *harness, model, tok string) answer
	shape func(t *testing.T, a answer) (kind, msg string) // the error type/status/code and the message
}

func bearer(tok string) map[string]string {
	if tok == "" {
		return nil
	}
	return map[string]string{"Authorization": "Bearer " + tok}
}

func openAIShape(t *testing.T, a answer) (string, string) {
	code := a.errorCode(t)
	e := a.json(t)["error"].(map[string]any)
	return code, e["message"].(string)
}

func tenantSurfaces() []tenantSurface {
	return []tenantSurface{
		{"chat", "gpt-4o-mini", func(h *harness, m, tok string) answer {
			return h.do(http.MethodPost, PathChat, []byte(`{"model":"`+m+`","messages":[{"role":"user","content":"hello"}]}`), bearer(tok))
		}, openAIShape},
		{"completions", "gpt-4o-mini", func(h *harness, m, tok string) answer {
			return h.do(http.MethodPost, PathCompletions, []byte(`{"model":"`+m+`","prompt":"hello"}`), bearer(tok))
		}, openAIShape},
		{"embeddings", "text-embedding-3-small", func(h *harness, m, tok string) answer {
			return h.do(http.MethodPost, PathEmbeddings, []byte(`{"model":"`+m+`","input":"hello"}`), bearer(tok))
		}, openAIShape},
		{"messages", "gpt-4o-mini", func(h *harness, m, tok string) answer {
			hdr := map[string]string{"anthropic-version": "2023-06-01"}
			if tok != "" {
				hdr["x-api-key"] = tok
			}
			return h.do(http.MethodPost, PathMessages, []byte(`{"model":"`+m+`","max_tokens":20,"messages":[{"role":"user","content":"hello"}]}`), hdr)
		}, func(t *testing.T, a answer) (string, string) {
			m := a.json(t)
			e, _ := m["error"].(map[string]any)
			if m["type"] != "error" || e == nil || e["message"] == nil {
				t.Fatalf("not an Anthropic error: %s", a.body)
			}
			return e["type"].(string), e["message"].(string)
		}},
		{"gemini", "gpt-4o-mini", func(h *harness, m, tok string) answer {
			var hdr map[string]string
			if tok != "" {
				hdr = map[string]string{"x-goog-api-key": tok}
			}
			return h.do(http.MethodPost, PathGeminiBeta+m+":generateContent", []byte(`{"contents":[{"parts":[{"text":"hello"}]}]}`), hdr)
		}, func(t *testing.T, a answer) (string, string) {
			e, _ := a.json(t)["error"].(map[string]any)
			if e == nil || e["code"] == nil || e["status"] == nil {
				t.Fatalf("not a Google error: %s", a.body)
			}
			if int(e["code"].(float64)) != a.status {
				t.Errorf("error.code %v differs from the status %d", e["code"], a.status)
			}
			return e["status"].(string), e["message"].(string)
		}},
	}
}

// TestClientKeysEverySurface asks every surface, through real HTTP, with a
// good key, no key, an expired key, a refused key, a model outside the
// allowance, over the rate limit and over the budget, and checks each
// status and error in the surface's own shape.
func TestClientKeysEverySurface(t *testing.T) {
	clk := &fakeClock{t: tenantClock0}
	var log syncBuffer
	h := tenantHarness(t, clk, &log, mockllm.Config{}, nil)
	h.srv.tenants.SeedSpend(clk.now(), map[string]float64{"broke": 2}, nil)

	type want struct {
		status int
		kind   string
	}
	wants := map[string]map[string]want{
		"unauthorized": {"chat": {401, codeAuth}, "completions": {401, codeAuth}, "embeddings": {401, codeAuth}, "messages": {401, "authentication_error"}, "gemini": {401, "UNAUTHENTICATED"}},
		"forbidden":    {"chat": {403, codeModelNotAllowed}, "completions": {403, codeModelNotAllowed}, "embeddings": {403, codeModelNotAllowed}, "messages": {403, "permission_error"}, "gemini": {403, "PERMISSION_DENIED"}},
		"rate limited": {"chat": {429, codeRateLimit}, "completions": {429, codeRateLimit}, "embeddings": {429, codeRateLimit}, "messages": {429, "rate_limit_error"}, "gemini": {429, "RESOURCE_EXHAUSTED"}},
		"over budget":  {"chat": {429, codeBudget}, "completions": {429, codeBudget}, "embeddings": {429, codeBudget}, "messages": {402, "billing_error"}, "gemini": {429, "RESOURCE_EXHAUSTED"}},
	}
	for _, sf := range tenantSurfaces() {
		t.Run(sf.name, func(t *testing.T) {
			check := func(what string, a answer, msgHas string) {
				t.Helper()
				w := wants[what][sf.name]
				kind, msg := sf.shape(t, a)
				if a.status != w.status || kind != w.kind || !strings.Contains(msg, msgHas) {
					t.Errorf("%s: %d %s %q; want %d %s with %q\n%s", what, a.status, kind, msg, w.status, w.kind, msgHas, a.body)
				}
				if strings.Contains(string(a.body), "ck-") {
					t.Errorf("%s: the answer shows a client key: %s", what, a.body)
				}
			}
			for _, tok := range []string{tokOpen, tokTeam} {
				if a := sf.req(h, sf.model, tok); a.status != 200 {
					t.Fatalf("good key: %d %s", a.status, a.body)
				}
			}
			check("unauthorized", sf.req(h, sf.model, ""), "missing or wrong API key")
			check("unauthorized", sf.req(h, sf.model, "ck-wrong"), "missing or wrong API key")
			check("unauthorized", sf.req(h, sf.model, tokMissing), "missing or wrong API key")
			check("unauthorized", sf.req(h, sf.model, "client-token-0"), "missing or wrong API key")
			check("unauthorized", sf.req(h, sf.model, tokOld), `client key "old" expired at`)
			check("forbidden", sf.req(h, sf.model, tokNarrow), `client key "narrow" may not use model "`+sf.model+`"`)

			n := h.mock.Count()
			if a := sf.req(h, sf.model, tokRPM); a.status != 200 {
				t.Fatalf("first request of the rpm key: %d %s", a.status, a.body)
			}
			a := sf.req(h, sf.model, tokRPM)
			check("rate limited", a, "limit of 1 requests per minute")
			if a.header.Get("Retry-After") != "60" {
				t.Errorf("Retry-After %q; want 60", a.header.Get("Retry-After"))
			}
			a = sf.req(h, sf.model, tokBroke)
			check("over budget", a, `client key "broke" has spent its daily budget of 2 USD (budget.daily_usd)`)
			untilMidnight := strconv.Itoa(int(tenantClock0.Add(24*time.Hour-10*time.Hour).Sub(clk.now()) / time.Second))
			if a.header.Get("Retry-After") != untilMidnight {
				t.Errorf("Retry-After %q; want %s (00:00 UTC)", a.header.Get("Retry-After"), untilMidnight)
			}
			if got := h.mock.Count() - n; got != 1 {
				t.Errorf("%d upstream calls for one admitted request", got)
			}
			clk.add(time.Minute) // the next surface starts with a full minute
		})
	}
	if strings.Contains(log.String(), "ck-") {
		t.Errorf("the log shows a client key:\n%s", log.String())
	}
	if n := strings.Count(log.String(), "client key refused"); n != 1 || !strings.Contains(log.String(), "MISSING_KEY") {
		t.Errorf("want one log line for the refused key:\n%s", log.String())
	}
}

// TestClientKeysSharedToken checks that auth.api_token keeps working beside
// the client keys, and that /v1/models takes a client key too.
func TestClientKeysSharedToken(t *testing.T) {
	clk := &fakeClock{t: tenantClock0}
	h := tenantHarness(t, clk, nil, mockllm.Config{}, func(sp *servertest.Spec) {
		sp.Settings.AuthEnabled = true
		sp.Settings.APIToken = format.Secret{Env: "ROUTER_TOKEN"}
	})
	if a := h.chat(`{"model":"gpt-4o-mini","messages":[{"role":"user","content":"hi"}]}`, bearer("client-token-1")); a.status != 200 {
		t.Fatalf("shared token: %d %s", a.status, a.body)
	}
	if a := h.do(http.MethodGet, PathModels, nil, bearer(tokOpen)); a.status != 200 {
		t.Fatalf("models with a client key: %d %s", a.status, a.body)
	}
	if a := h.do(http.MethodGet, PathModels, nil, bearer("nope")); a.status != 401 {
		t.Fatalf("models with a wrong key: %d %s", a.status, a.body)
	}
}

// TestClientKeyStrategy checks the key's default strategy and that the
// X-Router-Strategy header still wins.
func TestClientKeyStrategy(t *testing.T) {
	clk := &fakeClock{t: tenantClock0}
	h := tenantHarness(t, clk, nil, mockllm.Config{}, nil)
	body := `{"model":"gpt-4o-mini","messages":[{"role":"user","content":"hi"}]}`
	if a := h.chat(body, bearer(tokTeam)); a.status != 200 || a.header.Get(HeaderStrategy) != "free_first" {
		t.Errorf("team key: %d strategy %q", a.status, a.header.Get(HeaderStrategy))
	}
	hdr := bearer(tokTeam)
	hdr[HeaderStrategy] = "balanced"
	if a := h.chat(body, hdr); a.status != 200 || a.header.Get(HeaderStrategy) != "balanced" {
		t.Errorf("header: %d strategy %q", a.status, a.header.Get(HeaderStrategy))
	}
	if a := h.chat(body, bearer(tokOpen)); a.header.Get(HeaderStrategy) != "cost_first" {
		t.Errorf("open key: strategy %q", a.header.Get(HeaderStrategy))
	}
}

// TestClientKeyConcurrentStream checks that a stream holds its in-flight
// slot until the relay ends, and that the slot comes back.
func TestClientKeyConcurrentStream(t *testing.T) {
	clk := &fakeClock{t: tenantClock0}
	h := tenantHarness(t, clk, nil, mockllm.Config{Chunks: 3, ChunkDelay: 300 * time.Millisecond}, nil)
	body := `{"model":"gpt-4o-mini","stream":true,"messages":[{"role":"user","content":"hi"}]}`
	req, _ := http.NewRequest(http.MethodPost, h.url+PathChat, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+tokOne)
	req.Header.Set("Content-Type", "application/json")
	resp, err := h.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != 200 {
		t.Fatalf("stream: %d", resp.StatusCode)
	}
	rd := bufio.NewReader(resp.Body)
	if _, err := rd.ReadString('\n'); err != nil {
		t.Fatal(err)
	}
	a := h.chat(`{"model":"gpt-4o-mini","messages":[{"role":"user","content":"hi"}]}`, bearer(tokOne))
	if a.status != 429 || a.errorCode(t) != codeRateLimit || !strings.Contains(string(a.body), "1 concurrent requests") || a.header.Get("Retry-After") != "1" {
		t.Fatalf("second request while streaming: %d %s", a.status, a.body)
	}
	for {
		if _, err := rd.ReadString('\n'); err != nil {
			break
		}
	}
	resp.Body.Close()
	// The relay's Close runs just after the last write: wait for it.
	deadline := time.Now().Add(5 * time.Second)
	for {
		if _, _, n := h.srv.tenants.Spend("one", clk.now()); n == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the stream's in-flight slot was never given back")
		}
		time.Sleep(5 * time.Millisecond)
	}
	if a := h.chat(`{"model":"gpt-4o-mini","messages":[{"role":"user","content":"hi"}]}`, bearer(tokOne)); a.status != 200 {
		t.Fatalf("after the stream: %d %s", a.status, a.body)
	}
	if a := h.chat(`{"model":"gpt-4o-mini","messages":[{"role":"user","content":"hi"}]}`, bearer(tokOne)); a.status != 200 {
		t.Fatalf("a non-stream answer kept its slot: %d %s", a.status, a.body)
	}
}

// TestClientKeySpend checks that answers are charged at the pair's price
// on every surface that reports usage, streams included.
func TestClientKeySpend(t *testing.T) {
	clk := &fakeClock{t: tenantClock0}
	h := tenantHarness(t, clk, nil, mockllm.Config{Chunks: 4}, nil)
	day := func() float64 { d, _, _ := h.srv.tenants.Spend("open", clk.now()); return d }
	prev := 0.0
	for _, sf := range tenantSurfaces() {
		if a := sf.req(h, sf.model, tokOpen); a.status != 200 {
			t.Fatalf("%s: %d %s", sf.name, a.status, a.body)
		}
		if d := day(); d <= prev {
			t.Errorf("%s: spend %v did not grow from %v", sf.name, d, prev)
		} else {
			prev = d
		}
	}
	a := h.chat(`{"model":"gpt-4o-mini","stream":true,"messages":[{"role":"user","content":"hello"}]}`, bearer(tokOpen))
	if a.status != 200 || !strings.Contains(string(a.body), "[DONE]") {
		t.Fatalf("stream: %d %s", a.status, a.body)
	}
	deadline := time.Now().Add(5 * time.Second)
	for day() <= prev {
		if time.Now().After(deadline) {
			t.Fatal("the stream was never charged")
		}
		time.Sleep(5 * time.Millisecond)
	}
	// Free models cost nothing.
	before := day()
	if a := h.chat(`{"model":"qwen/qwen3-8b:free","messages":[{"role":"user","content":"hello"}]}`, bearer(tokOpen)); a.status != 200 {
		t.Fatalf("free: %d %s", a.status, a.body)
	}
	if day() != before {
		t.Errorf("a free model was charged: %v -> %v", before, day())
	}
}

// TestClientKeysOpenAISDK checks that the official SDK raises its typed
// error for a 403 and a 429 of a client key.
func TestClientKeysOpenAISDK(t *testing.T) {
	clk := &fakeClock{t: tenantClock0}
	h := tenantHarness(t, clk, nil, mockllm.Config{}, nil)
	h.srv.tenants.SeedSpend(clk.now(), nil, map[string]float64{"broke": 100})
	ctx := context.Background()
	call := func(tok string) error {
		c := openai.NewClient(option.WithBaseURL(h.url+"/v1/"), option.WithAPIKey(tok), option.WithMaxRetries(0), option.WithHTTPClient(h.client))
		_, err := c.Chat.Completions.New(ctx, openai.ChatCompletionNewParams{
			Model: "gpt-4o-mini", Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("hello")},
		})
		return err
	}
	if err := call(tokRPM); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		tok    string
		status int
		code   string
	}{
		{tokNarrow, 403, codeModelNotAllowed},
		{tokRPM, 429, codeRateLimit},
		{tokBroke, 429, codeBudget},
		{tokOld, 401, codeAuth},
	} {
		err := call(tc.tok)
		var ae *openai.Error
		if !errors.As(err, &ae) {
			t.Fatalf("%s: error %v is not an *openai.Error", tc.code, err)
		}
		if ae.StatusCode != tc.status || ae.Code != tc.code || ae.Message == "" {
			t.Errorf("SDK error: status %d code %q message %q; want %d %s", ae.StatusCode, ae.Code, ae.Message, tc.status, tc.code)
		}
	}
}

// TestClientKeyAllocsPerProxiedRequest guards what a client key with every
// limit adds to a proxied request: no allocation (the request with the
// key against the same request on a server without keys).
func TestClientKeyAllocsPerProxiedRequest(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts differ under -race")
	}
	measure := func(h *harness, tok string) float64 {
		p := newInProcess(h, "POST", PathChat, hello)
		if tok != "" {
			p.req.Header.Set("Authorization", "Bearer "+tok)
		}
		for range 5 {
			if st := p.do(); st != 200 {
				t.Fatalf("status %d: %s", st, p.ctx.Response.Body())
			}
		}
		return testing.AllocsPerRun(200, func() { p.do() })
	}
	plain := measure(start(t, harnessOpt{}), "")
	keyed := measure(tenantHarness(t, &fakeClock{t: tenantClock0}, nil, mockllm.Config{}, nil), tokBig)
	t.Logf("without keys %.1f, with a client key %.1f allocations per request", plain, keyed)
	if keyed > plain {
		t.Errorf("a client key adds %.1f allocations per request; want 0", keyed-plain)
	}
}

// TestChannelLimitsEnforced checks, through real HTTP, that a channel's
// daily_limit and its provider's rate_limit filter the channel once used up
// (another channel serves) and that GET /v1/admin/route gives the reasons.
func TestChannelLimitsEnforced(t *testing.T) {
	clk := &fakeClock{t: tenantClock0}
	h := start(t, harnessOpt{spec: func(sp *servertest.Spec) {
		sp.Channels[0].DailyLimit = 1 // ch-a
		sp.Channels[0].RateLimit = 1  // provider "mock": ch-a and ch-b, one per minute each
	}, options: func(o *Options) { o.Clock = clk.now }})
	body := `{"model":"gpt-4o-mini","messages":[{"role":"user","content":"hi"}]}`
	var served []string
	for range 3 {
		a := h.chat(body, nil)
		served = append(served, a.header.Get(HeaderChannel)+" "+strconv.Itoa(a.status))
	}
	if strings.Join(served, ",") != "ch-a 200,ch-b 200, 503" {
		t.Errorf("served by %v; want ch-a, ch-b, then 503 (both limited)", served)
	}
	filtered := func(wantStatus int) map[string]string {
		t.Helper()
		a := h.do(http.MethodGet, PathAdminRoute+"?model=gpt-4o-mini", nil, nil)
		if a.status != wantStatus {
			t.Fatalf("route: %d %s", a.status, a.body)
		}
		got := map[string]string{}
		for _, f := range a.json(t)["explain"].(map[string]any)["filtered"].([]any) {
			m := f.(map[string]any)
			got[m["channel"].(string)] = m["reason"].(string)
		}
		return got
	}
	if got := filtered(503); got["ch-a"] != "daily_limit" || got["ch-b"] != "rate_limited" {
		t.Errorf("filtered %v; want ch-a daily_limit and ch-b rate_limited", got)
	}
	clk.add(time.Minute)
	got := filtered(200)
	if got["ch-a"] != "daily_limit" || got["ch-b"] != "" {
		t.Errorf("a minute later: filtered %v; want only ch-a (daily_limit)", got)
	}
}

// TestClientKeysNeverAdmin checks that a client key does not open the
// admin paths when the admin auth is off (they follow the shared token
// alone) nor when it is on.
func TestClientKeysNeverAdmin(t *testing.T) {
	for _, adminOn := range []bool{false, true} {
		clk := &fakeClock{t: tenantClock0}
		h := tenantHarness(t, clk, nil, mockllm.Config{}, func(sp *servertest.Spec) {
			sp.Settings.AuthEnabled = true
			sp.Settings.APIToken = format.Secret{Env: "ROUTER_TOKEN"}
			sp.Settings.AdminEnabled = adminOn
			sp.Settings.AdminToken = format.Secret{Env: "ADMIN_TOKEN"}
		})
		if a := h.do(http.MethodGet, PathAdminSnap, nil, bearer(tokOpen)); a.status != 401 {
			t.Errorf("admin on %v: a client key got %d on %s", adminOn, a.status, PathAdminSnap)
		}
		good := "client-token-1"
		if adminOn {
			good = "admin-token-1"
		}
		if a := h.do(http.MethodGet, PathAdminSnap, nil, bearer(good)); a.status != 200 {
			t.Errorf("admin on %v: the right token got %d", adminOn, a.status)
		}
	}
}
