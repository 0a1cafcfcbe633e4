package server

import (
	"bytes"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"smartrouter/fixtures/mockllm"
)

// writeLog records every write the server makes on its accepted
// connections.
type writeLog struct {
	mu     sync.Mutex
	writes [][]byte
	reads  int // reads that returned data
}

type loggedListener struct {
	net.Listener
	log *writeLog
}

func (l loggedListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return loggedConn{Conn: c, log: l.log}, nil
}

type loggedConn struct {
	net.Conn
	log *writeLog
}

func (c loggedConn) Write(p []byte) (int, error) {
	c.log.mu.Lock()
	c.log.writes = append(c.log.writes, bytes.Clone(p))
	c.log.mu.Unlock()
	return c.Conn.Write(p)
}

func (c loggedConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if n > 0 {
		c.log.mu.Lock()
		c.log.reads++
		c.log.mu.Unlock()
	}
	return n, err
}

func (w *writeLog) takeReads() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	n := w.reads
	w.reads = 0
	return n
}

func (w *writeLog) take() [][]byte {
	w.mu.Lock()
	defer w.mu.Unlock()
	out := w.writes
	w.writes = nil
	return out
}

// A stream's last events, the end of the chunked body and its trailer
// leave in one write: the write system calls of a stream are one per batch
// of upstream events, not that plus two for the chunked encoding's end.
// Two streams and a plain answer on the same keep-alive connection check
// that nothing is kept from one answer to the next.
func TestStreamEndLeavesInOneWrite(t *testing.T) {
	log := &writeLog{}
	// Events 2 ms apart reach the relay one by one: every Read but the
	// last returns one event.
	h := start(t, harnessOpt{
		mock:     mockllm.Config{ChunkDelay: 2 * time.Millisecond},
		listener: func(ln net.Listener) net.Listener { return loggedListener{Listener: ln, log: log} },
	})
	for i, body := range []string{helloStream, helloStream, `{"model":"gpt-4o-mini","messages":[{"role":"user","content":"hi"}]}`, helloStream} {
		a := h.chat(body, nil)
		if a.status != 200 {
			t.Fatalf("answer %d: status %d: %s", i, a.status, a.body)
		}
		writes := log.take()
		if len(writes) == 0 {
			t.Fatalf("answer %d: no write recorded", i)
		}
		last := writes[len(writes)-1]
		if !strings.Contains(body, `"stream":true`) {
			if !bytes.HasSuffix(last, a.body) {
				t.Errorf("answer %d (plain): last write %q does not end with the body", i, last)
			}
			continue
		}
		text, _, done, errs := streamText(t, sseEvents(a.body))
		if text != mockllm.Content(mockllm.DefaultChunks) || done != 1 || len(errs) != 0 {
			t.Fatalf("answer %d: text %q, [DONE] %d, errors %v", i, text, done, errs)
		}
		if !bytes.HasSuffix(last, []byte("data: [DONE]\n\n\r\n0\r\n\r\n")) {
			t.Errorf("answer %d: the last write is %q, want the last event, the last chunk and the trailer together", i, last)
		}
		var all []byte
		for _, w := range writes {
			all = append(all, w...)
		}
		if n := bytes.Count(all, []byte("\r\n0\r\n\r\n")); n != 1 {
			t.Errorf("answer %d: %d chunked-body ends in the writes", i, n)
		}
		// One write per event that arrived alone, at most: the mock sends
		// the role chunk, DefaultChunks content chunks, the finish chunk
		// and the usage chunk, then [DONE].
		if max := mockllm.DefaultChunks + 4; len(writes) > max {
			t.Errorf("answer %d: %d writes, want at most %d", i, len(writes), max)
		}
	}
}

// A request that arrived whole is read with one system call, also on a
// kept-alive connection, where fasthttp first asks for a single byte; a
// request larger than the read-ahead buffer still arrives intact.
func TestRequestReadInOneCall(t *testing.T) {
	log := &writeLog{}
	h := start(t, harnessOpt{
		listener: func(ln net.Listener) net.Listener { return loggedListener{Listener: ln, log: log} },
	})
	plain := `{"model":"gpt-4o-mini","messages":[{"role":"user","content":"hi"}]}`
	big := `{"model":"gpt-4o-mini","messages":[{"role":"user","content":"` + strings.Repeat("long text ", 2000) + `"}]}`
	for i, body := range []string{plain, plain, plain, big, plain} {
		a := h.chat(body, nil)
		if a.status != 200 {
			t.Fatalf("request %d: status %d: %s", i, a.status, a.body)
		}
		reads := log.takeReads()
		if body == big {
			last, _ := h.mock.LastRequest()
			if !bytes.Contains(last.Body, []byte(strings.Repeat("long text ", 2000))) {
				t.Fatalf("request %d: the upstream did not get the whole message", i)
			}
			continue
		}
		if reads != 1 {
			t.Errorf("request %d: %d reads of the connection, want 1", i, reads)
		}
	}
}
