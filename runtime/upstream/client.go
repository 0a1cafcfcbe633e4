package upstream

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/textproto"
	"slices"
	"strconv"
	"sync"
	"time"

	"smartrouter/format"
	"smartrouter/runtime/body"
	"smartrouter/runtime/outcome"
)

// Defaults of Config's zero fields (RequestTimeout: format.DefaultRequestTimeout).
const (
	DefaultConnectTimeout   = 10 * time.Second
	DefaultReadTimeout      = 60 * time.Second
	DefaultIdleConnsPerHost = 256
	DefaultMaxErrorBody     = 64 << 10
	DefaultMaxResponse      = 64 << 20
	DefaultMaxLine          = 16 << 20
	DefaultReferer          = "http://localhost:7601"
	DefaultTitle            = "smartrouter"
	DefaultUserAgent        = "smartrouter"
)

// DefaultForwardHeaders returns the client headers copied upstream when
// Config.ForwardHeaders is nil.
func DefaultForwardHeaders() []string { return []string{"OpenAI-Beta"} }

// Config tunes a Client. Zero fields take the defaults above.
type Config struct {
	ConnectTimeout time.Duration // dial and TLS handshake
	// ReadTimeout bounds the wait for the response headers and every wait
	// for more of the body (the gap between two stream chunks).
	ReadTimeout time.Duration
	// RequestTimeout bounds a whole attempt, a streamed body included.
	RequestTimeout time.Duration

	// MaxIdleConnsPerHost is the idle keep-alive connections kept per
	// upstream host: net/http's cap, and the floor of the pooled HTTP/1.1
	// path, which keeps up to the recent peak in use when that is higher.
	MaxIdleConnsPerHost int
	MaxErrorBody        int   // bytes of an error answer kept for classification and Error.Body
	MaxResponseSize     int64 // limit of Response.ReadAll
	MaxLine             int   // longest SSE line a Stream accepts

	// ForwardHeaders is the allow-list of client headers copied upstream;
	// nil means DefaultForwardHeaders, an empty non-nil list forwards none.
	// Credentials and the headers the client sets itself (Authorization,
	// Cookie, Content-Type, Host, ...) are never copied, even when listed.
	ForwardHeaders []string
	Referer        string // HTTP-Referer sent to OpenRouter
	Title          string // X-Title sent to OpenRouter
	UserAgent      string
}

// ConfigFromSettings takes the timeouts of a snapshot's settings.
func ConfigFromSettings(s *format.Settings) Config {
	ms := func(v uint32) time.Duration { return time.Duration(v) * time.Millisecond }
	return Config{
		ConnectTimeout: ms(s.ConnectTimeoutMs),
		ReadTimeout:    ms(s.ReadTimeoutMs),
		RequestTimeout: ms(s.RequestTimeoutMs),
	}
}

func (c *Config) fill() {
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&c.ConnectTimeout, DefaultConnectTimeout)
	def(&c.ReadTimeout, DefaultReadTimeout)
	def(&c.RequestTimeout, format.DefaultRequestTimeout)
	if c.MaxIdleConnsPerHost <= 0 {
		c.MaxIdleConnsPerHost = DefaultIdleConnsPerHost
	}
	if c.MaxErrorBody <= 0 {
		c.MaxErrorBody = DefaultMaxErrorBody
	}
	if c.MaxResponseSize <= 0 {
		c.MaxResponseSize = DefaultMaxResponse
	}
	if c.MaxLine <= 0 {
		c.MaxLine = DefaultMaxLine
	}
	if c.ForwardHeaders == nil {
		c.ForwardHeaders = DefaultForwardHeaders()
	}
	if c.Referer == "" {
		c.Referer = DefaultReferer
	}
	if c.Title == "" {
		c.Title = DefaultTitle
	}
	if c.UserAgent == "" {
		c.UserAgent = DefaultUserAgent
	}
}

