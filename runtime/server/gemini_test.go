package server

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"smartrouter/fixtures/mockllm"
	"smartrouter/runtime/internal/servertest"
)

// Raw HTTP following Google's REST reference for generateContent (the
// official Go SDK is not used: see docs/surfaces.md).

const geminiHello = `{"contents":[{"role":"user","parts":[{"text":"hello"}]}]}`

// geminiShape decodes an answer that must be Google's error shape.
func geminiShape(t *testing.T, a answer, status int, name string) {
	t.Helper()
	var e struct {
		Error struct {
			Code    int    `json:"code"`
			Message string `json:"message"`
			Status  string `json:"status"`
		} `json:"error"`
	}
	if err := json.Unmarshal(a.body, &e); err != nil {
		t.Fatalf("status %d body %s: %v", a.status, a.body, err)
	}
	if a.status != status || e.Error.Code != status || e.Error.Status != name || e.Error.Message == "" {
		t.Fatalf("want %d %s, got status %d body %s", status, name, a.status, a.body)
	}
}

type geminiAnswer struct {
	Candidates []struct {
		Content struct {
			Role  string `json:"role"`
			Parts []struct {
				Text         string `json:"text"`
				FunctionCall *struct {
					ID   string         `json:"id"`
					Name string         `json:"name"`
					Args map[string]any `json:"args"`
				} `json:"functionCall"`
			} `json:"parts"`
		} `json:"content"`
		FinishReason string `json:"finishReason"`
	} `json:"candidates"`
	UsageMetadata *struct {
		PromptTokenCount     int `json:"promptTokenCount"`
		CandidatesTokenCount int `json:"candidatesTokenCount"`
		TotalTokenCount      int `json:"totalTokenCount"`
	} `json:"usageMetadata"`
	ModelVersion string `json:"modelVersion"`
}

func decodeGemini(t *testing.T, b []byte) geminiAnswer {
	t.Helper()
	var g geminiAnswer
	if err := json.Unmarshal(b, &g); err != nil {
		t.Fatalf("answer %s: %v", b, err)
	}
	return g
}

// geminiText joins the text of the events of a Gemini SSE stream and returns
// the last event.
func geminiStreamText(t *testing.T, b []byte) (string, geminiAnswer) {
	t.Helper()
	var sb strings.Builder
	var last geminiAnswer
	for _, ev := range sseEvents(b) {
		last = decodeGemini(t, []byte(ev))
		for _, c := range last.Candidates {
			for _, p := range c.Content.Parts {
				sb.WriteString(p.Text)
			}
		}
	}
	return sb.String(), last
}

