package server

import (
	"context"
	"encoding/json"
	"math"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/anthropics/anthropic-sdk-go/v2"
	aoption "github.com/anthropics/anthropic-sdk-go/v2/option"
	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"
	"github.com/openai/openai-go/v3/shared"

	"smartrouter/fixtures/mockllm"
	"smartrouter/format"
	"smartrouter/runtime/internal/servertest"
)

// Native Anthropic channels against mockllm's Messages API: the Anthropic
// SDK through a passthrough, the OpenAI SDK through the translation, and
// failover between a native and an OpenAI-compatible channel both ways.

// nativeChannel makes channel i of the spec a native Anthropic channel
// (provider anthropic, AnthropicAdapter, x-api-key).
func nativeChannel(i int) func(*servertest.Spec) {
	return func(s *servertest.Spec) {
		c := &s.Channels[i]
		c.Provider, c.Adapter, c.AuthType = "anthropic", "AnthropicAdapter", format.AuthXAPIKey
	}
}

// wantCost is the cost of gpt-4o-mini in the base spec for a usage.
func wantCost(prompt, completion int64) float64 {
	return (float64(prompt)*150_000 + float64(completion)*600_000) / format.PicoUSDPerUSD
}

func checkCost(t *testing.T, got string, prompt, completion int64) {
	t.Helper()
	v, err := strconv.ParseFloat(got, 64)
	if want := wantCost(prompt, completion); err != nil || want <= 0 || math.Abs(v-want) > 1e-9 {
		t.Errorf("cost %q, want %g for %d+%d tokens", got, want, prompt, completion)
	}
}

// completionTokens reads smartrouter_tokens_total{type="completion"}.
func completionTokens(t *testing.T, h *harness) float64 {
	t.Helper()
	m := regexp.MustCompile(`(?m)^smartrouter_tokens_total\{type="completion"\} (\S+)$`).FindSubmatch(h.do("GET", PathMetrics, nil, nil).body)
	if m == nil {
		return 0
	}
	v, _ := strconv.ParseFloat(string(m[1]), 64)
	return v
}

