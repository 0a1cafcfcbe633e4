package server

import (
	"context"
	"errors"
	"testing"

	"google.golang.org/genai"

	"smartrouter/fixtures/mockllm"
)

// geminiSDK returns Google's Go SDK client pointed at routerd.
func (h *harness) geminiSDK(t *testing.T, key string) *genai.Client {
	t.Helper()
	c, err := genai.NewClient(context.Background(), &genai.ClientConfig{APIKey: key, Backend: genai.BackendGeminiAPI,
		HTTPOptions: genai.HTTPOptions{BaseURL: h.url, APIVersion: "v1beta"}})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestGeminiSDK drives the Gemini surface with google.golang.org/genai.
func TestGeminiSDK(t *testing.T) {
	h := start(t, harnessOpt{spec: withAuth})
	c := h.geminiSDK(t, "client-token-1")
	ctx := context.Background()
	want := mockllm.Content(mockllm.DefaultChunks)

	t.Run("non-stream", func(t *testing.T) {
		cfg := &genai.GenerateContentConfig{SystemInstruction: genai.NewContentFromText("be brief", genai.RoleUser),
			Temperature: genai.Ptr[float32](0.5), MaxOutputTokens: 64}
		r, err := c.Models.GenerateContent(ctx, "gpt-4o-mini", genai.Text("hello"), cfg)
		if err != nil {
			t.Fatal(err)
		}
		if r.Text() != want || len(r.Candidates) != 1 || r.Candidates[0].FinishReason != genai.FinishReasonStop ||
			r.UsageMetadata == nil || r.UsageMetadata.CandidatesTokenCount != mockllm.DefaultChunks || r.ModelVersion != "gpt-4o-mini" {
			t.Fatalf("answer %+v", r)
		}
	})

	t.Run("stream", func(t *testing.T) {
		text := ""
		var last *genai.GenerateContentResponse
		for r, err := range c.Models.GenerateContentStream(ctx, "gpt-4o-mini", genai.Text("hello"), nil) {
			if err != nil {
				t.Fatal(err)
			}
			text += r.Text()
			last = r
		}
		if text != want || last == nil || last.Candidates[0].FinishReason != genai.FinishReasonStop || last.UsageMetadata == nil ||
			last.UsageMetadata.CandidatesTokenCount != mockllm.DefaultChunks {
			t.Fatalf("text %q last %+v", text, last)
		}
	})

	t.Run("tag query", func(t *testing.T) {
		r, err := c.Models.GenerateContent(ctx, "tag:free", genai.Text("hello"), nil)
		if err != nil {
			t.Fatal(err)
		}
		if r.Text() != want {
			t.Fatalf("answer %+v", r)
		}
	})

	for _, tc := range []struct {
		name, model, key string
		code             int
		status           string
	}{
		{"unknown model", "no-such-model", "client-token-1", 404, "NOT_FOUND"},
		{"bad key", "gpt-4o-mini", "wrong", 401, "UNAUTHENTICATED"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := h.geminiSDK(t, tc.key).Models.GenerateContent(ctx, tc.model, genai.Text("x"), nil)
			var ae genai.APIError
			var aep *genai.APIError
			switch {
			case errors.As(err, &ae):
			case errors.As(err, &aep):
				ae = *aep
			default:
				t.Fatalf("error %v (%T) is not a genai.APIError", err, err)
			}
			if ae.Code != tc.code || ae.Status != tc.status || ae.Message == "" {
				t.Fatalf("error %+v", ae)
			}
		})
	}
}
