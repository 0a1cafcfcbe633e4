package server

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"
	"github.com/openai/openai-go/v3/shared"

	"smartrouter/fixtures/mockllm"
	"smartrouter/format"
	"smartrouter/runtime/internal/servertest"
)

// The official OpenAI Go SDK as a client of routerd: chat, stream, tools,
// embeddings, completions and typed errors, against the server on a
// loopback port with mockllm as the upstream.

const sdkChunks = 5

// sdkClient is an SDK client for h, without the SDK's own retries (so that
// the router's failover is what the test sees).
func sdkClient(h *harness, opts ...option.RequestOption) openai.Client {
	base := []option.RequestOption{option.WithBaseURL(h.url + "/v1/"), option.WithAPIKey("client-token-1"),
		option.WithMaxRetries(0), option.WithHTTPClient(h.client)}
	return openai.NewClient(append(base, opts...)...)
}

func sdkHarness(t *testing.T, spec func(*servertest.Spec)) *harness {
	return start(t, harnessOpt{mock: mockllm.Config{Chunks: sdkChunks}, spec: func(s *servertest.Spec) {
		withEmbeddings(s)
		if spec != nil {
			spec(s)
		}
	}})
}

// hasRouterMeta reports whether an answer as the SDK received it carries the
// smart_ai_router object.
func hasRouterMeta(raw string) bool {
	var m map[string]json.RawMessage
	return json.Unmarshal([]byte(raw), &m) == nil && len(m["smart_ai_router"]) > 2
}

