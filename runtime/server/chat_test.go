package server

import (
	"bytes"
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"smartrouter/fixtures/mockllm"
	"smartrouter/format"
	"smartrouter/runtime/internal/servertest"
)

const hello = `{"model":"gpt-4o-mini","messages":[{"role":"user","content":"hi"}]}`

func TestChatNonStream(t *testing.T) {
	h := start(t, harnessOpt{})
	a := h.chat(hello, nil)
	if a.status != http.StatusOK {
		t.Fatalf("status %d: %s", a.status, a.body)
	}
	m := a.json(t)
	choices := m["choices"].([]any)
	msg := choices[0].(map[string]any)["message"].(map[string]any)
	if got, want := msg["content"], mockllm.Content(mockllm.DefaultChunks); got != want {
		t.Errorf("content %q, want %q", got, want)
	}
	meta, ok := m["smart_ai_router"].(map[string]any)
	if !ok {
		t.Fatalf("no smart_ai_router object: %s", a.body)
	}
	if meta["request_id"] != a.header.Get(HeaderRequestID) || a.header.Get(HeaderRequestID) == "" {
		t.Errorf("request_id %v, header %q", meta["request_id"], a.header.Get(HeaderRequestID))
	}
	rt := meta["routing"].(map[string]any)
	ch := rt["channel"].(map[string]any)
	for k, want := range map[string]any{"model_requested": "gpt-4o-mini", "model_used": "gpt-4o-mini",
		"strategy": "cost_first", "attempts": 1.0} {
		if rt[k] != want {
			t.Errorf("routing.%s = %v, want %v", k, rt[k], want)
		}
	}
	if ch["id"] != "ch-a" || ch["name"] != "Channel A" || ch["provider"] != "mock" {
		t.Errorf("routing.channel = %v", ch)
	}
	if s, _ := rt["score"].(float64); s <= 0 || s > 1 {
		t.Errorf("routing.score = %v", rt["score"])
	}
	tok := meta["tokens"].(map[string]any)
	usage := m["usage"].(map[string]any)
	if tok["prompt_tokens"] != usage["prompt_tokens"] || tok["completion_tokens"] != usage["completion_tokens"] {
		t.Errorf("tokens %v, usage %v", tok, usage)
	}
	cost := meta["cost"].(map[string]any)
	wantPrompt := usage["prompt_tokens"].(float64) * 150_000 / 1e12
	if got := cost["prompt_usd"].(float64); got < wantPrompt*0.999 || got > wantPrompt*1.001 {
		t.Errorf("prompt_usd %v, want %v", got, wantPrompt)
	}
	perf := meta["performance"].(map[string]any)
	if perf["overhead_ms"].(float64) > perf["latency_ms"].(float64) {
		t.Errorf("overhead %v > latency %v", perf["overhead_ms"], perf["latency_ms"])
	}
	for name, want := range map[string]string{HeaderChannel: "ch-a", HeaderProvider: "mock",
		HeaderModel: "gpt-4o-mini", HeaderStrategy: "cost_first", HeaderAttempts: "1"} {
		if got := a.header.Get(name); got != want {
			t.Errorf("%s = %q, want %q", name, got, want)
		}
	}
	for _, name := range []string{HeaderScore, HeaderOverhead} {
		if a.header.Get(name) == "" {
			t.Errorf("no %s header", name)
		}
	}
	if a.header.Get(HeaderStatus) != "" {
		t.Errorf("X-Router-Status on a success: %q", a.header.Get(HeaderStatus))
	}
	// The upstream got the channel's key and nothing else of the client.
	last, _ := h.mock.LastRequest()
	if last.Key != keyA {
		t.Errorf("upstream key %q, want the resolved ${KEY_A}", last.Key)
	}
}

func TestChatStrategyHeaderAndClientRequestID(t *testing.T) {
	h := start(t, harnessOpt{})
	a := h.chat(hello, map[string]string{"X-Router-Strategy": "quality_optimized", HeaderRequestID: "trace-123.a:b"})
	if a.status != 200 {
		t.Fatalf("status %d: %s", a.status, a.body)
	}
	if got := a.header.Get(HeaderStrategy); got != "quality_optimized" {
		t.Errorf("strategy header %q", got)
	}
	if got := a.header.Get(HeaderRequestID); got != "trace-123.a:b" {
		t.Errorf("request id %q, want the client's", got)
	}
	// A request id with unsafe characters is replaced.
	a = h.chat(hello, map[string]string{HeaderRequestID: "bad id\twith space"})
	if got := a.header.Get(HeaderRequestID); !strings.HasPrefix(got, "req-") {
		t.Errorf("request id %q, want a generated one", got)
	}
}

