package server

import (
	"bufio"
	"errors"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"smartrouter/fixtures/mockllm"
	"smartrouter/runtime/internal/servertest"
	"smartrouter/runtime/metrics"
)

const miniBody = `{"model":"gpt-4o-mini","messages":[{"role":"user","content":"hi"}]}`

// rawRequest writes one HTTP request on a new connection to addr.
func rawRequest(t *testing.T, addr, method, path, ctype, body string) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	req := method + " " + path + " HTTP/1.1\r\nHost: x\r\n"
	if ctype != "" {
		req += "Content-Type: " + ctype + "\r\n"
	}
	req += "Content-Length: " + strconv.Itoa(len(body)) + "\r\n\r\n" + body
	if _, err := io.WriteString(c, req); err != nil {
		t.Fatal(err)
	}
	return c
}

// readAnswer reads one HTTP answer from c.
func readAnswer(t *testing.T, c net.Conn) (*http.Response, string) {
	t.Helper()
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatalf("read answer: %v", err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	return resp, string(b)
}

func counter(t *testing.T, m *metrics.Metrics, name, label string) float64 {
	t.Helper()
	mfs, err := m.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, s := range mf.GetMetric() {
			match := label == ""
			for _, l := range s.GetLabel() {
				match = match || l.GetValue() == label
			}
			if !match {
				continue
			}
			if s.GetCounter() != nil {
				return s.GetCounter().GetValue()
			}
			return s.GetGauge().GetValue()
		}
	}
	t.Fatalf("no metric %s{%s}", name, label)
	return 0
}

// At the connection cap, the oldest idle connections are closed so that new
// clients are served.
func TestConnCapClosesOldestIdle(t *testing.T) {
	h := start(t, harnessOpt{options: func(o *Options) { o.MaxConns = 4 }})
	addr := strings.TrimPrefix(h.url, "http://")
	var idle []net.Conn
	for range 12 {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		idle = append(idle, c)
	}
	c := rawRequest(t, addr, "GET", PathHealth, "", "")
	defer c.Close()
	if resp, body := readAnswer(t, c); resp.StatusCode != 200 {
		t.Fatalf("health at the cap: %d %s", resp.StatusCode, body)
	}
	// The first idle connection was closed by the server.
	idle[0].SetReadDeadline(time.Now().Add(10 * time.Second))
	if n, err := idle[0].Read(make([]byte, 1)); err == nil {
		t.Fatalf("the oldest idle connection is still open (read %d bytes)", n)
	}
	if n := counter(t, h.srv.Metrics(), "smartrouter_connections_refused_total", metrics.RefusedEvicted); n < 9 {
		t.Errorf("evicted %v connections, want at least 9", n)
	}
	if all, _ := h.srv.conns.open(); all > 4 {
		t.Errorf("%d connections open over a cap of 4", all)
	}
}

// When every connection at the cap is busy, a new one is answered 503.
func TestConnCapRefusesWhenAllBusy(t *testing.T) {
	h := start(t, harnessOpt{mock: mockllm.Config{ChunkDelay: 50 * time.Millisecond, Chunks: 100},
		options: func(o *Options) { o.MaxConns = 2 }})
	addr := strings.TrimPrefix(h.url, "http://")
	stream := `{"model":"gpt-4o-mini","stream":true,"messages":[{"role":"user","content":"hi"}]}`
	for range 2 {
		c := rawRequest(t, addr, "POST", PathChat, "application/json", stream)
		defer c.Close()
		r := bufio.NewReader(c)
		if line, err := r.ReadString('\n'); err != nil || !strings.Contains(line, "200") {
			t.Fatalf("stream: %q %v", line, err)
		}
	}
	c := rawRequest(t, addr, "GET", PathHealth, "", "")
	defer c.Close()
	resp, body := readAnswer(t, c)
	if resp.StatusCode != 503 || !strings.Contains(body, `"overloaded"`) || resp.Header.Get("Retry-After") == "" {
		t.Fatalf("over the cap with every connection busy: %d %v %s", resp.StatusCode, resp.Header, body)
	}
	if n := counter(t, h.srv.Metrics(), "smartrouter_connections_refused_total", metrics.RefusedLimit); n != 1 {
		t.Errorf("refused %v, want 1", n)
	}
}

func TestConnCapPerIP(t *testing.T) {
	h := start(t, harnessOpt{options: func(o *Options) { o.MaxConnsPerIP = 2 }})
	addr := strings.TrimPrefix(h.url, "http://")
	for range 2 {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
	}
	c := rawRequest(t, addr, "GET", PathHealth, "", "")
	defer c.Close()
	resp, body := readAnswer(t, c)
	if resp.StatusCode != 503 || !strings.Contains(body, "from your address") {
		t.Fatalf("third connection of one address: %d %s", resp.StatusCode, body)
	}
	if n := counter(t, h.srv.Metrics(), "smartrouter_connections_refused_total", metrics.RefusedPerIP); n != 1 {
		t.Errorf("refused per IP %v, want 1", n)
	}
}

