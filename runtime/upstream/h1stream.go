package upstream

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"sync"
	"time"

	"github.com/valyala/fasthttp"
)

// Streams go over the same pooled HTTP/1.1 connections as non-stream calls
// (h1.go): the goroutine that relays the stream reads the upstream socket
// itself, through h1Body, so a stream costs no goroutine of its own and no
// handoff per event. Its timeouts are socket deadlines (no timer goroutine,
// no timer per read): the request end, and before every read the read
// timeout, whichever comes first. Cancellation sets a past deadline
// (context.AfterFunc), as in doH1.

// h1Body is the body of a streamed answer: content-length, chunked, or
// delimited by the close of the connection. It reads the connection's
// buffered reader directly.
type h1Body struct {
	c    *Client
	conn *h1Conn
	key  string // pool key
	stop func() bool
	end  time.Time // the request timeout
	hdr  fasthttp.ResponseHeader

	chunked  bool
	untilEOF bool  // no length: the body ends when the upstream closes
	left     int64 // bytes left of the current chunk or of the content length
	crlf     bool  // a chunk's CRLF is still to be read
	last     bool  // the last chunk's size line was read; its trailer is still to be read
	eof      bool  // read to its end: the connection can be reused
	broken   bool  // the connection cannot be reused
}

// h1Bodies pools h1Body values (their fasthttp header keeps its buffers).
var h1Bodies = sync.Pool{New: func() any { return new(h1Body) }}

// writers pools the bufio.Writer a request is written through: a
// connection holds none while it waits for an answer.
var writers = sync.Pool{New: func() any { return bufio.NewWriterSize(nil, 4<<10) }}

// errChunk is a malformed chunked body.
var errChunk = errors.New("malformed chunked encoding in the upstream answer")

// Read reads the body. A body cut before its announced end gives
// io.ErrUnexpectedEOF.
func (b *h1Body) Read(p []byte) (int, error) {
	if b.eof {
		return 0, io.EOF
	}
	if b.broken {
		return 0, errors.New("upstream stream read after a failure")
	}
	if len(p) == 0 {
		return 0, nil
	}
	br := b.conn.br
	if !b.chunked {
		if b.untilEOF {
			n, err := br.Read(p)
			if err == io.EOF {
				b.eof, b.broken = true, true // the connection is closed
			}
			return n, b.failed(err)
		}
		if b.left == 0 {
			b.eof = true
			return 0, io.EOF
		}
		if int64(len(p)) > b.left {
			p = p[:b.left]
		}
		n, err := br.Read(p)
		b.left -= int64(n)
		if err == io.EOF && b.left > 0 {
			err = io.ErrUnexpectedEOF
		}
		if b.left == 0 && err == nil {
			b.eof = true
		}
		return n, b.failed(err)
	}
	if b.last {
		if err := b.trailer(); err != nil {
			return 0, b.failed(err)
		}
		b.last, b.eof = false, true
		return 0, io.EOF
	}
	// Chunked: take every chunk already received, so that the events an
	// upstream sent one chunk each but that arrived together are read (and
	// relayed) together. Once some data is in p, never wait for more.
	n := 0
	for n < len(p) {
		if b.crlf {
			if n > 0 && br.Buffered() < 2 {
				break
			}
			if err := b.readCRLF(); err != nil {
				return n, b.failed(err)
			}
			b.crlf = false
		}
		if b.left == 0 {
			if n > 0 && !lineBuffered(br) {
				break
			}
			size, err := b.chunkSize()
			if err != nil {
				return n, b.failed(err)
			}
			if size == 0 {
				if n > 0 && !trailerBuffered(br) {
					b.last = true
					break
				}
				if err := b.trailer(); err != nil {
					return n, b.failed(err)
				}
				b.eof = true
				if n > 0 {
					return n, nil
				}
				return 0, io.EOF
			}
			b.left = size
		}
		m := int(min(int64(len(p)-n), b.left))
		if n > 0 {
			if m = min(m, br.Buffered()); m == 0 {
				break
			}
		}
		k, err := br.Read(p[n : n+m])
		n += k
		b.left -= int64(k)
		if b.left == 0 {
			b.crlf = true
		}
		if err != nil {
			if err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			return n, b.failed(err)
		}
	}
	return n, nil
}

// lineBuffered reports whether br holds a complete line.
func lineBuffered(br *bufio.Reader) bool {
	b, _ := br.Peek(br.Buffered())
	return bytes.IndexByte(b, '\n') >= 0
}