// Every field the client sends reaches the upstream byte for byte; only
// "model" changes.
func TestForwardedFieldsByteIdentical(t *testing.T) {
	const tail = `,"messages":[{"role":"system","content":"be brief"},` +
		`{"role":"user","content":[{"type":"text","text":"what is this?"},{"type":"image_url","image_url":{"url":"data:image/png;base64,iVBORw0KGgo=","detail":"low"}}]},` +
		`{"role":"assistant","content":null,"tool_calls":[{"id":"call_1","type":"function","function":{"name":"lookup","arguments":"{\"q\":\"x\"}"}}]},` +
		`{"role":"tool","tool_call_id":"call_1","name":"lookup","content":"42"}],` +
		`"tools":[{"type":"function","function":{"name":"lookup","parameters":{"type":"object","properties":{"q":{"type":"string"}}}}}],` +
		`"tool_choice":"auto","parallel_tool_calls":false,"stop":["\n\n","END"],"seed":42,"top_p":0.9,"temperature":0.2,` +
		`"frequency_penalty":0.1,"presence_penalty":-0.5,"response_format":{"type":"json_schema","json_schema":{"name":"x","schema":{"type":"object"}}},` +
		`"user":"u-1","n":1,"logprobs":true,"top_logprobs":2,"x_vendor":{"nested":[1,2.50,{"k":"\u00e9\u4e2d"}],"flag":null},` +
		`  "max_tokens" : 50 }`
	cases := []struct {
		name   string
		model  string // as the client sends it (JSON)
		stream string
	}{
		{"physical name", `"gpt-4o-mini"`, ""},
		{"tag query", `"tag:gpt,mini"`, ""},
		{"escaped model string", `"gpt-4o\u002dmini"`, ""},
		{"stream with include_usage", `"tag:mini"`, `,"stream":true,"stream_options":{"include_usage":true}`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h := start(t, harnessOpt{})
			body := `{ "model" : ` + tc.model + tc.stream + tail
			if !json.Valid([]byte(body)) {
				t.Fatalf("test body is not JSON: %s", body)
			}
			a := h.chat(body, nil)
			if a.status != 200 {
				t.Fatalf("status %d: %s", a.status, a.body)
			}
			last, ok := h.mock.LastRequest()
			if !ok {
				t.Fatal("mock recorded nothing")
			}
			want := `{ "model" : "gpt-4o-mini"` + tc.stream + tail
			if string(last.Body) != want {
				t.Errorf("upstream body differs\n got: %s\nwant: %s", last.Body, want)
			}
		})
	}
}

// Client headers are not forwarded, except the allow-list.
func TestClientHeadersNotForwarded(t *testing.T) {
	h := start(t, harnessOpt{})
	a := h.chat(hello, map[string]string{"Authorization": "Bearer client-secret", "Cookie": "c=1",
		"X-Custom": "nope", "OpenAI-Beta": "assistants=v2"})
	if a.status != 200 {
		t.Fatalf("status %d: %s", a.status, a.body)
	}
	last, _ := h.mock.LastRequest()
	if got := last.Header.Get("Authorization"); got != "Bearer "+keyA {
		t.Errorf("upstream Authorization is not the channel key")
	}
	for _, name := range []string{"Cookie", "X-Custom"} {
		if last.Header.Get(name) != "" {
			t.Errorf("client header %s was forwarded", name)
		}
	}
	if got := last.Header.Get("OpenAI-Beta"); got != "assistants=v2" {
		t.Errorf("OpenAI-Beta = %q, want it forwarded", got)
	}
}

