package server

import (
	"encoding/json"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"smartrouter/fixtures/mockllm"
	"smartrouter/format"
	"smartrouter/runtime/internal/servertest"
)

type usageRow map[string]any

func (h *harness) requestsLog(t *testing.T, limit string) []map[string]any {
	t.Helper()
	a := h.do(http.MethodGet, PathAdminRequests+"?limit="+limit, nil, nil)
	if a.status != 200 {
		t.Fatalf("requests: %d %s", a.status, a.body)
	}
	var out struct {
		Object string           `json:"object"`
		Data   []map[string]any `json:"data"`
	}
	if err := json.Unmarshal(a.body, &out); err != nil || out.Object != "list" {
		t.Fatalf("requests answer %s: %v", a.body, err)
	}
	return out.Data
}

// Every surface's requests, stream and not, failed or not, leave one
// record each, newest first, with what the client saw.
func TestUsageRecordsEverySurface(t *testing.T) {
	h := start(t, harnessOpt{spec: withEmbeddings})
	type sent struct {
		path, body, surface string
		status              int
		stream              bool
	}
	reqs := []sent{
		{PathChat, `{"model":"gpt-4o-mini","messages":[{"role":"user","content":"hi"}]}`, "chat", 200, false},
		{PathChat, helloStream, "chat", 200, true},
		{PathMessages, `{"model":"gpt-4o-mini","max_tokens":9,"messages":[{"role":"user","content":"hi"}]}`, "messages", 200, false},
		{PathMessages, `{"model":"gpt-4o-mini","max_tokens":9,"stream":true,"messages":[{"role":"user","content":"hi"}]}`, "messages", 200, true},
		{PathGeminiBeta + "gpt-4o-mini:generateContent", geminiHello, "gemini", 200, false},
		{PathGeminiBeta + "gpt-4o-mini:streamGenerateContent?alt=sse", geminiHello, "gemini", 200, true},
		{PathCompletions, `{"model":"gpt-4o-mini","prompt":"hi"}`, "completions", 200, false},
		{PathEmbeddings, `{"model":"text-embedding-3-small","input":"hi"}`, "embeddings", 200, false},
		{PathChat, `{"model":"no-such-model","messages":[{"role":"user","content":"hi"}]}`, "chat", 404, false},
	}
	for _, r := range reqs {
		a := h.do(http.MethodPost, r.path, []byte(r.body), nil)
		if a.status != r.status {
			t.Fatalf("%s: status %d: %s", r.path, a.status, a.body)
		}
	}
	got := h.requestsLog(t, "1000")
	if len(got) != len(reqs) {
		t.Fatalf("%d records for %d requests: %v", len(got), len(reqs), got)
	}
	for i, r := range reqs {
		rec := got[len(got)-1-i] // newest first
		if rec["surface"] != r.surface || rec["status"] != float64(r.status) || rec["stream"] != r.stream {
			t.Errorf("record %d = %v, want surface %s status %d stream %v", i, rec, r.surface, r.status, r.stream)
		}
		if r.surface == "embeddings" {
			if rec["channel"] != "ch-a" || rec["model_used"] != "text-embedding-3-small" || rec["attempts"] != 1.0 || rec["error_code"] != "" {
				t.Errorf("embeddings record %v", rec)
			}
		} else if r.status == 200 {
			if rec["channel"] != "ch-a" || rec["model_used"] != "gpt-4o-mini" || rec["attempts"] != 1.0 ||
				rec["error_code"] != "" || rec["input_tokens"].(float64) <= 0 || rec["output_tokens"].(float64) <= 0 ||
				rec["cost_usd"].(float64) <= 0 {
				t.Errorf("record %d = %v", i, rec)
			}
		} else if rec["error_code"] != codeModel || rec["channel"] != "" || rec["attempts"] != 0.0 {
			t.Errorf("failed record %d = %v", i, rec)
		}
		if !strings.HasPrefix(rec["request_id"].(string), "req-") || rec["model_requested"] == "" {
			t.Errorf("record %d = %v", i, rec)
		}
	}
	if one := h.requestsLog(t, "1"); len(one) != 1 || one[0]["request_id"] != got[0]["request_id"] {
		t.Errorf("limit=1: %v", one)
	}

	a := h.do(http.MethodGet, PathAdminUsage+"?group_by=channel", nil, nil)
	if a.status != 200 {
		t.Fatalf("usage: %d %s", a.status, a.body)
	}
	var u struct {
		GroupBy []string   `json:"group_by"`
		Rows    []usageRow `json:"rows"`
		Totals  usageRow   `json:"totals"`
	}
	if err := json.Unmarshal(a.body, &u); err != nil {
		t.Fatal(err)
	}
	if len(u.Rows) != 2 || u.Rows[0]["channel"] != "" || u.Rows[0]["requests"] != 1.0 || u.Rows[0]["errors"] != 1.0 ||
		u.Rows[1]["channel"] != "ch-a" || u.Rows[1]["requests"] != 8.0 || u.Totals["requests"] != 9.0 {
		t.Errorf("usage by channel: %s", a.body)
	}
	a = h.do(http.MethodGet, PathAdminUsage+"?group_by=model,day&format=csv", nil, nil)
	if a.status != 200 || !strings.HasPrefix(a.header.Get("Content-Type"), "text/csv") ||
		!strings.HasPrefix(string(a.body), "model,day,requests,errors,input_tokens,output_tokens,cost_usd,upstream_ms_avg\n") {
		t.Errorf("csv: %d %s", a.status, a.body)
	}
}

