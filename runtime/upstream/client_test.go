package upstream

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httptrace"
	"strings"
	"testing"
	"time"

	"smartrouter/fixtures/mockllm"
	"smartrouter/format"
	"smartrouter/runtime/body"
	"smartrouter/runtime/outcome"
)

func startMock(t testing.TB, cfg mockllm.Config) *mockllm.Server {
	t.Helper()
	srv, err := mockllm.Start(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Close() })
	return srv
}

func newClient(t testing.TB, cfg Config) *Client {
	c := New(cfg)
	t.Cleanup(c.Close)
	return c
}

func newEndpoint(t testing.TB, base string, auth uint8, key string, openRouter bool) *Endpoint {
	t.Helper()
	ep, err := NewEndpoint(base, auth, key, openRouter)
	if err != nil {
		t.Fatal(err)
	}
	return ep
}

// A body with every kind of field a client may send.
const richBody = `{"model":"client-name","messages":[{"role":"system","content":"be brief"},` +
	`{"role":"user","content":[{"type":"text","text":"what is this?"},{"type":"image_url","image_url":{"url":"data:image/png;base64,iVBORw0KGgo="}}]},` +
	`{"role":"assistant","content":null,"tool_calls":[{"id":"call_1","type":"function","function":{"name":"f","arguments":"{\"a\":1}"}}]},` +
	`{"role":"tool","tool_call_id":"call_1","name":"f","content":"42"}],` +
	`"stop":["\n\n"],"seed":7,"top_p":0.9,"frequency_penalty":0.1,"presence_penalty":-0.2,"response_format":{"type":"json_object"},` +
	`"user":"u-1","n":1,"tools":[{"type":"function","function":{"name":"f","parameters":{"type":"object"}}}],"tool_choice":"auto",` +
	`"parallel_tool_calls":false,"logprobs":false,"x_vendor":{"deep":[1,2,{"k":"é"}]},"max_tokens":100}`

func TestNonStream(t *testing.T) {
	srv := startMock(t, mockllm.Config{})
	c := newClient(t, Config{})
	ep := newEndpoint(t, srv.URL(), format.AuthBearer, "sk-test-1", false)

	sent, err := body.RewriteModel(nil, []byte(richBody), "mock-large")
	if err != nil {
		t.Fatal(err)
	}
	resp, err := c.Do(context.Background(), &Request{Endpoint: ep, Body: sent})
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Close()
	if resp.Status != 200 {
		t.Fatalf("status %d", resp.Status)
	}
	out, err := resp.ReadAll(nil)
	if err != nil {
		t.Fatal(err)
	}
	var ans struct {
		Model   string
		Choices []struct{ Message struct{ Content string } }
	}
	if err := json.Unmarshal(out, &ans); err != nil {
		t.Fatal(err)
	}
	if ans.Model != "mock-large" || len(ans.Choices) != 1 || ans.Choices[0].Message.Content != mockllm.Content(mockllm.DefaultChunks) {
		t.Errorf("answer %s", out)
	}
	raw := body.ScanOpenAIResponse(out).Usage
	u := body.ParseOpenAIUsage(raw)
	if raw == nil || u.CompletionTokens != mockllm.DefaultChunks || u.TotalTokens != u.PromptTokens+u.CompletionTokens {
		t.Errorf("usage %s: %+v", raw, u)
	}

	got, ok := srv.LastRequest()
	if !ok {
		t.Fatal("nothing recorded")
	}
	if string(got.Body) != string(sent) {
		t.Errorf("forwarded body differs:\n got  %s\n want %s", got.Body, sent)
	}
	if got.Path != "/v1/chat/completions" || got.Method != "POST" || got.Model != "mock-large" {
		t.Errorf("request %s %s model %q", got.Method, got.Path, got.Model)
	}
	for name, want := range map[string]string{
		"Authorization": "Bearer sk-test-1", "Content-Type": "application/json",
		"Accept": "application/json", "User-Agent": DefaultUserAgent,
	} {
		if v := got.Header.Get(name); v != want {
			t.Errorf("header %s = %q, want %q", name, v, want)
		}
	}
}