// checkTokens waits until the completion tokens counted since before reach
// want (a stream's usage is counted when its relay ends, just after the
// client read the last event), and fails if they never do.
func checkTokens(t *testing.T, h *harness, before, want float64) {
	t.Helper()
	d := 0.0
	for range 500 {
		if d = completionTokens(t, h) - before; d == want {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Errorf("completion tokens counted %v, want %v", d, want)
}

// mockPromptTokens is what mockllm reports as the input of a request body.
func mockPromptTokens(b []byte) int64 { return int64(len(b)/4 + 1) }

func weatherTool() anthropic.ToolUnionParam {
	return anthropic.ToolUnionParamOfTool(anthropic.ToolInputSchemaParam{
		Properties: map[string]any{"city": map[string]any{"type": "string"}}, Required: []string{"city"}}, "get_weather")
}

func TestNativeMessagesSDK(t *testing.T) {
	h := start(t, harnessOpt{spec: nativeChannel(0)})
	c := anthropic.NewClient(aoption.WithBaseURL(h.url), aoption.WithAPIKey("any"), aoption.WithMaxRetries(0),
		aoption.WithHeader("anthropic-beta", "tools-2024-04-04"))
	ctx := context.Background()

	t.Run("non-stream", func(t *testing.T) {
		tokens0 := completionTokens(t, h)
		var resp *http.Response
		msg, err := c.Messages.New(ctx, anthropic.MessageNewParams{Model: "gpt-4o-mini", MaxTokens: 64,
			System: []anthropic.TextBlockParam{{Text: "be brief"}}, Messages: userText("hello")}, aoption.WithResponseInto(&resp))
		if err != nil {
			t.Fatal(err)
		}
		r, _ := h.mock.LastRequest()
		if len(msg.Content) != 1 || msg.Content[0].Text != mockllm.Content(mockllm.DefaultChunks) || msg.StopReason != anthropic.StopReasonEndTurn ||
			msg.Usage.OutputTokens != mockllm.DefaultChunks || msg.Usage.InputTokens != mockPromptTokens(r.Body) || !strings.HasPrefix(msg.ID, "msg_mock_") {
			t.Fatalf("answer %+v", msg)
		}
		// What the native channel received: the Messages request as sent,
		// with its key in x-api-key and the Anthropic headers.
		if r.Path != "/v1/messages" || r.Key != keyA || r.Header.Get("X-Api-Key") != keyA || r.Header.Get("Authorization") != "" ||
			r.Header.Get("Anthropic-Version") == "" || r.Header.Get("Anthropic-Beta") != "tools-2024-04-04" {
			t.Fatalf("upstream got %s with headers %v", r.Path, r.Header)
		}
		var sent map[string]any
		if err := json.Unmarshal(r.Body, &sent); err != nil || sent["max_tokens"] != 64.0 || sent["messages"] == nil {
			t.Fatalf("upstream body %s", r.Body)
		}
		if sys, _ := sent["system"].([]any); len(sys) != 1 {
			t.Fatalf("system blocks not passed through: %s", r.Body)
		}
		if resp.Header.Get(HeaderChannel) != "ch-a" || resp.Header.Get(HeaderProvider) != "anthropic" {
			t.Errorf("headers %v", resp.Header)
		}
		checkCost(t, resp.Header.Get(HeaderCost), msg.Usage.InputTokens, msg.Usage.OutputTokens)
		checkTokens(t, h, tokens0, mockllm.DefaultChunks)
	})

	t.Run("raw passthrough", func(t *testing.T) {
		in := `{"model":"gpt-4o-mini","max_tokens":9,"thinking":{"type":"enabled","budget_tokens":1024},"metadata":{"user_id":"u-1"},` +
			`"messages":[{"role":"user","content":[{"type":"text","text":"hi","cache_control":{"type":"ephemeral"}}]}]}`
		// Claude Code adds ?beta=true to its calls.
		a := h.do(http.MethodPost, PathMessages+"?beta=true", []byte(in), map[string]string{"anthropic-version": "2023-01-01"})
		r, _ := h.mock.LastRequest()
		if a.status != 200 || string(r.Body) != in || r.Header.Get("Anthropic-Version") != "2023-01-01" || r.Header.Get("Anthropic-Beta") != "" {
			t.Fatalf("status %d: upstream got %s (version %q)", a.status, r.Body, r.Header.Get("Anthropic-Version"))
		}
	})

	t.Run("stream", func(t *testing.T) {
		tokens0 := completionTokens(t, h)
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
		r, _ := h.mock.LastRequest()
		if len(msg.Content) != 1 || msg.Content[0].Text != mockllm.Content(mockllm.DefaultChunks) || msg.StopReason != anthropic.StopReasonEndTurn ||
			msg.Usage.OutputTokens != mockllm.DefaultChunks || msg.Usage.InputTokens != mockPromptTokens(r.Body) {
			t.Fatalf("accumulated %+v (events %v)", msg, kinds)
		}
		if kinds[0] != "message_start" || kinds[len(kinds)-1] != "message_stop" || !strings.Contains(string(r.Body), `"stream":true`) {
			t.Fatalf("events %v, upstream got %s", kinds, r.Body)
		}
		checkTokens(t, h, tokens0, mockllm.DefaultChunks)
	})

	t.Run("tools", func(t *testing.T) {
		params := anthropic.MessageNewParams{Model: "gpt-4o-mini", MaxTokens: 100, Tools: []anthropic.ToolUnionParam{weatherTool()},
			ToolChoice: anthropic.ToolChoiceUnionParam{OfAny: &anthropic.ToolChoiceAnyParam{}}, Messages: userText("weather in Paris?")}
		msg, err := c.Messages.New(ctx, params)
		if err != nil {
			t.Fatal(err)
		}
		if msg.StopReason != anthropic.StopReasonToolUse || len(msg.Content) != 1 || msg.Content[0].Type != "tool_use" ||
			msg.Content[0].Name != "get_weather" || string(msg.Content[0].Input) != `{"city":"mock"}` {
			t.Fatalf("answer %+v", msg)
		}
		params.Messages = append(params.Messages, msg.ToParam(),
			anthropic.NewUserMessage(anthropic.NewToolResultBlock(msg.Content[0].ID, "sunny, 21C", false)))
		params.ToolChoice = anthropic.ToolChoiceUnionParam{}
		final, err := c.Messages.New(ctx, params)
		if err != nil {
			t.Fatal(err)
		}
		r, _ := h.mock.LastRequest()
		if final.StopReason != anthropic.StopReasonEndTurn || final.Content[0].Text != mockllm.Content(mockllm.DefaultChunks) ||
			!strings.Contains(string(r.Body), `"type":"tool_result"`) || !strings.Contains(string(r.Body), msg.Content[0].ID) {
			t.Fatalf("final %+v; upstream got %s", final, r.Body)
		}

		params.Messages = userText("weather in Paris?")
		params.ToolChoice = anthropic.ToolChoiceUnionParam{OfAny: &anthropic.ToolChoiceAnyParam{}}
		s := c.Messages.NewStreaming(ctx, params)
		var acc anthropic.Message
		for s.Next() {
			if err := acc.Accumulate(s.Current()); err != nil {
				t.Fatal(err)
			}
		}
		if err := s.Err(); err != nil {
			t.Fatal(err)
		}
		if len(acc.Content) != 1 || acc.Content[0].Type != "tool_use" || string(acc.Content[0].Input) != `{"city":"mock"}` ||
			acc.StopReason != anthropic.StopReasonToolUse {
			t.Fatalf("streamed %+v", acc)
		}
	})
}

func TestNativeChatSDK(t *testing.T) {
	h := start(t, harnessOpt{spec: nativeChannel(0)})
	c := sdkClient(h)
	ctx := context.Background()

	t.Run("chat", func(t *testing.T) {
		tokens0 := completionTokens(t, h)
		res, err := c.Chat.Completions.New(ctx, openai.ChatCompletionNewParams{
			Model:     "gpt-4o-mini",
			Messages:  []openai.ChatCompletionMessageParamUnion{openai.SystemMessage("be brief"), openai.UserMessage("hello")},
			MaxTokens: openai.Int(50), Temperature: openai.Float(0.5), Stop: openai.ChatCompletionNewParamsStopUnion{OfString: openai.String("END")},
		})
		if err != nil {
			t.Fatal(err)
		}
		r, _ := h.mock.LastRequest()
		if len(res.Choices) != 1 || res.Choices[0].Message.Content != mockllm.Content(mockllm.DefaultChunks) || res.Choices[0].FinishReason != "stop" ||
			res.Usage.CompletionTokens != mockllm.DefaultChunks || res.Usage.PromptTokens != mockPromptTokens(r.Body) {
			t.Fatalf("answer %s", res.RawJSON())
		}
		// The upstream got a Messages request.
		var sent struct {
			Model         string   `json:"model"`
			MaxTokens     int      `json:"max_tokens"`
			System        string   `json:"system"`
			Temperature   float64  `json:"temperature"`
			StopSequences []string `json:"stop_sequences"`
			Messages      []struct {
				Role    string `json:"role"`
				Content []struct{ Type, Text string }
			} `json:"messages"`
		}
		if err := json.Unmarshal(r.Body, &sent); err != nil || r.Path != "/v1/messages" || r.Header.Get("X-Api-Key") != keyA ||
			r.Header.Get("Anthropic-Version") != "2023-06-01" || sent.Model != "gpt-4o-mini" || sent.MaxTokens != 50 || sent.System != "be brief" ||
			sent.Temperature != 0.5 || len(sent.StopSequences) != 1 || len(sent.Messages) != 1 || sent.Messages[0].Content[0].Text != "hello" {
			t.Fatalf("upstream got %s %s (%v)", r.Path, r.Body, err)
		}
		// The router's metadata, with the cost of the Anthropic usage.
		var meta struct {
			R struct {
				Routing struct {
					Channel struct{ ID, Provider string } `json:"channel"`
				} `json:"routing"`
				Cost struct {
					Total float64 `json:"total_usd"`
				} `json:"cost"`
			} `json:"smart_ai_router"`
		}
		if err := json.Unmarshal([]byte(res.RawJSON()), &meta); err != nil || meta.R.Routing.Channel.ID != "ch-a" || meta.R.Routing.Channel.Provider != "anthropic" {
			t.Fatalf("metadata of %s", res.RawJSON())
		}
		checkCost(t, strconv.FormatFloat(meta.R.Cost.Total, 'g', -1, 64), res.Usage.PromptTokens, res.Usage.CompletionTokens)
		checkTokens(t, h, tokens0, mockllm.DefaultChunks)
	})

	t.Run("stream", func(t *testing.T) {
		tokens0 := completionTokens(t, h)
		st := c.Chat.Completions.NewStreaming(ctx, openai.ChatCompletionNewParams{
			Model:         "gpt-4o-mini",
			Messages:      []openai.ChatCompletionMessageParamUnion{openai.UserMessage("hello")},
			StreamOptions: openai.ChatCompletionStreamOptionsParam{IncludeUsage: openai.Bool(true)},
		})
		var acc openai.ChatCompletionAccumulator
		for st.Next() {
			acc.AddChunk(st.Current())
		}
		if err := st.Err(); err != nil {
			t.Fatal(err)
		}
		_ = st.Close()
		r, _ := h.mock.LastRequest()
		if len(acc.Choices) != 1 || acc.Choices[0].Message.Content != mockllm.Content(mockllm.DefaultChunks) ||
			acc.Choices[0].FinishReason != "stop" || acc.Usage.CompletionTokens != mockllm.DefaultChunks || acc.Usage.PromptTokens != mockPromptTokens(r.Body) {
			t.Fatalf("accumulated %+v", acc.ChatCompletion)
		}
		if r.Path != "/v1/messages" || !strings.Contains(string(r.Body), `"stream":true`) || strings.Contains(string(r.Body), "stream_options") {
			t.Fatalf("upstream got %s %s", r.Path, r.Body)
		}
		checkTokens(t, h, tokens0, mockllm.DefaultChunks)
	})

	t.Run("raw stream without usage", func(t *testing.T) {
		a := h.chat(`{"model":"gpt-4o-mini","stream":true,"messages":[{"role":"user","content":"hi"}]}`, nil)
		ev := sseEvents(a.body)
		if a.status != 200 || len(ev) == 0 || ev[len(ev)-1] != "[DONE]" || strings.Contains(string(a.body), `"usage"`) ||
			a.header.Get(HeaderChannel) != "ch-a" {
			t.Fatalf("status %d body %s", a.status, a.body)
		}
	})

	t.Run("tools", func(t *testing.T) {
		tool := openai.ChatCompletionFunctionTool(shared.FunctionDefinitionParam{
			Name: "get_weather", Parameters: shared.FunctionParameters{"type": "object",
				"properties": map[string]any{"city": map[string]string{"type": "string"}}, "required": []string{"city"}},
		})
		params := openai.ChatCompletionNewParams{
			Model:      "gpt-4o-mini",
			Messages:   []openai.ChatCompletionMessageParamUnion{openai.UserMessage("weather in Paris?")},
			Tools:      []openai.ChatCompletionToolUnionParam{tool},
			ToolChoice: openai.ChatCompletionToolChoiceOptionUnionParam{OfAuto: openai.String("required")},
		}
		res, err := c.Chat.Completions.New(ctx, params)
		if err != nil {
			t.Fatal(err)
		}
		calls := res.Choices[0].Message.ToolCalls
		if res.Choices[0].FinishReason != "tool_calls" || len(calls) != 1 || calls[0].Function.Name != "get_weather" ||
			calls[0].Function.Arguments != `{"city":"mock"}` {
			t.Fatalf("answer %s", res.RawJSON())
		}
		r, _ := h.mock.LastRequest()
		if !strings.Contains(string(r.Body), `"tool_choice":{"type":"any"}`) || !strings.Contains(string(r.Body), `"input_schema":{`) {
			t.Fatalf("upstream got %s", r.Body)
		}
		// The tool result goes back as a tool_result block.
		params.Messages = append(params.Messages, res.Choices[0].Message.ToParam(), openai.ToolMessage("sunny", calls[0].ID))
		params.ToolChoice = openai.ChatCompletionToolChoiceOptionUnionParam{}
		final, err := c.Chat.Completions.New(ctx, params)
		if err != nil {
			t.Fatal(err)
		}
		r, _ = h.mock.LastRequest()
		if final.Choices[0].Message.Content != mockllm.Content(mockllm.DefaultChunks) ||
			!strings.Contains(string(r.Body), `{"type":"tool_result","tool_use_id":"`+calls[0].ID+`","content":"sunny"}`) {
			t.Fatalf("final %s; upstream got %s", final.RawJSON(), r.Body)
		}

		params.Messages = params.Messages[:1]
		params.ToolChoice = openai.ChatCompletionToolChoiceOptionUnionParam{OfAuto: openai.String("required")}
		st := c.Chat.Completions.NewStreaming(ctx, params)
		var acc openai.ChatCompletionAccumulator
		for st.Next() {
			acc.AddChunk(st.Current())
		}
		if err := st.Err(); err != nil {
			t.Fatal(err)
		}
		_ = st.Close()
		tc := acc.Choices[0].Message.ToolCalls
		if len(tc) != 1 || tc[0].Function.Name != "get_weather" || tc[0].Function.Arguments != `{"city":"mock"}` || acc.Choices[0].FinishReason != "tool_calls" {
			t.Fatalf("streamed %+v", acc.ChatCompletion)
		}
	})
}

// TestNativeFailover: a failing channel of one kind fails over to a channel
// of the other kind, for both surfaces, stream and non-stream, with usage
// and cost from the channel that answered.
func TestNativeFailover(t *testing.T) {
	for _, tc := range []struct {
		name     string
		native   int    // the native channel
		wantPath string // what the answering channel (ch-b) is called at
	}{
		{"native fails, openai answers", 0, "/chat/completions"},
		{"openai fails, native answers", 1, "/messages"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			// Each subtest has its own router: the failed channel cools
			// down after its first failure.
			var h *harness
			var ac anthropic.Client
			var oc openai.Client
			fresh := func(t *testing.T) {
				h = start(t, harnessOpt{spec: nativeChannel(tc.native), mock: mockllm.Config{Rules: []mockllm.Rule{{Key: keyA, Status: 503}}}})
				ac = anthropic.NewClient(aoption.WithBaseURL(h.url), aoption.WithAPIKey("any"), aoption.WithMaxRetries(0))
				oc = sdkClient(h)
			}
			// check: ch-a was tried and failed, ch-b answered at wantPath.
			check := func(t *testing.T) {
				t.Helper()
				rs := h.mock.Requests()
				if len(rs) != 2 || rs[0].Key != keyA || rs[1].Key != keyB || !strings.HasSuffix(rs[1].Path, tc.wantPath) {
					var got []string
					for _, r := range rs {
						got = append(got, r.Key+" "+r.Path)
					}
					t.Fatalf("upstream calls %v", got)
				}
			}

			t.Run("messages", func(t *testing.T) {
				fresh(t)
				var resp *http.Response
				msg, err := ac.Messages.New(ctx, anthropic.MessageNewParams{Model: "gpt-4o-mini", MaxTokens: 32, Messages: userText("hi")},
					aoption.WithResponseInto(&resp))
				if err != nil {
					t.Fatal(err)
				}
				if msg.Content[0].Text != mockllm.Content(mockllm.DefaultChunks) || resp.Header.Get(HeaderChannel) != "ch-b" || resp.Header.Get(HeaderAttempts) != "2" {
					t.Fatalf("content %+v headers %v", msg.Content, resp.Header)
				}
				checkCost(t, resp.Header.Get(HeaderCost), msg.Usage.InputTokens, msg.Usage.OutputTokens)
				check(t)
			})
			t.Run("messages stream", func(t *testing.T) {
				fresh(t)
				s := ac.Messages.NewStreaming(ctx, anthropic.MessageNewParams{Model: "gpt-4o-mini", MaxTokens: 32, Messages: userText("hi")})
				var acc anthropic.Message
				for s.Next() {
					if err := acc.Accumulate(s.Current()); err != nil {
						t.Fatal(err)
					}
				}
				if err := s.Err(); err != nil {
					t.Fatal(err)
				}
				if acc.Content[0].Text != mockllm.Content(mockllm.DefaultChunks) || acc.Usage.OutputTokens != mockllm.DefaultChunks {
					t.Fatalf("accumulated %+v", acc)
				}
				check(t)
			})
			t.Run("chat", func(t *testing.T) {
				fresh(t)
				var resp *http.Response
				res, err := oc.Chat.Completions.New(ctx, openai.ChatCompletionNewParams{Model: "gpt-4o-mini",
					Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("hi")}}, option.WithResponseInto(&resp))
				if err != nil {
					t.Fatal(err)
				}
				if res.Choices[0].Message.Content != mockllm.Content(mockllm.DefaultChunks) || resp.Header.Get(HeaderChannel) != "ch-b" ||
					resp.Header.Get(HeaderAttempts) != "2" || res.Usage.CompletionTokens != mockllm.DefaultChunks {
					t.Fatalf("answer %s headers %v", res.RawJSON(), resp.Header)
				}
				var meta struct {
					R struct {
						Cost struct {
							Total float64 `json:"total_usd"`
						} `json:"cost"`
					} `json:"smart_ai_router"`
				}
				_ = json.Unmarshal([]byte(res.RawJSON()), &meta)
				checkCost(t, strconv.FormatFloat(meta.R.Cost.Total, 'g', -1, 64), res.Usage.PromptTokens, res.Usage.CompletionTokens)
				check(t)
			})
			t.Run("chat stream", func(t *testing.T) {
				fresh(t)
				st := oc.Chat.Completions.NewStreaming(ctx, openai.ChatCompletionNewParams{Model: "gpt-4o-mini",
					Messages:      []openai.ChatCompletionMessageParamUnion{openai.UserMessage("hi")},
					StreamOptions: openai.ChatCompletionStreamOptionsParam{IncludeUsage: openai.Bool(true)}})
				var acc openai.ChatCompletionAccumulator
				for st.Next() {
					acc.AddChunk(st.Current())
				}
				if err := st.Err(); err != nil {
					t.Fatal(err)
				}
				_ = st.Close()
				if acc.Choices[0].Message.Content != mockllm.Content(mockllm.DefaultChunks) || acc.Usage.CompletionTokens != mockllm.DefaultChunks {
					t.Fatalf("accumulated %+v", acc.ChatCompletion)
				}
				check(t)
			})
		})
	}
}

