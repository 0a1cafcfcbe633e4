package server

import (
	"context"
	"io"
	"net"
	"testing"
	"time"

	"github.com/valyala/fasthttp"

	"smartrouter/runtime/body"
	"smartrouter/runtime/route"
	"smartrouter/runtime/upstream"
)

// inProcess calls the server's fasthttp handler directly, without a socket
// on the client side, reusing one request context.
type inProcess struct {
	h   fasthttp.RequestHandler
	ctx fasthttp.RequestCtx
	req fasthttp.Request
}

func newInProcess(h *harness, method, path, body string) *inProcess {
	p := &inProcess{h: h.srv.App().Handler()}
	p.req.Header.SetMethod(method)
	p.req.SetRequestURI(path)
	p.req.Header.SetContentType("application/json")
	p.req.SetBodyString(body)
	p.ctx.Init(&p.req, &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 1}, nil)
	return p
}

func (p *inProcess) do() int {
	p.ctx.Response.Reset()
	p.req.CopyTo(&p.ctx.Request)
	p.h(&p.ctx)
	return p.ctx.Response.StatusCode()
}

func TestAllocsPerRequest(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts differ under -race")
	}
	h := start(t, harnessOpt{})
	cases := []struct {
		name   string
		body   string
		status int
		max    float64
	}{
		// Requests that never leave the router: the features' model string
		// and the error message (measured: 4).
		{"model not found", `{"model":"no-such-model","messages":[{"role":"user","content":"hi"}]}`, 404, 6},
		{"bad body", `{"model":`, 400, 6},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p := newInProcess(h, "POST", PathChat, tc.body)
			for range 5 {
				if st := p.do(); st != tc.status {
					t.Fatalf("status %d: %s", st, p.ctx.Response.Body())
				}
			}
			n := testing.AllocsPerRun(50, func() { p.do() })
			t.Logf("%s: %.0f allocations per request", tc.name, n)
			if n > tc.max {
				t.Errorf("%.0f allocations per request, want at most %.0f", n, tc.max)
			}
		})
	}
}

// TestRouterAllocsPerProxiedRequest counts what the router adds to one
// proxied request: the allocations of the whole request (handler, upstream
// client and the in-process mock) minus those of the same upstream call made
// directly with the upstream client.
func TestRouterAllocsPerProxiedRequest(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts differ under -race")
	}
	h := start(t, harnessOpt{})
	p := newInProcess(h, "POST", PathChat, hello)
	for range 5 {
		if st := p.do(); st != 200 {
			t.Fatalf("status %d: %s", st, p.ctx.Response.Body())
		}
	}
	proxied := testing.AllocsPerRun(100, func() { p.do() })

	direct := directCallAllocs(t, h, upstream.Request{Body: []byte(hello)})
	t.Logf("proxied %.0f, direct upstream call %.0f: the router adds %.0f allocations", proxied, direct, proxied-direct)
	if proxied-direct > 4 { // measured: 1 (the model string)
		t.Errorf("the router adds %.0f allocations per proxied request, want at most 4", proxied-direct)
	}
}

func TestMetadataDoesNotAllocate(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts differ under -race")
	}
	h := start(t, harnessOpt{})
	hd := h.srv.Manager().Acquire()
	defer hd.Release()
	st := hd.Value.(*state)
	w := newWork(h.srv)
	if err := st.router.Route(route.Request{Model: "gpt-4o-mini"}, &w.dec); err != nil {
		t.Fatal(err)
	}
	w.rid = append(w.rid, "req-0123456789ab-1"...)
	f := body.Features{Model: "gpt-4o-mini", InputTokens: 12}
	u := body.Usage{PromptTokens: 10, CompletionTokens: 20, TotalTokens: 30}
	answer := []byte(`{"choices":[{"message":{"content":"<think>x</think> y"}}],"usage":{"prompt_tokens":10}}`)
	w.meta = w.appendMetadata(w.meta[:0], st, 0, &f, &u, time.Millisecond, time.Microsecond, true)
	w.cut = body.OpenAIReasoningSpans(w.cut[:0], answer)
	n := testing.AllocsPerRun(100, func() {
		w.meta = w.appendMetadata(w.meta[:0], st, 0, &f, &u, time.Millisecond, time.Microsecond, true)
		w.cut = body.OpenAIReasoningSpans(w.cut[:0], answer)
		body.SpliceEnd(answer)
		body.ParseOpenAIUsage(body.ScanOpenAIResponse(answer).Usage)
	})
	if n != 0 {
		t.Errorf("%v allocations", n)
	}
}

// TestRouterAllocsPerProxiedSurfaceRequest counts what the router adds to a
// proxied embeddings and completions request, as
// TestRouterAllocsPerProxiedRequest does for chat.
func TestRouterAllocsPerProxiedSurfaceRequest(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts differ under -race")
	}
	h := start(t, harnessOpt{spec: withEmbeddings})
	for _, tc := range []struct {
		name, path, body string
		op               upstream.Op
	}{
		{"embeddings", PathEmbeddings, `{"model":"text-embedding-3-small","input":["first text","second"],"dimensions":8}`, upstream.OpEmbeddings},
		{"completions", PathCompletions, `{"model":"gpt-4o-mini","prompt":"Say this is a test","max_tokens":7}`, upstream.OpCompletions},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := newInProcess(h, "POST", tc.path, tc.body)
			for range 5 {
				if st := p.do(); st != 200 {
					t.Fatalf("status %d: %s", st, p.ctx.Response.Body())
				}
			}
			proxied := testing.AllocsPerRun(100, func() { p.do() })

			direct := directCallAllocs(t, h, upstream.Request{Body: []byte(tc.body), Op: tc.op})
			t.Logf("proxied %.0f, direct upstream call %.0f: the router adds %.0f allocations", proxied, direct, proxied-direct)
			if proxied-direct > 4 { // measured: 1 (the model string)
				t.Errorf("the router adds %.0f allocations per proxied request, want at most 4", proxied-direct)
			}
		})
	}
}

