package upstream

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"smartrouter/format"
)

// barrierServer answers chat calls only once n of them are in progress at
// the same time (a slow upstream with n requests in flight, without a
// sleep), and counts the connections it accepted.
func barrierServer(t *testing.T, n int, stream bool) (*httptest.Server, *atomic.Int64, func()) {
	t.Helper()
	var conns atomic.Int64
	var mu sync.Mutex
	waiting := 0
	release := make(chan struct{})
	// reset arms the barrier for the next wave.
	reset := func() {
		mu.Lock()
		waiting = 0
		release = make(chan struct{})
		mu.Unlock()
	}
	hs := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		mu.Lock()
		ch := release
		if waiting++; waiting == n {
			close(ch)
		}
		mu.Unlock()
		select {
		case <-ch:
		case <-r.Context().Done():
			return
		}
		if stream {
			w.Header().Set("Content-Type", "text/event-stream")
			fmt.Fprint(w, "data: {\"choices\":[{\"delta\":{\"content\":\"ok\"}}]}\n\n")
			w.(http.Flusher).Flush()
			fmt.Fprint(w, "data: [DONE]\n\n")
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte(`{"choices":[{"message":{"content":"ok"}}]}`))
	}))
	hs.Config.ConnState = func(c net.Conn, st http.ConnState) {
		if st == http.StateNew {
			conns.Add(1)
		}
	}
	hs.Start()
	t.Cleanup(hs.Close)
	return hs, &conns, reset
}

// With more requests in flight than the configured idle floor, the
// connections given back are kept (the pool follows the peak in use), so
// a second wave of as many concurrent requests dials no new connection.
// A pool capped at the floor would close n - floor of them after the first
// wave and dial them again for the second.
func TestPoolKeepsThePeakInFlight(t *testing.T) {
	const n, floor = 48, 8
	for _, stream := range []bool{false, true} {
		t.Run(fmt.Sprintf("stream=%v", stream), func(t *testing.T) {
			hs, conns, reset := barrierServer(t, n, stream)
			c := newClient(t, Config{MaxIdleConnsPerHost: floor})
			ep := newEndpoint(t, hs.URL, format.AuthBearer, "k", false)
			wave := func() {
				var wg sync.WaitGroup
				for range n {
					wg.Go(func() {
						resp, err := c.Do(context.Background(), &Request{Endpoint: ep, Body: []byte(`{"model":"m"}`), Stream: stream})
						if err != nil {
							t.Error(err)
							return
						}
						defer resp.Close()
						if !stream {
							if _, err := resp.ReadAll(nil); err != nil {
								t.Error(err)
							}
							return
						}
						s := resp.Stream()
						for {
							if _, err := s.Next(); err != nil {
								if !errors.Is(err, io.EOF) {
									t.Error(err)
								}
								return
							}
						}
					})
				}
				wg.Wait()
			}
			wave()
			if got := conns.Load(); got != n {
				t.Fatalf("first wave: %d connections accepted, want %d (one per request in flight)", got, n)
			}
			if got := c.h1.idleCount(ep.target.key); got != n {
				t.Fatalf("after the first wave %d idle connections kept, want all %d (the peak in use), not the floor %d", got, n, floor)
			}
			reset()
			wave()
			if got := conns.Load(); got != n {
				t.Fatalf("second wave dialled %d new connections, want 0: the pool closed connections the load needed again", got-n)
			}
		})
	}
}

// closeCounter is a net.Conn that counts its Close calls.
type closeCounter struct {
	net.Conn
	closed *atomic.Int64
}

func (c closeCounter) Close() error { c.closed.Add(1); return nil }

// Idle connections expire after h1IdleTimeout, and the peak that let the
// pool keep them decays to the current use, so a past burst does not keep
// its connections (fake clock).
func TestPoolExpiresIdleAndDecaysThePeak(t *testing.T) {
	now := time.Unix(1000, 0)
	p := &h1Pool{max: 2, now: func() time.Time { return now }}
	var closed atomic.Int64
	conn := func() *h1Conn { return &h1Conn{nc: closeCounter{closed: &closed}} }
	const key = "http://upstream:80"

	// A burst of 10 in flight: all 10 are kept when given back.
	var burst []*h1Conn
	for range 10 {
		p.dialed(key)
		burst = append(burst, conn())
	}
	for _, c := range burst {
		p.put(key, c, true)
	}
	if got := p.idleCount(key); got != 10 || closed.Load() != 0 {
		t.Fatalf("after the burst: %d idle, %d closed; want 10 kept, none closed", got, closed.Load())
	}
	// A connection that cannot be reused is closed whatever the bound.
	p.dialed(key)
	p.put(key, conn(), false)
	if closed.Load() != 1 || p.idleCount(key) != 10 {
		t.Fatalf("a broken connection: %d closed, %d idle; want it closed and 10 idle", closed.Load(), p.idleCount(key))
	}

	// Past the idle timeout, one request at a time: the expired ones are
	// closed (a batch per put, the rest at the next get), and the decayed
	// peak (1 in use) keeps only the floor.
	now = now.Add(h1IdleTimeout)
	p.dialed(key)
	p.put(key, conn(), true)
	if got := p.idleCount(key); got != 2 {
		t.Fatalf("after the timeout: %d idle, want 2 (the 10 old ones minus a batch of %d closed; the new one over the floor closed)", got, pruneBatch)
	}
	if c := p.get(key); c != nil {
		t.Fatal("get returned an expired connection")
	}
	if got := closed.Load(); got != 1+10+1 {
		t.Fatalf("%d connections closed, want 12: the broken one, the 10 expired ones, the one over the floor", got)
	}
	// The bound is the floor again: 3 at once, given back, keeps 3 (the new
	// peak), and a later single request reuses one of them.
	for range 3 {
		p.dialed(key)
	}
	for range 3 {
		p.put(key, conn(), true)
	}
	if got := p.idleCount(key); got != 3 {
		t.Fatalf("3 in flight after the decay: %d idle, want 3", got)
	}
	if c := p.get(key); c == nil {
		t.Fatal("get found no idle connection")
	}
}