// TestNativeStreamCut: a native stream cut after data ends in the client's
// own error event, for both surfaces.
func TestNativeStreamCut(t *testing.T) {
	h := start(t, harnessOpt{spec: nativeChannel(0), mock: mockllm.Config{Rules: []mockllm.Rule{{Fault: mockllm.FaultDrop, AfterChunks: 2}}}})
	a := h.do(http.MethodPost, PathMessages, []byte(`{"model":"gpt-4o-mini","max_tokens":9,"stream":true,"messages":[{"role":"user","content":"hi"}]}`), nil)
	if a.status != 200 || !strings.Contains(string(a.body), "event: error\ndata: {\"type\":\"error\",\"error\":{\"type\":\"api_error\"") ||
		strings.Contains(string(a.body), "message_stop") || strings.Count(string(a.body), "text_delta") != 2 {
		t.Fatalf("messages: status %d body %s", a.status, a.body)
	}
	a = h.chat(`{"model":"gpt-4o-mini","stream":true,"messages":[{"role":"user","content":"hi"}]}`, nil)
	ev := sseEvents(a.body)
	if a.status != 200 || len(ev) < 2 || ev[len(ev)-1] != "[DONE]" || !strings.Contains(ev[len(ev)-2], codeStreamCut) {
		t.Fatalf("chat: status %d body %s", a.status, a.body)
	}
}

