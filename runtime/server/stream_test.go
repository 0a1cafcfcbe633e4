package server

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"smartrouter/fixtures/mockllm"
)

const helloStream = `{"model":"gpt-4o-mini","stream":true,"messages":[{"role":"user","content":"hi"}]}`

// streamText joins the content deltas of the chunks and reports the
// usage-only chunks and [DONE] markers seen.
func streamText(t *testing.T, events []string) (text string, usageOnly, done int, errEvents []map[string]any) {
	t.Helper()
	var sb strings.Builder
	for i, ev := range events {
		if ev == "[DONE]" {
			done++
			if i != len(events)-1 {
				t.Errorf("[DONE] is event %d of %d, not the last", i+1, len(events))
			}
			continue
		}
		var c struct {
			Choices []struct {
				Delta struct {
					Content string `json:"content"`
				} `json:"delta"`
			} `json:"choices"`
			Usage *json.RawMessage `json:"usage"`
			Error map[string]any   `json:"error"`
		}
		if err := json.Unmarshal([]byte(ev), &c); err != nil {
			t.Fatalf("event %d is not JSON: %v: %s", i, err, ev)
		}
		if c.Error != nil {
			errEvents = append(errEvents, c.Error)
			continue
		}
		if len(c.Choices) == 0 && c.Usage != nil && string(*c.Usage) != "null" {
			usageOnly++
		}
		for _, ch := range c.Choices {
			sb.WriteString(ch.Delta.Content)
		}
	}
	return sb.String(), usageOnly, done, errEvents
}

func TestStream(t *testing.T) {
	cases := []struct {
		name      string
		body      string
		wantUsage int
	}{
		{"client did not ask for usage", helloStream, 0},
		{"client asked for usage", `{"model":"gpt-4o-mini","stream":true,"stream_options":{"include_usage":true},"messages":[{"role":"user","content":"hi"}]}`, 1},
		{"client said no usage", `{"model":"gpt-4o-mini","stream":true,"stream_options":{"include_usage":false},"messages":[{"role":"user","content":"hi"}]}`, 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h := start(t, harnessOpt{})
			a := h.chat(tc.body, nil)
			if a.status != 200 {
				t.Fatalf("status %d: %s", a.status, a.body)
			}
			if ct := a.header.Get("Content-Type"); !strings.HasPrefix(ct, "text/event-stream") {
				t.Errorf("Content-Type %q", ct)
			}
			for _, name := range []string{HeaderRequestID, HeaderChannel, HeaderProvider, HeaderModel, HeaderStrategy, HeaderScore, HeaderAttempts, HeaderOverhead} {
				if a.header.Get(name) == "" {
					t.Errorf("no %s header", name)
				}
			}
			text, usage, done, errs := streamText(t, sseEvents(a.body))
			if text != mockllm.Content(mockllm.DefaultChunks) {
				t.Errorf("text %q", text)
			}
			if usage != tc.wantUsage || done != 1 || len(errs) != 0 {
				t.Errorf("usage chunks %d (want %d), [DONE] %d, errors %v", usage, tc.wantUsage, done, errs)
			}
			// The router always asked the upstream for usage.
			last, _ := h.mock.LastRequest()
			var sent struct {
				StreamOptions struct {
					IncludeUsage bool `json:"include_usage"`
				} `json:"stream_options"`
			}
			if err := json.Unmarshal(last.Body, &sent); err != nil || !sent.StreamOptions.IncludeUsage {
				t.Errorf("upstream body did not ask for usage: %s", last.Body)
			}
		})
	}
}

