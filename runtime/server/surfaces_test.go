package server

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"smartrouter/fixtures/mockllm"
	"smartrouter/runtime/internal/servertest"
)

// withEmbeddings adds text-embedding-3-small to channels ch-a and ch-b.
func withEmbeddings(sp *servertest.Spec) {
	em := servertest.Model{ID: "text-embedding-3-small", In: 20_000, Out: 0, Ctx: 8_192}
	sp.Channels[0].Models = append(sp.Channels[0].Models, em)
	sp.Channels[1].Models = append(sp.Channels[1].Models, em)
}

func (h *harness) post(path, body string) answer {
	h.t.Helper()
	return h.do(http.MethodPost, path, []byte(body), nil)
}

// routerMeta returns the smart_ai_router object of an answer.
func routerMeta(t *testing.T, a answer) map[string]any {
	t.Helper()
	m, ok := a.json(t)["smart_ai_router"].(map[string]any)
	if !ok {
		t.Fatalf("no smart_ai_router object: %s", a.body)
	}
	return m
}

func TestEmbeddingsProxied(t *testing.T) {
	h := start(t, harnessOpt{spec: withEmbeddings})
	req := `{"model":"text-embedding-3-small","input":["first text","second"],"encoding_format":"float","dimensions":4,"user":"u1"}`
	a := h.post(PathEmbeddings, req)
	if a.status != 200 {
		t.Fatalf("status %d: %s", a.status, a.body)
	}
	var got struct {
		Object string `json:"object"`
		Data   []struct {
			Embedding []float32 `json:"embedding"`
		} `json:"data"`
	}
	if err := json.Unmarshal(a.body, &got); err != nil || got.Object != "list" || len(got.Data) != 2 || len(got.Data[1].Embedding) != 4 {
		t.Fatalf("answer %s (%v)", a.body, err)
	}
	if got.Data[1].Embedding[2] != mockllm.Embedding("text-embedding-3-small", 1, 4)[2] {
		t.Errorf("vector not relayed as sent: %v", got.Data[1].Embedding)
	}
	last, _ := h.mock.LastRequest()
	if last.Path != "/v1/embeddings" || string(last.Body) != req {
		t.Errorf("upstream got %s %s, want the body unchanged at /v1/embeddings", last.Path, last.Body)
	}
	meta := routerMeta(t, a)
	tok := meta["tokens"].(map[string]any)
	if tok["prompt_tokens"].(float64) <= 0 || tok["estimated_input_tokens"].(float64) <= 0 {
		t.Errorf("tokens %v", tok)
	}
	if cost := meta["cost"].(map[string]any); cost["prompt_usd"].(float64) <= 0 || cost["total_usd"] != cost["prompt_usd"] {
		t.Errorf("cost %v", cost)
	}
	if a.header.Get(HeaderModel) != "text-embedding-3-small" || a.header.Get(HeaderChannel) != "ch-a" {
		t.Errorf("headers %v", a.header)
	}

	// A chat model is not an embedding model (400 model_not_embedding,
	// saying how to find one), and the embedding model is not a chat model
	// (503 no_channels_available): neither reaches the upstream, and GET
	// /v1/admin/route tells why.
	n := h.mock.Count()
	if a := h.post(PathEmbeddings, `{"model":"gpt-4o-mini","input":"x"}`); a.status != 400 || a.errorCode(t) != codeNotEmbedding ||
		!strings.Contains(string(a.body), `"param":"model"`) || !strings.Contains(string(a.body), "not an embedding model") ||
		!strings.Contains(string(a.body), "GET /v1/models") || a.header.Get(HeaderStatus) != "model-not-embedding" {
		t.Errorf("embeddings with a chat model: status %d %v: %s", a.status, a.header.Get(HeaderStatus), a.body)
	}
	if a := h.chat(`{"model":"text-embedding-3-small","messages":[{"role":"user","content":"hi"}]}`, nil); a.status != 503 || a.errorCode(t) != codeNoChannels {
		t.Errorf("chat with an embedding model: status %d: %s", a.status, a.body)
	}
	if h.mock.Count() != n {
		t.Errorf("the upstream was called for a request no pair could serve")
	}
	admin := h.do(http.MethodGet, PathAdminRoute+"?model=gpt-4o-mini&embeddings=1", nil, nil)
	if admin.status != 400 || !strings.Contains(string(admin.body), `"not_embedding_model"`) || !strings.Contains(string(admin.body), `"model_not_embedding"`) {
		t.Errorf("admin route as embeddings: %d %s", admin.status, admin.body)
	}
	admin = h.do(http.MethodGet, PathAdminRoute+"?model=text-embedding-3-small&embeddings=1", nil, nil)
	if admin.status != 200 {
		t.Errorf("admin route of the embedding model: %d %s", admin.status, admin.body)
	}
}

