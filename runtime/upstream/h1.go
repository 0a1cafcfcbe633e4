package upstream

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"net/http"
	"net/url"
	"sync"
	"syscall"
	"time"

	"github.com/valyala/fasthttp"
)

// Non-stream chat calls go over plain HTTP/1.1 keep-alive connections that
// the calling goroutine writes and reads itself (fasthttp's request writer
// and response parser), instead of net/http's Transport, whose per-connection
// read and write goroutines cost two goroutine handoffs per call. Streams
// and probes keep net/http; so does any URL that a proxy from the
// environment applies to.

// h1Pool keeps idle connections per scheme://host:port. How many it keeps
// follows demand: up to the most connections in use at once to that host
// recently (the peak of the last h1IdleTimeout), and never fewer than the
// configured floor (Config.MaxIdleConnsPerHost). With a fixed cap below the
// requests in flight (1,000 slow answers at once against a cap of 256), most
// connections given back would be closed and as many new ones dialled for
// the next requests; following the peak, a steady load reuses its
// connections. Connections idle longer than h1IdleTimeout are closed, the
// oldest first, and the peak decays to the current use once it is that old,
// so a burst does not hold its connections for long. All hosts together
// keep at most maxTotal idle connections (a quarter of the open-files limit,
// see idleBudget), so that the spare connections to one host never take the
// descriptors that calls to another, or the server's clients, need.
type h1Pool struct {
	mu       sync.Mutex
	hosts    map[string]*h1Host
	max      int              // the floor: idle connections kept per host whatever the demand
	maxTotal int              // idle connections kept over all hosts; 0: no bound
	total    int              // idle connections kept now, over all hosts
	now      func() time.Time // time.Now; a fake clock in tests
}

// idleBudget is the bound on idle connections over all hosts: a quarter of
// the process's open-files limit (a proxied request in flight holds two
// descriptors, which the rest leaves room for), and never below the
// per-host floor; 0 (no bound) when the limit is unknown.
func idleBudget(floor int) int {
	var rl syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil || rl.Cur == 0 || rl.Cur > 1<<30 {
		return 0
	}
	return max(int(rl.Cur/4), floor)
}

// h1Host is the pool of one upstream host.
type h1Host struct {
	idle   []*h1Conn // oldest first; taken from the end (the most recently used)
	inUse  int       // connections taken (or dialled) and not yet given back
	peak   int       // the most in use at once since peakAt
	peakAt time.Time
	sweep  *time.Timer // closes what expired while no call came; runs while idle is not empty
}

type h1Conn struct {
	nc   net.Conn
	br   *bufio.Reader // kept with the connection; requests are written through a pooled writer (writeH1)
	used time.Time
	// interrupt unblocks a read or write at once (a past deadline): what a
	// canceled call's context.AfterFunc runs. Made once per connection.
	interrupt func()
}

// h1ReadBuf is the read buffer of a pooled connection. Every stream in
// flight holds one, so it is small; bigger answers are read in more calls.
const h1ReadBuf = 4 << 10

// h1IdleTimeout is how long an idle connection is kept.
const h1IdleTimeout = 90 * time.Second

// target is where an endpoint's chat URL points, prepared once.
type target struct {
	key      string // scheme://host:port, the pool key
	addr     string // host:port
	hostname string // for TLS
	tls      bool
	host     string // Host header
	direct   bool   // no proxy applies
}

func newTarget(raw string) (*target, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return nil, err
	}
	t := &target{hostname: u.Hostname(), tls: u.Scheme == "https", host: u.Host}
	port := u.Port()
	if port == "" {
		port = "80"
		if t.tls {
			port = "443"
		}
	}
	t.addr = net.JoinHostPort(t.hostname, port)
	t.key = u.Scheme + "://" + t.addr
	// The environment's proxy settings are read once per endpoint, as
	// net/http reads them once per process.
	p, err := http.ProxyFromEnvironment(&http.Request{URL: u})
	t.direct = err == nil && p == nil
	return t, nil
}

func (p *h1Pool) clock() time.Time {
	if p.now != nil {
		return p.now()
	}
	return time.Now()
}

// host returns the pool of key, made on first use. Called with p.mu held.
func (p *h1Pool) host(key string) *h1Host {
	h := p.hosts[key]
	if h == nil {
		if p.hosts == nil {
			p.hosts = make(map[string]*h1Host)
		}
		h = &h1Host{}
		p.hosts[key] = h
	}
	return h
}

// take counts a connection to key as in use and updates the peak. Called
// with p.mu held.
func (h *h1Host) take(now time.Time) {
	h.inUse++
	if h.inUse >= h.peak || now.Sub(h.peakAt) >= h1IdleTimeout {
		h.peak, h.peakAt = h.inUse, now
	}
}

