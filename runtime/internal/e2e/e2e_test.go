package e2e

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"smartrouter/compiler"
	"smartrouter/fixtures/mockllm"
	"smartrouter/format"
	"smartrouter/runtime/internal/servertest"
)

var routerd string // the binary, built once by TestMain

func TestMain(m *testing.M) { os.Exit(servertest.MainWithRouterd(m, &routerd)) }

const (
	keyA = "sk-e2e-a-secret-0000"
	keyB = "sk-e2e-b-secret-0000"
)

func spec(mockURL string, gen uint64) servertest.Spec {
	mini := servertest.Model{ID: "gpt-4o-mini", In: 150_000, Out: 600_000, Ctx: 128_000}
	return servertest.Spec{
		Generation: gen,
		Settings:   servertest.DefaultSettings(),
		Channels: []servertest.Channel{
			{ID: "ch-a", BaseURL: mockURL, Key: format.Secret{Env: "E2E_KEY_A"}, Priority: 1, Models: []servertest.Model{mini}},
			{ID: "ch-b", BaseURL: mockURL, Key: format.Secret{Env: "E2E_KEY_B"}, Priority: 2, Models: []servertest.Model{mini}},
		},
	}
}

// proc is a running routerd.
type proc struct {
	t    *testing.T
	cmd  *exec.Cmd
	url  string
	mu   sync.Mutex
	logs []map[string]any
	seen chan struct{} // signalled on every new log line
	done chan struct{}
	err  error
}

// startRouterd runs the binary with args (plus -addr 127.0.0.1:0 and JSON
// logs) and waits for its "routerd listening" line. A start that fails
// returns the process with done closed and url empty.
func startRouterd(t *testing.T, args ...string) *proc {
	t.Helper()
	return startBinary(t, routerd, args...)
}

// startBinary is startRouterd for another routerd binary (a bundled one).
func startBinary(t *testing.T, bin string, args ...string) *proc {
	t.Helper()
	args = append([]string{"-addr", "127.0.0.1:0", "-log-format", "json"}, args...)
	return startProc(t, exec.Command(bin, args...))
}

// startProc is startRouterd for a command built by the caller (a wrapper
// that execs routerd with -addr 127.0.0.1:0 -log-format json).
func startProc(t *testing.T, cmd *exec.Cmd) *proc {
	t.Helper()
	p := &proc{t: t, cmd: cmd, seen: make(chan struct{}, 1), done: make(chan struct{})}
	p.cmd.Env = append(os.Environ(), "E2E_KEY_A="+keyA, "E2E_KEY_B="+keyB)
	stderr, err := p.cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			var m map[string]any
			if json.Unmarshal(sc.Bytes(), &m) != nil {
				m = map[string]any{"msg": sc.Text()}
			}
			p.mu.Lock()
			p.logs = append(p.logs, m)
			p.mu.Unlock()
			select {
			case p.seen <- struct{}{}:
			default:
			}
		}
		p.err = p.cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		select {
		case <-p.done:
		default:
			p.cmd.Process.Kill()
			<-p.done
		}
	})
	if m := p.waitLog("routerd listening", 0); m != nil {
		p.url = "http://" + m["addr"].(string)
	}
	return p
}

// waitLog waits for the n-th (0-based) log line with the message msg, or
// for the process to end (then it returns nil).
func (p *proc) waitLog(msg string, n int) map[string]any {
	p.t.Helper()
	for {
		p.mu.Lock()
		k := 0
		for _, m := range p.logs {
			if m["msg"] == msg {
				if k == n {
					p.mu.Unlock()
					return m
				}
				k++
			}
		}
		p.mu.Unlock()
		select {
		case <-p.seen:
		case <-p.done:
			// Drain what the reader may still hold.
			p.mu.Lock()
			k = 0
			for _, m := range p.logs {
				if m["msg"] == msg {
					if k == n {
						p.mu.Unlock()
						return m
					}
					k++
				}
			}
			p.mu.Unlock()
			return nil
		}
	}
}

func (p *proc) logText() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	var sb strings.Builder
	for _, m := range p.logs {
		b, _ := json.Marshal(m)
		sb.Write(b)
		sb.WriteByte('\n')
	}
	return sb.String()
}