// Bad usage queries are 400s with an OpenAI-style error naming the
// parameter.
func TestUsageBadQueries(t *testing.T) {
	h := start(t, harnessOpt{})
	for _, q := range []string{
		PathAdminUsage + "?from=yesterday",
		PathAdminUsage + "?to=2026-13-01T00:00:00Z",
		PathAdminUsage + "?group_by=user",
		PathAdminUsage + "?group_by=day,hour,key",
		PathAdminUsage + "?group_by=day,day",
		PathAdminUsage + "?from=2026-12-03T00:00:00Z&to=2026-12-01T00:00:00Z",
		PathAdminUsage + "?from=0&to=2000000000",
		PathAdminUsage + "?format=xml",
		PathAdminUsage + "?to=99999999999999999999",
		PathAdminRequests + "?limit=0",
		PathAdminRequests + "?limit=1001",
		PathAdminRequests + "?limit=ten",
	} {
		a := h.do(http.MethodGet, q, nil, nil)
		if a.status != 400 || a.errorCode(t) != codeInvalid {
			t.Errorf("%s: %d %s", q, a.status, a.body)
		}
	}
}

// Requests and attempts are counted by channel id and model in /metrics.
func TestMetricsByChannelAndModel(t *testing.T) {
	h := start(t, harnessOpt{})
	chat := func() {
		if a := h.chat(`{"model":"gpt-4o-mini","messages":[{"role":"user","content":"hi"}]}`, nil); a.status != 200 {
			t.Fatalf("chat: %d %s", a.status, a.body)
		}
	}
	chat()
	// The first scrape ranks the models: gpt-4o-mini enters the top (its
	// first request counted under other).
	if a := h.do(http.MethodGet, PathMetrics, nil, nil); !strings.Contains(string(a.body), `smartrouter_model_requests_total{model="other"} 1`) {
		t.Errorf("first request not under other")
	}
	chat()
	chat()
	a := h.do(http.MethodGet, PathMetrics, nil, nil)
	for _, want := range []string{
		`smartrouter_channel_requests_total{channel="ch-a"} 3`,
		`smartrouter_channel_attempts_total{channel="ch-a"} 3`,
		`smartrouter_model_requests_total{model="gpt-4o-mini"} 2`,
		`smartrouter_model_tokens_total{model="gpt-4o-mini",type="completion"}`,
		`smartrouter_channel_cost_usd_total{channel="ch-a"}`,
	} {
		if !strings.Contains(string(a.body), want) {
			t.Errorf("metrics lack %s", want)
		}
	}
}