// Client calls provider channels over pooled keep-alive connections. It is
// safe for concurrent use; make one per process (or per snapshot settings).
type Client struct {
	cfg Config
	tr  *http.Transport
	fwd []string // canonical names

	// Shared read-only header values.
	ctJSON, acceptJSON, acceptSSE, ua, referer, title []string
	lines                                             sync.Pool // *bufio.Reader for streams
	dialer                                            *net.Dialer
	h1                                                h1Pool // non-stream calls, see h1.go
}

// New returns a Client.
func New(cfg Config) *Client {
	cfg.fill()
	dialer := &net.Dialer{Timeout: cfg.ConnectTimeout, KeepAlive: 30 * time.Second}
	tr := &http.Transport{
		Proxy:                 http.ProxyFromEnvironment,
		DialContext:           dialer.DialContext,
		ForceAttemptHTTP2:     true,
		TLSHandshakeTimeout:   cfg.ConnectTimeout,
		ResponseHeaderTimeout: cfg.ReadTimeout,
		ExpectContinueTimeout: time.Second,
		MaxIdleConns:          0, // no global limit; per host below
		MaxIdleConnsPerHost:   cfg.MaxIdleConnsPerHost,
		IdleConnTimeout:       90 * time.Second,
		DisableCompression:    true, // relay bytes as sent; streams flush promptly
		ReadBufferSize:        32 << 10,
		WriteBufferSize:       16 << 10,
	}
	c := &Client{
		cfg:        cfg,
		tr:         tr,
		ctJSON:     []string{"application/json"},
		acceptJSON: []string{"application/json"},
		acceptSSE:  []string{"text/event-stream"},
		ua:         []string{cfg.UserAgent},
		referer:    []string{cfg.Referer},
		title:      []string{cfg.Title},
		dialer:     dialer,
		h1:         h1Pool{max: cfg.MaxIdleConnsPerHost, maxTotal: idleBudget(cfg.MaxIdleConnsPerHost)},
	}
	for _, h := range cfg.ForwardHeaders {
		h = textproto.CanonicalMIMEHeaderKey(h)
		if !neverForwarded(h) {
			c.fwd = append(c.fwd, h)
		}
	}
	return c
}

// neverForwarded reports headers an allow-list cannot copy: credentials of
// the client, and what the client itself sets for the upstream request.
func neverForwarded(canonical string) bool {
	switch canonical {
	case "Authorization", "X-Api-Key", "Api-Key", "X-Goog-Api-Key", "Cookie", "Proxy-Authorization", "Host",
		"Content-Length", "Content-Type", "Transfer-Encoding", "Connection", "Accept",
		"Accept-Encoding", "User-Agent", "Http-Referer", "X-Title", "Te", "Upgrade":
		return true
	}
	return false
}

// Close drops the idle pooled connections.
func (c *Client) Close() {
	c.tr.CloseIdleConnections()
	c.h1.closeIdle()
}

// Request is one chat completion attempt.
type Request struct {
	Endpoint *Endpoint
	// Body is the JSON to send, already passed through body.RewriteModel
	// (and body.OpenAIRequestUsage for streams). It is not modified.
	Body   []byte
	Stream bool // ask for text/event-stream
	Op     Op   // which URL of the endpoint: chat completions (the zero value), embeddings, completions
	// ClientHeader returns a header of the client's request by name (case
	// does not matter), or "". Only the allow-listed headers are asked for.
	// May be nil.
	ClientHeader func(name string) string
}

// Do sends one attempt. On a 2xx answer it returns a Response whose body the
// caller reads (ReadAll, or Stream for SSE) and must Close. Any other outcome
// returns an *Error carrying the outcome.Outcome for routing; the connection is already
// released then. ctx is the client's request context: its cancellation ends
// the attempt as Canceled. Timeouts come from Config.
func (c *Client) Do(ctx context.Context, r *Request) (*Response, error) {
	ep := r.Endpoint
	if ep == nil {
		return nil, errors.New("upstream request without an endpoint; build one with NewEndpoint")
	}
	if ep.target != nil && ep.target.direct {
		if r.Stream {
			return c.streamH1(ctx, ep, ep.uris[r.Op%opCount], r.Body, r.ClientHeader)
		}
		return c.doH1(ctx, ep, ep.uris[r.Op%opCount], r.Body, r.ClientHeader)
	}
	method, accept := http.MethodPost, c.acceptJSON
	if r.Stream {
		accept = c.acceptSSE
	}
	return c.send(ctx, ep, method, ep.url(r.Op), r.Body, accept, r.ClientHeader)
}

