package server

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/anthropics/anthropic-sdk-go/v2"
	"github.com/anthropics/anthropic-sdk-go/v2/option"

	"smartrouter/fixtures/mockllm"
	"smartrouter/format"
	"smartrouter/runtime/internal/servertest"
)

// sdk returns an Anthropic SDK client pointed at routerd, without retries
// (so that a test sees routerd's own answer).
func (h *harness) sdk(key string) anthropic.Client {
	return anthropic.NewClient(option.WithBaseURL(h.url), option.WithAPIKey(key), option.WithMaxRetries(0))
}

func userText(s string) []anthropic.MessageParam {
	return []anthropic.MessageParam{anthropic.NewUserMessage(anthropic.NewTextBlock(s))}
}

// withAuth turns the API token on (ROUTER_TOKEN).
func withAuth(s *servertest.Spec) {
	s.Settings.AuthEnabled, s.Settings.APIToken = true, format.Secret{Env: "ROUTER_TOKEN"}
}

func TestMessagesSDK(t *testing.T) {
	h := start(t, harnessOpt{spec: withAuth})
	c := h.sdk("client-token-1")
	ctx := context.Background()

	t.Run("non-stream", func(t *testing.T) {
		msg, err := c.Messages.New(ctx, anthropic.MessageNewParams{Model: "gpt-4o-mini", MaxTokens: 64,
			System:   []anthropic.TextBlockParam{{Text: "be brief"}},
			Messages: userText("hello")})
		if err != nil {
			t.Fatal(err)
		}
		if msg.Role != "assistant" || len(msg.Content) != 1 || msg.Content[0].Type != "text" ||
			msg.Content[0].Text != mockllm.Content(mockllm.DefaultChunks) {
			t.Fatalf("answer: %+v", msg)
		}
		if msg.StopReason != anthropic.StopReasonEndTurn || msg.Usage.InputTokens <= 0 || msg.Usage.OutputTokens != mockllm.DefaultChunks {
			t.Fatalf("stop %q usage %+v", msg.StopReason, msg.Usage)
		}
		// What the upstream received: an OpenAI chat request.
		r, _ := h.mock.LastRequest()
		var sent map[string]any
		if err := json.Unmarshal(r.Body, &sent); err != nil {
			t.Fatal(err)
		}
		msgs, _ := sent["messages"].([]any)
		if len(msgs) != 2 || sent["max_tokens"] != 64.0 || !strings.HasSuffix(r.Path, "/chat/completions") {
			t.Fatalf("upstream got %s %s", r.Path, r.Body)
		}
		if sys := msgs[0].(map[string]any); sys["role"] != "system" || sys["content"] != "be brief" {
			t.Fatalf("system message: %v", sys)
		}
	})

	t.Run("stream", func(t *testing.T) {
		s := c.Messages.NewStreaming(ctx, anthropic.MessageNewParams{Model: "gpt-4o-mini", MaxTokens: 64, Messages: userText("hello")})
		var msg anthropic.Message
		var kinds []string
		for s.Next() {
			ev := s.Current()
			kinds = append(kinds, ev.Type)
			if err := msg.Accumulate(ev); err != nil {
				t.Fatal(err)
			}
		}
		if err := s.Err(); err != nil {
			t.Fatal(err)
		}
		if len(msg.Content) != 1 || msg.Content[0].Text != mockllm.Content(mockllm.DefaultChunks) || msg.StopReason != anthropic.StopReasonEndTurn {
			t.Fatalf("accumulated %+v (events %v)", msg, kinds)
		}
		if msg.Usage.OutputTokens != mockllm.DefaultChunks {
			t.Fatalf("usage %+v", msg.Usage)
		}
		// The SDK passes over ping events; the raw stream has one.
		if len(kinds) < 6 || kinds[0] != "message_start" || kinds[1] != "content_block_start" ||
			strings.Join(kinds[len(kinds)-3:], ",") != "content_block_stop,message_delta,message_stop" {
			t.Fatalf("events %v", kinds)
		}
	})

	t.Run("raw stream", func(t *testing.T) {
		a := h.do(http.MethodPost, PathMessages, []byte(`{"model":"gpt-4o-mini","max_tokens":9,"stream":true,"messages":[{"role":"user","content":"hi"}]}`),
			map[string]string{"x-api-key": "client-token-1"})
		if a.status != 200 || !strings.HasPrefix(a.header.Get("Content-Type"), "text/event-stream") || a.header.Get(HeaderChannel) != "ch-a" ||
			!strings.Contains(string(a.body), "\n\nevent: ping\ndata: {\"type\":\"ping\"}\n\n") || strings.Contains(string(a.body), "[DONE]") {
			t.Fatalf("status %d headers %v body %s", a.status, a.header, a.body)
		}
	})

	t.Run("count_tokens", func(t *testing.T) {
		n, err := c.Messages.CountTokens(ctx, anthropic.MessageCountTokensParams{Model: "gpt-4o-mini",
			Messages: userText(strings.Repeat("abcd", 100))})
		if err != nil {
			t.Fatal(err)
		}
		if n.InputTokens != 104 { // 400 characters / 4 + 4 for the message
			t.Fatalf("input_tokens %d", n.InputTokens)
		}
	})

	typed := []struct {
		name   string
		client anthropic.Client
		params anthropic.MessageNewParams
		status int
		typ    string
	}{
		{"unknown model", c, anthropic.MessageNewParams{Model: "no-such-model", MaxTokens: 10, Messages: userText("x")}, 404, "not_found_error"},
		{"bad key", h.sdk("wrong"), anthropic.MessageNewParams{Model: "gpt-4o-mini", MaxTokens: 10, Messages: userText("x")}, 401, "authentication_error"},
		{"missing max_tokens", c, anthropic.MessageNewParams{Model: "gpt-4o-mini", Messages: userText("x")}, 400, "invalid_request_error"},
	}
	for _, tc := range typed {
		t.Run(tc.name, func(t *testing.T) {
			_, err := tc.client.Messages.New(ctx, tc.params)
			var ae *anthropic.Error
			if !errors.As(err, &ae) {
				t.Fatalf("error %v is not an *anthropic.Error", err)
			}
			var shape struct {
				Type  string `json:"type"`
				Error struct {
					Type    string `json:"type"`
					Message string `json:"message"`
				} `json:"error"`
			}
			if err := json.Unmarshal([]byte(ae.RawJSON()), &shape); err != nil {
				t.Fatalf("error body %q: %v", ae.RawJSON(), err)
			}
			if ae.StatusCode != tc.status || shape.Type != "error" || shape.Error.Type != tc.typ || shape.Error.Message == "" {
				t.Fatalf("status %d body %s", ae.StatusCode, ae.RawJSON())
			}
		})
	}
}

