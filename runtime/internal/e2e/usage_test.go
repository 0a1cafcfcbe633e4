package e2e

import (
	"encoding/json"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"smartrouter/fixtures/mockllm"
	"smartrouter/format"
	"smartrouter/runtime/internal/servertest"
)

// usageSpec: ch-a serves gpt-4o-mini, ch-b serves llama-e2e.
// usageInstall starts a mock upstream and writes usageSpec's snapshot into
// a new temporary folder; it returns the folder and the snapshot's path.
func usageInstall(t *testing.T) (dir, snap string) {
	t.Helper()
	mock := startMock(t, mockllm.Config{})
	dir = t.TempDir()
	snap = filepath.Join(dir, "router.snap")
	sp := usageSpec(mock.URL())
	if err := sp.WriteFile(snap); err != nil {
		t.Fatal(err)
	}
	return dir, snap
}

func usageSpec(mockURL string) servertest.Spec {
	return servertest.Spec{
		Generation: 1,
		Settings:   servertest.DefaultSettings(),
		Channels: []servertest.Channel{
			{ID: "ch-a", BaseURL: mockURL, Key: format.Secret{Env: "E2E_KEY_A"}, Priority: 1,
				Models: []servertest.Model{{ID: "gpt-4o-mini", In: 150_000, Out: 600_000, Ctx: 128_000}}},
			{ID: "ch-b", BaseURL: mockURL, Key: format.Secret{Env: "E2E_KEY_B"}, Priority: 2,
				Models: []servertest.Model{{ID: "llama-e2e", In: 50_000, Out: 100_000, Ctx: 32_000}}},
		},
	}
}

func post(t *testing.T, url, path, body string) (int, string) {
	t.Helper()
	resp, err := http.Post(url+path, "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if _, err := io.ReadAll(resp.Body); err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, resp.Header.Get("X-Request-ID")
}

func getJSON(t *testing.T, url string, v any) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("GET %s: %d %s", url, resp.StatusCode, b)
	}
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		t.Fatal(err)
	}
}

type usageAnswer struct {
	Rows []struct {
		Channel      string  `json:"channel"`
		Model        string  `json:"model"`
		Requests     int     `json:"requests"`
		Errors       int     `json:"errors"`
		InputTokens  int     `json:"input_tokens"`
		OutputTokens int     `json:"output_tokens"`
		CostUSD      float64 `json:"cost_usd"`
	} `json:"rows"`
	Totals struct {
		Requests int `json:"requests"`
		Errors   int `json:"errors"`
	} `json:"totals"`
}

type requestsAnswer struct {
	Data []struct {
		RequestID string `json:"request_id"`
		Surface   string `json:"surface"`
		Channel   string `json:"channel"`
		ModelUsed string `json:"model_used"`
		Status    int    `json:"status"`
		Stream    bool   `json:"stream"`
	} `json:"data"`
}

// The ledger and the usage API agree with the requests sent, on several
// surfaces and two channels, and still do after a clean restart (SIGTERM
// drains the queue into the database).
func TestUsageLedgerAgreesWithRequests(t *testing.T) {
	_, snap := usageInstall(t)
	p := startRouterd(t, "-snapshot", snap)
	if p.url == "" {
		t.Fatalf("routerd did not start:\n%s", p.logText())
	}
	sent := []struct{ path, body, channel string }{
		{"/v1/chat/completions", `{"model":"gpt-4o-mini","messages":[{"role":"user","content":"hi"}]}`, "ch-a"},
		{"/v1/chat/completions", `{"model":"llama-e2e","stream":true,"messages":[{"role":"user","content":"hi"}]}`, "ch-b"},
		{"/v1/messages", `{"model":"gpt-4o-mini","max_tokens":9,"messages":[{"role":"user","content":"hi"}]}`, "ch-a"},
		{"/v1/messages", `{"model":"llama-e2e","max_tokens":9,"stream":true,"messages":[{"role":"user","content":"hi"}]}`, "ch-b"},
		{"/v1beta/models/llama-e2e:generateContent", `{"contents":[{"role":"user","parts":[{"text":"hello"}]}]}`, "ch-b"},
		{"/v1/completions", `{"model":"gpt-4o-mini","prompt":"hi"}`, "ch-a"},
		{"/v1/chat/completions", `{"model":"no-such-model","messages":[{"role":"user","content":"hi"}]}`, ""},
	}
	want := map[string]int{}
	ids := map[string]bool{}
	const rounds = 5
	for range rounds {
		for _, s := range sent {
			st, id := post(t, p.url, s.path, s.body)
			if (st == 200) != (s.channel != "") {
				t.Fatalf("%s %s: status %d", s.path, s.body, st)
			}
			want[s.channel]++
			ids[id] = true
		}
	}
	check := func(p *proc) {
		t.Helper()
		var u usageAnswer
		getJSON(t, p.url+"/v1/admin/usage?group_by=channel", &u)
		got := map[string]int{}
		for _, r := range u.Rows {
			got[r.Channel] = r.Requests
			if r.Channel != "" && (r.InputTokens == 0 || r.OutputTokens == 0 || r.CostUSD <= 0 || r.Errors != 0) {
				t.Errorf("row %+v", r)
			}
		}
		if len(got) != len(want) || got["ch-a"] != want["ch-a"] || got["ch-b"] != want["ch-b"] || got[""] != want[""] ||
			u.Totals.Requests != rounds*len(sent) || u.Totals.Errors != rounds {
			t.Errorf("usage by channel %v (totals %+v), want %v", got, u.Totals, want)
		}
		getJSON(t, p.url+"/v1/admin/usage?group_by=model", &u)
		byModel := map[string]int{}
		for _, r := range u.Rows {
			byModel[r.Model] = r.Requests
		}
		if byModel["gpt-4o-mini"] != want["ch-a"] || byModel["llama-e2e"] != want["ch-b"] || byModel[""] != want[""] {
			t.Errorf("usage by model %v", byModel)
		}
		var rq requestsAnswer
		getJSON(t, p.url+"/v1/admin/requests?limit=1000", &rq)
		if len(rq.Data) != len(ids) {
			t.Errorf("%d recent requests, want %d", len(rq.Data), len(ids))
		}
		for _, r := range rq.Data {
			if !ids[r.RequestID] {
				t.Errorf("unknown request %+v", r)
			}
		}
	}
	check(p)
	p.signal(syscall.SIGTERM)
	<-p.done
	if p.waitLog("usage ledger closed", 0) == nil {
		t.Fatalf("no close line:\n%s", p.logText())
	}
	p2 := startRouterd(t, "-snapshot", snap)
	if p2.url == "" {
		t.Fatalf("routerd did not restart:\n%s", p2.logText())
	}
	check(p2)
}