// Failover on channel failures, with the cooldown applied to the next
// request: the failing channel is not tried again.
func TestFailoverAndCooldown(t *testing.T) {
	cases := []struct {
		name     string
		rule     mockllm.Rule
		settings func(*format.Settings)
		kind     string // outcome cooldown kind (outcome.Kind.CooldownKind)
		channel  bool   // the whole channel cools (auth)
	}{
		{name: "401", rule: mockllm.Rule{Key: keyA, Status: 401}, kind: "auth", channel: true},
		{name: "403", rule: mockllm.Rule{Key: keyA, Status: 403}, kind: "auth", channel: true},
		{name: "429", rule: mockllm.Rule{Key: keyA, Status: 429, RetryAfter: "7"}, kind: "rate_limit"},
		{name: "429 quota", rule: mockllm.Rule{Key: keyA, Status: 429, Message: "You exceeded your current quota"}, kind: "quota"},
		{name: "402", rule: mockllm.Rule{Key: keyA, Status: 402}, kind: "quota"},
		{name: "404", rule: mockllm.Rule{Key: keyA, Status: 404}, kind: "not_found"},
		{name: "500", rule: mockllm.Rule{Key: keyA, Status: 500}, kind: "server"},
		{name: "503", rule: mockllm.Rule{Key: keyA, Status: 503}, kind: "server"},
		{name: "timeout", rule: mockllm.Rule{Key: keyA, Fault: mockllm.FaultHang}, kind: "timeout",
			settings: func(s *format.Settings) { s.ReadTimeoutMs = 200 }},
		{name: "cut answer", rule: mockllm.Rule{Key: keyA, Fault: mockllm.FaultDrop}, kind: "timeout"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h := start(t, harnessOpt{
				mock: mockllm.Config{Rules: []mockllm.Rule{tc.rule}},
				spec: func(s *servertest.Spec) {
					if tc.settings != nil {
						tc.settings(&s.Settings)
					}
				},
			})
			a := h.chat(hello, nil)
			if a.status != 200 {
				t.Fatalf("status %d: %s", a.status, a.body)
			}
			if got := a.header.Get(HeaderChannel); got != "ch-b" {
				t.Errorf("served by %q, want ch-b", got)
			}
			if got := a.header.Get(HeaderAttempts); got != "2" {
				t.Errorf("attempts %q, want 2", got)
			}
			meta := a.json(t)["smart_ai_router"].(map[string]any)["routing"].(map[string]any)
			if meta["attempts"] != 2.0 {
				t.Errorf("metadata attempts %v", meta["attempts"])
			}
			if got := strings.Join(h.keysSeen(), ","); got != keyA+","+keyB {
				t.Fatalf("upstream saw keys %q, want a then b", got)
			}
			st := h.srv.Live().Channel("ch-a")
			switch {
			case tc.channel:
				if st.Cooling == nil || st.Cooling.Kind.String() != tc.kind {
					t.Errorf("ch-a cooling %+v, want a %s channel cooldown", st.Cooling, tc.kind)
				}
			default:
				if len(st.Pairs) != 1 || !st.Pairs[0].Cooling || st.Pairs[0].Kind.String() != tc.kind {
					t.Errorf("ch-a pairs %+v, want gpt-4o-mini cooling (%s)", st.Pairs, tc.kind)
				}
			}
			// Next request: ch-a is cooling and not tried.
			h.mock.Reset()
			a = h.chat(hello, nil)
			if a.status != 200 || a.header.Get(HeaderChannel) != "ch-b" || a.header.Get(HeaderAttempts) != "1" {
				t.Errorf("second request: %d via %q in %s attempts", a.status, a.header.Get(HeaderChannel), a.header.Get(HeaderAttempts))
			}
			if got := strings.Join(h.keysSeen(), ","); got != keyB {
				t.Errorf("second request reached %q, want only ch-b", got)
			}
		})
	}
}

func TestRateLimitCooldownUsesRetryAfter(t *testing.T) {
	h := start(t, harnessOpt{mock: mockllm.Config{Rules: []mockllm.Rule{{Key: keyA, Status: 429, RetryAfter: "7"}}}})
	if a := h.chat(hello, nil); a.status != 200 {
		t.Fatalf("status %d", a.status)
	}
	st := h.srv.Live().Channel("ch-a")
	if len(st.Pairs) != 1 || st.Pairs[0].Period.Seconds() != 7 {
		t.Errorf("pair cooldown %+v, want 7 s from Retry-After", st.Pairs)
	}
}

