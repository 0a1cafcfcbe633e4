package mockllm

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
)

// sink is a ResponseWriter that keeps nothing, so that a benchmark sees the
// handler's own cost.
type sink struct {
	h http.Header
	n int
}

func (w *sink) Header() http.Header         { return w.h }
func (w *sink) Write(p []byte) (int, error) { w.n += len(p); return len(p), nil }
func (w *sink) WriteHeader(int)             {}
func (w *sink) Flush()                      {}

type rewind struct{ bytes.Reader }

func (*rewind) Close() error { return nil }

// serveOnce returns a function that runs one request through the handler.
func serveOnce(s *Server, body string) func() int {
	req := httptest.NewRequest(http.MethodPost, "/v1/chat/completions", nil)
	req.Header.Set("Authorization", "Bearer sk-bench")
	rb := &rewind{}
	w := &sink{h: http.Header{}}
	return func() int {
		rb.Reset([]byte(body))
		req.Body = rb
		req.ContentLength = int64(len(body))
		clear(w.h)
		w.n = 0
		s.ServeHTTP(w, req)
		return w.n
	}
}

const benchBody = `{"model":"mock-small","messages":[{"role":"user","content":"Say hello in one word."}],"max_tokens":16}`
const benchStream = `{"model":"mock-small","messages":[{"role":"user","content":"Say hello in one word."}],"stream":true,"stream_options":{"include_usage":true}}`

func BenchmarkHandler(b *testing.B) {
	for _, tt := range []struct {
		name, body string
		record     int
	}{
		{"nonstream", benchBody, -1},
		{"nonstream/recording", benchBody, 0},
		{"stream", benchStream, -1},
	} {
		b.Run(tt.name, func(b *testing.B) {
			run := serveOnce(New(Config{Record: tt.record}), tt.body)
			b.ReportAllocs()
			for b.Loop() {
				if run() == 0 {
					b.Fatal("no answer")
				}
			}
		})
	}
}

// The handler's allocations stay few (the decoding of the body with
// encoding/json makes most of them), recording included: the mock is the
// baseline of the load benchmarks.
func TestHandlerAllocs(t *testing.T) {
	for _, tt := range []struct {
		name, body string
		max        float64
	}{{"nonstream", benchBody, 12}, {"stream", benchStream, 12}} {
		run := serveOnce(New(Config{Record: 8}), tt.body)
		for range 8 { // warm the recorder's ring
			run()
		}
		if a := testing.AllocsPerRun(200, func() { run() }); a > tt.max {
			t.Errorf("%s: %v allocations per request, want <= %v", tt.name, a, tt.max)
		}
	}
}

// BenchmarkHTTP is a full loopback round trip with a plain net/http client.
func BenchmarkHTTP(b *testing.B) {
	s, err := Start(Config{Record: -1})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	hc := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
	defer hc.CloseIdleConnections()
	for _, tt := range []struct{ name, body string }{{"nonstream", benchBody}, {"stream", benchStream}} {
		b.Run(tt.name, func(b *testing.B) {
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					resp, err := hc.Post(s.URL()+"/v1/chat/completions", "application/json", bytes.NewReader([]byte(tt.body)))
					if err != nil {
						b.Error(err)
						return
					}
					_, _ = io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
				}
			})
		})
	}
}
