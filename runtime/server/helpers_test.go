package server

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"smartrouter/fixtures/mockllm"
	"smartrouter/format"
	"smartrouter/runtime/internal/servertest"
	"smartrouter/runtime/snapshot"
)

// Keys of the test channels, as the environment holds them. Tests check that
// none of them ever reaches a client.
const (
	keyA = "sk-a-0123456789-secret"
	keyB = "sk-b-0123456789-secret"
	keyC = "sk-c-0123456789-secret"
)

var testEnv = map[string]string{"KEY_A": keyA, "KEY_B": keyB, "KEY_C": keyC,
	"ROUTER_TOKEN": "client-token-1", "ADMIN_TOKEN": "admin-token-1"}

func lookup(env map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) {
		v, ok := env[k]
		return v, ok
	}
}

// baseSpec: two channels serving gpt-4o-mini (ch-a tried first: same price,
// lower priority number), ch-c serving a vision model and a free model.
func baseSpec(mockURL string) servertest.Spec {
	mini := servertest.Model{ID: "gpt-4o-mini", In: 150_000, Out: 600_000, Ctx: 128_000,
		Caps: format.CapToolsKnown | format.CapTools | format.CapVisionKnown | format.CapVision}
	return servertest.Spec{
		Generation: 1,
		Settings:   servertest.DefaultSettings(),
		Channels: []servertest.Channel{
			{ID: "ch-a", Name: "Channel A", Provider: "mock", BaseURL: mockURL, Key: format.Secret{Env: "KEY_A"},
				Priority: 1, Models: []servertest.Model{mini}},
			{ID: "ch-b", Name: "Channel B", Provider: "mock", BaseURL: mockURL, Key: format.Secret{Env: "KEY_B"},
				Priority: 2, Models: []servertest.Model{mini}},
			{ID: "ch-c", Name: "Channel C", Provider: "other", BaseURL: mockURL + "/v1", Key: format.Secret{Env: "KEY_C"},
				Priority: 3, Tags: []string{"free"}, Models: []servertest.Model{
					{ID: "qwen/qwen3-8b:free", In: 0, Out: 0, Ctx: 32_000},
					{ID: "text-only-1", In: 100_000, Out: 100_000, Ctx: 8_000, Caps: format.CapVisionKnown},
				}},
		},
	}
}

type harness struct {
	t        testing.TB
	mock     *mockllm.Server
	srv      *Server
	url      string
	snapPath string
	spec     servertest.Spec
	client   *http.Client
	served   chan error
}

type harnessOpt struct {
	mock    mockllm.Config
	spec    func(*servertest.Spec)
	options func(*Options)
	env     map[string]string
	// listener, when set, wraps the loopback listener the server is given.
	listener func(net.Listener) net.Listener
}

func quietLogger() *slog.Logger { return slog.New(slog.DiscardHandler) }

// start runs a mock upstream and routerd in front of it on loopback ports.
func start(t testing.TB, o harnessOpt) *harness {
	t.Helper()
	mock, err := mockllm.Start(o.mock)
	if err != nil {
		t.Fatalf("start mock: %v", err)
	}
	t.Cleanup(func() { mock.Close() })
	h := &harness{t: t, mock: mock, snapPath: filepath.Join(t.TempDir(), "router.snap")}
	h.spec = baseSpec(mock.URL())
	if o.spec != nil {
		o.spec(&h.spec)
	}
	if err := h.spec.WriteFile(h.snapPath); err != nil {
		t.Fatalf("write snapshot: %v", err)
	}
	env := o.env
	if env == nil {
		env = testEnv
	}
	opts := Options{Snapshot: snapshot.Options{Path: h.snapPath}, Logger: quietLogger(), LookupEnv: lookup(env), Version: "test"}
	if o.options != nil {
		o.options(&opts)
	}
	srv, err := New(context.Background(), opts)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	h.srv = srv
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	h.url = "http://" + ln.Addr().String()
	if o.listener != nil {
		ln = o.listener(ln)
	}
	h.served = make(chan error, 1)
	go func() { h.served <- srv.Serve(ln) }()
	h.client = &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64, DisableCompression: true}}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
		<-h.served
		h.client.CloseIdleConnections()
	})
	return h
}

type answer struct {
	status int
	header http.Header
	body   []byte
}

func (a answer) json(t testing.TB) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(a.body, &m); err != nil {
		t.Fatalf("answer is not a JSON object: %v\n%s", err, a.body)
	}
	return m
}

// errorCode returns error.code of an OpenAI-style error body, checking the
// shape (message, type, code, param members).
func (a answer) errorCode(t testing.TB) string {
	t.Helper()
	m := a.json(t)
	e, ok := m["error"].(map[string]any)
	if !ok {
		t.Fatalf("no error object in %s", a.body)
	}
	for _, k := range []string{"message", "type", "code", "param"} {
		if _, ok := e[k]; !ok {
			t.Fatalf("error object lacks %q: %s", k, a.body)
		}
	}
	if msg, _ := e["message"].(string); msg == "" {
		t.Fatalf("empty error message: %s", a.body)
	}
	code, _ := e["code"].(string)
	return code
}

func (h *harness) do(method, path string, body []byte, hdr map[string]string) answer {
	h.t.Helper()
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequest(method, h.url+path, rd)
	if err != nil {
		h.t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := h.client.Do(req)
	if err != nil {
		h.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		h.t.Fatalf("read answer of %s %s: %v", method, path, err)
	}
	a := answer{status: resp.StatusCode, header: resp.Header, body: b}
	h.noSecrets(a)
	return a
}

func (h *harness) chat(body string, hdr map[string]string) answer {
	h.t.Helper()
	return h.do(http.MethodPost, PathChat, []byte(body), hdr)
}

// noSecrets fails the test when an API key of a channel appears in an
// answer's headers or body.
func (h *harness) noSecrets(a answer) {
	h.t.Helper()
	for _, k := range []string{keyA, keyB, keyC} {
		if bytes.Contains(a.body, []byte(k)) {
			h.t.Fatalf("answer body contains an upstream API key: %s", a.body)
		}
		for name, vs := range a.header {
			for _, v := range vs {
				if strings.Contains(v, k) {
					h.t.Fatalf("answer header %s contains an upstream API key", name)
				}
			}
		}
	}
}

// keysSeen returns the API keys of the mock's recorded requests, in order.
func (h *harness) keysSeen() []string {
	var out []string
	for _, r := range h.mock.Requests() {
		out = append(out, r.Key)
	}
	return out
}

// sseEvents splits an SSE body into its data payloads.
func sseEvents(b []byte) []string {
	var out []string
	for _, ev := range strings.Split(string(b), "\n\n") {
		ev = strings.TrimSpace(ev)
		if ev == "" {
			continue
		}
		for _, line := range strings.Split(ev, "\n") {
			if d, ok := strings.CutPrefix(line, "data: "); ok {
				out = append(out, d)
			}
		}
	}
	return out
}

// newLoopbackServer serves handler on a free loopback port and returns its
// base URL.
func newLoopbackServer(t testing.TB, handler http.Handler) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: handler}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return "http://" + ln.Addr().String()
}

// syncBuffer collects log output written from several goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *syncBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *syncBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