// TestMessagesFailover: ch-a answers 500, the request is answered by ch-b,
// stream and non-stream, and the headers say so.
func TestMessagesFailover(t *testing.T) {
	h := start(t, harnessOpt{mock: mockllm.Config{Rules: []mockllm.Rule{{Key: keyA, Status: 500}}}})
	c := h.sdk("any")
	ctx := context.Background()
	var resp *http.Response
	msg, err := c.Messages.New(ctx, anthropic.MessageNewParams{Model: "gpt-4o-mini", MaxTokens: 32, Messages: userText("hi")},
		option.WithResponseInto(&resp))
	if err != nil {
		t.Fatal(err)
	}
	if len(msg.Content) != 1 || resp.Header.Get(HeaderChannel) != "ch-b" || resp.Header.Get(HeaderAttempts) != "2" {
		t.Fatalf("content %+v channel %q attempts %q", msg.Content, resp.Header.Get(HeaderChannel), resp.Header.Get(HeaderAttempts))
	}
	if resp.Header.Get(HeaderCost) == "" {
		t.Fatal("no cost header")
	}

	h2 := start(t, harnessOpt{mock: mockllm.Config{Rules: []mockllm.Rule{{Key: keyA, Status: 503}}}})
	c2 := h2.sdk("any")
	s := c2.Messages.NewStreaming(ctx, anthropic.MessageNewParams{Model: "gpt-4o-mini", MaxTokens: 32, Messages: userText("hi")})
	var acc anthropic.Message
	for s.Next() {
		if err := acc.Accumulate(s.Current()); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Err(); err != nil {
		t.Fatal(err)
	}
	if len(acc.Content) != 1 || acc.Content[0].Text != mockllm.Content(mockllm.DefaultChunks) {
		t.Fatalf("accumulated %+v", acc)
	}
	if keys := h2.keysSeen(); len(keys) != 2 || keys[0] != keyA || keys[1] != keyB {
		t.Fatalf("keys tried %v", keys)
	}
}

// TestMessagesStreamCutIsErrorEvent: an upstream that cuts the stream after
// data was sent ends the Messages stream with an error event.
func TestMessagesStreamCutIsErrorEvent(t *testing.T) {
	h := start(t, harnessOpt{mock: mockllm.Config{Rules: []mockllm.Rule{{Fault: mockllm.FaultDrop, AfterChunks: 2}}}})
	a := h.do(http.MethodPost, PathMessages, []byte(`{"model":"gpt-4o-mini","max_tokens":9,"stream":true,"messages":[{"role":"user","content":"hi"}]}`), nil)
	if a.status != 200 || !strings.Contains(string(a.body), "event: error\ndata: {\"type\":\"error\",\"error\":{\"type\":\"api_error\"") ||
		strings.Contains(string(a.body), "message_stop") {
		t.Fatalf("status %d body %s", a.status, a.body)
	}
}

// toolUpstream is an OpenAI-compatible upstream that calls get_weather
// unless the conversation ends with a tool result, which it echoes.
type toolUpstream struct {
	mu   sync.Mutex
	seen [][]byte
}

func (u *toolUpstream) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b, _ := io.ReadAll(r.Body)
	u.mu.Lock()
	u.seen = append(u.seen, b)
	u.mu.Unlock()
	var req struct {
		Stream   bool `json:"stream"`
		Messages []struct {
			Role    string `json:"role"`
			Content any    `json:"content"`
		} `json:"messages"`
	}
	_ = json.Unmarshal(b, &req)
	last := req.Messages[len(req.Messages)-1]
	if req.Stream {
		w.Header().Set("Content-Type", "text/event-stream")
		for _, ch := range []string{
			`{"id":"c1","choices":[{"index":0,"delta":{"role":"assistant","content":null,"tool_calls":[{"index":0,"id":"call_1","type":"function","function":{"name":"get_weather","arguments":""}}]},"finish_reason":null}]}`,
			`{"id":"c1","choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":"{\"city\":"}}]},"finish_reason":null}]}`,
			`{"id":"c1","choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":"\"Paris\"}"}}]},"finish_reason":null}]}`,
			`{"id":"c1","choices":[{"index":0,"delta":{},"finish_reason":"tool_calls"}]}`,
			`{"id":"c1","choices":[],"usage":{"prompt_tokens":20,"completion_tokens":7,"total_tokens":27}}`,
			`[DONE]`,
		} {
			_, _ = io.WriteString(w, "data: "+ch+"\n\n")
		}
		return
	}
	w.Header().Set("Content-Type", "application/json")
	if last.Role == "tool" {
		out, _ := json.Marshal(map[string]any{"id": "c2", "object": "chat.completion", "choices": []any{map[string]any{"index": 0,
			"message": map[string]any{"role": "assistant", "content": "weather: " + last.Content.(string)}, "finish_reason": "stop"}},
			"usage": map[string]any{"prompt_tokens": 30, "completion_tokens": 4, "total_tokens": 34}})
		_, _ = w.Write(out)
		return
	}
	_, _ = io.WriteString(w, `{"id":"c1","object":"chat.completion","choices":[{"index":0,"message":{"role":"assistant","content":null,`+
		`"tool_calls":[{"id":"call_1","type":"function","function":{"name":"get_weather","arguments":"{\"city\":\"Paris\"}"}}]},"finish_reason":"tool_calls"}],`+
		`"usage":{"prompt_tokens":20,"completion_tokens":7,"total_tokens":27}}`)
}