// A routerd killed with SIGKILL while requests run loses no record of a
// request whose answer the client received: the journal (memory-mapped,
// so in the page cache when the process dies) is replayed at the next
// start.
func TestUsageLedgerSurvivesSIGKILL(t *testing.T) {
	_, snap := usageInstall(t)
	p := startRouterd(t, "-snapshot", snap)
	if p.url == "" {
		t.Fatalf("routerd did not start:\n%s", p.logText())
	}
	var mu sync.Mutex
	acked := map[string]bool{}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	client := &http.Client{Timeout: 10 * time.Second}
	for g := range 6 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			body := `{"model":"gpt-4o-mini","messages":[{"role":"user","content":"hi"}]}`
			if g%2 == 1 {
				body = `{"model":"llama-e2e","stream":true,"messages":[{"role":"user","content":"hi"}]}`
			}
			for {
				select {
				case <-stop:
					return
				default:
				}
				resp, err := client.Post(p.url+"/v1/chat/completions", "application/json", strings.NewReader(body))
				if err != nil {
					return // the process died
				}
				b, err := io.ReadAll(resp.Body)
				resp.Body.Close()
				// Acknowledged: the whole answer arrived (a stream through
				// its final [DONE]).
				if err == nil && resp.StatusCode == 200 && (g%2 == 0 || strings.Contains(string(b), "[DONE]")) {
					mu.Lock()
					acked[resp.Header.Get("X-Request-ID")] = true
					mu.Unlock()
				}
			}
		}()
	}
	// Kill once a few hundred answers arrived, with requests in flight.
	for {
		mu.Lock()
		n := len(acked)
		mu.Unlock()
		if n >= 300 {
			break
		}
		select {
		case <-p.done:
			t.Fatalf("routerd ended:\n%s", p.logText())
		case <-time.After(5 * time.Millisecond):
		}
	}
	p.signal(syscall.SIGKILL)
	<-p.done
	close(stop)
	wg.Wait()

	p2 := startRouterd(t, "-snapshot", snap)
	if p2.url == "" {
		t.Fatalf("routerd did not restart:\n%s", p2.logText())
	}
	var rq requestsAnswer
	getJSON(t, p2.url+"/v1/admin/requests?limit=1000", &rq)
	var u usageAnswer
	getJSON(t, p2.url+"/v1/admin/usage?group_by=channel", &u)
	have := map[string]bool{}
	for _, r := range rq.Data {
		have[r.RequestID] = true
	}
	mu.Lock()
	defer mu.Unlock()
	if u.Totals.Requests < len(acked) {
		t.Errorf("the ledger holds %d requests, %d were answered", u.Totals.Requests, len(acked))
	}
	if len(acked) <= 1000 {
		for id := range acked {
			if !have[id] {
				t.Errorf("answered request %s is not in the ledger", id)
			}
		}
	}
	replayed := "none"
	for _, l := range strings.Split(p2.logText(), "\n") {
		if strings.Contains(l, "inserted from the journal") {
			replayed = l
		}
	}
	t.Logf("%d answered before the kill, %d in the ledger after the restart; journal replay: %s", len(acked), u.Totals.Requests, replayed)
}