// Probe checks a channel with GET /models (never a paid call): nil on 2xx,
// else an *Error whose Outcome tells whether the key is still refused.
func (c *Client) Probe(ctx context.Context, ep *Endpoint) error {
	resp, err := c.send(ctx, ep, http.MethodGet, ep.ModelsURL, nil, c.acceptJSON, nil)
	if err != nil {
		return err
	}
	_, err = resp.discard(c.cfg.MaxResponseSize, c.cfg.ReadTimeout)
	resp.Close()
	return err
}

func (c *Client) send(ctx context.Context, ep *Endpoint, method, url string, body []byte,
	accept []string, clientHeader func(string) string) (*Response, error) {
	ctx, cancel := context.WithCancelCause(ctx)
	overall := time.AfterFunc(c.cfg.RequestTimeout, func() { cancel(errRequestTimeout) })
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, url, rd)
	if err != nil { // only a malformed URL, which NewEndpoint rules out
		overall.Stop()
		cancel(nil)
		return nil, &Error{Outcome: outcome.Of(outcome.Other),
			Host: ep.host, Message: "cannot build the request", err: err}
	}
	c.setHeaders(netHeader(req.Header), ep, body != nil, accept, clientHeader)
	res, err := c.tr.RoundTrip(req)
	if err != nil {
		overall.Stop()
		err = causeOf(ctx, err)
		cancel(nil)
		return nil, transportError(ep, err, false)
	}
	resp := &Response{Status: res.StatusCode, Header: res.Header, c: c, ep: ep, body: res.Body,
		ctx: ctx, cancel: cancel, overall: overall}
	if res.StatusCode >= 200 && res.StatusCode < 300 {
		return resp, nil
	}
	// A failed read of the error body still leaves the status to judge by.
	b, _ := resp.readLimited(nil, int64(c.cfg.MaxErrorBody))
	resp.Close()
	return nil, statusError(ep, res.StatusCode, res.Header, b)
}

// headerSink receives the request headers setHeaders builds: the net/http
// header map of send, or the fasthttp request header of doH1.
type headerSink interface {
	// set sets a header to values shared by every request; the sink
	// must not modify them.
	set(name string, shared []string)
	// setOne sets a header to one value taken from the client's request.
	setOne(name, v string)
}

type netHeader http.Header

func (h netHeader) set(name string, shared []string) { h[name] = shared }
func (h netHeader) setOne(name, v string)            { h[name] = []string{v} }

// setHeaders builds the headers of one upstream request, for both
// transports: Content-Type when there is a body, Accept, User-Agent, the
// endpoint's auth header, OpenRouter's HTTP-Referer and X-Title, and the
// allow-listed client headers (Config.ForwardHeaders) with a valid value.
func (c *Client) setHeaders(h headerSink, ep *Endpoint, hasBody bool, accept []string, clientHeader func(string) string) {
	if hasBody {
		h.set("Content-Type", c.ctJSON)
	}
	h.set("Accept", accept)
	h.set("User-Agent", c.ua)
	if ep.authName != "" {
		h.set(ep.authName, ep.authValue)
	}
	if ep.openRouter {
		h.set("HTTP-Referer", c.referer)
		h.set("X-Title", c.title)
	}
	if ep.Anthropic {
		v := ""
		if clientHeader != nil {
			v = clientHeader("anthropic-version")
		}
		if v == "" || !validHeaderValue(v) {
			h.set("Anthropic-Version", anthropicVersion)
		} else {
			h.setOne("Anthropic-Version", v)
		}
		if clientHeader != nil {
			if v := clientHeader("anthropic-beta"); v != "" && validHeaderValue(v) {
				h.setOne("Anthropic-Beta", v)
			}
		}
	}
	if clientHeader != nil {
		for _, name := range c.fwd {
			if v := clientHeader(name); v != "" && validHeaderValue(v) {
				h.setOne(name, v)
			}
		}
	}
}