// get returns an idle connection to key, counted as in use, or nil: then
// the caller dials one and reports it with dialed.
func (p *h1Pool) get(key string) *h1Conn {
	p.mu.Lock()
	h := p.host(key)
	now := p.clock()
	var stale []*h1Conn
	if n := len(h.idle); n > 0 && now.Sub(h.idle[n-1].used) >= h1IdleTimeout {
		// The most recently used one is too old: so are all the others.
		stale = h.idle
		h.idle = nil
		p.total -= len(stale)
	}
	var c *h1Conn
	if n := len(h.idle); n > 0 {
		c = h.idle[n-1]
		h.idle[n-1] = nil
		h.idle = h.idle[:n-1]
		p.total--
		h.take(now)
	}
	p.mu.Unlock()
	for _, s := range stale {
		s.nc.Close()
	}
	return c
}

// dialed counts a newly dialled connection to key as in use.
func (p *h1Pool) dialed(key string) {
	p.mu.Lock()
	p.host(key).take(p.clock())
	p.mu.Unlock()
}

// pruneBatch bounds the expired connections one put closes.
const pruneBatch = 8

// put gives back a connection taken from get or dialed: kept idle when it
// can be reused and the host keeps fewer idle connections than its bound,
// else closed. It also closes a few of the idle connections that expired.
func (p *h1Pool) put(key string, c *h1Conn, reusable bool) {
	now := p.clock()
	var expired [pruneBatch]*h1Conn
	n := 0
	p.mu.Lock()
	h := p.host(key)
	if h.inUse > 0 {
		h.inUse--
	}
	if now.Sub(h.peakAt) >= h1IdleTimeout {
		h.peak, h.peakAt = h.inUse, now
	}
	for n < pruneBatch && len(h.idle) > 0 && now.Sub(h.idle[0].used) >= h1IdleTimeout {
		expired[n] = h.idle[0]
		h.idle[0] = nil
		h.idle = h.idle[1:]
		n++
	}
	p.total -= n
	keep := reusable && len(h.idle) < max(p.max, h.peak) && (p.maxTotal <= 0 || p.total < p.maxTotal)
	if keep {
		c.used = now
		h.idle = append(h.idle, c)
		p.total++
		if h.sweep == nil {
			h.sweep = time.AfterFunc(h1IdleTimeout, func() { p.sweepIdle(key) })
		}
	}
	p.mu.Unlock()
	if !keep {
		c.nc.Close()
	}
	for _, e := range expired[:n] {
		e.nc.Close()
	}
}

// sweepIdle closes the idle connections to key that expired and the
// surplus over the host's bound once the peak has decayed, so that the
// connections of a burst followed by silence do not stay open. It runs
// every h1IdleTimeout while the host has idle connections.
func (p *h1Pool) sweepIdle(key string) {
	now := p.clock()
	p.mu.Lock()
	h := p.hosts[key]
	if h == nil {
		p.mu.Unlock()
		return
	}
	if now.Sub(h.peakAt) >= h1IdleTimeout {
		h.peak, h.peakAt = h.inUse, now
	}
	i := 0
	for i < len(h.idle) && now.Sub(h.idle[i].used) >= h1IdleTimeout {
		i++
	}
	// Beyond the expired ones, keep no more than the bound: the oldest go.
	if surplus := len(h.idle) - i - max(p.max, h.peak); surplus > 0 {
		i += surplus
	}
	drop := h.idle[:i:i]
	h.idle = h.idle[i:]
	p.total -= len(drop)
	if len(h.idle) > 0 {
		if h.sweep != nil {
			h.sweep.Reset(h1IdleTimeout)
		}
	} else {
		h.idle = nil
		if h.sweep != nil {
			h.sweep.Stop()
			h.sweep = nil
		}
	}
	p.mu.Unlock()
	for _, c := range drop {
		c.nc.Close()
	}
}

// idleCount is the number of idle connections kept for key.
func (p *h1Pool) idleCount(key string) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	if h := p.hosts[key]; h != nil {
		return len(h.idle)
	}
	return 0
}

// dropIdle closes the idle connections to one host.
func (p *h1Pool) dropIdle(key string) {
	p.mu.Lock()
	var l []*h1Conn
	if h := p.hosts[key]; h != nil {
		l, h.idle = h.idle, nil
		p.total -= len(l)
	}
	p.mu.Unlock()
	for _, c := range l {
		c.nc.Close()
	}
}

// closeIdle closes the idle connections; connections in use close when
// their call ends.
func (p *h1Pool) closeIdle() {
	p.mu.Lock()
	var all [][]*h1Conn
	p.total = 0
	for _, h := range p.hosts {
		all = append(all, h.idle)
		h.idle = nil
		if h.sweep != nil {
			h.sweep.Stop()
			h.sweep = nil
		}
	}
	p.mu.Unlock()
	for _, l := range all {
		for _, c := range l {
			c.nc.Close()
		}
	}
}