// A burst followed by silence: the sweep (run by a timer every
// h1IdleTimeout while connections are idle) closes them without any call
// coming, and a later sweep closes the surplus over a decayed peak.
func TestPoolSweepClosesIdleAfterSilence(t *testing.T) {
	now := time.Unix(1000, 0)
	p := &h1Pool{max: 2, now: func() time.Time { return now }}
	t.Cleanup(p.closeIdle)
	var closed atomic.Int64
	const key = "http://upstream:80"
	for range 10 {
		p.dialed(key)
	}
	for range 10 {
		p.put(key, &h1Conn{nc: closeCounter{closed: &closed}}, true)
	}
	now = now.Add(h1IdleTimeout / 2)
	p.sweepIdle(key)
	if got := p.idleCount(key); got != 10 {
		t.Fatalf("half the idle timeout later: %d idle, want all 10 (the peak is recent)", got)
	}
	now = now.Add(h1IdleTimeout / 2)
	p.sweepIdle(key)
	if got := p.idleCount(key); got != 0 || closed.Load() != 10 {
		t.Fatalf("after the idle timeout: %d idle, %d closed; want 0 idle, 10 closed", got, closed.Load())
	}
	p.sweepIdle(key) // nothing left: a no-op
}

// All hosts together keep at most maxTotal idle connections: the spare
// connections of one host's burst cannot take the descriptors another
// host's calls need. The running total matches the idle lists through
// gets, expiries and sweeps.
func TestPoolBoundsIdleOverAllHosts(t *testing.T) {
	now := time.Unix(1000, 0)
	p := &h1Pool{max: 2, maxTotal: 5, now: func() time.Time { return now }}
	t.Cleanup(p.closeIdle)
	var closed atomic.Int64
	conn := func() *h1Conn { return &h1Conn{nc: closeCounter{closed: &closed}} }
	consistent := func(when string) {
		t.Helper()
		p.mu.Lock()
		sum := 0
		for _, h := range p.hosts {
			sum += len(h.idle)
		}
		total := p.total
		p.mu.Unlock()
		if sum != total {
			t.Fatalf("%s: the running total is %d, the idle lists hold %d", when, total, sum)
		}
	}
	const a, b = "http://a:80", "http://b:80"
	for _, key := range []string{a, b} {
		for range 4 {
			p.dialed(key)
		}
		for range 4 {
			p.put(key, conn(), true)
		}
	}
	if p.idleCount(a) != 4 || p.idleCount(b) != 1 || closed.Load() != 3 {
		t.Fatalf("idle %d on a, %d on b, %d closed; want 4, 1 (the bound of 5 over both) and 3 closed",
			p.idleCount(a), p.idleCount(b), closed.Load())
	}
	consistent("after the bursts")
	if p.get(a) == nil {
		t.Fatal("no idle connection to a")
	}
	consistent("after a get")
	now = now.Add(h1IdleTimeout)
	p.sweepIdle(a)
	consistent("after a sweep")
	if p.get(b) != nil {
		t.Fatal("get returned an expired connection to b")
	}
	consistent("after the expired ones were dropped")
	if p.total != 0 {
		t.Fatalf("%d idle left, want 0", p.total)
	}
}

// The bound over all hosts follows the open-files limit of the process.
func TestIdleBudget(t *testing.T) {
	var rl syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil {
		t.Skipf("no open-files limit to read: %v", err)
	}
	got := idleBudget(256)
	switch {
	case rl.Cur > 1<<30:
		if got != 0 {
			t.Fatalf("unlimited descriptors: budget %d, want 0 (no bound)", got)
		}
	case got != max(int(rl.Cur/4), 256):
		t.Fatalf("budget %d with a limit of %d, want a quarter of it and at least the floor 256", got, rl.Cur)
	}
}