// 400/413/422 from the upstream: the request is at fault, returned as is,
// no other channel tried, nothing cooled.
func TestNoFailoverOnBadRequest(t *testing.T) {
	for _, status := range []int{400, 413, 422} {
		t.Run(http.StatusText(status), func(t *testing.T) {
			h := start(t, harnessOpt{mock: mockllm.Config{Rules: []mockllm.Rule{
				{Key: keyA, Status: status, Message: "max_tokens is too large", Code: "bad_max_tokens"}}}})
			a := h.chat(hello, nil)
			if a.status != status {
				t.Fatalf("status %d, want %d: %s", a.status, status, a.body)
			}
			if code := a.errorCode(t); code != "bad_max_tokens" {
				t.Errorf("code %q, want the upstream's own error relayed", code)
			}
			if got := strings.Join(h.keysSeen(), ","); got != keyA {
				t.Errorf("upstream saw %q, want only ch-a", got)
			}
			if a.header.Get(HeaderStatus) != statusAllFailed || a.header.Get(HeaderAttempts) != "1" || a.header.Get(HeaderChannel) != "ch-a" {
				t.Errorf("headers %v", a.header)
			}
			st := h.srv.Live().Channel("ch-a")
			if st.Cooling != nil || len(st.Pairs) != 0 || st.Health != 1 {
				t.Errorf("ch-a state changed by a bad request: %+v", st)
			}
		})
	}
}

func TestAllChannelsFailed(t *testing.T) {
	cases := []struct {
		name     string
		retries  uint32
		attempts int
	}{
		{"both tried", 3, 2},
		{"max_retry_attempts 1", 1, 1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h := start(t, harnessOpt{
				mock: mockllm.Config{Rules: []mockllm.Rule{{Key: keyA, Status: 500}, {Key: keyB, Status: 502}}},
				spec: func(s *servertest.Spec) { s.Settings.MaxRetryAttempts = tc.retries },
			})
			a := h.chat(hello, nil)
			if a.status != 503 || a.errorCode(t) != codeAllFailed {
				t.Fatalf("status %d: %s", a.status, a.body)
			}
			if a.header.Get(HeaderStatus) != "all-channels-failed" {
				t.Errorf("X-Router-Status %q", a.header.Get(HeaderStatus))
			}
			if got := a.header.Get(HeaderAttempts); got != string(rune('0'+tc.attempts)) {
				t.Errorf("X-Router-Attempts %q, want %d", got, tc.attempts)
			}
			atts := a.json(t)["error"].(map[string]any)["attempts"].([]any)
			if len(atts) != tc.attempts {
				t.Fatalf("attempts listed: %v", atts)
			}
			first := atts[0].(map[string]any)
			if first["channel"] != "ch-a" || first["status"] != 500.0 || first["kind"] != "server" {
				t.Errorf("first attempt %v", first)
			}
			if len(h.keysSeen()) != tc.attempts {
				t.Errorf("upstream calls %d, want %d", len(h.keysSeen()), tc.attempts)
			}
		})
	}
}

// A leaky upstream that echoes the key in its errors: the key never reaches
// the client (h.do checks every answer).
func TestUpstreamKeyNeverLeaks(t *testing.T) {
	h := start(t, harnessOpt{mock: mockllm.Config{Rules: []mockllm.Rule{
		{Key: keyA, Status: 500, Message: "key " + keyA + " is broken"},
		{Key: keyB, Status: 400, Message: "bad request for key " + keyB},
	}}})
	a := h.chat(hello, nil)
	if a.status != 400 {
		t.Fatalf("status %d: %s", a.status, a.body)
	}
	h.mock.SetRules([]mockllm.Rule{{Key: keyB, Status: 503, Message: "down " + keyB}})
	a = h.chat(hello, nil)
	if a.status != 503 {
		t.Fatalf("status %d: %s", a.status, a.body)
	}
}