func TestGeminiGenerate(t *testing.T) {
	h := start(t, harnessOpt{spec: func(s *servertest.Spec) { withAuth(s); s.Settings.MaxRequestSize = 64 << 10 }})
	key := map[string]string{"x-goog-api-key": "client-token-1"}

	t.Run("non-stream", func(t *testing.T) {
		body := `{"systemInstruction":{"parts":[{"text":"be brief"}]},"contents":[{"role":"user","parts":[{"text":"hello"}]}],` +
			`"generationConfig":{"temperature":0.5,"topP":0.9,"maxOutputTokens":64,"stopSequences":["END"],"candidateCount":1}}`
		a := h.do(http.MethodPost, "/v1beta/models/gpt-4o-mini:generateContent", []byte(body), key)
		if a.status != 200 || a.header.Get(HeaderChannel) != "ch-a" {
			t.Fatalf("status %d body %s", a.status, a.body)
		}
		g := decodeGemini(t, a.body)
		if len(g.Candidates) != 1 || g.Candidates[0].Content.Role != "model" || g.Candidates[0].Content.Parts[0].Text != mockllm.Content(mockllm.DefaultChunks) ||
			g.Candidates[0].FinishReason != "STOP" || g.ModelVersion != "gpt-4o-mini" {
			t.Fatalf("answer %s", a.body)
		}
		if u := g.UsageMetadata; u == nil || u.CandidatesTokenCount != mockllm.DefaultChunks || u.TotalTokenCount != u.PromptTokenCount+u.CandidatesTokenCount {
			t.Fatalf("usage in %s", a.body)
		}
		r, _ := h.mock.LastRequest()
		var sent map[string]any
		if err := json.Unmarshal(r.Body, &sent); err != nil {
			t.Fatal(err)
		}
		msgs, _ := sent["messages"].([]any)
		if len(msgs) != 2 || sent["max_tokens"] != 64.0 || sent["temperature"] != 0.5 || sent["top_p"] != 0.9 ||
			sent["model"] != "gpt-4o-mini" || !strings.HasSuffix(r.Path, "/chat/completions") {
			t.Fatalf("upstream got %s %s", r.Path, r.Body)
		}
		if sys := msgs[0].(map[string]any); sys["role"] != "system" || sys["content"] != "be brief" {
			t.Fatalf("system message %v", sys)
		}
		if stop, _ := sent["stop"].([]any); len(stop) != 1 || stop[0] != "END" {
			t.Fatalf("stop %v", sent["stop"])
		}
	})

	t.Run("v1 path and key query parameter", func(t *testing.T) {
		a := h.do(http.MethodPost, "/v1/models/gpt-4o-mini:generateContent?key=client-token-1", []byte(geminiHello), nil)
		if a.status != 200 || len(decodeGemini(t, a.body).Candidates) != 1 {
			t.Fatalf("status %d body %s", a.status, a.body)
		}
		h.noSecrets(a)
	})

	t.Run("bearer", func(t *testing.T) {
		a := h.do(http.MethodPost, "/v1beta/models/gpt-4o-mini:generateContent", []byte(geminiHello),
			map[string]string{"Authorization": "Bearer client-token-1"})
		if a.status != 200 {
			t.Fatalf("status %d body %s", a.status, a.body)
		}
	})

	t.Run("stream", func(t *testing.T) {
		a := h.do(http.MethodPost, "/v1beta/models/gpt-4o-mini:streamGenerateContent?alt=sse", []byte(geminiHello), key)
		if a.status != 200 || !strings.HasPrefix(a.header.Get("Content-Type"), "text/event-stream") || strings.Contains(string(a.body), "[DONE]") {
			t.Fatalf("status %d headers %v body %s", a.status, a.header, a.body)
		}
		text, last := geminiStreamText(t, a.body)
		if text != mockllm.Content(mockllm.DefaultChunks) || len(last.Candidates) != 1 || last.Candidates[0].FinishReason != "STOP" ||
			last.UsageMetadata == nil || last.UsageMetadata.CandidatesTokenCount != mockllm.DefaultChunks {
			t.Fatalf("text %q last event of %s", text, a.body)
		}
	})

	t.Run("inline image", func(t *testing.T) {
		body := `{"contents":[{"role":"user","parts":[{"text":"what is it?"},{"inline_data":{"mime_type":"image/png","data":"iVBORw0KGgo="}}]}]}`
		a := h.do(http.MethodPost, "/v1beta/models/gpt-4o-mini:generateContent", []byte(body), key)
		if a.status != 200 {
			t.Fatalf("status %d body %s", a.status, a.body)
		}
		r, _ := h.mock.LastRequest()
		if !strings.Contains(string(r.Body), `{"type":"image_url","image_url":{"url":"data:image/png;base64,iVBORw0KGgo="}}`) {
			t.Fatalf("upstream got %s", r.Body)
		}
	})

	t.Run("escaped tag query", func(t *testing.T) {
		a := h.do(http.MethodPost, "/v1beta/models/"+url.PathEscape("tag:free")+":generateContent", []byte(geminiHello), key)
		if a.status != 200 || a.header.Get(HeaderChannel) != "ch-c" || a.header.Get(HeaderModel) != "qwen/qwen3-8b:free" {
			t.Fatalf("status %d channel %q model %q body %s", a.status, a.header.Get(HeaderChannel), a.header.Get(HeaderModel), a.body)
		}
		if g := decodeGemini(t, a.body); g.ModelVersion != "tag:free" {
			t.Fatalf("modelVersion %q", g.ModelVersion)
		}
		a = h.do(http.MethodPost, "/v1beta/models/tag%3Afree%2Cqwen3:streamGenerateContent?alt=sse", []byte(geminiHello), key)
		if a.status != 200 || a.header.Get(HeaderChannel) != "ch-c" {
			t.Fatalf("status %d body %s", a.status, a.body)
		}
		a = h.do(http.MethodPost, "/v1beta/models/qwen/qwen3-8b:free:generateContent", []byte(geminiHello), key)
		if a.status != 200 || a.header.Get(HeaderModel) != "qwen/qwen3-8b:free" {
			t.Fatalf("status %d body %s", a.status, a.body)
		}
	})

	t.Run("wrong method", func(t *testing.T) {
		geminiShape(t, h.do(http.MethodGet, "/v1beta/models/gpt-4o-mini:generateContent", nil, key), 405, "INVALID_ARGUMENT")
	})

	typed := []struct {
		name, path string
		body       string
		hdr        map[string]string
		status     int
		want       string
	}{
		{"unknown model", "/v1beta/models/no-such-model:generateContent", geminiHello, key, 404, "NOT_FOUND"},
		{"no key", "/v1beta/models/gpt-4o-mini:generateContent", geminiHello, nil, 401, "UNAUTHENTICATED"},
		{"wrong key", "/v1beta/models/gpt-4o-mini:generateContent?key=wrong", geminiHello, nil, 401, "UNAUTHENTICATED"},
		{"unknown method", "/v1beta/models/gpt-4o-mini:embedContent", geminiHello, key, 404, "NOT_FOUND"},
		{"stream without alt=sse", "/v1beta/models/gpt-4o-mini:streamGenerateContent", geminiHello, key, 400, "INVALID_ARGUMENT"},
		{"malformed JSON", "/v1beta/models/gpt-4o-mini:generateContent", `{"contents":[`, key, 400, "INVALID_ARGUMENT"},
		{"not an object", "/v1beta/models/gpt-4o-mini:generateContent", `[1,2]`, key, 400, "INVALID_ARGUMENT"},
		{"no contents", "/v1beta/models/gpt-4o-mini:generateContent", `{}`, key, 400, "INVALID_ARGUMENT"},
		{"contents not array", "/v1beta/models/gpt-4o-mini:generateContent", `{"contents":"hi"}`, key, 400, "INVALID_ARGUMENT"},
		{"unknown role", "/v1beta/models/gpt-4o-mini:generateContent", `{"contents":[{"role":"system","parts":[{"text":"x"}]}]}`, key, 400, "INVALID_ARGUMENT"},
		{"unknown part", "/v1beta/models/gpt-4o-mini:generateContent", `{"contents":[{"role":"user","parts":[{"fileData":{"fileUri":"gs://x"}}]}]}`, key, 400, "INVALID_ARGUMENT"},
		{"text not string", "/v1beta/models/gpt-4o-mini:generateContent", `{"contents":[{"parts":[{"text":5}]}]}`, key, 400, "INVALID_ARGUMENT"},
		{"temperature not number", "/v1beta/models/gpt-4o-mini:generateContent", `{"contents":[],"generationConfig":{"temperature":"hot"}}`, key, 400, "INVALID_ARGUMENT"},
		{"two candidates", "/v1beta/models/gpt-4o-mini:generateContent", `{"contents":[],"generationConfig":{"candidateCount":2}}`, key, 400, "INVALID_ARGUMENT"},
		{"search tool", "/v1beta/models/gpt-4o-mini:generateContent", `{"contents":[],"tools":[{"googleSearch":{}}]}`, key, 400, "INVALID_ARGUMENT"},
		{"oversize", "/v1beta/models/gpt-4o-mini:generateContent", `{"contents":[{"parts":[{"text":"` + strings.Repeat("a", 100<<10) + `"}]}]}`, key, 413, "INVALID_ARGUMENT"},
		{"not JSON content type", "/v1beta/models/gpt-4o-mini:generateContent", geminiHello, map[string]string{"x-goog-api-key": "client-token-1", "Content-Type": "text/plain"}, 415, "INVALID_ARGUMENT"},
	}
	for _, tc := range typed {
		t.Run(tc.name, func(t *testing.T) {
			a := h.do(http.MethodPost, tc.path, []byte(tc.body), tc.hdr)
			geminiShape(t, a, tc.status, tc.want)
		})
	}
}