// TestNativeSkippedByOtherSurfaces: embeddings, completions and Gemini
// cannot be served by a native channel: its pair is skipped (no call) and
// the next channel answers.
func TestNativeSkippedByOtherSurfaces(t *testing.T) {
	// One try only: a skipped native pair costs none.
	h := start(t, harnessOpt{spec: func(s *servertest.Spec) {
		nativeChannel(0)(s)
		s.Settings.MaxRetryAttempts = 1
	}})
	a := h.do(http.MethodPost, PathCompletions, []byte(`{"model":"gpt-4o-mini","prompt":"hi"}`), nil)
	rs := h.mock.Requests()
	if a.status != 200 || a.header.Get(HeaderChannel) != "ch-b" || a.header.Get(HeaderAttempts) != "2" || len(rs) != 1 || rs[0].Key != keyB {
		t.Fatalf("status %d headers %v body %s", a.status, a.header, a.body)
	}
	h.mock.Reset()
	a = h.do(http.MethodPost, "/v1beta/models/gpt-4o-mini:generateContent", []byte(`{"contents":[{"role":"user","parts":[{"text":"hi"}]}]}`), nil)
	if rs := h.mock.Requests(); a.status != 200 || a.header.Get(HeaderChannel) != "ch-b" || len(rs) != 1 || rs[0].Key != keyB {
		t.Fatalf("gemini: status %d headers %v body %s", a.status, a.header, a.body)
	}
}