// readStream collects a whole stream: the content deltas, the number of
// usage-only chunks and whether [DONE] came last.
func readStream(t *testing.T, s *Stream) (content string, usageOnly int, done bool, err error) {
	t.Helper()
	var b strings.Builder
	for {
		ch, err := s.Next()
		if err != nil {
			return b.String(), usageOnly, done, err
		}
		if done {
			t.Fatalf("chunk after [DONE]: %s", ch.Data)
		}
		if ch.Done {
			done = true
			continue
		}
		if strings.ContainsAny(string(ch.Data), "\n\r") || strings.HasPrefix(string(ch.Data), "data:") {
			t.Fatalf("payload not stripped: %q", ch.Data)
		}
		if ch.UsageOnly {
			usageOnly++
			if u := body.ParseOpenAIUsage(ch.Usage); u.CompletionTokens == 0 {
				t.Errorf("usage chunk %s: %+v", ch.Usage, u)
			}
			continue
		}
		var c struct {
			Choices []struct{ Delta struct{ Content string } }
		}
		if err := json.Unmarshal(ch.Data, &c); err != nil {
			t.Fatalf("chunk %q: %v", ch.Data, err)
		}
		for _, x := range c.Choices {
			b.WriteString(x.Delta.Content)
		}
	}
}

func TestStream(t *testing.T) {
	srv := startMock(t, mockllm.Config{Chunks: 5})
	c := newClient(t, Config{})
	ep := newEndpoint(t, srv.URL(), format.AuthBearer, "sk-test", false)
	for _, tt := range []struct {
		name, body string
		wantAdded  bool
	}{
		{"client did not ask for usage", `{"model":"x","stream":true,"messages":[]}`, true},
		{"client asked for usage", `{"model":"x","stream":true,"stream_options":{"include_usage":true}}`, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			sent, err := body.RewriteModel(nil, []byte(tt.body), "mock-small")
			if err != nil {
				t.Fatal(err)
			}
			sent, added, err := body.OpenAIRequestUsage(nil, sent)
			if err != nil || added != tt.wantAdded {
				t.Fatalf("OpenAIRequestUsage added=%v err=%v", added, err)
			}
			resp, err := c.Do(context.Background(), &Request{Endpoint: ep, Body: sent, Stream: true})
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Close()
			s := resp.Stream()
			content, usageOnly, done, err := readStream(t, s)
			if err != io.EOF || !done || usageOnly != 1 || content != mockllm.Content(5) || !s.Started() {
				t.Errorf("content %q usageOnly %d done %v err %v", content, usageOnly, done, err)
			}
			got, _ := srv.LastRequest()
			if string(got.Body) != string(sent) || got.Header.Get("Accept") != "text/event-stream" {
				t.Errorf("forwarded %s with Accept %q", got.Body, got.Header.Get("Accept"))
			}
		})
	}
}

func TestStreamKeepsConnection(t *testing.T) {
	srv := startMock(t, mockllm.Config{})
	c := newClient(t, Config{})
	ep := newEndpoint(t, srv.URL(), format.AuthBearer, "k", false)
	var reused []bool
	ctx := httptrace.WithClientTrace(context.Background(), &httptrace.ClientTrace{
		GotConn: func(i httptrace.GotConnInfo) { reused = append(reused, i.Reused) },
	})
	for i := 0; i < 3; i++ {
		resp, err := c.Do(ctx, &Request{Endpoint: ep, Body: []byte(`{"model":"m","stream":true}`), Stream: true})
		if err != nil {
			t.Fatal(err)
		}
		s := resp.Stream()
		for {
			ch, err := s.Next()
			if err != nil {
				t.Fatal(err)
			}
			if ch.Done { // stop at [DONE], as the relay does
				break
			}
		}
		resp.Close()
	}
	if len(reused) != 3 || reused[0] || !reused[1] || !reused[2] {
		t.Errorf("connection reuse per request = %v, want [false true true]", reused)
	}
}

