package upstream

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"

	"smartrouter/format"
)

// countingServer answers every chat call with a small JSON object and counts
// the connections it accepted. closeAfter > 0 makes it close each
// connection after that many answers without saying so (no Connection:
// close), as an upstream with a short idle timeout does.
func countingServer(t *testing.T, closeAfter int) (*httptest.Server, *atomic.Int64) {
	t.Helper()
	var conns atomic.Int64
	var mu sync.Mutex
	served := map[net.Conn]int{}
	hs := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte(`{"choices":[{"message":{"content":"ok"}}]}`))
	}))
	hs.Config.ConnState = func(c net.Conn, st http.ConnState) {
		switch st {
		case http.StateNew:
			conns.Add(1)
		case http.StateIdle:
			mu.Lock()
			served[c]++
			n := served[c]
			mu.Unlock()
			if closeAfter > 0 && n >= closeAfter {
				c.Close()
			}
		}
	}
	hs.Start()
	t.Cleanup(hs.Close)
	return hs, &conns
}

// Non-stream calls reuse one keep-alive connection, and a connection the
// upstream closed while idle is replaced without failing the call.
func TestNonStreamConnections(t *testing.T) {
	tests := []struct {
		name       string
		closeAfter int
		calls      int
		wantConns  int64
	}{
		{"sequential calls share a connection", 0, 5, 1},
		{"closed while idle: a new connection, no failure", 1, 4, 4},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			hs, conns := countingServer(t, tt.closeAfter)
			c := newClient(t, Config{})
			ep := newEndpoint(t, hs.URL, format.AuthBearer, "k", false)
			if ep.target == nil || !ep.target.direct {
				t.Fatal("a loopback endpoint is not called directly")
			}
			for i := 0; i < tt.calls; i++ {
				resp, err := c.Do(context.Background(), &Request{Endpoint: ep, Body: []byte(`{"model":"m"}`)})
				if err != nil {
					t.Fatalf("call %d: %v", i, err)
				}
				b, err := resp.ReadAll(nil)
				resp.Close()
				if err != nil || string(b) != `{"choices":[{"message":{"content":"ok"}}]}` {
					t.Fatalf("call %d: %q %v", i, b, err)
				}
			}
			if got := conns.Load(); got != tt.wantConns {
				t.Errorf("%d connections for %d calls, want %d", got, tt.calls, tt.wantConns)
			}
		})
	}
}

// An upstream that restarts leaves every pooled connection to it dead. The
// first call after the restart fails on a reused connection, is retried once
// on a freshly dialled one (not on the next dead pooled one) and succeeds.
func TestNonStreamAfterUpstreamRestart(t *testing.T) {
	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte(`{"choices":[{"message":{"content":"ok"}}]}`))
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	hs := &http.Server{Handler: handler}
	go hs.Serve(ln)
	c := newClient(t, Config{})
	ep := newEndpoint(t, "http://"+addr, format.AuthBearer, "k", false)
	call := func() error {
		resp, err := c.Do(context.Background(), &Request{Endpoint: ep, Body: []byte(`{"model":"m"}`)})
		if err != nil {
			return err
		}
		_, err = resp.ReadAll(nil)
		resp.Close()
		return err
	}
	// Several connections in the pool: concurrent calls.
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			if err := call(); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	pooled := c.h1.idleCount(ep.target.key)
	if pooled < 2 {
		t.Skipf("only %d pooled connections; the scenario needs several", pooled)
	}
	hs.Close() // the restart: every connection is closed
	ln2, err := net.Listen("tcp", addr)
	if err != nil {
		t.Skipf("cannot listen on %s again: %v", addr, err)
	}
	hs2 := &http.Server{Handler: handler}
	go hs2.Serve(ln2)
	t.Cleanup(func() { hs2.Close() })
	if err := call(); err != nil {
		t.Fatalf("first call after the restart failed: %v", err)
	}
}
