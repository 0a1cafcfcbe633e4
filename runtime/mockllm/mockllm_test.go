package mockllm

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

func start(t *testing.T, cfg Config) *Server {
	t.Helper()
	s, err := Start(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func post(t *testing.T, url, body string, header ...string) *http.Response {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	return resp
}

func readAll(t *testing.T, r io.Reader) string {
	t.Helper()
	b, err := io.ReadAll(r)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

type completion struct {
	ID      string `json:"id"`
	Object  string `json:"object"`
	Model   string `json:"model"`
	Choices []struct {
		Message struct {
			Role    string `json:"role"`
			Content string `json:"content"`
		} `json:"message"`
		Delta struct {
			Role    *string `json:"role"`
			Content string  `json:"content"`
		} `json:"delta"`
		FinishReason *string `json:"finish_reason"`
	} `json:"choices"`
	Usage *struct {
		PromptTokens     int `json:"prompt_tokens"`
		CompletionTokens int `json:"completion_tokens"`
		TotalTokens      int `json:"total_tokens"`
	} `json:"usage"`
}

func TestContent(t *testing.T) {
	if got := Content(3); got != "This is a " {
		t.Errorf("Content(3) = %q", got)
	}
	if got := Content(10); !strings.HasSuffix(got, "upstream. This ") {
		t.Errorf("Content(10) = %q", got)
	}
}

func TestChatNonStream(t *testing.T) {
	s := start(t, Config{Chunks: 4})
	for i, model := range []string{"mock-small", "odd \"name\"\n\\é"} {
		body, _ := json.Marshal(map[string]any{"model": model, "messages": []any{}})
		resp := post(t, s.URL()+"/v1/chat/completions", string(body))
		if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "application/json" {
			t.Fatalf("status %d, type %q", resp.StatusCode, resp.Header.Get("Content-Type"))
		}
		var c completion
		if err := json.NewDecoder(resp.Body).Decode(&c); err != nil {
			t.Fatal(err)
		}
		if c.Model != model || c.Object != "chat.completion" || len(c.Choices) != 1 ||
			c.Choices[0].Message.Content != Content(4) || c.Choices[0].Message.Role != "assistant" ||
			*c.Choices[0].FinishReason != "stop" {
			t.Errorf("answer %+v", c)
		}
		if c.ID != "chatcmpl-mock-"+string(rune('1'+i)) {
			t.Errorf("id %q", c.ID)
		}
		if c.Usage == nil || c.Usage.CompletionTokens != 4 || c.Usage.PromptTokens != len(body)/4+1 ||
			c.Usage.TotalTokens != c.Usage.PromptTokens+4 {
			t.Errorf("usage %+v", c.Usage)
		}
	}
}

// events reads SSE data payloads until EOF.
func events(t *testing.T, r io.Reader) ([]string, error) {
	t.Helper()
	var out []string
	br := bufio.NewReader(r)
	for {
		line, err := br.ReadString('\n')
		if err != nil {
			if line != "" {
				t.Errorf("unterminated line %q", line)
			}
			return out, err
		}
		line = strings.TrimSuffix(line, "\n")
		if line == "" {
			continue
		}
		p, ok := strings.CutPrefix(line, "data: ")
		if !ok {
			t.Fatalf("not a data line: %q", line)
		}
		out = append(out, p)
	}
}

func TestChatStream(t *testing.T) {
	s := start(t, Config{Chunks: 3})
	for _, usage := range []bool{false, true} {
		body := `{"model":"m1","stream":true}`
		if usage {
			body = `{"model":"m1","stream":true,"stream_options":{"include_usage":true}}`
		}
		resp := post(t, s.URL()+"/v1/chat/completions", body)
		if resp.Header.Get("Content-Type") != "text/event-stream" {
			t.Fatalf("content type %q", resp.Header.Get("Content-Type"))
		}
		evs, err := events(t, resp.Body)
		if err != io.EOF {
			t.Fatal(err)
		}
		want := 1 + 3 + 1 + 1 // role, content, finish, [DONE]
		if usage {
			want++
		}
		if len(evs) != want || evs[len(evs)-1] != "[DONE]" {
			t.Fatalf("usage=%v: %d events, want %d: %q", usage, len(evs), want, evs)
		}
		var text strings.Builder
		for i, e := range evs[:len(evs)-1] {
			var c completion
			if err := json.Unmarshal([]byte(e), &c); err != nil {
				t.Fatalf("event %d %q: %v", i, e, err)
			}
			if c.Model != "m1" || c.Object != "chat.completion.chunk" {
				t.Errorf("event %d: %+v", i, c)
			}
			hasUsageKey := strings.Contains(e, `"usage":`)
			if hasUsageKey != usage {
				t.Errorf("event %d: usage member present=%v with include_usage=%v", i, hasUsageKey, usage)
			}
			switch {
			case i == 0:
				if len(c.Choices) != 1 || c.Choices[0].Delta.Role == nil || *c.Choices[0].Delta.Role != "assistant" {
					t.Errorf("first event is not the role chunk: %s", e)
				}
			case usage && i == len(evs)-2:
				if len(c.Choices) != 0 || c.Usage == nil || c.Usage.CompletionTokens != 3 {
					t.Errorf("usage chunk %s", e)
				}
			case i == 4:
				if c.Choices[0].FinishReason == nil || *c.Choices[0].FinishReason != "stop" {
					t.Errorf("finish chunk %s", e)
				}
			default:
				if c.Usage != nil || c.Choices[0].FinishReason != nil {
					t.Errorf("content chunk %s", e)
				}
				text.WriteString(c.Choices[0].Delta.Content)
			}
		}
		if text.String() != Content(3) {
			t.Errorf("streamed text %q, want %q", text.String(), Content(3))
		}
	}
}

func TestRecording(t *testing.T) {
	s := start(t, Config{Record: 3})
	bodies := []string{
		"{\"model\" : \"a\",\n \"x\":[1, 2.50, \"\\u00e9\"], \"y\":{}}",
		`{"model":"b"}`,
		`{"model":"c","stream":false}`,
		`{"model":"d","tools":[]}`,
	}
	auth := [][]string{
		{"Authorization", "Bearer sk-a"},
		{"X-Api-Key", "sk-b"},
		{"Api-Key", "sk-c"},
		{"Authorization", "Bearer sk-d", "OpenAI-Beta", "v2"},
	}
	for i, b := range bodies {
		readAll(t, post(t, s.URL()+"/api/v3/chat/completions?x=1", b, auth[i]...).Body)
	}
	if s.Count() != 4 {
		t.Errorf("Count = %d", s.Count())
	}
	reqs := s.Requests()
	if len(reqs) != 3 {
		t.Fatalf("%d recorded, want the last 3", len(reqs))
	}
	for i, r := range reqs {
		k := i + 1
		if string(r.Body) != bodies[k] || r.Seq != uint64(k+1) || r.Path != "/api/v3/chat/completions" ||
			r.Query != "x=1" || r.Method != "POST" || r.Model != string(rune('a'+k)) || r.Key != "sk-"+string(rune('a'+k)) {
			t.Errorf("request %d: %+v", i, r)
		}
	}
	last, ok := s.LastRequest()
	if !ok || last.Header.Get("OpenAI-Beta") != "v2" || last.Header.Get("Authorization") != "Bearer sk-d" {
		t.Errorf("last request headers %v", last.Header)
	}
	// Copies do not alias the ring.
	reqs[0].Body[0] = 'X'
	reqs[0].Header.Set("X-Api-Key", "changed")
	if again := s.Requests(); again[0].Body[0] != '{' || again[0].Header.Get("X-Api-Key") != "sk-b" {
		t.Error("Requests returned slices that alias the recorder")
	}

	resp, err := http.Get(s.URL() + "/_mock/requests")
	if err != nil {
		t.Fatal(err)
	}
	var listed []struct {
		Seq    uint64
		Body   string
		Header map[string][]string
		Key    string
	}
	if err := json.NewDecoder(resp.Body).Decode(&listed); err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if len(listed) != 3 || listed[2].Body != bodies[3] || listed[2].Key != "sk-d" || listed[0].Seq != 2 {
		t.Errorf("GET /_mock/requests = %+v", listed)
	}

	if resp := post(t, s.URL()+"/_mock/reset", ""); resp.StatusCode != http.StatusNoContent {
		t.Errorf("reset status %d", resp.StatusCode)
	}
	if len(s.Requests()) != 0 || s.Count() != 0 {
		t.Error("reset kept requests")
	}
	if _, ok := s.LastRequest(); ok {
		t.Error("LastRequest after reset")
	}
}

func TestRecordingOff(t *testing.T) {
	s := start(t, Config{Record: -1})
	readAll(t, post(t, s.URL()+"/v1/chat/completions", `{"model":"m"}`).Body)
	if len(s.Requests()) != 0 || s.Count() != 1 {
		t.Errorf("recorded %d, count %d", len(s.Requests()), s.Count())
	}
}

func TestConventions(t *testing.T) {
	s := start(t, Config{})
	tests := []struct {
		model, key string
		status     int
		retryAfter string
		inMessage  string
		code       string
	}{
		{"fail-400", "", 400, "", "Invalid", "invalid_request"},
		{"fail-401", "", 401, "", "API key", "invalid_api_key"},
		{"m", "key-fail-401", 401, "", "API key", "invalid_api_key"},
		{"fail-402", "", 402, "", "balance", "insufficient_balance"},
		{"fail-403", "", 403, "", "may not", "forbidden"},
		{"fail-403-ratelimit", "", 403, "", "Rate limit", "rate_limit_exceeded"},
		{"fail-404", "", 404, "", "does not exist", "model_not_found"},
		{"fail-413", "", 413, "", "too large", "request_too_large"},
		{"fail-422", "", 422, "", "Unprocessable", "unprocessable"},
		{"fail-429", "", 429, DefaultRetryAfter, "Too many", "rate_limit_exceeded"},
		{"vendor/model:fail-429-12", "", 429, "12", "Too many", "rate_limit_exceeded"},
		{"fail-429-quota", "", 429, "", "quota", "insufficient_quota"},
		{"fail-429-text", "", 429, "", "retry after 20 seconds", "rate_limit_exceeded"},
		{"fail-500", "", 500, "", "server had an error", "server_error"},
		{"fail-503", "", 503, "", "server had an error", "server_error"},
		{"m", "sk-fail-502", 502, "", "server", "server_error"},
		{"fail-500", "key-fail-401", 500, "", "server", "server_error"}, // the model wins
	}
	for _, tt := range tests {
		t.Run(tt.model+"/"+tt.key, func(t *testing.T) {
			resp := post(t, s.URL()+"/v1/chat/completions", `{"model":"`+tt.model+`"}`, "Authorization", "Bearer "+tt.key)
			var e struct {
				Error struct {
					Message string
					Type    string
					Code    *string
					Param   *string
				}
			}
			if err := json.NewDecoder(resp.Body).Decode(&e); err != nil {
				t.Fatal(err)
			}
			if resp.StatusCode != tt.status || resp.Header.Get("Retry-After") != tt.retryAfter ||
				!strings.Contains(e.Error.Message, tt.inMessage) || e.Error.Code == nil || *e.Error.Code != tt.code || e.Error.Type == "" {
				t.Errorf("status %d Retry-After %q error %+v", resp.StatusCode, resp.Header.Get("Retry-After"), e.Error)
			}
		})
	}
	for _, ok := range []string{"fail-", "fail-200", "fail-600", "fail-xyz", "failure-500", "FAIL-500"} {
		if resp := post(t, s.URL()+"/v1/chat/completions", `{"model":"`+ok+`"}`); resp.StatusCode != 200 {
			t.Errorf("model %q: status %d, want a normal answer", ok, resp.StatusCode)
		}
	}
}

func TestRules(t *testing.T) {
	s := start(t, Config{Rules: []Rule{
		{Model: "fail-500", Fault: FaultSlow}, // explicit rules come before the convention
		{Model: "m", Key: "k1", Status: 418 + 11, RetryAfter: "9", Message: "custom", Code: "c1", Type: "t1"},
		{Model: "flaky", Status: 503, Times: 2},
		{Key: "banned", Status: 401},
	}})
	chat := func(model, key string) *http.Response {
		return post(t, s.URL()+"/v1/chat/completions", `{"model":"`+model+`"}`, "X-Api-Key", key)
	}
	if r := chat("fail-500", ""); r.StatusCode != 200 {
		t.Errorf("explicit rule did not win over the convention: %d", r.StatusCode)
	}
	r := chat("m", "k1")
	if body := readAll(t, r.Body); r.StatusCode != 429 || r.Header.Get("Retry-After") != "9" ||
		body != `{"error":{"message":"custom","type":"t1","param":null,"code":"c1"}}`+"\n" {
		t.Errorf("model+key rule: %d %q %s", r.StatusCode, r.Header.Get("Retry-After"), body)
	}
	if r := chat("m", "k2"); r.StatusCode != 200 {
		t.Errorf("rule matched another key: %d", r.StatusCode)
	}
	var got []int
	for range 3 {
		got = append(got, chat("flaky", "").StatusCode)
	}
	s.Reset()
	got = append(got, chat("flaky", "").StatusCode)
	if want := []int{503, 503, 200, 503}; !equalInts(got, want) {
		t.Errorf("Times: statuses %v, want %v", got, want)
	}
	// Key rules also guard /models, as a recovery probe would see.
	for key, want := range map[string]int{"banned": 401, "key-fail-403": 403, "fine": 200} {
		req, _ := http.NewRequest(http.MethodGet, s.URL()+"/v1/models", nil)
		req.Header.Set("Authorization", "Bearer "+key)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Errorf("/models with key %q: %d, want %d", key, resp.StatusCode, want)
		}
	}

	// Replace the rules over HTTP.
	if r := post(t, s.URL()+"/_mock/rules", `[{"model":"m","status":404}]`); r.StatusCode != 204 {
		t.Fatalf("POST /_mock/rules: %d %s", r.StatusCode, readAll(t, r.Body))
	}
	if r := chat("m", "k1"); r.StatusCode != 404 {
		t.Errorf("after POST /_mock/rules: %d", r.StatusCode)
	}
	if r := post(t, s.URL()+"/_mock/rules", `[{"model":"m","status":200}]`); r.StatusCode != 400 {
		t.Errorf("invalid rules accepted: %d", r.StatusCode)
	}
	if err := s.SetRules([]Rule{{Fault: "explode"}}); err == nil {
		t.Error("SetRules accepted an unknown fault")
	}
}

func equalInts(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestParseRules(t *testing.T) {
	rules, err := ParseRules([]byte(`[
		{"model":"a","status":429,"retry_after":3},
		{"key":"k","status":401,"message":"m","type":"t","code":"c"},
		{"model":"b","fault":"drop","after_chunks":2},
		{"model":"c","fault":"slow","delay":"1500ms","times":1},
		{"model":"d","fault":"hang"},
		{"model":"e","status":503,"retry_after":"Wed, 21 Oct 2015 07:28:00 GMT"}
	]`))
	if err != nil {
		t.Fatal(err)
	}
	want := []Rule{
		{Model: "a", Status: 429, RetryAfter: "3"},
		{Key: "k", Status: 401, Message: "m", Type: "t", Code: "c"},
		{Model: "b", Fault: FaultDrop, AfterChunks: 2},
		{Model: "c", Fault: FaultSlow, Delay: 1500 * time.Millisecond, Times: 1},
		{Model: "d", Fault: FaultHang},
		{Model: "e", Status: 503, RetryAfter: "Wed, 21 Oct 2015 07:28:00 GMT"},
	}
	if len(rules) != len(want) {
		t.Fatalf("%d rules", len(rules))
	}
	for i := range want {
		if rules[i] != want[i] {
			t.Errorf("rule %d = %+v, want %+v", i, rules[i], want[i])
		}
	}
	for _, bad := range []string{
		`{}`, `[{"modle":"a","status":500}]`, `[{"model":"a"}]`, `[{"status":200}]`, `[{"status":600}]`,
		`[{"fault":"boom"}]`, `[{"fault":"slow","delay":"soon"}]`, `[{"fault":"drop","after_chunks":-1}]`,
		`[{"status":500,"retry_after":[1]}]`, `[{"status":500,"times":-2}]`,
	} {
		if _, err := ParseRules([]byte(bad)); err == nil {
			t.Errorf("ParseRules(%s) accepted", bad)
		}
	}
	if _, err := LoadRules(t.TempDir() + "/missing.json"); err == nil {
		t.Error("LoadRules of a missing file")
	}
}

func TestHangEndsOnClientTimeoutAndShutdown(t *testing.T) {
	s := start(t, Config{})
	hc := &http.Client{Timeout: 100 * time.Millisecond}
	_, err := hc.Post(s.URL()+"/v1/chat/completions", "application/json", strings.NewReader(`{"model":"fail-hang"}`))
	var ne interface{ Timeout() bool }
	if !errors.As(err, &ne) || !ne.Timeout() {
		t.Fatalf("hang: err = %v, want a client timeout", err)
	}

	// A hang in progress does not block a graceful stop.
	hangDone := make(chan error, 1)
	go func() {
		resp, err := http.Post(s.URL()+"/v1/chat/completions", "application/json", strings.NewReader(`{"model":"fail-hang"}`))
		if err == nil {
			resp.Body.Close()
		}
		hangDone <- err
	}()
	for s.Count() < 2 {
		time.Sleep(time.Millisecond)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := s.Shutdown(ctx); err != nil {
		t.Errorf("Shutdown with a hanging request: %v", err)
	}
	<-hangDone
}

func TestDrop(t *testing.T) {
	s := start(t, Config{Chunks: 6})
	for _, tt := range []struct {
		model   string
		content int // content chunks before the cut
	}{{"fail-drop", 3}, {"fail-drop-0", 0}, {"fail-drop-5", 5}, {"fail-drop-6", 6}} {
		resp := post(t, s.URL()+"/v1/chat/completions", `{"model":"`+tt.model+`","stream":true}`)
		evs, err := events(t, resp.Body)
		if !errors.Is(err, io.ErrUnexpectedEOF) {
			t.Errorf("%s: err %v, want unexpected EOF", tt.model, err)
		}
		if len(evs) != 1+tt.content {
			t.Errorf("%s: %d events before the cut, want %d", tt.model, len(evs), 1+tt.content)
		}
	}
	resp := post(t, s.URL()+"/v1/chat/completions", `{"model":"fail-drop"}`)
	if _, err := io.ReadAll(resp.Body); !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Errorf("non-stream drop: %v", err)
	}
}

func TestDelays(t *testing.T) {
	short := &http.Client{Timeout: 100 * time.Millisecond}
	tests := []struct {
		name    string
		cfg     Config
		model   string
		timeout bool
	}{
		{"latency", Config{Latency: time.Hour}, "m", true},
		{"fail-slow default", Config{SlowDelay: time.Hour}, "fail-slow", true},
		{"fail-slow ms", Config{}, "fail-slow-3600000", true},
		{"fail-slow short", Config{}, "fail-slow-1", false},
		{"chunk delay", Config{ChunkDelay: time.Hour}, "m", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := start(t, tt.cfg)
			resp, err := short.Post(s.URL()+"/v1/chat/completions", "application/json", strings.NewReader(`{"model":"`+tt.model+`","stream":true}`))
			if err == nil {
				_, err = io.ReadAll(resp.Body)
				resp.Body.Close()
			}
			if (err != nil) != tt.timeout {
				t.Errorf("err = %v, want timeout %v", err, tt.timeout)
			}
		})
	}
}

func TestModelsAndRouting(t *testing.T) {
	s := start(t, Config{Models: []string{"x", "y/z:free"}})
	for _, path := range []string{"/v1/models", "/api/v3/models"} {
		resp, err := http.Get(s.URL() + path)
		if err != nil {
			t.Fatal(err)
		}
		var list struct {
			Object string
			Data   []struct{ ID, Object, OwnedBy string }
		}
		err = json.NewDecoder(resp.Body).Decode(&list)
		resp.Body.Close()
		if err != nil || list.Object != "list" || len(list.Data) != 2 || list.Data[1].ID != "y/z:free" || list.Data[0].Object != "model" {
			t.Errorf("%s: %+v %v", path, list, err)
		}
	}
	tests := []struct {
		method, path, body string
		status             int
	}{
		{"POST", "/v1/chat/completions", `not json`, 400},
		{"POST", "/v1/chat/completions", `{"messages":[]}`, 400},
		{"POST", "/v1/chat/completions", `{"model":""}`, 400},
		{"GET", "/v1/chat/completions", ``, 404},
		{"POST", "/v1/embeddings", `{}`, 404},
		{"GET", "/_mock/reset", ``, 404},
	}
	for _, tt := range tests {
		req, _ := http.NewRequest(tt.method, s.URL()+tt.path, strings.NewReader(tt.body))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var e struct{ Error struct{ Message string } }
		err = json.NewDecoder(resp.Body).Decode(&e)
		resp.Body.Close()
		if resp.StatusCode != tt.status || err != nil || e.Error.Message == "" {
			t.Errorf("%s %s %q: %d %+v %v", tt.method, tt.path, tt.body, resp.StatusCode, e, err)
		}
	}
	if s.Count() != 3 {
		t.Errorf("Count = %d, want the 3 chat requests", s.Count())
	}
}

func TestStartErrors(t *testing.T) {
	s := start(t, Config{})
	if _, err := Start(Config{Addr: strings.TrimPrefix(s.URL(), "http://")}); err == nil {
		t.Error("second server on the same port")
	}
	if err := New(Config{}).Close(); err != nil {
		t.Errorf("Close of an unstarted server: %v", err)
	}
}

func FuzzConvention(f *testing.F) {
	for _, s := range []string{"fail-429", "a/b:fail-429-quota", "key-fail-drop-3", "fail-slow-99999999999999999999", "fail-4", "fail--"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		r, ok := conventionRule(s, DefaultChunks, DefaultSlowDelay)
		if ok && !strings.Contains(s, "fail-") {
			t.Fatalf("rule from %q without fail-", s)
		}
		if ok {
			if err := r.validate(); err != nil {
				t.Fatalf("convention %q made an invalid rule %+v: %v", s, r, err)
			}
		}
	})
}

func FuzzParseRules(f *testing.F) {
	f.Add([]byte(`[{"model":"a","status":429,"retry_after":3},{"fault":"slow","delay":"1s"}]`))
	f.Add([]byte(`[{"fault":"drop","after_chunks":1e9}]`))
	f.Fuzz(func(t *testing.T, data []byte) {
		rules, err := ParseRules(data)
		if err != nil {
			return
		}
		for _, r := range rules {
			if err := r.validate(); err != nil {
				t.Fatalf("ParseRules returned an invalid rule %+v: %v", r, err)
			}
		}
	})
}