func (p *proc) signal(sig syscall.Signal) {
	p.t.Helper()
	if err := p.cmd.Process.Signal(sig); err != nil {
		p.t.Fatal(err)
	}
}

func (p *proc) get(path string) map[string]any {
	p.t.Helper()
	resp, err := http.Get(p.url + path)
	if err != nil {
		p.t.Fatal(err)
	}
	defer resp.Body.Close()
	var m map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&m); err != nil {
		p.t.Fatal(err)
	}
	return m
}

func (p *proc) chat(body string) (int, http.Header, string) {
	p.t.Helper()
	resp, err := http.Post(p.url+"/v1/chat/completions", "application/json", strings.NewReader(body))
	if err != nil {
		p.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		p.t.Fatal(err)
	}
	for _, k := range []string{keyA, keyB} {
		if strings.Contains(string(b), k) {
			p.t.Fatalf("answer shows an API key: %s", b)
		}
	}
	return resp.StatusCode, resp.Header, string(b)
}

const hello = `{"model":"gpt-4o-mini","messages":[{"role":"user","content":"hi"}]}`

// install copies the demo installation (fixtures/demo: config/ and cache/)
// into dir with its channels pointed at mockURL, and returns the config and
// cache folders.
func install(t *testing.T, dir, mockURL string) (cfg, cache string) {
	t.Helper()
	cfg, cache = filepath.Join(dir, "config"), filepath.Join(dir, "cache")
	for _, sub := range []string{"config", "cache"} {
		src := filepath.Join("..", "..", "..", "fixtures", "demo", sub)
		if err := os.CopyFS(filepath.Join(dir, sub), os.DirFS(src)); err != nil {
			t.Fatalf("copy the demo installation: %v", err)
		}
	}
	p := filepath.Join(cfg, "router_config.yaml")
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	out := strings.ReplaceAll(string(b), "http://127.0.0.1:7700", mockURL)
	if out == string(b) {
		t.Fatal("the demo config no longer names http://127.0.0.1:7700; update the test")
	}
	if err := os.WriteFile(p, []byte(out), 0o600); err != nil {
		t.Fatal(err)
	}
	return cfg, cache
}

// compile builds the installation into a snapshot file with the compiler,
// recording its sources for the staleness check.
func compile(t *testing.T, cfg, cache, path string, gen uint64) {
	t.Helper()
	b, err := compiler.BuildBytes(cfg, cache, compiler.Options{Generation: gen}, nil)
	if err != nil {
		t.Fatalf("compile: %v", err)
	}
	if err := servertest.WriteFileAtomic(path, b); err != nil {
		t.Fatal(err)
	}
}