// TestNativeRejected: a native channel's 400 is the client's answer (no
// failover), with Anthropic's message kept, in the shape of each surface.
func TestNativeRejected(t *testing.T) {
	h := start(t, harnessOpt{spec: nativeChannel(0), mock: mockllm.Config{Rules: []mockllm.Rule{
		{Key: keyA, Status: 400, Message: "messages.0.content: bad block"}}}})
	a := h.do(http.MethodPost, PathMessages, []byte(`{"model":"gpt-4o-mini","max_tokens":9,"messages":[{"role":"user","content":"hi"}]}`), nil)
	if a.status != 400 || string(a.body) != `{"type":"error","error":{"type":"invalid_request_error","message":"messages.0.content: bad block"}}` {
		t.Fatalf("messages: status %d body %s", a.status, a.body)
	}
	a = h.chat(`{"model":"gpt-4o-mini","messages":[{"role":"user","content":"hi"}]}`, nil)
	var e struct {
		Error struct{ Message string } `json:"error"`
	}
	if err := json.Unmarshal(a.body, &e); err != nil || a.status != 400 || e.Error.Message != "messages.0.content: bad block" {
		t.Fatalf("chat: status %d body %s", a.status, a.body)
	}
	if keys := h.keysSeen(); len(keys) != 2 || keys[0] != keyA || keys[1] != keyA {
		t.Fatalf("keys tried %v", keys)
	}
}

