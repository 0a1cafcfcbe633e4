package server

import (
	"bufio"
	"context"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"smartrouter/fixtures/mockllm"
)

// Shutdown closes a connection that never sent a byte and a keep-alive one
// between two requests at once, lets a stream in flight finish, and returns
// without reaching its (long) deadline.
func TestShutdownClosesConnectionsWithoutRequest(t *testing.T) {
	h := start(t, harnessOpt{mock: mockllm.Config{ChunkDelay: 20 * time.Millisecond, Chunks: 10}})
	addr := strings.TrimPrefix(h.url, "http://")

	silent, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer silent.Close()
	kept, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer kept.Close()
	kr := bufio.NewReader(kept)
	io.WriteString(kept, "GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
	resp, err := http.ReadResponse(kr, nil)
	if err != nil {
		t.Fatalf("keep-alive request: %v", err)
	}
	if _, err := io.Copy(io.Discard, resp.Body); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("keep-alive request: %d %v", resp.StatusCode, err)
	}

	streamed, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer streamed.Close()
	body := `{"model":"gpt-4o-mini","stream":true,"messages":[{"role":"user","content":"hi"}]}`
	io.WriteString(streamed, "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: "+
		strconv.Itoa(len(body))+"\r\n\r\n"+body)
	sr := bufio.NewReader(streamed)
	for {
		line, err := sr.ReadString('\n')
		if err != nil {
			t.Fatalf("stream: %v", err)
		}
		if strings.HasPrefix(line, "data: ") {
			break
		}
	}
	if all, busy := h.srv.conns.open(); all != 3 || busy != 1 {
		t.Errorf("tracked connections %d, busy %d; want 3 and 1", all, busy)
	}

	ctx, cancel := context.WithTimeout(context.Background(), time.Hour)
	defer cancel()
	shut := make(chan error, 1)
	go func() { shut <- h.srv.Shutdown(ctx) }()

	for _, c := range []net.Conn{silent, kept} {
		c.SetReadDeadline(time.Now().Add(time.Minute))
		var r io.Reader = c
		if c == kept {
			r = kr
		}
		if n, err := r.Read(make([]byte, 16)); n != 0 || (err != io.EOF && !strings.Contains(err.Error(), "reset")) {
			t.Errorf("connection without a request: read %d bytes, %v; want it closed", n, err)
		}
	}
	rest, err := io.ReadAll(sr)
	if err != nil {
		t.Errorf("stream cut: %v", err)
	}
	if n := strings.Count(string(rest), "data: [DONE]"); n != 1 {
		t.Errorf("[DONE] %d times after the shutdown began:\n%s", n, rest)
	}
	if err := <-shut; err != nil {
		t.Errorf("Shutdown: %v", err)
	}
}