// trailerBuffered reports whether br holds the whole trailer section (up to
// its blank line), so that reading it cannot block.
func trailerBuffered(br *bufio.Reader) bool {
	b, _ := br.Peek(br.Buffered())
	if len(b) >= 2 && b[0] == '\r' && b[1] == '\n' || len(b) >= 1 && b[0] == '\n' {
		return true
	}
	return bytes.Contains(b, []byte("\n\r\n")) || bytes.Contains(b, []byte("\n\n"))
}

func (b *h1Body) failed(err error) error {
	if err != nil && err != io.EOF {
		b.broken = true
	}
	return err
}

func (b *h1Body) readCRLF() error {
	c, err := b.conn.br.ReadByte()
	if err == nil && c == '\r' {
		c, err = b.conn.br.ReadByte()
	}
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	if err == nil && c != '\n' {
		return errChunk
	}
	return err
}

// chunkSize reads a chunk-size line (extensions ignored).
func (b *h1Body) chunkSize() (int64, error) {
	line, err := b.conn.br.ReadSlice('\n')
	if err == io.EOF {
		return 0, io.ErrUnexpectedEOF
	}
	if err != nil {
		if err == bufio.ErrBufferFull {
			return 0, errChunk
		}
		return 0, err
	}
	var size int64
	digits := 0
	for _, c := range line {
		var d byte
		switch {
		case c >= '0' && c <= '9':
			d = c - '0'
		case c >= 'a' && c <= 'f':
			d = c - 'a' + 10
		case c >= 'A' && c <= 'F':
			d = c - 'A' + 10
		default:
			if digits == 0 || (c != ';' && c != '\r' && c != '\n' && c != ' ' && c != '\t') {
				return 0, errChunk
			}
			return size, nil
		}
		if digits++; digits > 15 {
			return 0, errChunk
		}
		size = size<<4 | int64(d)
	}
	return 0, errChunk
}

// trailer reads the trailer section after the last chunk, up to the blank
// line.
func (b *h1Body) trailer() error {
	for {
		line, err := b.conn.br.ReadSlice('\n')
		if err == io.EOF {
			return io.ErrUnexpectedEOF
		}
		if err != nil {
			if err == bufio.ErrBufferFull {
				return errChunk
			}
			return err
		}
		if len(line) <= 2 && (len(line) == 1 || line[0] == '\r') {
			return nil
		}
	}
}

// Close gives the connection back to the pool when the body was read to its
// end, else closes it.
func (b *h1Body) Close() error {
	if b.conn == nil {
		return nil
	}
	canceled := !b.stop()
	b.c.h1.put(b.key, b.conn, b.eof && !b.broken && !canceled && !b.hdr.ConnectionClose())
	b.conn, b.stop, b.c = nil, nil, nil
	b.chunked, b.untilEOF, b.left, b.crlf, b.last, b.eof, b.broken = false, false, 0, false, false, false, false
	b.hdr.Reset()
	h1Bodies.Put(b)
	return nil
}

// deadline sets the read deadline of the next read: d from now, or the
// request's end when that comes first. It returns the cause to report when
// the deadline passes.
func (b *h1Body) deadline(d time.Duration) error {
	by, cause := callDeadline(time.Now(), d, b.end)
	_ = b.conn.nc.SetReadDeadline(by)
	return cause
}

// streamH1 sends a stream call to uri over a pooled HTTP/1.1 connection and
// returns once the answer's headers are read. The read timeout bounds the
// wait for the headers and every later read, the request timeout the whole
// call; ctx cancels it.
func (c *Client) streamH1(ctx context.Context, ep *Endpoint, uri string, body []byte, clientHeader func(string) string) (*Response, error) {
	t := ep.target
	start := time.Now()
	end := start.Add(c.cfg.RequestTimeout)
	by, cause := callDeadline(start, c.cfg.ReadTimeout, end)
	if err := ctx.Err(); err != nil {
		return nil, transportError(ep, causeOf(ctx, err), false)
	}

	req := fasthttp.AcquireRequest()
	defer fasthttp.ReleaseRequest(req)
	c.buildH1(req, ep, t, uri, body, c.acceptSSE, clientHeader)

	b := h1Bodies.Get().(*h1Body)
	for try := 0; ; try++ {
		conn, reused, stop, err := c.sendH1(ctx, t, try, by, cause, req)
		if conn == nil {
			h1Bodies.Put(b)
			return nil, transportError(ep, err, false)
		}
		if err == nil {
			err = b.hdr.Read(conn.br)
		}
		if err == nil {
			b.c, b.conn, b.key, b.stop, b.end = c, conn, t.key, stop, end
			break
		}
		canceled := !stop()
		c.h1.put(t.key, conn, false)
		b.hdr.Reset()
		if retryFresh(err, reused, canceled, try) {
			c.h1.dropIdle(t.key)
			continue
		}
		h1Bodies.Put(b)
		return nil, transportError(ep, callError(ctx, err, canceled, cause), false)
	}
	// Writes are done: from here on only reads have a deadline.
	_ = b.conn.nc.SetWriteDeadline(time.Time{})
	switch cl := b.hdr.ContentLength(); {
	case cl == -1:
		b.chunked = true
	case cl < 0:
		b.untilEOF = true
	default:
		b.left = int64(cl)
	}
	status := b.hdr.StatusCode()
	resp := &Response{Status: status, c: c, ep: ep, body: b, h1: b, ctx: ctx}
	if status >= 200 && status < 300 {
		return resp, nil
	}
	eb, _ := resp.readLimited(nil, int64(c.cfg.MaxErrorBody))
	h := h1RespHeader(&b.hdr)
	resp.Close()
	return nil, statusError(ep, status, h, eb)
}

