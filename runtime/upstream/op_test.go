package upstream

import (
	"context"
	"testing"

	"smartrouter/fixtures/mockllm"
	"smartrouter/format"
)

func TestEndpointOpURLs(t *testing.T) {
	ep := newEndpoint(t, "https://api.example.com/api/v3/?api-version=1", format.AuthBearer, "k", false)
	for op, want := range map[Op]string{
		OpChat:        "https://api.example.com/api/v3/chat/completions?api-version=1",
		OpEmbeddings:  "https://api.example.com/api/v3/embeddings?api-version=1",
		OpCompletions: "https://api.example.com/api/v3/completions?api-version=1",
	} {
		if got := ep.url(op); got != want {
			t.Errorf("op %d: %s, want %s", op, got, want)
		}
	}
	if ep.uris[OpEmbeddings] != "/api/v3/embeddings?api-version=1" {
		t.Errorf("embeddings request URI %q", ep.uris[OpEmbeddings])
	}
}

// Each Op reaches its path, stream or not (the non-stream calls take the
// pooled HTTP/1.1 path, the streams net/http).
func TestOpPaths(t *testing.T) {
	srv := startMock(t, mockllm.Config{})
	c := newClient(t, Config{})
	ep := newEndpoint(t, srv.URL(), format.AuthBearer, "sk-test-1", false)
	for _, tc := range []struct {
		op     Op
		stream bool
		body   string
		path   string
	}{
		{OpChat, false, `{"model":"m","messages":[]}`, "/v1/chat/completions"},
		{OpEmbeddings, false, `{"model":"e","input":"x"}`, "/v1/embeddings"},
		{OpCompletions, false, `{"model":"m","prompt":"x"}`, "/v1/completions"},
		{OpCompletions, true, `{"model":"m","prompt":"x","stream":true}`, "/v1/completions"},
	} {
		resp, err := c.Do(context.Background(), &Request{Endpoint: ep, Body: []byte(tc.body), Stream: tc.stream, Op: tc.op})
		if err != nil {
			t.Fatalf("op %d: %v", tc.op, err)
		}
		if tc.stream {
			s := resp.Stream()
			for {
				ch, err := s.Next()
				if err != nil {
					t.Fatalf("op %d stream: %v", tc.op, err)
				}
				if ch.Done {
					break
				}
			}
		} else if _, err := resp.ReadAll(nil); err != nil {
			t.Fatalf("op %d: %v", tc.op, err)
		}
		resp.Close()
		if last, _ := srv.LastRequest(); last.Path != tc.path {
			t.Errorf("op %d: the upstream got %s, want %s", tc.op, last.Path, tc.path)
		}
	}
}