// touchConfig changes the config file so that snapshots compiled before are
// stale.
func touchConfig(t *testing.T, cfg string) {
	t.Helper()
	p := filepath.Join(cfg, "router_config.yaml")
	f, err := os.OpenFile(p, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString("# edited after the compile\n")
	f.Close()
}

func startMock(t *testing.T, cfg mockllm.Config) *mockllm.Server {
	t.Helper()
	m, err := mockllm.Start(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	return m
}

// SIGHUP swaps in a new snapshot while requests run; a corrupt file and a
// stale one leave the old snapshot serving; SIGTERM drains a stream in
// flight and exits 0.
func TestSignals(t *testing.T) {
	mock := startMock(t, mockllm.Config{ChunkDelay: 30 * time.Millisecond})
	dir := t.TempDir()
	cfg, _ := install(t, dir, mock.URL())
	snap := filepath.Join(dir, "router.snap")
	s1 := spec(mock.URL(), 1)
	if err := s1.WriteFile(snap); err != nil {
		t.Fatal(err)
	}
	p := startRouterd(t, "-snapshot", snap, "-config", cfg)
	if p.url == "" {
		t.Fatalf("routerd did not start:\n%s", p.logText())
	}
	if g := p.get("/")["generation"]; g != 1.0 {
		t.Fatalf("generation %v", g)
	}

	// 1. Swap to generation 2 (only ch-b) with requests in flight.
	s2 := spec(mock.URL(), 2)
	s2.Channels = s2.Channels[1:]
	var wg sync.WaitGroup
	fails := make(chan string, 100)
	for range 3 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 5 {
				if st, _, b := p.chat(hello); st != 200 {
					fails <- fmt.Sprintf("%d %s", st, b)
				}
			}
		}()
	}
	if err := s2.WriteFile(snap); err != nil {
		t.Fatal(err)
	}
	p.signal(syscall.SIGHUP)
	if m := p.waitLog("snapshot reloaded", 0); m == nil || m["generation"] != 2.0 {
		t.Fatalf("reload line %v\n%s", m, p.logText())
	}
	wg.Wait()
	close(fails)
	for f := range fails {
		t.Errorf("request across the swap failed: %s", f)
	}
	if g := p.get("/")["generation"]; g != 2.0 {
		t.Errorf("generation %v after SIGHUP", g)
	}
	if st, h, _ := p.chat(hello); st != 200 || h.Get("X-Router-Channel") != "ch-b" {
		t.Errorf("after the swap: %d via %q", st, h.Get("X-Router-Channel"))
	}

	// 2. A corrupt file: refused, generation 2 keeps serving.
	if err := servertest.WriteFileAtomic(snap, []byte("garbage, not a snapshot")); err != nil {
		t.Fatal(err)
	}
	p.signal(syscall.SIGHUP)
	if m := p.waitLog("snapshot reload failed; the previous snapshot keeps serving", 0); m == nil || m["reason"] != "corrupt" {
		t.Fatalf("corrupt reload line %v\n%s", m, p.logText())
	}
	if st, _, _ := p.chat(hello); st != 200 || p.get("/")["generation"] != 2.0 {
		t.Errorf("old snapshot not serving after a corrupt reload: %d", st)
	}

	// 3. A stale file (compiled, then its config changed): the router
	// rebuilds from the config and the JSON caches (json-fallback mode).
	compile(t, cfg, filepath.Join(dir, "cache"), snap, 3)
	touchConfig(t, cfg)
	p.signal(syscall.SIGHUP)
	if m := p.waitLog("snapshot reloaded", 1); m == nil || m["mode"] != "json-fallback" {
		t.Fatalf("stale reload line %v\n%s", m, p.logText())
	}
	if mode := p.get("/")["mode"]; mode != "json-fallback" {
		t.Errorf("mode %v after a stale reload", mode)
	}
	// The demo's cheapest gpt-4o-mini channel answers 500: failover to mock_main.
	if st, h, b := p.chat(hello); st != 200 || h.Get("X-Router-Channel") != "mock_main" || h.Get("X-Router-Attempts") != "2" {
		t.Errorf("json-fallback routing: %d via %q after %s attempts: %s", st, h.Get("X-Router-Channel"), h.Get("X-Router-Attempts"), b)
	}

	// 4. SIGTERM with a stream in flight: it completes, then exit 0.
	resp, err := http.Post(p.url+"/v1/chat/completions", "application/json",
		strings.NewReader(`{"model":"gpt-4o-mini","stream":true,"messages":[{"role":"user","content":"hi"}]}`))
	if err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(resp.Body)
	if line, err := br.ReadString('\n'); err != nil || !strings.HasPrefix(line, "data: ") {
		t.Fatalf("first stream line %q %v", line, err)
	}
	p.signal(syscall.SIGTERM)
	if p.waitLog("shutting down: draining in-flight requests", 0) == nil {
		t.Fatalf("no drain line\n%s", p.logText())
	}
	rest, err := io.ReadAll(br)
	resp.Body.Close()
	if err != nil {
		t.Errorf("stream cut by the shutdown: %v", err)
	}
	if n := strings.Count(string(rest), "data: [DONE]"); n != 1 || strings.Contains(string(rest), `"error"`) {
		t.Errorf("stream after SIGTERM: [DONE] %d times\n%s", n, rest)
	}
	<-p.done
	if p.err != nil {
		t.Errorf("exit: %v\n%s", p.err, p.logText())
	}
	if p.waitLog("stopped", 0) == nil {
		t.Errorf("no stopped line\n%s", p.logText())
	}
	// New connections are refused once stopped.
	if _, err := http.Get(p.url + "/health"); err == nil {
		t.Error("still answering after exit")
	}
}