func TestOpenAISDK(t *testing.T) {
	h := sdkHarness(t, nil)
	c := sdkClient(h)
	ctx := context.Background()

	t.Run("chat", func(t *testing.T) {
		res, err := c.Chat.Completions.New(ctx, openai.ChatCompletionNewParams{
			Model:     "gpt-4o-mini",
			Messages:  []openai.ChatCompletionMessageParamUnion{openai.SystemMessage("be brief"), openai.UserMessage("hello")},
			MaxTokens: openai.Int(50),
		})
		if err != nil {
			t.Fatal(err)
		}
		if len(res.Choices) != 1 || res.Choices[0].Message.Content != mockllm.Content(sdkChunks) || res.Usage.CompletionTokens != sdkChunks {
			t.Fatalf("answer %+v", res)
		}
		if !hasRouterMeta(res.RawJSON()) {
			t.Errorf("no smart_ai_router metadata in %s", res.RawJSON())
		}
	})

	t.Run("chat stream", func(t *testing.T) {
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
		if len(acc.Choices) != 1 || acc.Choices[0].Message.Content != mockllm.Content(sdkChunks) ||
			acc.Choices[0].FinishReason != "stop" || acc.Usage.CompletionTokens != sdkChunks {
			t.Fatalf("accumulated %+v", acc.ChatCompletion)
		}
	})

	t.Run("tools", func(t *testing.T) {
		tool := openai.ChatCompletionFunctionTool(shared.FunctionDefinitionParam{
			Name:        "get_weather",
			Description: openai.String("Weather at a place"),
			Parameters: shared.FunctionParameters{"type": "object",
				"properties": map[string]any{"location": map[string]string{"type": "string"}}, "required": []string{"location"}},
		})
		res, err := c.Chat.Completions.New(ctx, openai.ChatCompletionNewParams{
			Model:      "gpt-4o-mini",
			Messages:   []openai.ChatCompletionMessageParamUnion{openai.UserMessage("weather in Paris?")},
			Tools:      []openai.ChatCompletionToolUnionParam{tool},
			ToolChoice: openai.ChatCompletionToolChoiceOptionUnionParam{OfAuto: openai.String("auto")},
		})
		if err != nil {
			t.Fatal(err)
		}
		if res.Choices[0].Message.Content == "" {
			t.Errorf("answer %s", res.RawJSON())
		}
		// The tool definitions reach the upstream as the SDK sent them.
		last, _ := h.mock.LastRequest()
		var sent struct {
			Tools []struct {
				Type     string `json:"type"`
				Function struct {
					Name       string         `json:"name"`
					Parameters map[string]any `json:"parameters"`
				} `json:"function"`
			} `json:"tools"`
			ToolChoice string `json:"tool_choice"`
		}
		if err := json.Unmarshal(last.Body, &sent); err != nil || len(sent.Tools) != 1 ||
			sent.Tools[0].Function.Name != "get_weather" || sent.Tools[0].Function.Parameters["required"] == nil || sent.ToolChoice != "auto" {
			t.Errorf("upstream got %s (%v)", last.Body, err)
		}
	})

	t.Run("embeddings", func(t *testing.T) {
		for _, in := range []openai.EmbeddingNewParamsInputUnion{
			{OfString: openai.String("one text")},
			{OfArrayOfStrings: []string{"first", "second"}},
			{OfArrayOfTokens: []int64{1, 2, 3}},
			{OfArrayOfTokenArrays: [][]int64{{1}, {2, 3}}},
		} {
			res, err := c.Embeddings.New(ctx, openai.EmbeddingNewParams{
				Model: "text-embedding-3-small", Input: in, Dimensions: openai.Int(6),
				EncodingFormat: openai.EmbeddingNewParamsEncodingFormatFloat,
			})
			if err != nil {
				t.Fatal(err)
			}
			want := 1
			if n := len(in.OfArrayOfStrings) + len(in.OfArrayOfTokenArrays); n > 0 {
				want = n
			}
			if len(res.Data) != want || len(res.Data[0].Embedding) != 6 || res.Usage.PromptTokens == 0 {
				t.Fatalf("answer %s", res.RawJSON())
			}
			if v := mockllm.Embedding("text-embedding-3-small", want-1, 6); float32(res.Data[want-1].Embedding[5]) != v[5] {
				t.Errorf("vector %v, want %v", res.Data[want-1].Embedding, v)
			}
			if !hasRouterMeta(res.RawJSON()) {
				t.Errorf("no smart_ai_router metadata in %s", res.RawJSON())
			}
		}
		last, _ := h.mock.LastRequest()
		if !strings.Contains(string(last.Body), `"dimensions":6`) || !strings.Contains(string(last.Body), `"encoding_format":"float"`) {
			t.Errorf("upstream got %s", last.Body)
		}
	})

	t.Run("completions", func(t *testing.T) {
		res, err := c.Completions.New(ctx, openai.CompletionNewParams{
			Model:     "gpt-4o-mini",
			Prompt:    openai.CompletionNewParamsPromptUnion{OfString: openai.String("Say this is a test")},
			MaxTokens: openai.Int(7),
		})
		if err != nil {
			t.Fatal(err)
		}
		if len(res.Choices) != 1 || res.Choices[0].Text != mockllm.Content(sdkChunks) || res.Usage.CompletionTokens != sdkChunks {
			t.Fatalf("answer %s", res.RawJSON())
		}
		st := c.Completions.NewStreaming(ctx, openai.CompletionNewParams{
			Model:  "gpt-4o-mini",
			Prompt: openai.CompletionNewParamsPromptUnion{OfArrayOfStrings: []string{"a", "b"}},
		})
		var text strings.Builder
		finish := ""
		for st.Next() {
			for _, ch := range st.Current().Choices {
				text.WriteString(ch.Text)
				if ch.FinishReason != "" {
					finish = string(ch.FinishReason)
				}
			}
		}
		if err := st.Err(); err != nil {
			t.Fatal(err)
		}
		_ = st.Close()
		if text.String() != mockllm.Content(sdkChunks) || finish != "stop" {
			t.Errorf("streamed %q, finish %q", text.String(), finish)
		}
	})
}

