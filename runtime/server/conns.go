package server

import (
	"bytes"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/valyala/fasthttp"

	"smartrouter/runtime/metrics"
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

// The same wrapper enforces the connection limits (see limits.go): a cap on
// open connections, an optional cap per client address, a write timeout per
// write, and a back-off when accepting fails for want of file descriptors.

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
	done    chan struct{} // closed by shutdown: ends an accept back-off

	lim    connLimits
	met    *metrics.Metrics
	perIP  map[string]int // open connections per client address (when lim.perIP > 0)
	oldest *trackedConn   // accept order, oldest first, for eviction
	newest *trackedConn
	count  int // connections counted against the cap
	sleep  func(d time.Duration, done <-chan struct{}) bool
}

// trackedConn is a connection accepted through a trackingListener.
type trackedConn struct {
	net.Conn
	t     *connTracker
	state atomic.Int32
	// Guarded by t.mu.
	ip         string
	prev, next *trackedConn
	counted    bool // in the accept-order list and in count

	// The end of a stream is written at once (holdEnd); used only by the
	// connection's goroutine, which runs both the relay and the writes.
	held    *[]byte // writes kept since holdEnd
	lastEnd bool    // the last kept write ended with the chunked body's last chunk

	// Bytes read ahead of a one-byte read (Read); used only by the
	// connection's goroutine.
	ahead              *[]byte
	aheadOff, aheadEnd int
}

// Write bounds each write by the write timeout: a client that stops reading
// fails the write once the kernel buffers are full and the timeout passes,
// and fasthttp then closes the connection (a stream's relay, and with it the
// upstream response, is closed too). The bound is per write, so a long
// stream that the client keeps reading is never cut.
func (c *trackedConn) Write(p []byte) (int, error) {
	if c.held != nil {
		return c.writeHeld(p)
	}
	return c.write(p)
}

func (c *trackedConn) write(p []byte) (int, error) {
	if d := c.t.lim.writeTimeout; d > 0 {
		_ = c.Conn.SetWriteDeadline(time.Now().Add(d))
	}
	return c.Conn.Write(p)
}

// maxHeld bounds what holdEnd keeps: more is written at once.
const maxHeld = 64 << 10

// heldBufs pools the buffers of holdEnd.
var heldBufs = sync.Pool{New: func() any { b := make([]byte, 0, 4<<10); return &b }}

// holdEnd is called by a stream's relay when it returns its last events:
// fasthttp then writes them as a chunk and flushes, writes the chunked
// body's last chunk ("0\r\n") and flushes, then the empty trailer ("\r\n")
// and flushes — three writes, each a system call that also wakes the
// client. From holdEnd on, the connection keeps what it is given and
// writes it all in one call with the write that follows the last chunk
// (or as soon as more than maxHeld bytes are kept). Nothing waits in
// between: the relay returns io.EOF at once after its last events. A
// client gone by then is found by that one write, after the relay has
// recorded the stream as a success: the upstream did deliver all of it.
// With pipelined requests fasthttp defers the trailer's flush to the next
// answer, and the kept bytes go with it.
func (c *trackedConn) holdEnd() {
	if c.held == nil {
		c.held = heldBufs.Get().(*[]byte)
		c.lastEnd = false
	}
}

// lastChunk is the end of a chunked body before its trailer.
var lastChunk = []byte("0\r\n")

func (c *trackedConn) writeHeld(p []byte) (int, error) {
	b := append(*c.held, p...)
	*c.held = b
	end := c.lastEnd
	c.lastEnd = bytes.HasSuffix(b, lastChunk) && (len(b) == len(lastChunk) || b[len(b)-len(lastChunk)-1] == '\n')
	if !end && len(b) <= maxHeld {
		return len(p), nil
	}
	_, err := c.write(b)
	h := c.held
	c.held = nil
	if cap(b) <= maxHeld+4<<10 {
		*h = b[:0]
		heldBufs.Put(h)
	}
	if err != nil {
		return 0, err
	}
	return len(p), nil
}

// Read marks the connection busy when request bytes arrive. A connection the
// shutdown closed reads as a clean end of input, so that fasthttp neither
// answers nor logs it.
//
// fasthttp, which keeps no read buffer for an idle connection
// (ReduceMemoryUsage), waits for the next request with a one-byte read and
// then reads the rest: two system calls for a request that arrived whole.
// A one-byte read here reads what has arrived into a pooled buffer, and the
// next read takes the rest from it; the buffer goes back to the pool as soon
// as it is drained, so an idle connection still holds none.
func (c *trackedConn) Read(p []byte) (int, error) {
	if c.ahead != nil {
		n := copy(p, (*c.ahead)[c.aheadOff:c.aheadEnd])
		if c.aheadOff += n; c.aheadOff == c.aheadEnd {
			aheadBufs.Put(c.ahead)
			c.ahead = nil
		}
		return n, nil
	}
	if len(p) == 1 {
		b := aheadBufs.Get().(*[]byte)
		n, err := c.Conn.Read(*b)
		if n > 0 {
			p[0] = (*b)[0]
		}
		if n > 1 {
			c.ahead, c.aheadOff, c.aheadEnd = b, 1, n
		} else {
			aheadBufs.Put(b)
		}
		return c.arrived(min(n, 1), err)
	}
	return c.arrived(c.Conn.Read(p))
}