// TestMessagesToolRoundTrip: the SDK offers a tool, gets a tool_use with
// parsed input, sends the tool_result back and gets the final text; stream
// gives the tool input as input_json_delta events.
func TestMessagesToolRoundTrip(t *testing.T) {
	up := &toolUpstream{}
	url := newLoopbackServer(t, up)
	h := start(t, harnessOpt{spec: func(s *servertest.Spec) {
		for i := range s.Channels {
			s.Channels[i].BaseURL = url
		}
	}})
	c := h.sdk("any")
	ctx := context.Background()
	tool := anthropic.ToolUnionParamOfTool(anthropic.ToolInputSchemaParam{
		Properties: map[string]any{"city": map[string]any{"type": "string"}}, Required: []string{"city"}}, "get_weather")
	params := anthropic.MessageNewParams{Model: "gpt-4o-mini", MaxTokens: 100, Tools: []anthropic.ToolUnionParam{tool},
		ToolChoice: anthropic.ToolChoiceUnionParam{OfAny: &anthropic.ToolChoiceAnyParam{}},
		Messages:   userText("weather in Paris?")}
	msg, err := c.Messages.New(ctx, params)
	if err != nil {
		t.Fatal(err)
	}
	if msg.StopReason != anthropic.StopReasonToolUse || len(msg.Content) != 1 || msg.Content[0].Type != "tool_use" ||
		msg.Content[0].Name != "get_weather" || msg.Content[0].ID != "call_1" || string(msg.Content[0].Input) != `{"city":"Paris"}` {
		t.Fatalf("answer %+v", msg)
	}
	var first map[string]any
	_ = json.Unmarshal(up.seen[0], &first)
	tools, _ := first["tools"].([]any)
	if len(tools) != 1 || first["tool_choice"] != "required" {
		t.Fatalf("upstream got %s", up.seen[0])
	}
	fn := tools[0].(map[string]any)["function"].(map[string]any)
	if fn["name"] != "get_weather" || fn["parameters"].(map[string]any)["type"] != "object" {
		t.Fatalf("tool sent %v", fn)
	}

	params.Messages = append(params.Messages, msg.ToParam(),
		anthropic.NewUserMessage(anthropic.NewToolResultBlock("call_1", "sunny, 21C", false)))
	params.ToolChoice = anthropic.ToolChoiceUnionParam{}
	final, err := c.Messages.New(ctx, params)
	if err != nil {
		t.Fatal(err)
	}
	if len(final.Content) != 1 || final.Content[0].Text != "weather: sunny, 21C" || final.StopReason != anthropic.StopReasonEndTurn {
		t.Fatalf("final %+v", final)
	}
	var second struct {
		Messages []struct {
			Role       string `json:"role"`
			ToolCallID string `json:"tool_call_id"`
			ToolCalls  []struct {
				ID       string `json:"id"`
				Function struct{ Name, Arguments string }
			} `json:"tool_calls"`
		} `json:"messages"`
	}
	_ = json.Unmarshal(up.seen[1], &second)
	m := second.Messages
	if len(m) != 3 || m[1].Role != "assistant" || len(m[1].ToolCalls) != 1 || m[1].ToolCalls[0].ID != "call_1" ||
		m[1].ToolCalls[0].Function.Arguments != `{"city":"Paris"}` || m[2].Role != "tool" || m[2].ToolCallID != "call_1" {
		t.Fatalf("second upstream request %s", up.seen[1])
	}

	params.Messages = userText("weather in Paris?")
	s := c.Messages.NewStreaming(ctx, params)
	var acc anthropic.Message
	deltas := 0
	for s.Next() {
		ev := s.Current()
		if ev.Type == "content_block_delta" && ev.Delta.Type == "input_json_delta" {
			deltas++
		}
		if err := acc.Accumulate(ev); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Err(); err != nil {
		t.Fatal(err)
	}
	if deltas != 2 || len(acc.Content) != 1 || acc.Content[0].Type != "tool_use" || acc.StopReason != anthropic.StopReasonToolUse {
		t.Fatalf("stream: %d deltas, %+v", deltas, acc)
	}
	var in map[string]string
	if err := json.Unmarshal(acc.Content[0].Input, &in); err != nil || in["city"] != "Paris" || acc.Usage.OutputTokens != 7 {
		t.Fatalf("streamed input %s usage %+v", acc.Content[0].Input, acc.Usage)
	}
}

// TestMessagesBadInput: every malformed request is a 4xx in Anthropic's
// shape, never a 5xx.
func TestMessagesBadInput(t *testing.T) {
	h := start(t, harnessOpt{spec: func(s *servertest.Spec) { s.Settings.MaxRequestSize = 4096 }})
	big := `{"model":"gpt-4o-mini","max_tokens":5,"messages":[{"role":"user","content":"` + strings.Repeat("x", 5000) + `"}]}`
	cases := []struct {
		name, path, body string
		status           int
		contentType      string // "" = application/json
	}{
		{"not json", PathMessages, `{"model":`, 400, ""},
		{"text/plain", PathMessages, `{"model":"gpt-4o-mini","max_tokens":5,"messages":[]}`, 415, "text/plain"},
		{"count form-encoded", PathMessagesCount, `{"model":"m","messages":[]}`, 415, "application/x-www-form-urlencoded"},
		{"array", PathMessages, `[]`, 400, ""},
		{"empty", PathMessages, ``, 400, ""},
		{"no model", PathMessages, `{"max_tokens":5,"messages":[]}`, 400, ""},
		{"model not string", PathMessages, `{"model":5,"max_tokens":5,"messages":[]}`, 400, ""},
		{"no max_tokens", PathMessages, `{"model":"gpt-4o-mini","messages":[{"role":"user","content":"x"}]}`, 400, ""},
		{"max_tokens string", PathMessages, `{"model":"gpt-4o-mini","max_tokens":"5","messages":[]}`, 400, ""},
		{"max_tokens negative", PathMessages, `{"model":"gpt-4o-mini","max_tokens":-1,"messages":[]}`, 400, ""},
		{"no messages", PathMessages, `{"model":"gpt-4o-mini","max_tokens":5}`, 400, ""},
		{"messages object", PathMessages, `{"model":"gpt-4o-mini","max_tokens":5,"messages":{}}`, 400, ""},
		{"unknown role", PathMessages, `{"model":"gpt-4o-mini","max_tokens":5,"messages":[{"role":"system","content":"x"}]}`, 400, ""},
		{"content number", PathMessages, `{"model":"gpt-4o-mini","max_tokens":5,"messages":[{"role":"user","content":5}]}`, 400, ""},
		{"unknown block", PathMessages, `{"model":"gpt-4o-mini","max_tokens":5,"messages":[{"role":"user","content":[{"type":"video"}]}]}`, 400, ""},
		{"block without type", PathMessages, `{"model":"gpt-4o-mini","max_tokens":5,"messages":[{"role":"user","content":[{"text":"x"}]}]}`, 400, ""},
		{"bad image", PathMessages, `{"model":"gpt-4o-mini","max_tokens":5,"messages":[{"role":"user","content":[{"type":"image","source":{"type":"file"}}]}]}`, 400, ""},
		{"system number", PathMessages, `{"model":"gpt-4o-mini","max_tokens":5,"system":1,"messages":[]}`, 400, ""},
		{"tools object", PathMessages, `{"model":"gpt-4o-mini","max_tokens":5,"tools":{},"messages":[]}`, 400, ""},
		{"server tool", PathMessages, `{"model":"gpt-4o-mini","max_tokens":5,"tools":[{"type":"web_search_20250305","name":"w"}],"messages":[]}`, 400, ""},
		{"tool_choice bad", PathMessages, `{"model":"gpt-4o-mini","max_tokens":5,"tool_choice":{"type":"maybe"},"messages":[]}`, 400, ""},
		{"temperature string", PathMessages, `{"model":"gpt-4o-mini","max_tokens":5,"temperature":"hot","messages":[]}`, 400, ""},
		{"stream string", PathMessages, `{"model":"gpt-4o-mini","max_tokens":5,"stream":"yes","messages":[]}`, 400, ""},
		{"oversize", PathMessages, big, 413, ""},
		{"count not json", PathMessagesCount, `nope`, 400, ""},
		{"count unknown role", PathMessagesCount, `{"model":"m","messages":[{"role":"x","content":"y"}]}`, 400, ""},
		{"count oversize", PathMessagesCount, big, 413, ""},
		{"unknown sub-path", PathMessages + "/nope", `{}`, 404, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var hdr map[string]string
			if tc.contentType != "" {
				hdr = map[string]string{"Content-Type": tc.contentType}
			}
			a := h.do(http.MethodPost, tc.path, []byte(tc.body), hdr)
			var shape struct {
				Type  string
				Error struct{ Type, Message string }
			}
			if err := json.Unmarshal(a.body, &shape); err != nil || a.status != tc.status || shape.Type != "error" ||
				shape.Error.Type != anthropicErrorType(tc.status) || shape.Error.Message == "" {
				t.Fatalf("status %d body %s", a.status, a.body)
			}
		})
	}
}