func TestSurfaceAllocsPerRefusedRequest(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts differ under -race")
	}
	h := start(t, harnessOpt{spec: withEmbeddings})
	for _, tc := range []struct {
		name, path, body string
		status           int
	}{
		{"embeddings bad body", PathEmbeddings, `{"model":`, 400},
		{"embeddings no input", PathEmbeddings, `{"model":"text-embedding-3-small","input":[]}`, 400},
		{"embeddings unknown model", PathEmbeddings, `{"model":"no-such-model","input":"x"}`, 404},
		{"completions no prompt", PathCompletions, `{"model":"gpt-4o-mini"}`, 400},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := newInProcess(h, "POST", tc.path, tc.body)
			for range 5 {
				if st := p.do(); st != tc.status {
					t.Fatalf("status %d: %s", st, p.ctx.Response.Body())
				}
			}
			n := testing.AllocsPerRun(50, func() { p.do() })
			t.Logf("%s: %.0f allocations per request", tc.name, n)
			if n > 6 { // as for chat: the model string and the error message
				t.Errorf("%.0f allocations per request, want at most 6", n)
			}
		})
	}
}

// TestRouterAllocsPerStreamedRequest counts what the router adds to one
// streamed request relayed to its end (handler, relay, the usage-only chunk
// dropped): the allocations of the whole request minus those of the same
// stream read directly with the upstream client (both include the
// in-process mock's).
func TestRouterAllocsPerStreamedRequest(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts differ under -race")
	}
	h := start(t, harnessOpt{})
	streamed := `{"model":"gpt-4o-mini","stream":true,"messages":[{"role":"user","content":"hi"}]}`
	p := newInProcess(h, "POST", PathChat, streamed)
	relay := func() {
		if st := p.do(); st != 200 {
			t.Fatalf("status %d: %s", st, p.ctx.Response.Body())
		}
		// What fasthttp does after the handler: read the body stream to its
		// end, then close it.
		if err := p.ctx.Response.BodyWriteTo(io.Discard); err != nil {
			t.Fatal(err)
		}
	}
	for range 5 {
		relay()
	}
	proxied := testing.AllocsPerRun(100, relay)

	sent, _, err := body.OpenAIRequestUsage(nil, []byte(streamed))
	if err != nil {
		t.Fatal(err)
	}
	alone := directCallAllocs(t, h, upstream.Request{Body: sent, Stream: true})
	t.Logf("streamed %.0f, direct upstream stream %.0f: the router adds %.0f allocations", proxied, alone, proxied-alone)
	if proxied-alone > 3 { // measured: 0 (the relay and its event buffer are pooled)
		t.Errorf("the router adds %.0f allocations per streamed request, want at most 3", proxied-alone)
	}
}

// TestRouterAllocsPerNativeRequest counts what the router adds to a
// non-stream request to a native Anthropic channel, as
// TestRouterAllocsPerProxiedRequest does for chat: a Messages request passed
// through and a chat request translated both ways (all read with the
// scanner).
func TestRouterAllocsPerNativeRequest(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts differ under -race")
	}
	h := start(t, harnessOpt{spec: nativeChannel(0)})
	const messages = `{"model":"gpt-4o-mini","max_tokens":64,"messages":[{"role":"user","content":"hello"}]}`
	for _, tc := range []struct {
		name, path, body string
		max              float64
	}{
		{"messages passthrough", PathMessages, messages, 4}, // measured: 1 (the model string)
		{"chat translated", PathChat, hello, 6},             // measured: 3
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := newInProcess(h, "POST", tc.path, tc.body)
			for range 5 {
				if st := p.do(); st != 200 {
					t.Fatalf("status %d: %s", st, p.ctx.Response.Body())
				}
			}
			proxied := testing.AllocsPerRun(100, func() { p.do() })

			direct := directCallAllocs(t, h, upstream.Request{Body: []byte(messages), Op: upstream.OpMessages})
			t.Logf("proxied %.0f, direct upstream call %.0f: the router adds %.0f allocations", proxied, direct, proxied-direct)
			if proxied-direct > tc.max {
				t.Errorf("the router adds %.0f allocations per request, want at most %.0f", proxied-direct, tc.max)
			}
		})
	}
}

// directCallAllocs is the allocations of one call of req made straight with
// the server's upstream client to its first channel, the answer read to its
// end (every event of a stream), after five calls to warm up.
func directCallAllocs(t *testing.T, h *harness, req upstream.Request) float64 {
	t.Helper()
	hd := h.srv.Manager().Acquire()
	st := hd.Value.(*state)
	req.Endpoint = st.chans[0].ep
	client := st.client
	hd.Release()
	var buf []byte
	call := func() {
		resp, err := client.Do(context.Background(), &req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Close()
		if !req.Stream {
			if buf, err = resp.ReadAll(buf[:0]); err != nil {
				t.Fatal(err)
			}
			return
		}
		s := resp.Stream()
		for {
			ch, err := s.Next()
			if err != nil {
				t.Fatal(err)
			}
			if ch.Done {
				return
			}
		}
	}
	for range 5 {
		call()
	}
	return testing.AllocsPerRun(100, call)
}