// TestNativeUntranslatable: a chat request the Messages translation cannot
// carry is not sent to the native channel; the next channel serves it, and
// with only native channels the 503 says why.
func TestNativeUntranslatable(t *testing.T) {
	const audio = `{"model":"gpt-4o-mini","messages":[{"role":"user","content":[{"type":"input_audio","input_audio":{"data":"AAAA","format":"wav"}}]}]}`
	h := start(t, harnessOpt{spec: nativeChannel(0)})
	a := h.chat(audio, nil)
	if rs := h.mock.Requests(); a.status != 200 || a.header.Get(HeaderChannel) != "ch-b" || len(rs) != 1 || rs[0].Key != keyB {
		t.Fatalf("status %d headers %v body %s", a.status, a.header, a.body)
	}
	h2 := start(t, harnessOpt{spec: func(s *servertest.Spec) {
		s.Channels = s.Channels[:1]
		nativeChannel(0)(s)
	}})
	a = h2.chat(audio, nil)
	if a.status != 503 || !strings.Contains(string(a.body), "cannot be translated for a native Anthropic channel") ||
		!strings.Contains(string(a.body), "input_audio") || len(h2.mock.Requests()) != 0 {
		t.Fatalf("status %d body %s", a.status, a.body)
	}
}

// TestNativeGarbageFailsOver: a native channel answering 200 with bytes
// that are not a Messages answer (or a stream of lines that are not
// events) fails over to the next channel, for both surfaces.
func TestNativeGarbageFailsOver(t *testing.T) {
	for _, fault := range []mockllm.Fault{mockllm.FaultGarbage, mockllm.FaultHTML} {
		for _, tc := range []struct{ path, body string }{
			{PathMessages, `{"model":"gpt-4o-mini","max_tokens":9,"messages":[{"role":"user","content":"hi"}]}`},
			{PathMessages, `{"model":"gpt-4o-mini","max_tokens":9,"stream":true,"messages":[{"role":"user","content":"hi"}]}`},
			{PathChat, `{"model":"gpt-4o-mini","messages":[{"role":"user","content":"hi"}]}`},
			{PathChat, `{"model":"gpt-4o-mini","stream":true,"messages":[{"role":"user","content":"hi"}]}`},
		} {
			h := start(t, harnessOpt{spec: nativeChannel(0), mock: mockllm.Config{Rules: []mockllm.Rule{{Key: keyA, Fault: fault}}}})
			a := h.do(http.MethodPost, tc.path, []byte(tc.body), nil)
			if a.status != 200 || a.header.Get(HeaderChannel) != "ch-b" || a.header.Get(HeaderAttempts) != "2" {
				t.Errorf("%s %s %s: status %d headers %v body %s", fault, tc.path, tc.body, a.status, a.header, a.body)
			}
		}
	}
}