// TestGeminiFailover: ch-a fails, ch-b answers, stream and non-stream.
func TestGeminiFailover(t *testing.T) {
	h := start(t, harnessOpt{mock: mockllm.Config{Rules: []mockllm.Rule{{Key: keyA, Status: 500}}}})
	a := h.do(http.MethodPost, "/v1beta/models/gpt-4o-mini:generateContent", []byte(geminiHello), nil)
	if a.status != 200 || a.header.Get(HeaderChannel) != "ch-b" || a.header.Get(HeaderAttempts) != "2" || a.header.Get(HeaderCost) == "" {
		t.Fatalf("status %d headers %v body %s", a.status, a.header, a.body)
	}
	a = h.do(http.MethodPost, "/v1beta/models/gpt-4o-mini:streamGenerateContent?alt=sse", []byte(geminiHello), nil)
	if text, _ := geminiStreamText(t, a.body); a.status != 200 || a.header.Get(HeaderChannel) != "ch-b" || text != mockllm.Content(mockllm.DefaultChunks) {
		t.Fatalf("status %d text %q body %s", a.status, text, a.body)
	}

	h2 := start(t, harnessOpt{mock: mockllm.Config{Rules: []mockllm.Rule{{Status: 503}}}})
	geminiShape(t, h2.do(http.MethodPost, "/v1beta/models/gpt-4o-mini:generateContent", []byte(geminiHello), nil), 503, "UNAVAILABLE")
}