// SIGINT also shuts down cleanly (exit 0) when idle.
func TestSIGINTIdle(t *testing.T) {
	mock := startMock(t, mockllm.Config{})
	snap := filepath.Join(t.TempDir(), "router.snap")
	s := spec(mock.URL(), 1)
	if err := s.WriteFile(snap); err != nil {
		t.Fatal(err)
	}
	p := startRouterd(t, "-snapshot", snap)
	if p.url == "" {
		t.Fatalf("not started:\n%s", p.logText())
	}
	if st, _, b := p.chat(hello); st != 200 {
		t.Fatalf("%d %s", st, b)
	}
	p.signal(syscall.SIGINT)
	<-p.done
	if p.err != nil {
		t.Errorf("exit: %v", p.err)
	}
}

// Start-up with a broken, missing or stale snapshot: without -config it
// fails (exit 1, the reason logged); with -config it is rebuilt from the
// JSON caches and served in json-fallback mode; a stale but valid snapshot
// whose rebuild fails serves as stale-snapshot (last good over nothing).
func TestStartWithBadSnapshot(t *testing.T) {
	mock := startMock(t, mockllm.Config{})
	dir := t.TempDir()
	cfg, cache := install(t, dir, mock.URL())
	stale := filepath.Join(dir, "stale.snap")
	compile(t, cfg, cache, stale, 4)
	fresh := filepath.Join(dir, "fresh.snap")
	touchConfig(t, cfg)
	compile(t, cfg, cache, fresh, 5)
	corrupt := filepath.Join(dir, "corrupt.snap")
	os.WriteFile(corrupt, []byte("definitely not a snapshot"), 0o600)
	brokenCfg := filepath.Join(t.TempDir(), "config")
	os.MkdirAll(brokenCfg, 0o755)
	os.WriteFile(filepath.Join(brokenCfg, "router_config.yaml"), []byte("channels: [unclosed\n"), 0o600)
	missing := filepath.Join(dir, "written-back.snap")

	cases := []struct {
		name string
		args []string
		mode string // "" = does not start
		want string // in the log when it does not start
		gen  float64
	}{
		{"corrupt", []string{"-snapshot", corrupt}, "", "corrupt", 0},
		{"missing", []string{"-snapshot", filepath.Join(dir, "none.snap")}, "", "not_found", 0},
		{"stale, fallback build fails", []string{"-snapshot", stale, "-config", brokenCfg, "-cache", cache}, "stale-snapshot", "", 4},
		{"corrupt, fallback build fails", []string{"-snapshot", corrupt, "-config", brokenCfg, "-cache", cache}, "", "fallback_failed", 0},
		{"fresh", []string{"-snapshot", fresh, "-config", cfg}, "snapshot", "", 5},
		{"stale", []string{"-snapshot", stale, "-config", cfg, "-cache", cache}, "json-fallback", "", 1},
		{"corrupt with config", []string{"-snapshot", corrupt, "-config", cfg}, "json-fallback", "", 1},
		{"missing, written back", []string{"-snapshot", missing, "-config", cfg, "-write-back"}, "json-fallback", "", 1},
		{"written back, mapped next time", []string{"-snapshot", missing, "-config", cfg}, "snapshot", "", 1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p := startRouterd(t, tc.args...)
			if tc.mode == "" {
				<-p.done
				var ee *exec.ExitError
				if p.url != "" || !errors.As(p.err, &ee) || ee.ExitCode() != 1 {
					t.Fatalf("started or wrong exit (%v)\n%s", p.err, p.logText())
				}
				if !strings.Contains(p.logText(), tc.want) {
					t.Errorf("log lacks %q:\n%s", tc.want, p.logText())
				}
				return
			}
			if p.url == "" {
				t.Fatalf("did not start:\n%s", p.logText())
			}
			root := p.get("/")
			if root["mode"] != tc.mode || root["generation"] != tc.gen {
				t.Errorf("serving %v generation %v, want %s %v", root["mode"], root["generation"], tc.mode, tc.gen)
			}
			if st, h, b := p.chat(hello); st != 200 || h.Get("X-Router-Channel") != "mock_main" {
				t.Errorf("%d via %q: %s", st, h.Get("X-Router-Channel"), b)
			}
			p.signal(syscall.SIGTERM)
			<-p.done
			if p.err != nil {
				t.Errorf("exit: %v", p.err)
			}
		})
	}
}