func TestAuthHeaders(t *testing.T) {
	srv := startMock(t, mockllm.Config{})
	c := newClient(t, Config{})
	authHeaders := []string{"Authorization", "X-Api-Key", "Api-Key"}
	tests := []struct {
		auth        uint8
		name, value string
	}{
		{format.AuthBearer, "Authorization", "Bearer sk-b"},
		{format.AuthXAPIKey, "X-Api-Key", "sk-b"},
		{format.AuthAPIKey, "Api-Key", "sk-b"},
	}
	for _, tt := range tests {
		ep := newEndpoint(t, srv.URL(), tt.auth, "sk-b", false)
		resp, err := c.Do(context.Background(), &Request{Endpoint: ep, Body: []byte(`{"model":"m"}`)})
		if err != nil {
			t.Fatal(err)
		}
		resp.Close()
		got, _ := srv.LastRequest()
		for _, h := range authHeaders {
			want := ""
			if h == tt.name {
				want = tt.value
			}
			if v := got.Header.Get(h); v != want {
				t.Errorf("auth type %d: %s = %q, want %q", tt.auth, h, v, want)
			}
		}
		if got.Key != "sk-b" {
			t.Errorf("auth type %d: mock saw key %q", tt.auth, got.Key)
		}
	}
}

func TestForwardHeaders(t *testing.T) {
	srv := startMock(t, mockllm.Config{})
	client := map[string]string{
		"Openai-Beta":    "assistants=v2",
		"X-Custom":       "c",
		"Authorization":  "Bearer client-token",
		"Cookie":         "sid=1",
		"X-Goog-Api-Key": "client-token",
		"X-Bad":          "a\r\nInjected: 1",
	}
	get := func(name string) string { return client[http.CanonicalHeaderKey(name)] }
	tests := []struct {
		name    string
		forward []string
		want    map[string]string
	}{
		{"default allow-list", nil, map[string]string{"Openai-Beta": "assistants=v2"}},
		{"custom list", []string{"x-custom", "x-bad"}, map[string]string{"X-Custom": "c"}},
		{"credentials never", []string{"authorization", "Cookie", "content-type", "x-goog-api-key"}, map[string]string{}},
		{"empty list", []string{}, map[string]string{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newClient(t, Config{ForwardHeaders: tt.forward})
			ep := newEndpoint(t, srv.URL(), format.AuthBearer, "sk-chan", false)
			resp, err := c.Do(context.Background(), &Request{Endpoint: ep, Body: []byte(`{"model":"m"}`), ClientHeader: get})
			if err != nil {
				t.Fatal(err)
			}
			resp.Close()
			got, _ := srv.LastRequest()
			base := map[string]bool{"Authorization": true, "Content-Type": true, "Accept": true,
				"User-Agent": true, "Content-Length": true, "Accept-Encoding": true}
			for name, vals := range got.Header {
				if base[name] {
					continue
				}
				if want, ok := tt.want[name]; !ok || len(vals) != 1 || vals[0] != want {
					t.Errorf("unexpected header %s: %q", name, vals)
				}
			}
			for name, want := range tt.want {
				if v := got.Header.Get(name); v != want {
					t.Errorf("header %s = %q, want %q", name, v, want)
				}
			}
			if v := got.Header.Get("Authorization"); v != "Bearer sk-chan" {
				t.Errorf("Authorization = %q, want the channel key", v)
			}
		})
	}
}