// failingListener fails Accept with err n times, then accepts from the real
// listener.
type failingListener struct {
	net.Listener
	err error
	n   int
}

func (l *failingListener) Accept() (net.Conn, error) {
	if l.n > 0 {
		l.n--
		return nil, &net.OpError{Op: "accept", Net: "tcp", Err: l.err}
	}
	return l.Listener.Accept()
}

// Running out of descriptors while accepting backs off (doubling) and
// resumes instead of failing.
func TestAcceptBacksOffOnEMFILE(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	met := metrics.New(metrics.Options{})
	var delays []time.Duration
	tr := &connTracker{met: met, lim: connLimits{max: 8},
		sleep: func(d time.Duration, _ <-chan struct{}) bool { delays = append(delays, d); return true }}
	wl := tr.wrap(&failingListener{Listener: ln, err: syscall.EMFILE, n: 4})
	go func() {
		if c, err := net.Dial("tcp", ln.Addr().String()); err == nil {
			defer c.Close()
			io.ReadAll(c)
		}
	}()
	c, err := wl.Accept()
	if err != nil {
		t.Fatalf("Accept after EMFILE: %v", err)
	}
	c.Close()
	want := []time.Duration{5 * time.Millisecond, 10 * time.Millisecond, 20 * time.Millisecond, 40 * time.Millisecond}
	if len(delays) != len(want) {
		t.Fatalf("back-offs %v, want %v", delays, want)
	}
	for i := range want {
		if delays[i] != want[i] {
			t.Fatalf("back-offs %v, want %v", delays, want)
		}
	}
	if n := counter(t, met, "smartrouter_accept_backoffs_total", ""); n != 4 {
		t.Errorf("accept_backoffs_total %v, want 4", n)
	}
	// A closed listener still ends Accept.
	ln.Close()
	if _, err := wl.Accept(); err == nil {
		t.Fatal("Accept on a closed listener returned no error")
	}
	if !temporaryAcceptError(&net.OpError{Err: syscall.ENFILE}) || temporaryAcceptError(net.ErrClosed) {
		t.Error("ENFILE is temporary, a closed listener is not")
	}
}