// buildH1 fills the request of a call to uri.
func (c *Client) buildH1(req *fasthttp.Request, ep *Endpoint, t *target, uri string, body []byte, accept []string, clientHeader func(string) string) {
	req.Header.DisableNormalizing()
	req.Header.SetMethod(http.MethodPost)
	req.Header.SetRequestURI(uri)
	req.Header.SetHost(t.host)
	c.setHeaders((*fastHeader)(&req.Header), ep, true, accept, clientHeader)
	req.SetBodyRaw(body)
}

// writeH1 writes req on conn through a pooled buffered writer.
func writeH1(req *fasthttp.Request, conn *h1Conn) error {
	bw := writers.Get().(*bufio.Writer)
	bw.Reset(conn.nc)
	err := req.Write(bw)
	if err == nil {
		err = bw.Flush()
	}
	bw.Reset(nil)
	writers.Put(bw)
	return err
}

// h1Conn returns a pooled connection to t (only on the first try) or dials
// one by the deadline by.
func (c *Client) h1Conn(ctx context.Context, t *target, try int, by time.Time, cause error) (*h1Conn, bool, error) {
	if try == 0 {
		if conn := c.h1.get(t.key); conn != nil {
			return conn, true, nil
		}
	}
	dctx, cancel := context.WithDeadline(ctx, by)
	conn, err := c.dialH1(dctx, t)
	cancel()
	if err != nil {
		if ctx.Err() == nil && time.Now().After(by) {
			err = cause
		}
		return nil, false, causeOf(ctx, err)
	}
	c.h1.dialed(t.key)
	return conn, false, nil
}

// callDeadline is the deadline of a wait that may last d from now within a
// call that must end by end, and the timeout error that names whichever of
// the two comes first (an interface from a constant: no allocation).
func callDeadline(now time.Time, d time.Duration, end time.Time) (time.Time, error) {
	if by := now.Add(d); by.Before(end) || by.Equal(end) {
		return by, errReadTimeout
	}
	return end, errRequestTimeout
}

// sendH1 writes req to t on a pooled connection (only on the first try) or
// a new one, with the deadline by on the connection and ctx able to
// interrupt it; stop ends that (it reports false when ctx already did).
// On a failed write the connection is still the caller's to put back.
func (c *Client) sendH1(ctx context.Context, t *target, try int, by time.Time, cause error, req *fasthttp.Request) (conn *h1Conn, reused bool, stop func() bool, err error) {
	conn, reused, err = c.h1Conn(ctx, t, try, by, cause)
	if err != nil {
		return nil, false, nil, err
	}
	stop = context.AfterFunc(ctx, conn.interrupt)
	err = conn.nc.SetDeadline(by)
	if err == nil {
		err = writeH1(req, conn)
	}
	return conn, reused, stop, err
}

// retryFresh reports a first try on a reused connection that failed
// because the upstream had closed it (or restarted: then every idle one to
// it is dead): the call is tried once more on a freshly dialled one before
// the failure counts.
func retryFresh(err error, reused, canceled bool, try int) bool {
	return reused && !canceled && try == 0 && staleConn(err)
}

// callError is the error of a failed exchange: the cancellation's cause,
// the timeout that passed, or err.
func callError(ctx context.Context, err error, canceled bool, cause error) error {
	switch {
	case canceled:
		return causeOf(ctx, context.Canceled)
	case isTimeout(err):
		return cause
	}
	return err
}

// h1RespHeader copies an answer's headers (for a failed call's Retry-After).
func h1RespHeader(rh *fasthttp.ResponseHeader) http.Header {
	h := make(http.Header, 8)
	rh.VisitAll(func(k, v []byte) {
		h.Add(string(k), string(v))
	})
	return h
}
