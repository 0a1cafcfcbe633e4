package server

import (
	"io"
	"net"
	"sync"
	"sync/atomic"

	"github.com/valyala/fasthttp"
)

// Connection tracking for a prompt shutdown.
//
// fasthttp's shutdown closes the keep-alive connections that sit between two
// requests, but it counts a connection that was accepted and has not sent a
// byte yet as busy (it marks it active before reading the first request).
// Load generators and browsers open such spare connections, and a shutdown
// then waits for its whole drain timeout. The server therefore wraps its
// listeners: a connection is busy from the first byte of a request until
// fasthttp reports it idle again (the answer, a streamed body included, is
// completely written), and Shutdown closes every connection that is not busy
// at once. A busy one finishes its request and is then closed by fasthttp,
// which stops serving a connection after its answer once shutting down.

// Connection states of a trackedConn.
const (
	connIdle   int32 = iota // no request bytes read since the last answer (or ever)
	connBusy                // a request is being read, handled or answered
	connClosed              // closed by a shutdown while idle
)

// connTracker knows the open connections of the server's listeners.
type connTracker struct {
	mu      sync.Mutex
	conns   map[*trackedConn]struct{}
	closing bool
}

// trackedConn is a connection accepted through a trackingListener.
type trackedConn struct {
	net.Conn
	t     *connTracker
	state atomic.Int32
}

// Read marks the connection busy when request bytes arrive. A connection the
// shutdown closed reads as a clean end of input, so that fasthttp neither
// answers nor logs it.
func (c *trackedConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if n > 0 && c.state.CompareAndSwap(connIdle, connBusy) {
		return n, err
	}
	if c.state.Load() == connClosed {
		return 0, io.EOF
	}
	return n, err
}

// trackingListener registers every accepted connection with its tracker.
type trackingListener struct {
	net.Listener
	t *connTracker
}

func (l *trackingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	tc := &trackedConn{Conn: c, t: l.t}
	l.t.mu.Lock()
	if l.t.closing {
		// Accepted while shutting down: it can carry no request.
		tc.state.Store(connClosed)
		c.Close()
	} else {
		if l.t.conns == nil {
			l.t.conns = make(map[*trackedConn]struct{})
		}
		l.t.conns[tc] = struct{}{}
	}
	l.t.mu.Unlock()
	return tc, nil
}

// wrap returns ln with its connections tracked.
func (t *connTracker) wrap(ln net.Listener) net.Listener {
	return &trackingListener{Listener: ln, t: t}
}

// connState is fasthttp's ConnState hook: an answered request makes the
// connection idle again; a closed one is forgotten. An idle connection is
// not closed here even when shutting down: fasthttp may still hold the
// answer in its write buffer (pipelined requests), and its own shutdown
// closes connections between two requests after flushing.
func (t *connTracker) connState(c net.Conn, st fasthttp.ConnState) {
	tc, ok := c.(*trackedConn)
	if !ok {
		return
	}
	switch st {
	case fasthttp.StateIdle:
		tc.state.CompareAndSwap(connBusy, connIdle)
	case fasthttp.StateClosed, fasthttp.StateHijacked:
		t.mu.Lock()
		delete(t.conns, tc)
		t.mu.Unlock()
	}
}

// closeIfIdle closes tc unless a request is in progress on it.
func (t *connTracker) closeIfIdle(tc *trackedConn) {
	if tc.state.CompareAndSwap(connIdle, connClosed) {
		tc.Conn.Close()
	}
}

// shutdown refuses the connections accepted from now on and closes every
// connection without a request in progress. The busy ones are left to finish
// their request.
func (t *connTracker) shutdown() {
	t.mu.Lock()
	t.closing = true
	idle := make([]*trackedConn, 0, len(t.conns))
	for tc := range t.conns {
		idle = append(idle, tc)
	}
	t.mu.Unlock()
	for _, tc := range idle {
		t.closeIfIdle(tc)
	}
}

// open returns the number of tracked connections and how many of them are
// busy.
func (t *connTracker) open() (all, busy int) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for tc := range t.conns {
		all++
		if tc.state.Load() == connBusy {
			busy++
		}
	}
	return all, busy
}