// aheadBufs pools the buffers of Read's read-ahead.
var aheadBufs = sync.Pool{New: func() any { b := make([]byte, 4<<10); return &b }}

// arrived marks the connection busy when request bytes arrived.
func (c *trackedConn) arrived(n int, err error) (int, error) {
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

// Accept returns the next connection the limits admit. A temporary failure
// (out of file descriptors, a connection aborted before it was accepted)
// closes the oldest idle connection, backs off and tries again instead of
// ending the server; connections over a limit are answered 503 and closed.
func (l *trackingListener) Accept() (net.Conn, error) {
	t := l.t
	var delay time.Duration
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			if !temporaryAcceptError(err) {
				return nil, err
			}
			t.met.AcceptBackoff()
			t.mu.Lock()
			t.evictLocked()
			t.mu.Unlock()
			delay = nextBackoff(delay)
			if !t.sleep(delay, t.done) {
				return nil, net.ErrClosed
			}
			continue
		}
		delay = 0
		if tc := t.admit(c); tc != nil {
			return tc, nil
		}
	}
}

// admit registers c, or refuses it (nil) when a limit is reached.
func (t *connTracker) admit(c net.Conn) *trackedConn {
	tc := &trackedConn{Conn: c, t: t}
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closing {
		// Accepted while shutting down: it can carry no request.
		tc.state.Store(connClosed)
		c.Close()
		return tc
	}
	if t.lim.perIP > 0 {
		tc.ip = remoteIP(c)
		if t.perIP[tc.ip] >= t.lim.perIP {
			t.met.ConnRefused(metrics.RefusedPerIP)
			refuse(c, msgPerIP)
			return nil
		}
	}
	if t.lim.max > 0 && t.count >= t.lim.max && !t.evictLocked() {
		t.met.ConnRefused(metrics.RefusedLimit)
		refuse(c, msgTooMany)
		return nil
	}
	if t.conns == nil {
		t.conns = make(map[*trackedConn]struct{})
	}
	t.conns[tc] = struct{}{}
	if t.lim.perIP > 0 {
		if t.perIP == nil {
			t.perIP = make(map[string]int)
		}
		t.perIP[tc.ip]++
	}
	tc.counted = true
	t.count++
	tc.prev = t.newest
	if t.newest != nil {
		t.newest.next = tc
	} else {
		t.oldest = tc
	}
	t.newest = tc
	return tc
}

// release stops counting tc against the limits (once).
func (t *connTracker) releaseLocked(tc *trackedConn) {
	if !tc.counted {
		return
	}
	tc.counted = false
	t.count--
	if tc.prev != nil {
		tc.prev.next = tc.next
	} else {
		t.oldest = tc.next
	}
	if tc.next != nil {
		tc.next.prev = tc.prev
	} else {
		t.newest = tc.prev
	}
	tc.prev, tc.next = nil, nil
	if t.lim.perIP > 0 {
		if n := t.perIP[tc.ip] - 1; n > 0 {
			t.perIP[tc.ip] = n
		} else {
			delete(t.perIP, tc.ip)
		}
	}
}

// evictLocked closes the oldest connection without a request in progress
// (one that never sent a byte, or a keep-alive one between two requests)
// among the evictScan oldest, and reports whether it found one.
func (t *connTracker) evictLocked() bool {
	n := 0
	for tc := t.oldest; tc != nil && n < evictScan; tc, n = tc.next, n+1 {
		if tc.state.CompareAndSwap(connIdle, connClosed) {
			t.releaseLocked(tc)
			tc.Conn.Close()
			t.met.ConnRefused(metrics.RefusedEvicted)
			return true
		}
	}
	return false
}

// wrap returns ln with its connections tracked and limited.
func (t *connTracker) wrap(ln net.Listener) net.Listener {
	t.mu.Lock()
	if t.done == nil {
		t.done = make(chan struct{})
	}
	if t.sleep == nil {
		t.sleep = sleepOrDone
	}
	t.mu.Unlock()
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
		t.releaseLocked(tc)
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
	if !t.closing && t.done != nil {
		close(t.done)
	}
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

// open returns the number of open connections (those counted against the
// cap; one closed by an eviction no longer counts) and how many of them are
// busy.
func (t *connTracker) open() (all, busy int) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for tc := range t.conns {
		switch tc.state.Load() {
		case connClosed:
			// Evicted or refused: closed, its goroutine not done yet.
			continue
		case connBusy:
			busy++
		}
		all++
	}
	return all, busy
}
