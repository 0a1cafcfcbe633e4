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

// h1Pool keeps idle connections per scheme://host:port.
type h1Pool struct {
	mu   sync.Mutex
	idle map[string][]*h1Conn
	max  int // idle connections kept per host
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

func (p *h1Pool) get(key string) *h1Conn {
	p.mu.Lock()
	defer p.mu.Unlock()
	l := p.idle[key]
	now := time.Now()
	for len(l) > 0 {
		c := l[len(l)-1]
		l[len(l)-1] = nil
		l = l[:len(l)-1]
		if now.Sub(c.used) < h1IdleTimeout {
			p.idle[key] = l
			return c
		}
		c.nc.Close()
	}
	if p.idle != nil {
		p.idle[key] = l
	}
	return nil
}

func (p *h1Pool) put(key string, c *h1Conn) {
	c.used = time.Now()
	p.mu.Lock()
	if len(p.idle[key]) >= p.max {
		p.mu.Unlock()
		c.nc.Close()
		return
	}
	if p.idle == nil {
		p.idle = make(map[string][]*h1Conn)
	}
	p.idle[key] = append(p.idle[key], c)
	p.mu.Unlock()
}

// dropIdle closes the idle connections to one host.
func (p *h1Pool) dropIdle(key string) {
	p.mu.Lock()
	l := p.idle[key]
	delete(p.idle, key)
	p.mu.Unlock()
	for _, c := range l {
		c.nc.Close()
	}
}

// closeIdle closes the idle connections; connections in use close when
// their call ends.
func (p *h1Pool) closeIdle() {
	p.mu.Lock()
	idle := p.idle
	p.idle = nil
	p.mu.Unlock()
	for _, l := range idle {
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
	by := start.Add(c.cfg.ReadTimeout)
	var cause error = errReadTimeout // an interface from a constant: no allocation
	if end := start.Add(c.cfg.RequestTimeout); end.Before(by) {
		by, cause = end, errRequestTimeout
	}
	if err := ctx.Err(); err != nil {
		return nil, transportError(ep, causeOf(ctx, err), false)
	}

	req := fasthttp.AcquireRequest()
	defer fasthttp.ReleaseRequest(req)
	c.buildH1(req, ep, t, uri, body, c.acceptJSON, clientHeader)

	resp := fasthttp.AcquireResponse()
	for try := 0; ; try++ {
		conn, reused, err := c.h1Conn(ctx, t, try, by, cause)
		if err != nil {
			fasthttp.ReleaseResponse(resp)
			return nil, transportError(ep, err, false)
		}
		stop := context.AfterFunc(ctx, conn.interrupt)
		err = conn.nc.SetDeadline(by)
		if err == nil {
			err = writeH1(req, conn)
		}
		if err == nil {
			err = resp.ReadLimitBody(conn.br, int(min(c.cfg.MaxResponseSize, 1<<40)))
		}
		canceled := !stop()
		if err == nil && !resp.ConnectionClose() && !canceled {
			c.h1.put(t.key, conn)
		} else {
			conn.nc.Close()
		}
		if err != nil {
			if reused && !canceled && try == 0 && staleConn(err) {
				// The upstream closed the idle connection (or restarted:
				// then every idle one to it is dead): once more on a
				// freshly dialled one, before the failure counts.
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
			switch {
			case canceled:
				err = causeOf(ctx, context.Canceled)
			case isTimeout(err):
				err = cause
			}
			return nil, transportError(ep, err, false)
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
