package e2e

import (
	"context"
	"net/http"
	"path/filepath"
	"strings"
	"testing"

	"github.com/anthropics/anthropic-sdk-go/v2"
	aoption "github.com/anthropics/anthropic-sdk-go/v2/option"
	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"

	"smartrouter/fixtures/mockllm"
	"smartrouter/format"
	"smartrouter/runtime/internal/servertest"
)

// The routerd binary serves embeddings and legacy completions to the
// official OpenAI SDK, failing over from a channel whose key the upstream
// refuses with 503.
func TestSurfacesWithSDK(t *testing.T) {
	mock := startMock(t, mockllm.Config{Chunks: 4})
	if err := mock.SetRules([]mockllm.Rule{{Key: keyA, Status: 503}}); err != nil {
		t.Fatal(err)
	}
	s := spec(mock.URL(), 1)
	em := servertest.Model{ID: "text-embedding-3-small", In: 20_000, Ctx: 8_192}
	for i := range s.Channels {
		s.Channels[i].Models = append(s.Channels[i].Models, em)
	}
	snap := filepath.Join(t.TempDir(), "router.snap")
	if err := s.WriteFile(snap); err != nil {
		t.Fatal(err)
	}
	p := startRouterd(t, "-snapshot", snap)
	if p.url == "" {
		t.Fatalf("routerd did not start:\n%s", p.logText())
	}
	c := openai.NewClient(option.WithBaseURL(p.url+"/v1/"), option.WithAPIKey("unused"), option.WithMaxRetries(0))
	ctx := context.Background()

	var resp *http.Response
	emb, err := c.Embeddings.New(ctx, openai.EmbeddingNewParams{Model: "text-embedding-3-small",
		Input: openai.EmbeddingNewParamsInputUnion{OfArrayOfStrings: []string{"a", "b", "c"}}, Dimensions: openai.Int(3)},
		option.WithResponseInto(&resp))
	if err != nil {
		t.Fatal(err)
	}
	if len(emb.Data) != 3 || len(emb.Data[2].Embedding) != 3 || resp.Header.Get("X-Router-Channel") != "ch-b" {
		t.Errorf("embeddings via %q: %s", resp.Header.Get("X-Router-Channel"), emb.RawJSON())
	}

	st := c.Completions.NewStreaming(ctx, openai.CompletionNewParams{Model: "gpt-4o-mini",
		Prompt: openai.CompletionNewParamsPromptUnion{OfString: openai.String("hi")}})
	var text strings.Builder
	for st.Next() {
		for _, ch := range st.Current().Choices {
			text.WriteString(ch.Text)
		}
	}
	if err := st.Err(); err != nil {
		t.Fatal(err)
	}
	_ = st.Close()
	if text.String() != mockllm.Content(4) {
		t.Errorf("completion stream %q", text.String())
	}
	for _, r := range mock.Requests() {
		if r.Path != "/v1/embeddings" && r.Path != "/v1/completions" {
			t.Errorf("upstream request to %s", r.Path)
		}
	}
}

// The routerd binary in front of a native Anthropic channel (mockllm's
// Messages API): the Anthropic SDK's requests pass through, the OpenAI
// SDK's are translated, after failing over from an OpenAI-compatible
// channel whose key the upstream refuses with 503.
func TestNativeAnthropicWithSDKs(t *testing.T) {
	mock := startMock(t, mockllm.Config{Chunks: 4})
	if err := mock.SetRules([]mockllm.Rule{{Key: keyA, Status: 503}}); err != nil {
		t.Fatal(err)
	}
	s := spec(mock.URL(), 1)
	s.Channels[1].Provider, s.Channels[1].Adapter, s.Channels[1].AuthType = "anthropic", "AnthropicAdapter", format.AuthXAPIKey
	snap := filepath.Join(t.TempDir(), "router.snap")
	if err := s.WriteFile(snap); err != nil {
		t.Fatal(err)
	}
	p := startRouterd(t, "-snapshot", snap)
	if p.url == "" {
		t.Fatalf("routerd did not start:\n%s", p.logText())
	}
	ctx := context.Background()

	ac := anthropic.NewClient(aoption.WithBaseURL(p.url), aoption.WithAPIKey("unused"), aoption.WithMaxRetries(0))
	var resp *http.Response
	msg, err := ac.Messages.New(ctx, anthropic.MessageNewParams{Model: "gpt-4o-mini", MaxTokens: 32,
		Messages: []anthropic.MessageParam{anthropic.NewUserMessage(anthropic.NewTextBlock("hi"))}}, aoption.WithResponseInto(&resp))
	if err != nil {
		t.Fatal(err)
	}
	if msg.Content[0].Text != mockllm.Content(4) || msg.Usage.OutputTokens != 4 || resp.Header.Get("X-Router-Channel") != "ch-b" ||
		resp.Header.Get("X-Router-Attempts") != "2" || resp.Header.Get("X-Router-Cost-Usd") == "" {
		t.Fatalf("answer %+v headers %v", msg, resp.Header)
	}

	st := ac.Messages.NewStreaming(ctx, anthropic.MessageNewParams{Model: "gpt-4o-mini", MaxTokens: 32,
		Messages: []anthropic.MessageParam{anthropic.NewUserMessage(anthropic.NewTextBlock("hi"))}})
	var acc anthropic.Message
	for st.Next() {
		if err := acc.Accumulate(st.Current()); err != nil {
			t.Fatal(err)
		}
	}
	if err := st.Err(); err != nil || acc.Content[0].Text != mockllm.Content(4) {
		t.Fatalf("stream %+v: %v", acc, err)
	}

	oc := openai.NewClient(option.WithBaseURL(p.url+"/v1/"), option.WithAPIKey("unused"), option.WithMaxRetries(0))
	res, err := oc.Chat.Completions.New(ctx, openai.ChatCompletionNewParams{Model: "gpt-4o-mini",
		Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("hi")}})
	if err != nil {
		t.Fatal(err)
	}
	if res.Choices[0].Message.Content != mockllm.Content(4) || res.Usage.CompletionTokens != 4 {
		t.Fatalf("chat %s", res.RawJSON())
	}
	for _, r := range mock.Requests() {
		if r.Key == keyB && (r.Path != "/v1/messages" || r.Header.Get("X-Api-Key") != keyB || r.Header.Get("Anthropic-Version") == "") {
			t.Errorf("native channel called at %s with headers %v", r.Path, r.Header)
		}
	}
}