func TestEmbeddingsFailover(t *testing.T) {
	for _, rule := range []mockllm.Rule{
		{Key: keyA, Status: 503},
		{Key: keyA, Status: 429},
		{Key: keyA, Fault: mockllm.FaultGarbage},
		{Key: keyA, Fault: mockllm.FaultDrop},
	} {
		h := start(t, harnessOpt{spec: withEmbeddings})
		if err := h.mock.SetRules([]mockllm.Rule{rule}); err != nil {
			t.Fatal(err)
		}
		a := h.post(PathEmbeddings, `{"model":"text-embedding-3-small","input":[[1,2,3],[4]]}`)
		if a.status != 200 || a.header.Get(HeaderChannel) != "ch-b" || a.header.Get(HeaderAttempts) != "2" {
			t.Fatalf("%+v: status %d, channel %q, attempts %q: %s", rule, a.status, a.header.Get(HeaderChannel), a.header.Get(HeaderAttempts), a.body)
		}
		if got := h.keysSeen(); len(got) != 2 || got[0] != keyA || got[1] != keyB {
			t.Errorf("%+v: %d upstream requests, want ch-a then ch-b", rule, len(got))
		}
		if att := routerMeta(t, a)["routing"].(map[string]any)["attempts"]; att != 2.0 {
			t.Errorf("%+v: metadata attempts %v", rule, att)
		}
	}
}

func TestCompletionsProxied(t *testing.T) {
	h := start(t, harnessOpt{mock: mockllm.Config{Chunks: 3}})
	a := h.post(PathCompletions, `{"model":"gpt-4o-mini","prompt":"Say <think>hi</think> this","max_tokens":7}`)
	if a.status != 200 {
		t.Fatalf("status %d: %s", a.status, a.body)
	}
	m := a.json(t)
	if m["object"] != "text_completion" || m["choices"].([]any)[0].(map[string]any)["text"] != mockllm.Content(3) {
		t.Errorf("answer %s", a.body)
	}
	if tok := routerMeta(t, a)["tokens"].(map[string]any); tok["completion_tokens"] != 3.0 {
		t.Errorf("tokens %v", tok)
	}
	if last, _ := h.mock.LastRequest(); last.Path != "/v1/completions" {
		t.Errorf("upstream path %s", last.Path)
	}

	// Stream, the first channel failing: failover before the first byte,
	// and the usage chunk the router asked for is not shown.
	if err := h.mock.SetRules([]mockllm.Rule{{Key: keyA, Status: 500}}); err != nil {
		t.Fatal(err)
	}
	s := h.post(PathCompletions, `{"model":"gpt-4o-mini","prompt":["a","b"],"stream":true}`)
	if s.status != 200 || s.header.Get(HeaderChannel) != "ch-b" || !strings.HasPrefix(s.header.Get("Content-Type"), "text/event-stream") {
		t.Fatalf("status %d channel %q: %s", s.status, s.header.Get(HeaderChannel), s.body)
	}
	ev := sseEvents(s.body)
	if len(ev) != 3+1+1 || ev[len(ev)-1] != "[DONE]" || strings.Contains(string(s.body), `"usage":{`) {
		t.Errorf("events %q", ev)
	}
	last, _ := h.mock.LastRequest()
	if !strings.Contains(string(last.Body), `"include_usage":true`) {
		t.Errorf("upstream stream request did not ask for usage: %s", last.Body)
	}
	// A client that asks for usage gets it.
	s = h.post(PathCompletions, `{"model":"gpt-4o-mini","prompt":"a","stream":true,"stream_options":{"include_usage":true}}`)
	if !strings.Contains(string(s.body), `"choices":[],"usage":{`) {
		t.Errorf("usage chunk missing: %s", s.body)
	}
	// Cut after the first byte: no failover; an error event and one [DONE].
	if err := h.mock.SetRules([]mockllm.Rule{{Fault: mockllm.FaultDrop, AfterChunks: 1}}); err != nil {
		t.Fatal(err)
	}
	s = h.post(PathCompletions, `{"model":"gpt-4o-mini","prompt":"a","stream":true}`)
	ev = sseEvents(s.body)
	if s.status != 200 || len(ev) != 3 || !strings.Contains(ev[1], codeStreamCut) || ev[2] != "[DONE]" {
		t.Errorf("cut stream: status %d, events %q", s.status, ev)
	}
}