// TestGeminiStreamCut: an upstream that cuts the stream after data ends the
// Gemini stream with an error event.
func TestGeminiStreamCut(t *testing.T) {
	h := start(t, harnessOpt{mock: mockllm.Config{Rules: []mockllm.Rule{{Fault: mockllm.FaultDrop, AfterChunks: 2}}}})
	a := h.do(http.MethodPost, "/v1beta/models/gpt-4o-mini:streamGenerateContent?alt=sse", []byte(geminiHello), nil)
	if a.status != 200 || !strings.Contains(string(a.body), `data: {"error":{"code":500,`) || strings.Contains(string(a.body), "finishReason") {
		t.Fatalf("status %d body %s", a.status, a.body)
	}
}

// TestGeminiToolRoundTrip: a function declaration goes out as an OpenAI
// tool, the call comes back as a functionCall part with its args object,
// the functionResponse goes out as a tool message; stream gathers the
// streamed arguments into one functionCall.
func TestGeminiToolRoundTrip(t *testing.T) {
	up := &toolUpstream{}
	u := newLoopbackServer(t, up)
	h := start(t, harnessOpt{spec: func(s *servertest.Spec) {
		for i := range s.Channels {
			s.Channels[i].BaseURL = u
		}
	}})
	tools := `"tools":[{"functionDeclarations":[{"name":"get_weather","description":"weather of a city",` +
		`"parameters":{"type":"OBJECT","properties":{"city":{"type":"STRING"}},"required":["city"]}}]}]`
	a := h.do(http.MethodPost, "/v1beta/models/gpt-4o-mini:generateContent",
		[]byte(`{"contents":[{"role":"user","parts":[{"text":"weather in Paris?"}]}],`+tools+`}`), nil)
	g := decodeGemini(t, a.body)
	if a.status != 200 || len(g.Candidates) != 1 || len(g.Candidates[0].Content.Parts) != 1 {
		t.Fatalf("status %d body %s", a.status, a.body)
	}
	fc := g.Candidates[0].Content.Parts[0].FunctionCall
	if fc == nil || fc.Name != "get_weather" || fc.Args["city"] != "Paris" || g.Candidates[0].FinishReason != "STOP" {
		t.Fatalf("answer %s", a.body)
	}
	var first map[string]any
	_ = json.Unmarshal(up.seen[0], &first)
	ts, _ := first["tools"].([]any)
	if len(ts) != 1 {
		t.Fatalf("upstream got %s", up.seen[0])
	}
	fn := ts[0].(map[string]any)["function"].(map[string]any)
	params := fn["parameters"].(map[string]any)
	if fn["name"] != "get_weather" || params["type"] != "object" || params["properties"].(map[string]any)["city"].(map[string]any)["type"] != "string" {
		t.Fatalf("tool sent %v", fn)
	}

	second := `{"contents":[{"role":"user","parts":[{"text":"weather in Paris?"}]},` +
		`{"role":"model","parts":[{"functionCall":{"name":"get_weather","args":{"city":"Paris"}}}]},` +
		`{"role":"user","parts":[{"functionResponse":{"name":"get_weather","response":{"forecast":"sunny"}}}]}],` + tools + `}`
	a = h.do(http.MethodPost, "/v1beta/models/gpt-4o-mini:generateContent", []byte(second), nil)
	g = decodeGemini(t, a.body)
	if a.status != 200 || g.Candidates[0].Content.Parts[0].Text != `weather: {"forecast":"sunny"}` {
		t.Fatalf("status %d body %s", a.status, a.body)
	}
	var sent struct {
		Messages []struct {
			Role       string `json:"role"`
			ToolCallID string `json:"tool_call_id"`
			ToolCalls  []struct {
				ID       string `json:"id"`
				Function struct {
					Name      string `json:"name"`
					Arguments string `json:"arguments"`
				} `json:"function"`
			} `json:"tool_calls"`
		} `json:"messages"`
	}
	if err := json.Unmarshal(up.seen[1], &sent); err != nil || len(sent.Messages) != 3 {
		t.Fatalf("upstream got %s", up.seen[1])
	}
	m1, m2 := sent.Messages[1], sent.Messages[2]
	if m1.Role != "assistant" || len(m1.ToolCalls) != 1 || m1.ToolCalls[0].Function.Arguments != `{"city":"Paris"}` ||
		m2.Role != "tool" || m2.ToolCallID != m1.ToolCalls[0].ID {
		t.Fatalf("upstream got %s", up.seen[1])
	}

	a = h.do(http.MethodPost, "/v1beta/models/gpt-4o-mini:streamGenerateContent?alt=sse",
		[]byte(`{"contents":[{"role":"user","parts":[{"text":"weather in Paris?"}]}],`+tools+`}`), nil)
	_, last := geminiStreamText(t, a.body)
	if a.status != 200 || len(last.Candidates) != 1 || len(last.Candidates[0].Content.Parts) != 1 {
		t.Fatalf("status %d body %s", a.status, a.body)
	}
	fc = last.Candidates[0].Content.Parts[0].FunctionCall
	if fc == nil || fc.Name != "get_weather" || fc.ID != "call_1" || fc.Args["city"] != "Paris" || last.UsageMetadata == nil || last.UsageMetadata.TotalTokenCount != 27 {
		t.Fatalf("stream %s", a.body)
	}
}