// A client that asks for a stream and never reads it is cut after the
// write timeout, and the upstream connection is released.
func TestWriteTimeoutCutsNeverReadingClient(t *testing.T) {
	released := make(chan struct{})
	var once sync.Once
	chunk := "data: {\"choices\":[{\"delta\":{\"content\":\"" + strings.Repeat("x", 8000) + "\"}}]}\n\n"
	up := newLoopbackServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		fl := w.(http.Flusher)
		for {
			if _, err := io.WriteString(w, chunk); err != nil {
				break
			}
			fl.Flush()
			select {
			case <-r.Context().Done():
			default:
				continue
			}
			break
		}
		once.Do(func() { close(released) })
	}))
	h := start(t, harnessOpt{
		spec: func(s *servertest.Spec) {
			for i := range s.Channels {
				s.Channels[i].BaseURL = up
			}
		},
		options: func(o *Options) { o.WriteTimeout = 200 * time.Millisecond },
	})
	addr, _ := net.ResolveTCPAddr("tcp", strings.TrimPrefix(h.url, "http://"))
	c, err := net.DialTCP("tcp", nil, addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	body := `{"model":"gpt-4o-mini","stream":true,"messages":[{"role":"user","content":"hi"}]}`
	io.WriteString(c, "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: "+
		strconv.Itoa(len(body))+"\r\n\r\n"+body)
	// Never read: the server's writes block, time out, and it closes the
	// connection and the relay, which closes the upstream response.
	<-released
	// What the server had written before is still readable; then the
	// connection ends.
	n, err := io.Copy(io.Discard, c)
	if err != nil && !errors.Is(err, syscall.ECONNRESET) {
		t.Fatalf("reading the cut connection: %v", err)
	}
	if n == 0 {
		t.Error("the stream never started")
	}
	for h.srv.met != nil {
		all, _ := h.srv.conns.open()
		if all == 0 {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	if v := counter(t, h.srv.Metrics(), "smartrouter_active_streams", ""); v != 0 {
		t.Errorf("active_streams %v after the cut", v)
	}
}

// The write timeout bounds each write, not the answer: a stream whose
// chunks come further apart than the timeout, read by its client, is
// relayed whole.
func TestWriteTimeoutKeepsSlowStream(t *testing.T) {
	h := start(t, harnessOpt{mock: mockllm.Config{ChunkDelay: 30 * time.Millisecond, Chunks: 5},
		options: func(o *Options) { o.WriteTimeout = 5 * time.Millisecond }})
	a := h.chat(`{"model":"gpt-4o-mini","stream":true,"messages":[{"role":"user","content":"hi"}]}`, nil)
	ev := sseEvents(a.body)
	if a.status != 200 || len(ev) < 6 || ev[len(ev)-1] != "[DONE]" {
		t.Fatalf("slow stream: %d %q", a.status, ev)
	}
	if v := counter(t, h.srv.Metrics(), "smartrouter_connections_open", ""); v < 1 {
		t.Errorf("connections_open %v with a keep-alive connection open", v)
	}
}

// Above the high-water mark, new chat requests get 503 overloaded with
// Retry-After; health, metrics and admin still answer; below it, requests
// are served again.
func TestMemoryShedding(t *testing.T) {
	var inUse atomic.Uint64
	h := start(t, harnessOpt{options: func(o *Options) {
		o.MemoryLimit = 1000
		o.MemoryReader = inUse.Load
		o.ShedInterval = -1 // the test samples by hand
	}})
	inUse.Store(950)
	h.srv.shed.sample()
	a := h.chat(miniBody, nil)
	if a.status != 503 || a.errorCode(t) != codeOverloaded || a.header.Get("Retry-After") == "" {
		t.Fatalf("above the high-water mark: %d %v %s", a.status, a.header, a.body)
	}
	if h.mock.Count() != 0 {
		t.Error("a shed request reached the upstream")
	}
	if a := h.do("GET", PathHealth, nil, nil); a.status != 200 {
		t.Errorf("health while shedding: %d", a.status)
	}
	if n := counter(t, h.srv.Metrics(), "smartrouter_shed_requests_total", ""); n != 1 {
		t.Errorf("shed_requests_total %v, want 1", n)
	}
	inUse.Store(899)
	h.srv.shed.sample()
	if a := h.chat(miniBody, nil); a.status != 200 {
		t.Fatalf("below the high-water mark: %d %s", a.status, a.body)
	}
	if ReadMemoryInUse() == 0 {
		t.Error("ReadMemoryInUse read nothing from the runtime")
	}
}

// The sampler records memory use in the metrics and sheds on its own; a
// limit set after start (SetMemoryLimit, for the snapshot's setting) starts
// it.
func TestShedSamplerAndLateLimit(t *testing.T) {
	var inUse atomic.Uint64
	inUse.Store(990)
	h := start(t, harnessOpt{options: func(o *Options) {
		o.MemoryReader = inUse.Load
		o.ShedInterval = time.Millisecond
	}})
	if h.srv.MemoryLimit() != 0 || h.srv.shed.started.Load() {
		t.Fatal("shedding without a limit")
	}
	h.srv.SetMemoryLimit(1000)
	for !h.srv.shed.over.Load() {
		time.Sleep(time.Millisecond)
	}
	if a := h.chat(miniBody, nil); a.status != 503 {
		t.Fatalf("sampler over the mark: %d %s", a.status, a.body)
	}
	for counter(t, h.srv.Metrics(), "smartrouter_memory_in_use_bytes", "") != 990 {
		time.Sleep(time.Millisecond)
	}
	if v := counter(t, h.srv.Metrics(), "smartrouter_memory_limit_bytes", ""); v != 1000 {
		t.Errorf("memory_limit_bytes %v", v)
	}
	h.srv.SetMemoryLimit(0)
	for h.srv.shed.over.Load() {
		time.Sleep(time.Millisecond)
	}
	if a := h.chat(miniBody, nil); a.status != 200 {
		t.Fatalf("limit removed: %d %s", a.status, a.body)
	}
}

func TestNoSheddingWithoutLimit(t *testing.T) {
	sh := newShedder(0, 0, func() uint64 { return 1 << 62 })
	sh.sample()
	if sh.over.Load() {
		t.Fatal("a shedder without a limit shed")
	}
}

func TestJSONContentType(t *testing.T) {
	h := start(t, harnessOpt{})
	addr := strings.TrimPrefix(h.url, "http://")
	for _, tc := range []struct {
		ctype  string
		status int
	}{
		{"application/json", 200},
		{"application/json; charset=utf-8", 200},
		{"Application/JSON;charset=UTF-8", 200},
		{"application/vnd.example+json", 200},
		{"", 200}, // no Content-Type: accepted (some HTTP clients send none)
		{"text/plain", 415},
		{"text/plain;charset=UTF-8", 415},
		{"application/x-www-form-urlencoded", 415}, // curl -d without -H
		{"multipart/form-data; boundary=x", 415},
		{"application/jsonx", 415},
	} {
		c := rawRequest(t, addr, "POST", PathChat, tc.ctype, miniBody)
		resp, body := readAnswer(t, c)
		c.Close()
		if resp.StatusCode != tc.status {
			t.Errorf("Content-Type %q: %d %s", tc.ctype, resp.StatusCode, body)
		}
		if tc.status == 415 && !strings.Contains(body, codeMediaType) {
			t.Errorf("Content-Type %q: body %s", tc.ctype, body)
		}
	}
}

func FuzzIsJSONType(f *testing.F) {
	for _, s := range []string{"application/json", "application/a+json; x=y", "text/plain", "", ";", "application/"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, ct []byte) {
		if isJSONType(ct) && !strings.HasPrefix(strings.ToLower(strings.TrimSpace(string(ct))), "application/") {
			t.Fatalf("%q accepted", ct)
		}
	})
}
