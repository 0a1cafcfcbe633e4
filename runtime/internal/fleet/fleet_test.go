package fleet

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"smartrouter/compiler"
	"smartrouter/fixtures/mockllm"
	"smartrouter/runtime/internal/redistest"
	"smartrouter/runtime/internal/servertest"
)

var routerd string // built once by TestMain

func TestMain(m *testing.M) { os.Exit(servertest.MainWithRouterd(m, &routerd)) }

const model = "gpt-4o-mini"

// redisPassword protects the fleet's Redis; no replica may print it.
const redisPassword = "fleet-s3cret-pw"

// noPassword fails the test when a replica's log shows the Redis password.
func (f *fleet) noPassword() {
	f.t.Helper()
	for i, p := range f.nodes {
		if strings.Contains(p.logText(), redisPassword) {
			f.t.Errorf("replica %d printed the Redis password in its log", i)
		}
	}
}

// configYAML is the fleet's configuration: two channels of the mock for
// the same model (the primary preferred), discovery as DISCOVERY says, key
// validation off.
const configYAML = `tasks:
  model_discovery:
DISCOVERY
  api_key_validation:
    enabled: false
state:
  redis_url: "${FLEET_REDIS_URL}"
server:
  host: "127.0.0.1"
  request_timeout: 30
auth:
  enabled: false
  admin:
    enabled: false
routing:
  default_strategy: "cost_first"
providers:
  mock:
    name: "mock"
    adapter_class: "OpenAIAdapter"
    base_url: "MOCK/v1"
    auth_type: "bearer"
channels:
  - id: "ch_primary"
    provider: "mock"
    model_name: "gpt-4o-mini"
    api_key: "key-primary"
    priority: 1
    cost_per_token: {input: 0.0000001, output: 0.0000001}
  - id: "ch_backup"
    provider: "mock"
    model_name: "gpt-4o-mini"
    api_key: "key-backup"
    priority: 2
    cost_per_token: {input: 0.000001, output: 0.000001}
`

// fleet is three replicas, Redis and the mock.
type fleet struct {
	t      *testing.T
	redis  *redistest.Server
	mock   *mockllm.Server
	cfg    string
	cache  string
	dir    string
	nodes  []*proc
	client *http.Client
}

// Discovery settings: off, or every 3 s (every discovery rewrites the
// cache with its time, so the leader's refresh cycle then builds a new
// generation every 3 s, which ends every cooldown, as a reload does).
const (
	discoveryOff   = "    enabled: false"
	discoveryOften = "    enabled: true\n    interval_minutes: 0.05"
)

func startFleet(t *testing.T, n int, discovery string) *fleet {
	t.Helper()
	return startFleetYAML(t, n, strings.ReplaceAll(configYAML, "DISCOVERY", discovery))
}

// startFleetWith is startFleet with extra top-level YAML appended to the
// config (e.g. a usage: section).
func startFleetWith(t *testing.T, n int, discovery, extraYAML string) *fleet {
	return startFleetYAML(t, n, strings.ReplaceAll(configYAML, "DISCOVERY", discovery)+extraYAML)
}

// startFleetYAML starts n replicas of the config yaml (MOCK stands for the
// mock's URL). Without a state: section the replicas share nothing.
func startFleetYAML(t *testing.T, n int, yaml string) *fleet {
	t.Helper()
	f := &fleet{t: t, redis: redistest.StartWithPassword(t, redisPassword), dir: t.TempDir(),
		client: &http.Client{Timeout: 30 * time.Second}}
	mock, err := mockllm.Start(mockllm.Config{Record: 50000})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { mock.Close() })
	f.mock = mock
	f.cfg, f.cache = filepath.Join(f.dir, "config"), filepath.Join(f.dir, "cache")
	for _, d := range []string{f.cfg, f.cache} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	yaml = strings.ReplaceAll(yaml, "MOCK", mock.URL())
	if err := os.WriteFile(filepath.Join(f.cfg, "router_config.yaml"), []byte(yaml), 0o644); err != nil {
		t.Fatal(err)
	}
	b, err := compiler.BuildBytes(f.cfg, f.cache, compiler.Options{Generation: 1}, nil)
	if err != nil {
		t.Fatalf("compile the fleet's config: %v", err)
	}
	for i := range n {
		snap := filepath.Join(f.dir, fmt.Sprintf("r%d", i), "router.snap")
		if err := os.MkdirAll(filepath.Dir(snap), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := servertest.WriteFileAtomic(snap, b); err != nil {
			t.Fatal(err)
		}
		p := f.start(snap)
		f.nodes = append(f.nodes, p)
	}
	for _, p := range f.nodes {
		if !strings.Contains(yaml, "redis_url") {
			break
		}
		f.eventually("replica connected to Redis", func() bool {
			st := p.shared(f)
			return !st["degraded"].(bool) && st["subscribed"] == true
		})
	}
	t.Cleanup(f.noPassword)
	return f
}