func TestChatRequestErrors(t *testing.T) {
	h := start(t, harnessOpt{spec: func(s *servertest.Spec) {
		s.Channels = append(s.Channels, servertest.Channel{ID: "ch-off", BaseURL: s.Channels[0].BaseURL,
			Key: format.Secret{Literal: "sk-off"}, Disabled: true, Models: []servertest.Model{{ID: "off-model"}}})
	}})
	msgs := `,"messages":[{"role":"user","content":"hi"}]}`
	vision := `,"messages":[{"role":"user","content":[{"type":"image_url","image_url":{"url":"x"}}]}]}`
	cases := []struct {
		name, body   string
		hdr          map[string]string
		status       int
		code         string
		routerStatus string
	}{
		{"not JSON", `{"model":`, nil, 400, codeInvalid, ""},
		{"not an object", `[1,2]`, nil, 400, codeInvalid, ""},
		{"empty", ``, nil, 400, codeInvalid, ""},
		{"no model", `{"messages":[]}`, nil, 400, codeInvalid, ""},
		{"model not a string", `{"model":7` + msgs, nil, 400, codeInvalid, ""},
		{"no messages", `{"model":"gpt-4o-mini"}`, nil, 400, codeInvalid, ""},
		{"trailing garbage", `{"model":"gpt-4o-mini"` + msgs + `x`, nil, 400, codeInvalid, ""},
		{"unknown strategy", `{"model":"gpt-4o-mini"` + msgs, map[string]string{"X-Router-Strategy": "fastest"}, 400, codeStrategy, ""},
		{"unknown model", `{"model":"no-such-model"` + msgs, nil, 404, codeModel, "model-not-found"},
		{"unknown tag", `{"model":"tag:nosuchtag"` + msgs, nil, 404, codeModel, "tag-not-found"},
		{"implicit tag query", `{"model":"gpt,nosuchtag"` + msgs, nil, 404, codeModel, "tag-not-found"},
		{"every pair filtered (vision)", `{"model":"text-only-1"` + vision, nil, 503, codeNoChannels, "no-channels-found"},
		{"every pair filtered (disabled)", `{"model":"off-model"` + msgs, nil, 503, codeNoChannels, "no-channels-found"},
		{"compressed body", hello, map[string]string{"Content-Encoding": "gzip"}, 415, codeUnsupported, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h.mock.Reset()
			a := h.chat(tc.body, tc.hdr)
			if a.status != tc.status {
				t.Fatalf("status %d, want %d: %s", a.status, tc.status, a.body)
			}
			if code := a.errorCode(t); code != tc.code {
				t.Errorf("code %q, want %q", code, tc.code)
			}
			if got := a.header.Get(HeaderStatus); got != tc.routerStatus {
				t.Errorf("X-Router-Status %q, want %q", got, tc.routerStatus)
			}
			if a.header.Get(HeaderRequestID) == "" {
				t.Error("no X-Request-ID")
			}
			if h.mock.Count() != 0 {
				t.Errorf("upstream called %d times", h.mock.Count())
			}
		})
	}
}

func TestBodyTooLarge(t *testing.T) {
	h := start(t, harnessOpt{spec: func(s *servertest.Spec) { s.Settings.MaxRequestSize = 4096 }})
	big := `{"model":"gpt-4o-mini","messages":[{"role":"user","content":"` + strings.Repeat("x", 5000) + `"}]}`
	a := h.chat(big, nil)
	if a.status != 413 || a.errorCode(t) != codeTooLarge {
		t.Fatalf("status %d: %s", a.status, a.body)
	}
	if h.mock.Count() != 0 {
		t.Error("upstream called")
	}
	// Just under the limit passes.
	ok := `{"model":"gpt-4o-mini","messages":[{"role":"user","content":"` + strings.Repeat("x", 3000) + `"}]}`
	if a := h.chat(ok, nil); a.status != 200 {
		t.Fatalf("status %d: %s", a.status, a.body)
	}
}

func TestNotReady(t *testing.T) {
	h := start(t, harnessOpt{})
	h.srv.Manager().Close()
	a := h.chat(hello, nil)
	if a.status != 503 || a.errorCode(t) != codeNotReady {
		t.Fatalf("chat: %d %s", a.status, a.body)
	}
	for _, p := range []string{PathHealth, PathModels, PathAdminSnap} {
		a := h.do("GET", p, nil, nil)
		if a.status != 503 || a.errorCode(t) != codeNotReady {
			t.Errorf("%s: %d %s", p, a.status, a.body)
		}
	}
	if a := h.do("GET", "/", nil, nil); a.status != 200 || a.json(t)["ready"] != false {
		t.Errorf("/: %d %s", a.status, a.body)
	}
}