// TestMessagesRouting: tag queries, the strategy header and the x-api-key
// header work on /v1/messages as on chat completions.
func TestMessagesRouting(t *testing.T) {
	h := start(t, harnessOpt{spec: withAuth})
	body := []byte(`{"model":"tag:free","max_tokens":9,"messages":[{"role":"user","content":"hi"}]}`)
	a := h.do(http.MethodPost, PathMessages, body, map[string]string{"x-api-key": "client-token-1", HeaderStrategy: "cost_first"})
	if a.status != 200 || a.header.Get(HeaderChannel) != "ch-c" || a.header.Get(HeaderModel) != "qwen/qwen3-8b:free" ||
		a.header.Get(HeaderStrategy) != "cost_first" || a.header.Get(HeaderRequestID) == "" {
		t.Fatalf("status %d headers %v body %s", a.status, a.header, a.body)
	}
	var m struct{ Model, Type string }
	if err := json.Unmarshal(a.body, &m); err != nil || m.Model != "tag:free" || m.Type != "message" {
		t.Fatalf("body %s", a.body)
	}
	a = h.do(http.MethodPost, PathMessages, body, map[string]string{"Authorization": "Bearer client-token-1", HeaderStrategy: "no-such"})
	if a.status != 400 || !strings.Contains(string(a.body), `"type":"invalid_request_error"`) {
		t.Fatalf("bad strategy: status %d body %s", a.status, a.body)
	}
}