func TestOpenRouterHeaders(t *testing.T) {
	srv := startMock(t, mockllm.Config{})
	c := newClient(t, Config{Referer: "https://example.test/app", Title: "My Router"})
	for _, or := range []bool{true, false} {
		ep := newEndpoint(t, srv.URL()+"/api/v1", format.AuthBearer, "k", or)
		resp, err := c.Do(context.Background(), &Request{Endpoint: ep, Body: []byte(`{"model":"m"}`)})
		if err != nil {
			t.Fatal(err)
		}
		resp.Close()
		got, _ := srv.LastRequest()
		ref, title := got.Header.Get("HTTP-Referer"), got.Header.Get("X-Title")
		if or && (ref != "https://example.test/app" || title != "My Router") || !or && (ref != "" || title != "") {
			t.Errorf("openRouter=%v: HTTP-Referer %q X-Title %q", or, ref, title)
		}
		if got.Path != "/api/v1/chat/completions" {
			t.Errorf("path %q", got.Path)
		}
	}
}

func asError(t *testing.T, err error) *Error {
	t.Helper()
	var ue *Error
	if !errors.As(err, &ue) {
		t.Fatalf("error %v (%T) is not an *upstream.Error", err, err)
	}
	return ue
}

func TestFailureModes(t *testing.T) {
	srv := startMock(t, mockllm.Config{Chunks: 6})
	c := newClient(t, Config{ReadTimeout: 200 * time.Millisecond})
	s := time.Second
	tests := []struct {
		model, key string
		stream     bool
		status     int
		want       outcome.Outcome
		started    bool // the failure came after data (streams)
	}{
		{"fail-400", "k", false, 400, outcome.Outcome{Kind: outcome.BadRequest}, false},
		{"fail-413", "k", false, 413, outcome.Outcome{Kind: outcome.BadRequest}, false},
		{"fail-422", "k", true, 422, outcome.Outcome{Kind: outcome.BadRequest}, false},
		{"fail-401", "k", false, 401, outcome.Outcome{Kind: outcome.Auth, Failover: true}, false},
		{"m", "key-fail-401", true, 401, outcome.Outcome{Kind: outcome.Auth, Failover: true}, false},
		{"fail-403", "k", false, 403, outcome.Outcome{Kind: outcome.Auth, Failover: true}, false},
		{"fail-403-ratelimit", "k", false, 403, outcome.Outcome{Kind: outcome.RateLimit, Cooldown: 10 * s, Failover: true}, false},
		{"fail-402", "k", false, 402, outcome.Outcome{Kind: outcome.Quota, Cooldown: 1800 * s, Failover: true}, false},
		{"fail-429", "k", false, 429, outcome.Outcome{Kind: outcome.RateLimit, Cooldown: 5 * s, Failover: true}, false},
		{"fail-429-17", "k", true, 429, outcome.Outcome{Kind: outcome.RateLimit, Cooldown: 17 * s, Failover: true}, false},
		{"fail-429-text", "k", false, 429, outcome.Outcome{Kind: outcome.RateLimit, Cooldown: 20 * s, Failover: true}, false},
		{"fail-429-quota", "k", false, 429, outcome.Outcome{Kind: outcome.Quota, Cooldown: 1800 * s, Failover: true}, false},
		{"fail-404", "k", false, 404, outcome.Outcome{Kind: outcome.NotFound, Cooldown: 300 * s, Failover: true}, false},
		{"fail-500", "k", false, 500, outcome.Outcome{Kind: outcome.Server, Cooldown: 60 * s, Failover: true}, false},
		{"m", "key-fail-503", true, 503, outcome.Outcome{Kind: outcome.Server, Cooldown: 60 * s, Failover: true}, false},
		{"fail-hang", "k", false, 0, outcome.Outcome{Kind: outcome.Timeout, Cooldown: 30 * s, Failover: true}, false},
		{"fail-hang", "k", true, 0, outcome.Outcome{Kind: outcome.Timeout, Cooldown: 30 * s, Failover: true}, false},
		{"fail-slow-60000", "k", true, 0, outcome.Outcome{Kind: outcome.Timeout, Cooldown: 30 * s, Failover: true}, false},
		{"fail-drop-2", "k", true, 0, outcome.Outcome{Kind: outcome.Connection, Cooldown: 30 * s, Failover: true}, true},
		{"fail-drop-0", "k", true, 0, outcome.Outcome{Kind: outcome.Connection, Cooldown: 30 * s, Failover: true}, true},
		{"fail-drop", "k", false, 0, outcome.Outcome{Kind: outcome.Connection, Cooldown: 30 * s, Failover: true}, false},
	}
	for _, tt := range tests {
		t.Run(tt.model+"/"+tt.key, func(t *testing.T) {
			ep := newEndpoint(t, srv.URL(), format.AuthBearer, tt.key, false)
			body := []byte(`{"model":"` + tt.model + `","stream":` + map[bool]string{true: "true", false: "false"}[tt.stream] + `}`)
			resp, err := c.Do(context.Background(), &Request{Endpoint: ep, Body: body, Stream: tt.stream})
			if err == nil {
				defer resp.Close()
				if tt.stream {
					_, _, _, err = readStream(t, resp.Stream())
				} else {
					_, err = resp.ReadAll(nil)
				}
			}
			if err == nil || err == io.EOF {
				t.Fatalf("no failure (err %v)", err)
			}
			ue := asError(t, err)
			if ue.Outcome != tt.want || ue.Status != tt.status || ue.Started != tt.started {
				t.Errorf("got %+v status %d started %v, want %+v status %d started %v\n%v",
					ue.Outcome, ue.Status, ue.Started, tt.want, tt.status, tt.started, ue)
			}
			if tt.status != 0 && (ue.Message == "" || len(ue.Body) == 0) {
				t.Errorf("status error without message or body: %+v", ue)
			}
			if !strings.Contains(ue.Error(), ue.Outcome.Kind.String()) || !strings.Contains(ue.Error(), ep.Host()) {
				t.Errorf("error text %q lacks kind or host", ue.Error())
			}
		})
	}
}