// TestSurfacesBadInput: malformed, mistyped, incomplete and oversize bodies
// get a 4xx OpenAI-style error, never a 5xx, and never reach the upstream.
func TestSurfacesBadInput(t *testing.T) {
	h := start(t, harnessOpt{spec: func(s *servertest.Spec) { withEmbeddings(s); s.Settings.MaxRequestSize = 4096 }})
	big := `{"model":"text-embedding-3-small","input":"` + strings.Repeat("x", 5000) + `"}`
	cases := []struct {
		path, body string
		status     int
	}{
		{PathEmbeddings, `{"model":`, 400},
		{PathEmbeddings, ``, 400},
		{PathEmbeddings, `[]`, 400},
		{PathEmbeddings, `"text"`, 400},
		{PathEmbeddings, `{"input":"x"}`, 400},
		{PathEmbeddings, `{"model":5,"input":"x"}`, 400},
		{PathEmbeddings, `{"model":"text-embedding-3-small"}`, 400},
		{PathEmbeddings, `{"model":"text-embedding-3-small","input":null}`, 400},
		{PathEmbeddings, `{"model":"text-embedding-3-small","input":{"a":1}}`, 400},
		{PathEmbeddings, `{"model":"text-embedding-3-small","input":[]}`, 400},
		{PathEmbeddings, `{"model":"text-embedding-3-small","input":["a",2]}`, 400},
		{PathEmbeddings, `{"model":"text-embedding-3-small","input":[[1,"a"]]}`, 400},
		{PathEmbeddings, `{"model":"text-embedding-3-small","input":"x"}x`, 400},
		{PathEmbeddings, big, 413},
		{PathCompletions, `{"model":"gpt-4o-mini","prompt":`, 400},
		{PathCompletions, `{"prompt":"x"}`, 400},
		{PathCompletions, `{"model":"gpt-4o-mini"}`, 400},
		{PathCompletions, `{"model":"gpt-4o-mini","prompt":true}`, 400},
		{PathCompletions, `{"model":"gpt-4o-mini","prompt":[{"text":"x"}]}`, 400},
		{PathCompletions, `{"model":"gpt-4o-mini","messages":[{"role":"user","content":"x"}]}`, 400},
		{PathCompletions, `{"model":"gpt-4o-mini","prompt":"x","stream":"yes"}`, 0}, // passed on: the upstream judges
		{PathCompletions, strings.Replace(big, "input", "prompt", 1), 413},
		{PathCompletions, `{"model":"no-such-model","prompt":"x"}`, 404},
	}
	for _, tc := range cases {
		n := h.mock.Count()
		a := h.post(tc.path, tc.body)
		if tc.status == 0 {
			if a.status >= 500 {
				t.Errorf("%s %.60s: status %d: %s", tc.path, tc.body, a.status, a.body)
			}
			continue
		}
		if a.status != tc.status {
			t.Errorf("%s %.60s: status %d, want %d: %s", tc.path, tc.body, a.status, tc.status, a.body)
			continue
		}
		if code := a.errorCode(t); code == "" {
			t.Errorf("%s %.60s: no error code: %s", tc.path, tc.body, a.body)
		}
		if h.mock.Count() != n {
			t.Errorf("%s %.60s reached the upstream", tc.path, tc.body)
		}
	}
}