// TestMessagesUpstreamErrors: an upstream 400 is returned with its message,
// and every channel failing is a 503, both in Anthropic's shape.
func TestMessagesUpstreamErrors(t *testing.T) {
	body := []byte(`{"model":"gpt-4o-mini","max_tokens":9,"messages":[{"role":"user","content":"hi"}]}`)
	cases := []struct {
		rule   mockllm.Rule
		status int
		typ    string
		msg    string
	}{
		{mockllm.Rule{Status: 400, Message: "bad thing in the prompt"}, 400, "invalid_request_error", "bad thing in the prompt"},
		{mockllm.Rule{Status: 500}, 503, "api_error", "attempts failed"},
	}
	for _, tc := range cases {
		h := start(t, harnessOpt{mock: mockllm.Config{Rules: []mockllm.Rule{tc.rule}}})
		a := h.do(http.MethodPost, PathMessages, body, nil)
		var shape struct {
			Type  string
			Error struct{ Type, Message string }
		}
		if err := json.Unmarshal(a.body, &shape); err != nil || a.status != tc.status || shape.Type != "error" ||
			shape.Error.Type != tc.typ || !strings.Contains(shape.Error.Message, tc.msg) {
			t.Fatalf("status %d body %s", a.status, a.body)
		}
	}
}