func TestSlowFirstByteWithinTimeout(t *testing.T) {
	srv := startMock(t, mockllm.Config{})
	c := newClient(t, Config{})
	ep := newEndpoint(t, srv.URL(), format.AuthBearer, "k", false)
	resp, err := c.Do(context.Background(), &Request{Endpoint: ep, Body: []byte(`{"model":"fail-slow-30"}`)})
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Close()
	if _, err := resp.ReadAll(nil); err != nil {
		t.Fatal(err)
	}
}

func TestStreamStallsAfterData(t *testing.T) {
	tests := []struct {
		name string
		mock mockllm.Config
		cfg  Config
	}{
		{"read timeout between chunks", mockllm.Config{ChunkDelay: time.Minute}, Config{ReadTimeout: 100 * time.Millisecond}},
		{"overall request timeout", mockllm.Config{ChunkDelay: 20 * time.Millisecond, Chunks: 100000}, Config{RequestTimeout: 300 * time.Millisecond}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := startMock(t, tt.mock)
			c := newClient(t, tt.cfg)
			ep := newEndpoint(t, srv.URL(), format.AuthBearer, "k", false)
			resp, err := c.Do(context.Background(), &Request{Endpoint: ep, Body: []byte(`{"model":"m","stream":true}`), Stream: true})
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Close()
			_, _, _, err = readStream(t, resp.Stream())
			ue := asError(t, err)
			if ue.Outcome.Kind != outcome.Timeout || !ue.Started {
				t.Errorf("got %+v started %v: %v", ue.Outcome, ue.Started, ue)
			}
		})
	}
}

func TestCanceledByClient(t *testing.T) {
	srv := startMock(t, mockllm.Config{})
	c := newClient(t, Config{})
	ep := newEndpoint(t, srv.URL(), format.AuthBearer, "k", false)
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		for srv.Count() == 0 {
			time.Sleep(time.Millisecond)
		}
		cancel()
	}()
	_, err := c.Do(ctx, &Request{Endpoint: ep, Body: []byte(`{"model":"fail-hang"}`)})
	ue := asError(t, err)
	if ue.Outcome != (outcome.Outcome{Kind: outcome.Canceled}) || !errors.Is(err, context.Canceled) {
		t.Errorf("got %+v (%v)", ue.Outcome, err)
	}
}