func (c *Client) dialH1(ctx context.Context, t *target) (*h1Conn, error) {
	var nc net.Conn
	var err error
	if t.tls {
		d := &tls.Dialer{NetDialer: c.dialer, Config: &tls.Config{ServerName: t.hostname, NextProtos: []string{"http/1.1"}}}
		nc, err = d.DialContext(ctx, "tcp", t.addr)
	} else {
		nc, err = c.dialer.DialContext(ctx, "tcp", t.addr)
	}
	if err != nil {
		return nil, err
	}
	return &h1Conn{nc: nc, br: bufio.NewReaderSize(nc, h1ReadBuf), interrupt: func() { nc.SetDeadline(aLongTimeAgo) }}, nil
}

// aLongTimeAgo is a deadline in the past: it unblocks a read or write at once.
var aLongTimeAgo = time.Unix(1, 0)

// memBody is the body of an answer read whole: it hands the fasthttp response
// back to its pool on Close.
type memBody struct {
	r    bytes.Reader
	resp *fasthttp.Response
}

func (b *memBody) Read(p []byte) (int, error) { return b.r.Read(p) }

func (b *memBody) Close() error {
	if b.resp != nil {
		b.r.Reset(nil)
		fasthttp.ReleaseResponse(b.resp)
		b.resp = nil
	}
	return nil
}

// doH1 sends a non-stream call to uri (a path and query on ep's host) over a
// pooled HTTP/1.1 connection. The read timeout bounds the wait for the whole
// answer (it comes at once when the upstream has finished), the request
// timeout the whole call; ctx cancels it.
func (c *Client) doH1(ctx context.Context, ep *Endpoint, uri string, body []byte, clientHeader func(string) string) (*Response, error) {
	t := ep.target
	start := time.Now()
	by, cause := callDeadline(start, c.cfg.ReadTimeout, start.Add(c.cfg.RequestTimeout))
	if err := ctx.Err(); err != nil {
		return nil, transportError(ep, causeOf(ctx, err), false)
	}

	req := fasthttp.AcquireRequest()
	defer fasthttp.ReleaseRequest(req)
	c.buildH1(req, ep, t, uri, body, c.acceptJSON, clientHeader)

	resp := fasthttp.AcquireResponse()
	for try := 0; ; try++ {
		conn, reused, stop, err := c.sendH1(ctx, t, try, by, cause, req)
		if conn == nil {
			fasthttp.ReleaseResponse(resp)
			return nil, transportError(ep, err, false)
		}
		if err == nil {
			err = resp.ReadLimitBody(conn.br, int(min(c.cfg.MaxResponseSize, 1<<40)))
		}
		canceled := !stop()
		c.h1.put(t.key, conn, err == nil && !resp.ConnectionClose() && !canceled)
		if err != nil {
			if retryFresh(err, reused, canceled, try) {
				c.h1.dropIdle(t.key)
				resp.Reset()
				continue
			}
			if !canceled && errors.Is(err, fasthttp.ErrBodyTooLarge) {
				// As with net/http, an answer over the limit fails in ReadAll.
				status := resp.StatusCode()
				fasthttp.ReleaseResponse(resp)
				if status >= 200 && status < 300 {
					return &Response{Status: status, c: c, ep: ep, body: &memBody{}, mem: true, tooBig: true}, nil
				}
				return nil, statusError(ep, status, nil, nil)
			}
			fasthttp.ReleaseResponse(resp)
			return nil, transportError(ep, callError(ctx, err, canceled, cause), false)
		}
		break
	}

	status := resp.StatusCode()
	if status >= 200 && status < 300 {
		mb := &memBody{resp: resp}
		mb.r.Reset(resp.Body())
		return &Response{Status: status, c: c, ep: ep, body: mb, mem: true}, nil
	}
	b := append([]byte(nil), resp.Body()...)
	if len(b) > c.cfg.MaxErrorBody {
		b = b[:c.cfg.MaxErrorBody]
	}
	h := h1Header(resp)
	fasthttp.ReleaseResponse(resp)
	return nil, statusError(ep, status, h, b)
}

// fastHeader is the headerSink of doH1.
type fastHeader fasthttp.RequestHeader

func (h *fastHeader) set(name string, shared []string) {
	(*fasthttp.RequestHeader)(h).Set(name, shared[0])
}
func (h *fastHeader) setOne(name, v string) { (*fasthttp.RequestHeader)(h).Set(name, v) }

// h1Header copies the answer's headers.
func h1Header(resp *fasthttp.Response) http.Header {
	h := make(http.Header, 8)
	resp.Header.VisitAll(func(k, v []byte) {
		h.Add(string(k), string(v))
	})
	return h
}

func isTimeout(err error) bool {
	var te interface{ Timeout() bool }
	return errors.As(err, &te) && te.Timeout()
}

// staleConn reports a reused connection that the upstream had closed before
// answering anything.
func staleConn(err error) bool {
	var nr fasthttp.ErrNothingRead
	return errors.Is(err, io.EOF) || errors.As(err, &nr) || errors.Is(err, syscall.ECONNRESET) ||
		errors.Is(err, syscall.EPIPE) || errors.Is(err, net.ErrClosed)
}