// TestClientKeySpendNative: a client key is charged the usage a native
// Anthropic channel reports, on every native path.
func TestClientKeySpendNative(t *testing.T) {
	clk := &fakeClock{t: tenantClock0}
	h := tenantHarness(t, clk, nil, mockllm.Config{Chunks: 4}, nativeChannel(0))
	day := func() float64 { d, _, _ := h.srv.tenants.Spend("open", clk.now()); return d }
	prev := 0.0
	for _, tc := range []struct{ path, body string }{
		{PathMessages, `{"model":"gpt-4o-mini","max_tokens":9,"messages":[{"role":"user","content":"hi"}]}`},
		{PathChat, `{"model":"gpt-4o-mini","messages":[{"role":"user","content":"hi"}]}`},
		{PathMessages, `{"model":"gpt-4o-mini","max_tokens":9,"stream":true,"messages":[{"role":"user","content":"hi"}]}`},
		{PathChat, `{"model":"gpt-4o-mini","stream":true,"messages":[{"role":"user","content":"hi"}]}`},
	} {
		a := h.do(http.MethodPost, tc.path, []byte(tc.body), bearer(tokOpen))
		r, _ := h.mock.LastRequest()
		if a.status != 200 || a.header.Get(HeaderChannel) != "ch-a" || r.Path != "/v1/messages" {
			t.Fatalf("%s: %d %s", tc.body, a.status, a.body)
		}
		want := prev + wantCost(mockPromptTokens(r.Body), 4)
		for range 500 { // a stream is charged when its relay ends
			if day() >= want-1e-12 {
				break
			}
			time.Sleep(10 * time.Millisecond)
		}
		if d := day(); math.Abs(d-want) > 1e-12 {
			t.Errorf("%s %s: spend %v, want %v", tc.path, tc.body, d, want)
		}
		prev = day()
	}
}