// anthropicVersion is DefaultAnthropicVersion as a shared header value.
var anthropicVersion = []string{DefaultAnthropicVersion}

// causeOf prefers the client's own timer causes over the bare "context
// canceled" the transport reports.
func causeOf(ctx context.Context, err error) error {
	if cause := context.Cause(ctx); cause != nil {
		var te timeoutError
		if errors.As(cause, &te) || errors.Is(cause, context.Canceled) || errors.Is(cause, context.DeadlineExceeded) {
			return cause
		}
	}
	return err
}

// drainTimeout bounds the wait for the end of a body after [DONE].
const drainTimeout = 250 * time.Millisecond

// Response is a 2xx answer whose body has not been read yet.
type Response struct {
	Status int
	// Header holds the answer's headers when the call went through
	// net/http (a proxy from the environment applies); it is nil for
	// answers over the pooled HTTP/1.1 path (h1.go, h1stream.go), whose
	// headers nothing reads.
	Header http.Header

	c       *Client
	ep      *Endpoint
	body    io.ReadCloser
	ctx     context.Context
	cancel  context.CancelCauseFunc
	overall *time.Timer
	idle    *time.Timer
	stream  *Stream
	done    bool // the stream saw [DONE]: drain before closing to keep the connection
	closed  bool
	mem     bool    // body is already in memory (doH1): no timers, no context
	h1      *h1Body // a stream over a pooled HTTP/1.1 connection: socket deadlines, no timers
	tooBig  bool    // doH1 found the body over MaxResponseSize
}

// Read reads the raw body, bounded by the read timeout between calls. Errors
// other than io.EOF are *Error values.
func (r *Response) Read(p []byte) (int, error) { return r.readWithin(p, r.c.cfg.ReadTimeout) }

func (r *Response) readWithin(p []byte, d time.Duration) (int, error) {
	if r.closed {
		return 0, errors.New("upstream response read after Close")
	}
	if r.mem {
		return r.body.Read(p)
	}
	if r.h1 != nil {
		return r.readH1(p, d)
	}
	if r.idle == nil {
		r.idle = time.AfterFunc(d, r.readTimedOut)
	} else {
		r.idle.Reset(d)
	}
	n, err := r.body.Read(p)
	r.idle.Stop()
	if err != nil && err != io.EOF {
		err = transportError(r.ep, causeOf(r.ctx, err), n > 0)
	}
	return n, err
}

func (r *Response) readTimedOut() { r.cancel(errReadTimeout) }

// readH1 reads a stream of the pooled HTTP/1.1 path: the connection's read
// deadline is d from now (or the request's end), and a cancellation seen
// after setting it wins over the deadline.
func (r *Response) readH1(p []byte, d time.Duration) (int, error) {
	b := r.h1
	if b.conn == nil {
		return 0, errors.New("upstream response read after Close")
	}
	cause := b.deadline(d)
	if err := r.ctx.Err(); err != nil {
		b.broken = true
		return 0, transportError(r.ep, causeOf(r.ctx, context.Canceled), false)
	}
	n, err := b.Read(p)
	if err != nil && err != io.EOF {
		switch {
		case r.ctx.Err() != nil:
			err = causeOf(r.ctx, context.Canceled)
		case isTimeout(err):
			err = cause
		}
		err = transportError(r.ep, err, n > 0)
	}
	return n, err
}

