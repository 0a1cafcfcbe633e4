package server

import (
	"io"
	"net/http"
	"strings"
	"testing"
)

// BenchmarkHandlerNotFound measures the router's own cost on a request that
// never reaches an upstream (routing error), called in-process.
func BenchmarkHandlerNotFound(b *testing.B) {
	h := start(b, harnessOpt{})
	p := newInProcess(h, "POST", PathChat, `{"model":"no-such-model","messages":[{"role":"user","content":"hi"}]}`)
	b.ReportAllocs()
	for b.Loop() {
		p.do()
	}
}

// BenchmarkHandlerProxied is one chat completion through the handler
// (called in-process) to the mock over loopback HTTP.
func BenchmarkHandlerProxied(b *testing.B) {
	h := start(b, harnessOpt{})
	p := newInProcess(h, "POST", PathChat, hello)
	b.ReportAllocs()
	for b.Loop() {
		if p.do() != 200 {
			b.Fatal(string(p.ctx.Response.Body()))
		}
	}
}

func benchHTTP(b *testing.B, url, body string) {
	b.Helper()
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 16, DisableCompression: true}}
	defer client.CloseIdleConnections()
	b.ReportAllocs()
	for b.Loop() {
		resp, err := client.Post(url, "application/json", strings.NewReader(body))
		if err != nil {
			b.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			b.Fatal(resp.Status)
		}
	}
}

// BenchmarkProxy compares a full request through routerd to the mock with
// the same request sent to the mock directly (the baseline).
func BenchmarkProxy(b *testing.B) {
	h := start(b, harnessOpt{})
	b.Run("direct/non-stream", func(b *testing.B) { benchHTTP(b, h.mock.URL()+"/v1/chat/completions", hello) })
	b.Run("routerd/non-stream", func(b *testing.B) { benchHTTP(b, h.url+PathChat, hello) })
	b.Run("direct/stream", func(b *testing.B) { benchHTTP(b, h.mock.URL()+"/v1/chat/completions", helloStream) })
	b.Run("routerd/stream", func(b *testing.B) { benchHTTP(b, h.url+PathChat, helloStream) })
}

// BenchmarkHandlerProxiedClientKey is BenchmarkHandlerProxied with a client
// key whose every limit is set (none reached): the two together give the
// cost of the key check, the limits and the charge per proxied request.
func BenchmarkHandlerProxiedClientKey(b *testing.B) {
	h := start(b, harnessOpt{spec: withClientKeys})
	p := newInProcess(h, "POST", PathChat, hello)
	p.req.Header.Set("Authorization", "Bearer "+tokBig)
	b.ReportAllocs()
	for b.Loop() {
		if p.do() != 200 {
			b.Fatal(string(p.ctx.Response.Body()))
		}
	}
}