// Events are relayed intact: the stream through the router equals the
// mock's own stream (usage asked for by the client so nothing is dropped).
func TestStreamRelayedIntact(t *testing.T) {
	h := start(t, harnessOpt{})
	body := `{"model":"gpt-4o-mini","stream":true,"stream_options":{"include_usage":true},"messages":[{"role":"user","content":"hi"}]}`
	a := h.chat(body, nil)
	direct, err := http.Post(h.mock.URL()+"/v1/chat/completions", "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer direct.Body.Close()
	var want []string
	sc := bufio.NewScanner(direct.Body)
	for sc.Scan() {
		if d, ok := strings.CutPrefix(sc.Text(), "data: "); ok {
			want = append(want, d)
		}
	}
	got := sseEvents(a.body)
	if len(got) != len(want) {
		t.Fatalf("%d events, want %d", len(got), len(want))
	}
	for i := range got {
		// The mock numbers its answers: compare without the id.
		g := strings.Replace(got[i], `"chatcmpl-mock-1"`, `ID`, 1)
		w := strings.Replace(want[i], `"chatcmpl-mock-2"`, `ID`, 1)
		if g != w {
			t.Errorf("event %d:\n got %s\nwant %s", i, got[i], want[i])
		}
	}
}

func TestStreamFailoverBeforeFirstByte(t *testing.T) {
	for _, rule := range []mockllm.Rule{
		{Key: keyA, Status: 500},
		{Key: keyA, Status: 429},
		{Key: keyA, Status: 401},
	} {
		t.Run(http.StatusText(rule.Status), func(t *testing.T) {
			h := start(t, harnessOpt{mock: mockllm.Config{Rules: []mockllm.Rule{rule}}})
			a := h.chat(helloStream, nil)
			if a.status != 200 || a.header.Get(HeaderChannel) != "ch-b" || a.header.Get(HeaderAttempts) != "2" {
				t.Fatalf("status %d via %q after %s attempts: %s", a.status, a.header.Get(HeaderChannel), a.header.Get(HeaderAttempts), a.body)
			}
			text, _, done, errs := streamText(t, sseEvents(a.body))
			if text != mockllm.Content(mockllm.DefaultChunks) || done != 1 || len(errs) != 0 {
				t.Errorf("text %q, [DONE] %d, errors %v", text, done, errs)
			}
		})
	}
}

func TestStreamBadRequestNotFailedOver(t *testing.T) {
	h := start(t, harnessOpt{mock: mockllm.Config{Rules: []mockllm.Rule{{Key: keyA, Status: 422, Message: "bad schema"}}}})
	a := h.chat(helloStream, nil)
	if a.status != 422 || len(h.keysSeen()) != 1 {
		t.Fatalf("status %d, upstream calls %d: %s", a.status, len(h.keysSeen()), a.body)
	}
	a.errorCode(t)
}

// After the first byte, an upstream failure ends the stream with an error
// event and a single [DONE]; nothing else is tried, and the pair cools.
func TestStreamCutMidway(t *testing.T) {
	for _, after := range []int{0, 3} {
		t.Run("after "+string(rune('0'+after))+" chunks", func(t *testing.T) {
			h := start(t, harnessOpt{mock: mockllm.Config{Rules: []mockllm.Rule{{Key: keyA, Fault: mockllm.FaultDrop, AfterChunks: after}}}})
			a := h.chat(helloStream, nil)
			if a.status != 200 || a.header.Get(HeaderChannel) != "ch-a" {
				t.Fatalf("status %d via %q", a.status, a.header.Get(HeaderChannel))
			}
			events := sseEvents(a.body)
			text, _, done, errs := streamText(t, events)
			want := strings.Join(strings.SplitAfter(mockllm.Content(mockllm.DefaultChunks), " ")[:after], "")
			if text != want {
				t.Errorf("text %q, want %q", text, want)
			}
			if done != 1 || len(errs) != 1 || errs[0]["code"] != codeStreamCut {
				t.Errorf("[DONE] %d, error events %v\n%s", done, errs, a.body)
			}
			if n := bytes.Count(a.body, []byte("[DONE]")); n != 1 {
				t.Errorf("[DONE] appears %d times", n)
			}
			if got := strings.Join(h.keysSeen(), ","); got != keyA {
				t.Errorf("upstream saw %q, want only ch-a", got)
			}
			st := h.srv.Live().Channel("ch-a")
			if len(st.Pairs) != 1 || !st.Pairs[0].Cooling {
				t.Errorf("ch-a pair not cooling after the cut: %+v", st)
			}
			h.mock.Reset()
			if a := h.chat(helloStream, nil); a.header.Get(HeaderChannel) != "ch-b" {
				t.Errorf("next stream via %q, want ch-b", a.header.Get(HeaderChannel))
			}
		})
	}
}

// A client that goes away mid-stream ends the relay: the upstream call is
// closed, nothing cools down, and the stream's snapshot reference is given
// back.
func TestStreamClientGoesAway(t *testing.T) {
	h := start(t, harnessOpt{mock: mockllm.Config{ChunkDelay: 50 * time.Millisecond, Chunks: 40}})
	req, _ := http.NewRequest("POST", h.url+PathChat, strings.NewReader(helloStream))
	resp, err := h.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if line, err := bufio.NewReader(resp.Body).ReadString('\n'); err != nil || !strings.HasPrefix(line, "data: ") {
		t.Fatalf("first line %q %v", line, err)
	}
	// Swap the snapshot so that the stream holds the only reference to the
	// old one, then hang up.
	if _, err := h.srv.Reload(context.Background()); err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	h.client.CloseIdleConnections()
	waitRetired(t, h)
	st := h.srv.Live().Channel("ch-a")
	if st.Cooling != nil || len(st.Pairs) != 0 || st.Health != 1 {
		t.Errorf("ch-a blamed for the client's hang-up: %+v", st)
	}
	m := h.do("GET", PathMetrics, nil, nil)
	if !strings.Contains(string(m.body), `smartrouter_upstream_attempts_total{result="canceled"} 1`) ||
		!strings.Contains(string(m.body), "smartrouter_active_streams 0") {
		t.Errorf("metrics:\n%s", m.body)
	}
}