// ReadAll appends the whole body to dst (a non-stream answer). A body over
// Config.MaxResponseSize, a transport failure, or a JSON answer carrying an
// "error" object gives an *Error.
func (r *Response) ReadAll(dst []byte) ([]byte, error) {
	start := len(dst)
	b, err := r.readLimited(dst, r.c.cfg.MaxResponseSize)
	if err != nil {
		return b, err
	}
	if r.tooBig || int64(len(b)-start) >= r.c.cfg.MaxResponseSize {
		return b, &Error{Outcome: outcome.Of(outcome.Server), Status: r.Status,
			Host: r.ep.host, Message: fmt.Sprintf("answer larger than %d bytes; raise the response size limit", r.c.cfg.MaxResponseSize)}
	}
	if !looksLikeObject(b[start:]) {
		// An HTML page of a proxy, or bytes that are not an answer: the
		// client could not use it, and the upstream is not serving.
		return b, &Error{Outcome: outcome.Of(outcome.Server), Status: r.Status, Host: r.ep.host,
			Message: "the upstream answered " + strconv.Itoa(r.Status) + " with a body that is not a JSON object"}
	}
	if ans := body.ScanOpenAIResponse(b[start:]); ans.Error != nil {
		return b, inBodyError(r.ep, ans.Error, false)
	}
	return b, nil
}

// looksLikeObject reports whether b starts with '{' and ends with '}'
// (spaces aside): a cheap check that a 2xx answer is JSON, not an HTML page
// or garbage. The scanners judge the rest.
func looksLikeObject(b []byte) bool {
	i, j := 0, len(b)-1
	for i <= j && (b[i] == ' ' || b[i] == '\t' || b[i] == '\r' || b[i] == '\n') {
		i++
	}
	for j > i && (b[j] == ' ' || b[j] == '\t' || b[j] == '\r' || b[j] == '\n') {
		j--
	}
	return j > i && b[i] == '{' && b[j] == '}'
}

// readLimited appends up to limit bytes of the body to dst.
func (r *Response) readLimited(dst []byte, limit int64) ([]byte, error) {
	start := len(dst)
	for int64(len(dst)-start) < limit {
		if cap(dst)-len(dst) < 512 {
			dst = slices.Grow(dst, max(4096, len(dst)-start))
		}
		room := min(int64(cap(dst)-len(dst)), limit-int64(len(dst)-start))
		n, err := r.Read(dst[len(dst) : len(dst)+int(room)])
		dst = dst[:len(dst)+n]
		if err == io.EOF {
			return dst, nil
		}
		if err != nil {
			return dst, err
		}
	}
	return dst, nil
}

// discardBufs are the buffers of discard (a stack array would escape
// through the body's Read).
var discardBufs = sync.Pool{New: func() any { b := make([]byte, 4096); return &b }}

// discard reads and drops up to limit bytes, each read bounded by d.
func (r *Response) discard(limit int64, d time.Duration) (int64, error) {
	bp := discardBufs.Get().(*[]byte)
	defer discardBufs.Put(bp)
	buf := *bp
	var total int64
	for total < limit {
		n, err := r.readWithin(buf, d)
		total += int64(n)
		if err == io.EOF {
			return total, nil
		}
		if err != nil {
			return total, err
		}
	}
	return total, nil
}

// Close releases the connection (back to the pool when the body was read to
// its end) and the timers. It is safe to call more than once.
func (r *Response) Close() error {
	if r.closed {
		return nil
	}
	if r.done {
		// The terminating chunk normally follows [DONE] at once; reading it
		// lets the transport keep the connection alive. An upstream that
		// lingers after [DONE] only costs its connection.
		_, _ = r.discard(64<<10, min(r.c.cfg.ReadTimeout, drainTimeout))
	}
	r.closed = true
	if r.stream != nil {
		r.stream.close()
	}
	if r.overall != nil {
		r.overall.Stop()
	}
	if r.idle != nil {
		r.idle.Stop()
	}
	err := r.body.Close()
	if r.cancel != nil {
		r.cancel(nil)
	}
	return err
}
