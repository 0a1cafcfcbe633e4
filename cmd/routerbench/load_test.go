package main

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"
)

// An attack closes the keep-alive connections it opened when it ends, so
// that the next round of an in-flight shape does not find the open-files
// limit taken by them (vegeta's own transport never closes idle ones).
func TestAttackClosesItsConnections(t *testing.T) {
	var mu sync.Mutex
	open := map[net.Conn]bool{}
	opened := 0
	closed := make(chan struct{}, 1024)
	hs := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte(`{"choices":[{"message":{"content":"ok"}}]}`))
	}))
	hs.Config.ConnState = func(c net.Conn, st http.ConnState) {
		mu.Lock()
		defer mu.Unlock()
		switch st {
		case http.StateNew:
			open[c] = true
			opened++
		case http.StateClosed, http.StateHijacked:
			if open[c] {
				delete(open, c)
				closed <- struct{}{}
			}
		}
	}
	hs.Start()
	t.Cleanup(hs.Close)
	r := attack(context.Background(), "test", chatTargetFor(hs.URL, "", []byte(`{}`)), 50, 200*time.Millisecond, false, 0, nil)
	if r.Requests == 0 || r.Errors != 0 {
		t.Fatalf("%d requests, %d errors: %v", r.Requests, r.Errors, r.ErrSamples)
	}
	mu.Lock()
	n := opened
	mu.Unlock()
	if n == 0 {
		t.Fatal("the server saw no connection")
	}
	// Every connection the attack opened is closed by the client: wait for
	// as many close events as connections (the server learns of a close
	// when it reads EOF; a leak waits until the test's own timeout).
	for range n {
		<-closed
	}
	mu.Lock()
	left := len(open)
	mu.Unlock()
	if left != 0 {
		t.Fatalf("%d connections still open after the attack", left)
	}
}