// A request refused by auth leaves a record (401, invalid_api_key); the
// usage API needs the admin token.
func TestUsageRecordsAuthFailures(t *testing.T) {
	h := start(t, harnessOpt{spec: func(s *servertest.Spec) {
		s.Settings.AuthEnabled, s.Settings.APIToken = true, format.Secret{Env: "ROUTER_TOKEN"}
		s.Settings.AdminEnabled, s.Settings.AdminToken = true, format.Secret{Env: "ADMIN_TOKEN"}
	}})
	if a := h.chat(hello, map[string]string{"Authorization": "Bearer wrong"}); a.status != 401 {
		t.Fatalf("status %d", a.status)
	}
	if a := h.chat(hello, map[string]string{"Authorization": "Bearer client-token-1"}); a.status != 200 {
		t.Fatalf("status %d", a.status)
	}
	for _, p := range []string{PathAdminRequests, PathAdminUsage} {
		if a := h.do(http.MethodGet, p, nil, map[string]string{"Authorization": "Bearer client-token-1"}); a.status != 401 {
			t.Errorf("%s with the client token: %d", p, a.status)
		}
	}
	a := h.do(http.MethodGet, PathAdminRequests, nil, map[string]string{"Authorization": "Bearer admin-token-1"})
	var out struct{ Data []map[string]any }
	if err := json.Unmarshal(a.body, &out); err != nil || len(out.Data) != 2 {
		t.Fatalf("requests %s: %v", a.body, err)
	}
	if r := out.Data[1]; r["status"] != 401.0 || r["error_code"] != codeAuth || r["attempts"] != 0.0 || r["surface"] != "chat" {
		t.Errorf("auth failure record %v", r)
	}
	if r := out.Data[0]; r["status"] != 200.0 || r["key"] != "" {
		t.Errorf("record %v", r)
	}
}

// Upstream failures: a failover (ch-a fails, ch-b answers) records two
// attempts and the channel that answered; when every channel fails the
// record is a 503 all_channels_failed naming the last one tried.
func TestUsageRecordsUpstreamFailures(t *testing.T) {
	h := start(t, harnessOpt{mock: mockllm.Config{Rules: []mockllm.Rule{{Key: keyA, Status: 500}, {Key: keyB, Status: 500, Times: 1}}}})
	if a := h.chat(hello, nil); a.status != 503 {
		t.Fatalf("status %d %s", a.status, a.body)
	}
	h.srv.Live().Reset("")
	if a := h.chat(hello, nil); a.status != 200 {
		t.Fatalf("status %d %s", a.status, a.body)
	}
	got := h.requestsLog(t, "10")
	if len(got) != 2 {
		t.Fatalf("records %v", got)
	}
	if r := got[1]; r["status"] != 503.0 || r["error_code"] != codeAllFailed || r["attempts"] != 2.0 || r["channel"] != "ch-b" || r["input_tokens"] != 0.0 {
		t.Errorf("all failed: %v", r)
	}
	if r := got[0]; r["status"] != 200.0 || r["attempts"] != 2.0 || r["channel"] != "ch-b" || r["output_tokens"].(float64) <= 0 {
		t.Errorf("failover: %v", r)
	}
}

// A stream whose client goes away before its end is recorded when the
// relay closes: status 200 (sent), error code client_closed.
func TestUsageRecordsStreamClientGone(t *testing.T) {
	h := start(t, harnessOpt{mock: mockllm.Config{Chunks: 50, ChunkDelay: 20 * time.Millisecond}})
	conn, err := net.Dial("tcp", strings.TrimPrefix(h.url, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	req := "POST " + PathChat + " HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: " +
		strconv.Itoa(len(helloStream)) + "\r\n\r\n" + helloStream
	if _, err := conn.Write([]byte(req)); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 1024)
	if n, err := conn.Read(buf); err != nil || !strings.Contains(string(buf[:n]), "200 OK") {
		t.Fatalf("read %q: %v", buf[:n], err)
	}
	conn.Close()
	// The relay notices at its next write; wait for the record (bounded).
	for i := 0; ; i++ {
		got := h.requestsLog(t, "1")
		if len(got) == 1 {
			if r := got[0]; r["status"] != 200.0 || r["error_code"] != codeClientGone || r["stream"] != true || r["channel"] != "ch-a" {
				t.Errorf("record %v", r)
			}
			return
		}
		if i == 500 {
			t.Fatal("no record for the abandoned stream")
		}
		time.Sleep(10 * time.Millisecond)
	}
}
