package e2e

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"smartrouter/fixtures/mockllm"
)

// SIGTERM with a connection that never sent a byte (a load generator's
// spare keep-alive connection) and a slow stream in flight: the stream
// completes with its one [DONE], the silent connection is closed at once,
// and routerd exits 0 as soon as the stream is done. The drain timeout is
// ten minutes and the test waits at most one for the exit, so only a
// shutdown that waits for the silent connection can miss it; how fast the
// machine is does not matter.
func TestSIGTERMSilentConnection(t *testing.T) {
	mock := startMock(t, mockllm.Config{ChunkDelay: 50 * time.Millisecond, Chunks: 12})
	snap := filepath.Join(t.TempDir(), "router.snap")
	s := spec(mock.URL(), 1)
	if err := s.WriteFile(snap); err != nil {
		t.Fatal(err)
	}
	p := startRouterd(t, "-snapshot", snap, "-drain-timeout", "10m")
	if p.url == "" {
		t.Fatalf("routerd did not start:\n%s", p.logText())
	}
	addr := strings.TrimPrefix(p.url, "http://")

	silent, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer silent.Close()
	// A request answered after the silent connection was made means routerd
	// has accepted that one too (the listen queue is first in, first out).
	if got := p.get("/health"); got == nil {
		t.Fatal("no /health answer")
	}

	resp, err := http.Post(p.url+"/v1/chat/completions", "application/json",
		strings.NewReader(`{"model":"gpt-4o-mini","stream":true,"messages":[{"role":"user","content":"hi"}]}`))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("stream status %d", resp.StatusCode)
	}
	br := bufio.NewReader(resp.Body)
	if line, err := br.ReadString('\n'); err != nil || !strings.HasPrefix(line, "data: ") {
		t.Fatalf("first stream line %q %v", line, err)
	}

	p.signal(syscall.SIGTERM)
	if p.waitLog("shutting down: draining in-flight requests", 0) == nil {
		t.Fatalf("no drain line\n%s", p.logText())
	}

	// The silent connection is closed by routerd without an answer.
	silentDone := make(chan error, 1)
	go func() {
		silent.SetReadDeadline(time.Now().Add(time.Minute))
		n, err := silent.Read(make([]byte, 64))
		if n > 0 {
			err = io.ErrUnexpectedEOF // any byte is an answer nobody asked for
		}
		silentDone <- err
	}()

	rest, err := io.ReadAll(br)
	if err != nil {
		t.Errorf("stream cut by the shutdown: %v", err)
	}
	if n := strings.Count(string(rest), "data: [DONE]"); n != 1 || strings.Contains(string(rest), `"error"`) {
		t.Errorf("stream after SIGTERM: [DONE] %d times\n%s", n, rest)
	}

	select {
	case <-p.done:
	case <-time.After(time.Minute):
		t.Fatalf("routerd still running a minute after SIGTERM with nothing in flight (drain timeout 10m): "+
			"the connection that sent nothing holds the shutdown\n%s", p.logText())
	}
	if p.err != nil {
		t.Errorf("exit: %v\n%s", p.err, p.logText())
	}
	if strings.Contains(p.logText(), "drain timeout reached") {
		t.Errorf("the drain timed out:\n%s", p.logText())
	}
	if err := <-silentDone; err != io.EOF && !isReset(err) {
		t.Errorf("silent connection after the shutdown: %v, want it closed by routerd", err)
	}
}

// isReset reports a connection reset by the peer.
func isReset(err error) bool {
	return err != nil && strings.Contains(err.Error(), "connection reset")
}