func (f *fleet) start(snap string) *proc {
	f.t.Helper()
	cmd := exec.Command(routerd, "-addr", "127.0.0.1:0", "-log-format", "json",
		"-snapshot", snap, "-config", f.cfg, "-cache", f.cache)
	cmd.Env = append(os.Environ(), "FLEET_REDIS_URL="+f.redis.URL())
	p := startProc(f.t, cmd)
	if p.url == "" {
		f.t.Fatalf("routerd did not start:\n%s", p.logText())
	}
	return p
}

// eventually polls cond every 10 ms for up to 60 s and returns how long it
// took (the tests log it; they assert no wall-clock bound).
func (f *fleet) eventually(what string, cond func() bool) time.Duration {
	f.t.Helper()
	start := time.Now()
	for !cond() {
		if time.Since(start) > 60*time.Second {
			for i, p := range f.nodes {
				f.t.Logf("replica %d log:\n%s", i, p.logText())
			}
			f.t.Fatalf("%s: not true after %v", what, time.Since(start))
		}
		time.Sleep(10 * time.Millisecond)
	}
	return time.Since(start)
}

// health is GET /health of a replica (nil when it does not answer).
func (p *proc) health(f *fleet) map[string]any {
	resp, err := f.client.Get(p.url + "/health")
	if err != nil {
		return nil
	}
	defer resp.Body.Close()
	var m map[string]any
	if json.NewDecoder(resp.Body).Decode(&m) != nil {
		return nil
	}
	return m
}

func (p *proc) shared(f *fleet) map[string]any {
	h := p.health(f)
	if h == nil {
		return map[string]any{"degraded": true, "leader": false}
	}
	s, _ := h["shared_state"].(map[string]any)
	if s == nil {
		f.t.Fatalf("/health has no shared_state: %v", h)
	}
	return s
}

func (p *proc) generation(f *fleet) float64 {
	h := p.health(f)
	if h == nil {
		return -1
	}
	return h["snapshot"].(map[string]any)["generation"].(float64)
}

// filtered reports whether the replica's router filters channel out of
// the candidates of the model now (GET /v1/admin/route).
func (p *proc) filtered(f *fleet, channel string) bool {
	resp, err := f.client.Get(p.url + "/v1/admin/route?model=" + model)
	if err != nil {
		return false
	}
	defer resp.Body.Close()
	var m struct {
		Explain struct {
			Filtered []struct {
				Channel string `json:"channel"`
			} `json:"filtered"`
		} `json:"explain"`
	}
	if json.NewDecoder(resp.Body).Decode(&m) != nil {
		return false
	}
	for _, x := range m.Explain.Filtered {
		if x.Channel == channel {
			return true
		}
	}
	return false
}

// metrics is the text of GET /metrics of a replica ("" when it does not
// answer).
func (f *fleet) metrics(p *proc) string {
	resp, err := f.client.Get(p.url + "/metrics")
	if err != nil {
		return ""
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

// chat sends one chat request and returns its status (0: no answer).
func (f *fleet) chat(p *proc) (int, string) {
	body := `{"model":"` + model + `","messages":[{"role":"user","content":"hi"}]}`
	resp, err := f.client.Post(p.url+"/v1/chat/completions", "application/json", strings.NewReader(body))
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// keyRequests counts the mock's chat requests made with key.
func (f *fleet) keyRequests(key string) int {
	n := 0
	for _, r := range f.mock.Requests() {
		if r.Key == key && strings.HasSuffix(r.Path, "/chat/completions") {
			n++
		}
	}
	return n
}

// proc is a running routerd.
type proc struct {
	t    *testing.T
	cmd  *exec.Cmd
	url  string
	mu   sync.Mutex
	logs []string
	done chan struct{}
}

func startProc(t *testing.T, cmd *exec.Cmd) *proc {
	t.Helper()
	p := &proc{t: t, cmd: cmd, done: make(chan struct{})}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	listening := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			line := sc.Text()
			p.mu.Lock()
			p.logs = append(p.logs, line)
			p.mu.Unlock()
			var m map[string]any
			if json.Unmarshal([]byte(line), &m) == nil && m["msg"] == "routerd listening" {
				select {
				case listening <- m["addr"].(string):
				default:
				}
			}
		}
		_ = cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(p.kill)
	select {
	case addr := <-listening:
		p.url = "http://" + addr
	case <-p.done:
	case <-time.After(60 * time.Second):
	}
	return p
}

// kill ends the process at once (SIGKILL), as a crash would.
func (p *proc) kill() {
	select {
	case <-p.done:
	default:
		_ = p.cmd.Process.Kill()
		<-p.done
	}
}

func (p *proc) logText() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return strings.Join(p.logs, "\n")
}