func TestUnknownPathAndMethod(t *testing.T) {
	h := start(t, harnessOpt{})
	if a := h.do("GET", "/v1/nope", nil, nil); a.status != 404 || a.errorCode(t) != codeNotFound {
		t.Errorf("unknown path: %d %s", a.status, a.body)
	}
	if a := h.do("GET", PathChat, nil, nil); a.status != 405 && a.status != 404 {
		t.Errorf("GET chat: %d %s", a.status, a.body)
	} else {
		a.errorCode(t)
	}
}

// Reasoning blocks are cut from the content, and the metadata can be
// turned off, leaving the upstream's bytes untouched.
func TestStripReasoningAndMetadataSettings(t *testing.T) {
	answer := `{"id":"x","object":"chat.completion","choices":[{"index":0,"message":{"role":"assistant","content":"<think>step 1\nstep 2</think>\n\nThe answer."},"finish_reason":"stop"},` +
		`{"index":1,"message":{"role":"assistant","content":"no reasoning"}}],"usage":{"prompt_tokens":3,"completion_tokens":4,"total_tokens":7}}`
	up := startFixedUpstream(t, answer)
	cases := []struct {
		name        string
		strip, meta bool
		content     string
	}{
		{"strip and metadata", true, true, "The answer."},
		{"no strip", false, true, "<think>step 1\nstep 2</think>\n\nThe answer."},
		{"strip, no metadata", true, false, "The answer."},
		{"neither", false, false, "<think>step 1\nstep 2</think>\n\nThe answer."},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h := start(t, harnessOpt{spec: func(s *servertest.Spec) {
				s.Settings.StripReasoning, s.Settings.ResponseMetadata = tc.strip, tc.meta
				for i := range s.Channels {
					s.Channels[i].BaseURL = up
				}
			}})
			a := h.chat(hello, nil)
			if a.status != 200 {
				t.Fatalf("status %d: %s", a.status, a.body)
			}
			m := a.json(t)
			msg := m["choices"].([]any)[0].(map[string]any)["message"].(map[string]any)
			if msg["content"] != tc.content {
				t.Errorf("content %q, want %q", msg["content"], tc.content)
			}
			if _, ok := m["smart_ai_router"]; ok != tc.meta {
				t.Errorf("metadata present %v, want %v", ok, tc.meta)
			}
			if !tc.strip && !tc.meta && string(a.body) != answer {
				t.Errorf("answer changed:\n got %s\nwant %s", a.body, answer)
			}
			if tc.meta {
				tok := m["smart_ai_router"].(map[string]any)["tokens"].(map[string]any)
				if tok["total_tokens"] != 7.0 {
					t.Errorf("tokens %v", tok)
				}
			}
		})
	}
}

// startFixedUpstream serves one fixed chat completion answer.
func startFixedUpstream(t *testing.T, answer string) string {
	t.Helper()
	srv := newLoopbackServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte(answer))
	}))
	return srv
}

// An alias resolves the physical name to the channel's model id, which the
// upstream receives.
func TestAliasRewritesModel(t *testing.T) {
	h := start(t, harnessOpt{spec: func(s *servertest.Spec) {
		s.Channels[2].Aliases = []format.Alias{{Standard: "house-model", Target: "qwen/qwen3-8b:free"}}
	}})
	a := h.chat(`{"model":"house-model","messages":[{"role":"user","content":"hi"}]}`, nil)
	if a.status != 200 {
		t.Fatalf("status %d: %s", a.status, a.body)
	}
	last, _ := h.mock.LastRequest()
	if !bytes.Contains(last.Body, []byte(`"model":"qwen/qwen3-8b:free"`)) || last.Key != keyC {
		t.Errorf("upstream got %s with key %q", last.Body, last.Key)
	}
	if a.header.Get(HeaderModel) != "qwen/qwen3-8b:free" {
		t.Errorf("X-Router-Model %q", a.header.Get(HeaderModel))
	}
	// The upstream base URL already ends in /v1: nothing appended twice.
	if last.Path != "/v1/chat/completions" {
		t.Errorf("upstream path %q", last.Path)
	}
}
