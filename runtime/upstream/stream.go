package upstream

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"sync"

	"smartrouter/runtime/body"
	"smartrouter/runtime/outcome"
)

// Chunk is one `data:` payload of an upstream SSE stream.
type Chunk struct {
	// Data is the payload exactly as sent, without "data:" and the one
	// optional space after it. It is valid until the next call to Next.
	Data []byte
	// Done reports the final "[DONE]" payload.
	Done bool
	// Usage is the raw "usage" object of the chunk when it has one (not null).
	Usage []byte
	// UsageOnly reports a chunk with an empty "choices" and a usage object:
	// the one body.OpenAIRequestUsage asked for, dropped by the relay when the client
	// did not ask for it.
	UsageOnly bool
}

// Stream reads an upstream SSE answer one data payload at a time, without
// buffering more than one line. It is not safe for concurrent use; read and
// Close from the goroutine that relays.
type Stream struct {
	r       *bufio.Reader
	ep      *Endpoint
	maxLine int
	long    []byte // a line longer than the bufio buffer
	yielded int
	done    bool
	err     error
	resp    *Response
	pool    *sync.Pool // where r goes back on Close, for streams of a Response
}

// streamBuf is the line buffer of a Stream; longer lines are gathered in
// Stream.long. Every stream in flight holds one, so it is small: the
// reads under it are buffered already (the pooled connection's reader, or
// net/http's), and an SSE line of a chat chunk is a few hundred bytes, so
// 1 KiB costs no extra read for them. It was 4 KiB: 3 KiB more per stream
// in flight.
const streamBuf = 1 << 10

// Stream returns a reader of the response's SSE events. Close the Response
// when done with it.
func (r *Response) Stream() *Stream {
	br, _ := r.c.lines.Get().(*bufio.Reader)
	if br == nil {
		br = bufio.NewReaderSize(r, streamBuf)
	} else {
		br.Reset(r)
	}
	s := &Stream{r: br, ep: r.ep, maxLine: r.c.cfg.MaxLine, resp: r, pool: &r.c.lines}
	r.stream = s
	return s
}

// NewStream reads SSE events from any reader (a recorded answer, a test
// fixture). Lines longer than maxLine bytes (DefaultMaxLine when <= 0) fail.
func NewStream(r io.Reader, maxLine int) *Stream {
	if maxLine <= 0 {
		maxLine = DefaultMaxLine
	}
	return &Stream{r: bufio.NewReaderSize(r, streamBuf), ep: &Endpoint{host: "stream"}, maxLine: maxLine}
}

// Started reports whether Next has returned at least one data payload.
func (s *Stream) Started() bool { return s.yielded > 0 }

// Next returns the next data payload. After the [DONE] chunk, or at the end
// of a stream that delivered data but no [DONE], it returns io.EOF. Failures
// are *Error values: a transport failure (a dropped connection is
// Connection, a stall is Timeout), an "error" object sent inside the stream
// (classified by its code and text), or a stream that ended without any
// data (Server). Error.Started tells whether data had been returned before.
// Comments, event:/id:/retry: lines and blank lines are skipped.
func (s *Stream) Next() (Chunk, error) {
	if s.err != nil {
		return Chunk{}, s.err
	}
	if s.done {
		return Chunk{}, io.EOF
	}
	for {
		line, err := s.readLine()
		if err != nil && (err != io.EOF || len(line) == 0) {
			return Chunk{}, s.fail(err)
		}
		line = bytes.TrimSuffix(line, []byte{'\r'})
		if len(line) == 0 || line[0] == ':' {
			continue
		}
		if bytes.HasPrefix(line, []byte("data:")) {
			p := line[5:]
			if len(p) > 0 && p[0] == ' ' {
				p = p[1:]
			}
			if string(p) == "[DONE]" {
				s.done = true
				if s.resp != nil {
					s.resp.done = true
				}
				return Chunk{Data: p, Done: true}, nil
			}
			var ans body.OpenAIResponse
			if mayHoldUsageOrError(p) {
				ans = body.ScanOpenAIResponse(p)
			}
			if ans.Error != nil {
				s.err = inBodyError(s.ep, ans.Error, s.yielded > 0)
				return Chunk{}, s.err
			}
			s.yielded++
			return Chunk{Data: p, Usage: ans.Usage, UsageOnly: ans.UsageOnly}, nil
		}
		if line[0] == '{' { // a JSON error answered without SSE framing
			if ans := body.ScanOpenAIResponse(line); ans.Error != nil {
				s.err = inBodyError(s.ep, ans.Error, s.yielded > 0)
				return Chunk{}, s.err
			}
		}
	}
}