func TestParseGeminiPath(t *testing.T) {
	for _, tc := range []struct{ raw, model, method string }{
		{"/v1beta/models/gpt-4o-mini:generateContent", "gpt-4o-mini", "generateContent"},
		{"/v1/models/gpt-4o-mini:streamGenerateContent", "gpt-4o-mini", "streamGenerateContent"},
		{"/v1beta/models/tag%3Afree%2Cqwen3:generateContent", "tag:free,qwen3", "generateContent"},
		{"/v1beta/models/tag:free,qwen3:streamGenerateContent", "tag:free,qwen3", "streamGenerateContent"},
		{"/v1beta/models/qwen/qwen3-8b:free:generateContent", "qwen/qwen3-8b:free", "generateContent"},
		{"/v1beta/models/models%2Fgemini-pro:generateContent", "gemini-pro", "generateContent"},
		{"/v1beta/models/gpt-4o-mini%3AgenerateContent", "gpt-4o-mini", "generateContent"},
		{"/v1beta/models/gpt-4o-mini:countTokens", "", ""},
		{"/v1beta/models/gpt-4o-mini", "", ""},
		{"/v1beta/models/:generateContent", "", ""},
		{"/v1beta/models/%zz:generateContent", "", ""},
		{"/v1/chat/completions", "", ""},
	} {
		model, method, ok := ParseGeminiPath(tc.raw)
		if ok != (tc.model != "") || model != tc.model || method != tc.method {
			t.Errorf("%s: got %q %q %v", tc.raw, model, method, ok)
		}
	}
}

func FuzzParseGeminiPath(f *testing.F) {
	f.Add("/v1beta/models/tag%3Afree%2Cqwen3:generateContent")
	f.Add("/v1/models/a:b:streamGenerateContent")
	f.Fuzz(func(t *testing.T, raw string) {
		model, method, ok := ParseGeminiPath(raw)
		if ok && (model == "" || method != geminiGenerate && method != geminiStream) {
			t.Fatalf("%q: %q %q", raw, model, method)
		}
	})
}