func TestConnectionRefused(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	c := newClient(t, Config{})
	ep := newEndpoint(t, "http://"+addr, format.AuthBearer, "sk-refused", false)
	_, err = c.Do(context.Background(), &Request{Endpoint: ep, Body: []byte(`{"model":"m"}`)})
	ue := asError(t, err)
	if ue.Outcome.Kind != outcome.Connection || ue.Status != 0 {
		t.Errorf("got %+v: %v", ue.Outcome, ue)
	}
}

func TestKeyNeverInErrors(t *testing.T) {
	const key = "sk-live-0123456789abcdef"
	srv := startMock(t, mockllm.Config{Rules: []mockllm.Rule{
		{Key: key, Status: 401, Message: "Incorrect API key provided: " + key + ". Check it."},
	}})
	c := newClient(t, Config{})
	ep := newEndpoint(t, srv.URL(), format.AuthBearer, key, false)
	_, err := c.Do(context.Background(), &Request{Endpoint: ep, Body: []byte(`{"model":"m"}`)})
	ue := asError(t, err)
	if ue.Outcome.Kind != outcome.Auth {
		t.Fatalf("kind %v", ue.Outcome.Kind)
	}
	for what, s := range map[string]string{"Error()": ue.Error(), "Message": ue.Message, "Body": string(ue.Body)} {
		if strings.Contains(s, key) || strings.Contains(s, key[3:]) {
			t.Errorf("%s shows the key: %q", what, s)
		}
	}
	if !strings.Contains(ue.Message, redacted) {
		t.Errorf("message %q lost its text", ue.Message)
	}
}

func TestProbe(t *testing.T) {
	srv := startMock(t, mockllm.Config{})
	c := newClient(t, Config{})
	if err := c.Probe(context.Background(), newEndpoint(t, srv.URL(), format.AuthBearer, "good", false)); err != nil {
		t.Errorf("probe with a good key: %v", err)
	}
	err := c.Probe(context.Background(), newEndpoint(t, srv.URL(), format.AuthBearer, "key-fail-401", false))
	if ue := asError(t, err); ue.Outcome.Kind != outcome.Auth {
		t.Errorf("probe with a refused key: %v", err)
	}
	if got, _ := srv.LastRequest(); got.Path == "/v1/models" {
		t.Error("the mock records /models probes as chat requests")
	}
	if srv.Count() != 0 {
		t.Errorf("probes made %d chat calls", srv.Count())
	}
}

