package upstream

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"testing"

	"smartrouter/fixtures/mockllm"
	"smartrouter/format"
	"smartrouter/runtime/body"
	"smartrouter/runtime/outcome"
)

func BenchmarkClassify(b *testing.B) {
	h := http.Header{"Retry-After": {"7"}}
	body := []byte(`{"error":{"message":"Rate limit reached for requests","type":"rate_limit_error","code":"rate_limit_exceeded"}}`)
	b.ReportAllocs()
	for b.Loop() {
		if c := Classify(429, h, body, nil); c.Kind != outcome.RateLimit {
			b.Fatal(c)
		}
	}
}

func BenchmarkStreamParse(b *testing.B) {
	var sse bytes.Buffer
	for i := 0; i < 16; i++ {
		sse.WriteString(`data: {"id":"chatcmpl-1","object":"chat.completion.chunk","created":1700000000,"model":"m","choices":[{"index":0,"delta":{"content":"word "},"finish_reason":null}],"usage":null}` + "\n\n")
	}
	sse.WriteString(`data: {"id":"chatcmpl-1","object":"chat.completion.chunk","created":1700000000,"model":"m","choices":[],"usage":{"prompt_tokens":9,"completion_tokens":16,"total_tokens":25}}` + "\n\ndata: [DONE]\n\n")
	in := sse.Bytes()
	rd := bytes.NewReader(in)
	s := NewStream(rd, 0)
	b.SetBytes(int64(len(in)))
	b.ReportAllocs()
	for b.Loop() {
		rd.Reset(in)
		s.r.Reset(rd)
		s.done, s.yielded, s.err = false, 0, nil
		for {
			if _, err := s.Next(); err != nil {
				break
			}
		}
	}
}

// BenchmarkRoundTrip measures one attempt against the in-process mock
// (loopback HTTP, the mock's own work included). "net/http" is the same call
// with a bare http.Client, the floor this package adds to.
func BenchmarkRoundTrip(b *testing.B) {
	srv := startMock(b, mockllm.Config{Record: -1})
	c := newClient(b, Config{})
	ep := newEndpoint(b, srv.URL(), format.AuthBearer, "sk-bench", false)
	small := []byte(`{"model":"gpt-4o-mini","messages":[{"role":"user","content":"Say hello in one word."}],"stream":true,"max_tokens":16}`)
	nonStream := bytes.Replace(small, []byte(`"stream":true`), []byte(`"stream":false`), 1)
	sent, _ := body.RewriteModel(nil, small, "mock-small")
	streamBody, _, _ := body.OpenAIRequestUsage(nil, sent)
	ctx := context.Background()

	b.Run("nonstream", func(b *testing.B) {
		var out []byte
		b.ReportAllocs()
		for b.Loop() {
			resp, err := c.Do(ctx, &Request{Endpoint: ep, Body: nonStream})
			if err != nil {
				b.Fatal(err)
			}
			if out, err = resp.ReadAll(out[:0]); err != nil {
				b.Fatal(err)
			}
			resp.Close()
		}
	})
	b.Run("stream", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			resp, err := c.Do(ctx, &Request{Endpoint: ep, Body: streamBody, Stream: true})
			if err != nil {
				b.Fatal(err)
			}
			s := resp.Stream()
			for {
				ch, err := s.Next()
				if err != nil {
					b.Fatal(err)
				}
				if ch.Done {
					break
				}
			}
			resp.Close()
		}
	})
	b.Run("nonstream/net-http", func(b *testing.B) {
		hc := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
		defer hc.CloseIdleConnections()
		var buf bytes.Buffer
		b.ReportAllocs()
		for b.Loop() {
			req, _ := http.NewRequestWithContext(ctx, http.MethodPost, ep.ChatURL, bytes.NewReader(nonStream))
			req.Header.Set("Authorization", "Bearer sk-bench")
			req.Header.Set("Content-Type", "application/json")
			resp, err := hc.Do(req)
			if err != nil {
				b.Fatal(err)
			}
			buf.Reset()
			_, _ = io.Copy(&buf, resp.Body)
			resp.Body.Close()
		}
	})
}