// TestOpenAISDKFailover: the first channel fails on every operation; each
// one, stream or not, is answered by the second with two attempts.
func TestOpenAISDKFailover(t *testing.T) {
	ctx := context.Background()
	type op func(c openai.Client, resp **http.Response) error
	ops := map[string]op{
		"chat": func(c openai.Client, resp **http.Response) error {
			_, err := c.Chat.Completions.New(ctx, openai.ChatCompletionNewParams{Model: "gpt-4o-mini",
				Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("hi")}}, option.WithResponseInto(resp))
			return err
		},
		"chat stream": func(c openai.Client, resp **http.Response) error {
			st := c.Chat.Completions.NewStreaming(ctx, openai.ChatCompletionNewParams{Model: "gpt-4o-mini",
				Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("hi")}}, option.WithResponseInto(resp))
			n := 0
			for st.Next() {
				n++
			}
			if st.Err() == nil && n == 0 {
				return errors.New("empty stream")
			}
			return errors.Join(st.Err(), st.Close())
		},
		"embeddings": func(c openai.Client, resp **http.Response) error {
			_, err := c.Embeddings.New(ctx, openai.EmbeddingNewParams{Model: "text-embedding-3-small",
				Input: openai.EmbeddingNewParamsInputUnion{OfString: openai.String("x")}}, option.WithResponseInto(resp))
			return err
		},
		"completions": func(c openai.Client, resp **http.Response) error {
			_, err := c.Completions.New(ctx, openai.CompletionNewParams{Model: "gpt-4o-mini",
				Prompt: openai.CompletionNewParamsPromptUnion{OfString: openai.String("x")}}, option.WithResponseInto(resp))
			return err
		},
		"completions stream": func(c openai.Client, resp **http.Response) error {
			st := c.Completions.NewStreaming(ctx, openai.CompletionNewParams{Model: "gpt-4o-mini",
				Prompt: openai.CompletionNewParamsPromptUnion{OfString: openai.String("x")}}, option.WithResponseInto(resp))
			n := 0
			for st.Next() {
				n++
			}
			if st.Err() == nil && n == 0 {
				return errors.New("empty stream")
			}
			return errors.Join(st.Err(), st.Close())
		},
	}
	for name, call := range ops {
		t.Run(name, func(t *testing.T) {
			h := sdkHarness(t, nil)
			if err := h.mock.SetRules([]mockllm.Rule{{Key: keyA, Status: 502}}); err != nil {
				t.Fatal(err)
			}
			var resp *http.Response
			if err := call(sdkClient(h), &resp); err != nil {
				t.Fatal(err)
			}
			if resp.Header.Get(HeaderChannel) != "ch-b" || resp.Header.Get(HeaderAttempts) != "2" {
				t.Errorf("channel %q attempts %q", resp.Header.Get(HeaderChannel), resp.Header.Get(HeaderAttempts))
			}
			if keys := h.keysSeen(); len(keys) != 2 || keys[0] != keyA || keys[1] != keyB {
				t.Errorf("the upstream saw %d requests, want ch-a then ch-b", len(keys))
			}
		})
	}
}

// TestOpenAISDKTypedErrors: the router's errors reach the SDK as
// *openai.Error with the status, type, code and param.
func TestOpenAISDKTypedErrors(t *testing.T) {
	h := sdkHarness(t, func(s *servertest.Spec) {
		s.Settings.AuthEnabled, s.Settings.APIToken = true, format.Secret{Env: "ROUTER_TOKEN"}
	})
	if err := h.mock.SetRules([]mockllm.Rule{{Model: "text-embedding-3-small", Status: 500}}); err != nil {
		t.Fatal(err)
	}
	c := sdkClient(h)
	ctx := context.Background()
	check := func(name string, err error, status int, code, param string) {
		t.Helper()
		var ae *openai.Error
		if !errors.As(err, &ae) {
			t.Errorf("%s: error %v is not an *openai.Error", name, err)
			return
		}
		if ae.StatusCode != status || ae.Code != code || ae.Message == "" || param != "" && ae.Param != param {
			t.Errorf("%s: status %d code %q param %q message %q, want %d %q %q", name, ae.StatusCode, ae.Code, ae.Param, ae.Message, status, code, param)
		}
	}
	_, err := c.Chat.Completions.New(ctx, openai.ChatCompletionNewParams{Model: "no-such-model",
		Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("hi")}})
	check("unknown model", err, 404, codeModel, "model")

	st := c.Chat.Completions.NewStreaming(ctx, openai.ChatCompletionNewParams{Model: "no-such-model",
		Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("hi")}})
	for st.Next() {
	}
	check("unknown model, stream", st.Err(), 404, codeModel, "model")
	_ = st.Close()

	_, err = c.Embeddings.New(ctx, openai.EmbeddingNewParams{Model: "text-embedding-3-small",
		Input: openai.EmbeddingNewParamsInputUnion{OfString: openai.String("x")}})
	check("every channel fails", err, 503, codeAllFailed, "")

	_, err = c.Embeddings.New(ctx, openai.EmbeddingNewParams{Model: "text-embedding-3-small"})
	check("no input", err, 400, codeInvalid, "input")

	_, err = c.Completions.New(ctx, openai.CompletionNewParams{Model: "gpt-4o-mini"})
	check("no prompt", err, 400, codeInvalid, "prompt")

	wrong := sdkClient(h, option.WithAPIKey("wrong-token"))
	_, err = wrong.Completions.New(ctx, openai.CompletionNewParams{Model: "gpt-4o-mini",
		Prompt: openai.CompletionNewParamsPromptUnion{OfString: openai.String("x")}})
	check("wrong token", err, 401, codeAuth, "")
}