// mayHoldUsageOrError reports whether a payload may have an "error" or a
// "usage" member. Most events of a stream are content deltas with neither:
// for them the scan (a walk over the whole JSON) would find nothing, so it
// is skipped. A key spelled with \u escapes takes the scan.
func mayHoldUsageOrError(p []byte) bool {
	return bytes.Contains(p, []byte(`error"`)) || bytes.Contains(p, []byte(`usage"`)) || bytes.Contains(p, []byte(`\u`))
}

func (s *Stream) fail(err error) error {
	switch {
	case err == io.EOF && s.yielded > 0:
		s.done = true // tolerated: some servers omit [DONE]
		return io.EOF
	case err == io.EOF:
		s.err = &Error{Outcome: outcome.Of(outcome.Server),
			Host: s.ep.host, Message: "the stream ended without any data"}
	default:
		var ue *Error
		if errors.As(err, &ue) {
			e := *ue
			e.Started = s.yielded > 0
			s.err = &e
		} else {
			s.err = transportError(s.ep, err, s.yielded > 0)
		}
	}
	return s.err
}

// Pending reports whether Next can return without waiting for more input:
// the input already received holds a complete data line (or the stream has
// ended or failed). A relay uses it to send the events that arrived together
// in one write, without holding one back for a later one.
func (s *Stream) Pending() bool {
	if s.err != nil || s.done {
		return true
	}
	if s.r == nil {
		return false
	}
	b, _ := s.r.Peek(s.r.Buffered())
	for {
		i := bytes.IndexByte(b, '\n')
		if i < 0 {
			return false
		}
		if bytes.HasPrefix(b[:i], []byte("data:")) {
			return true
		}
		b = b[i+1:]
	}
}

// readLine returns the next line without its '\n'. At the end of input it
// returns the last unterminated line (if any) with io.EOF.
func (s *Stream) readLine() ([]byte, error) {
	line, err := s.r.ReadSlice('\n')
	if len(line) > s.maxLine+1 {
		return nil, s.tooLong()
	}
	if err == nil {
		return line[:len(line)-1], nil
	}
	if err != bufio.ErrBufferFull {
		return line, err
	}
	s.long = append(s.long[:0], line...)
	for {
		line, err = s.r.ReadSlice('\n')
		if len(s.long)+len(line) > s.maxLine+1 {
			return nil, s.tooLong()
		}
		s.long = append(s.long, line...)
		switch err {
		case nil:
			return s.long[:len(s.long)-1], nil
		case bufio.ErrBufferFull:
			continue
		default:
			return s.long, err
		}
	}
}

func (s *Stream) tooLong() error {
	return &Error{Outcome: outcome.Of(outcome.Server),
		Host: s.ep.host, Message: fmt.Sprintf("stream line longer than %d bytes; raise the line limit", s.maxLine)}
}

var errStreamClosed = errors.New("upstream stream read after Close")

// close hands the line buffer back to the client's pool.
func (s *Stream) close() {
	if s.pool != nil && s.r != nil {
		s.r.Reset(nil)
		s.pool.Put(s.r)
		s.r = nil
		s.err = errStreamClosed
	}
}