// Answers the mock does not give: errors inside 200 answers, bad framing.
func TestErrorsInsideAnswers(t *testing.T) {
	mux := http.NewServeMux()
	mux.HandleFunc("/v1/chat/completions", func(w http.ResponseWriter, r *http.Request) {
		switch r.Header.Get("Authorization") {
		case "Bearer json-error":
			w.Write([]byte(`{"error":{"message":"upstream overloaded","code":503}}`))
		case "Bearer sse-error-first":
			w.Header().Set("Content-Type", "text/event-stream")
			w.Write([]byte("data: {\"error\":{\"message\":\"Rate limit exceeded\"}}\n\n"))
		case "Bearer sse-error-later":
			w.Header().Set("Content-Type", "text/event-stream")
			w.Write([]byte("data: {\"choices\":[{\"delta\":{\"content\":\"a\"}}]}\n\ndata: {\"error\":{\"message\":\"quota exhausted\"}}\n\n"))
		case "Bearer json-not-sse":
			w.Write([]byte(`{"error":{"message":"bad model","code":"400"}}`))
		case "Bearer empty-stream":
			w.Header().Set("Content-Type", "text/event-stream")
		case "Bearer big":
			w.Write([]byte(`{"x":"` + strings.Repeat("a", 5000) + `"}`))
		}
	})
	hs := httptest.NewServer(mux)
	defer hs.Close()
	c := newClient(t, Config{MaxResponseSize: 4096})
	tests := []struct {
		key     string
		stream  bool
		kind    outcome.Kind
		status  int
		started bool
	}{
		{"json-error", false, outcome.Server, 503, false},
		{"sse-error-first", true, outcome.RateLimit, 429, false},
		{"sse-error-later", true, outcome.Quota, 402, true},
		{"json-not-sse", true, outcome.BadRequest, 400, false},
		{"empty-stream", true, outcome.Server, 0, false},
		{"big", false, outcome.Server, 200, false},
	}
	for _, tt := range tests {
		t.Run(tt.key, func(t *testing.T) {
			ep := newEndpoint(t, hs.URL, format.AuthBearer, tt.key, false)
			resp, err := c.Do(context.Background(), &Request{Endpoint: ep, Body: []byte(`{"model":"m"}`), Stream: tt.stream})
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Close()
			if tt.stream {
				_, _, _, err = readStream(t, resp.Stream())
			} else {
				_, err = resp.ReadAll(nil)
			}
			ue := asError(t, err)
			if ue.Outcome.Kind != tt.kind || ue.Status != tt.status || ue.Started != tt.started {
				t.Errorf("got %v status %d started %v: %v", ue.Outcome.Kind, ue.Status, ue.Started, ue)
			}
		})
	}
}

func TestConfigFromSettings(t *testing.T) {
	cfg := ConfigFromSettings(&format.Settings{ConnectTimeoutMs: 1500, ReadTimeoutMs: 20000, RequestTimeoutMs: 300000})
	if cfg.ConnectTimeout != 1500*time.Millisecond || cfg.ReadTimeout != 20*time.Second || cfg.RequestTimeout != 300*time.Second {
		t.Errorf("%+v", cfg)
	}
	c := New(Config{})
	if c.cfg.ReadTimeout != DefaultReadTimeout || c.tr.MaxIdleConnsPerHost != DefaultIdleConnsPerHost || c.tr.ResponseHeaderTimeout != DefaultReadTimeout {
		t.Errorf("defaults not applied: %+v", c.cfg)
	}
}

// An upstream that keeps the answer open after [DONE] must not hold the
// relay for the whole read timeout when it closes the response.
func TestCloseAfterDoneWithLingeringUpstream(t *testing.T) {
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		w.Write([]byte("data: {}\n\ndata: [DONE]\n\n"))
		w.(http.Flusher).Flush()
		<-r.Context().Done()
	}))
	defer hs.Close()
	c := newClient(t, Config{ReadTimeout: time.Hour})
	ep := newEndpoint(t, hs.URL, format.AuthBearer, "k", false)
	resp, err := c.Do(context.Background(), &Request{Endpoint: ep, Body: []byte(`{"model":"m"}`), Stream: true})
	if err != nil {
		t.Fatal(err)
	}
	s := resp.Stream()
	for {
		ch, err := s.Next()
		if err != nil {
			t.Fatal(err)
		}
		if ch.Done {
			break
		}
	}
	if err := resp.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
	if _, err := s.Next(); err == nil {
		t.Error("Next after Close succeeded")
	}
	if err := resp.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
}

func TestRequestTimeoutBeforeHeaders(t *testing.T) {
	srv := startMock(t, mockllm.Config{})
	c := newClient(t, Config{RequestTimeout: 100 * time.Millisecond, ReadTimeout: time.Hour})
	ep := newEndpoint(t, srv.URL(), format.AuthBearer, "k", false)
	_, err := c.Do(context.Background(), &Request{Endpoint: ep, Body: []byte(`{"model":"fail-hang"}`)})
	ue := asError(t, err)
	if ue.Outcome.Kind != outcome.Timeout || !strings.Contains(ue.Message, "request timeout") {
		t.Errorf("got %+v: %v", ue.Outcome, ue)
	}
}
