package discover

import (
	"context"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"smartrouter/fixtures/mockllm"
)

// scaleDir is the scale installation (38 channels, a 50 MB discovery
// cache); go run ./fixtures/gen writes it.
const scaleDir = "../../fixtures/generated/scale"

// toMock sends every request to the mock upstream, keeping the path (so
// each provider's shape is still chosen by its path and headers), and
// counts the answer bytes.
type toMock struct {
	host  string
	bytes atomic.Int64
}

func (m *toMock) RoundTrip(r *http.Request) (*http.Response, error) {
	u := *r.URL
	u.Scheme, u.Host = "http", m.host
	r2 := r.Clone(r.Context())
	r2.URL, r2.Host = &u, m.host
	resp, err := http.DefaultTransport.RoundTrip(r2)
	if err == nil {
		resp.Body = &countingBody{ReadCloser: resp.Body, n: &m.bytes}
	}
	return resp, err
}

type countingBody struct {
	io.ReadCloser
	n *atomic.Int64
}

func (c *countingBody) Read(p []byte) (int, error) {
	n, err := c.ReadCloser.Read(p)
	c.n.Add(int64(n))
	return n, err
}

// BenchmarkDiscoverScale asks the scale installation's channels for their
// lists, all served by mockllm (about 1.3 MB per answer, 50 MB in all),
// and merges them into a copy of its 50 MB discovery cache. The target is
// 2 s per run.
func BenchmarkDiscoverScale(b *testing.B) {
	if _, err := os.Stat(filepath.Join(scaleDir, "config", "router_config.yaml")); err != nil {
		b.Skipf("%s is missing; generate it with: go run ./fixtures/gen", scaleDir)
	}
	ids := make([]string, 120)
	for i := range ids {
		ids[i] = "bench-model-" + string(rune('a'+i%26)) + "-" + itoa(i)
	}
	m, err := mockllm.Start(mockllm.Config{Models: ids, DescriptionBytes: 13000})
	if err != nil {
		b.Fatal(err)
	}
	defer m.Close()
	u, _ := url.Parse(m.URL())
	tr := &toMock{host: u.Host}
	cacheDir := b.TempDir()
	orig, err := os.ReadFile(filepath.Join(scaleDir, "cache", "discovered_models.json"))
	if err != nil {
		b.Fatal(err)
	}
	opts := Options{
		ConfigDir: filepath.Join(scaleDir, "config"), CacheDir: cacheDir,
		Client:    &http.Client{Transport: tr},
		LookupEnv: func(name string) (string, bool) { return "sk-bench-" + name, true },
	}
	var rep *Report
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		if err := os.WriteFile(filepath.Join(cacheDir, "discovered_models.json"), orig, 0o600); err != nil {
			b.Fatal(err)
		}
		tr.bytes.Store(0)
		b.StartTimer()
		rep, err = Run(context.Background(), opts)
		if err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	ok, failed, skipped := rep.Counts()
	if failed > 0 || ok == 0 {
		for _, c := range rep.Channels {
			if c.Status == StatusError {
				b.Logf("%s: %s", c.ID, c.Error)
			}
		}
		b.Fatalf("%d ok, %d failed", ok, failed)
	}
	b.ReportMetric(float64(ok), "channels-ok")
	b.ReportMetric(float64(skipped), "skipped")
	b.ReportMetric(float64(tr.bytes.Load())/(1<<20), "answer-MiB")
}

func itoa(i int) string {
	if i == 0 {
		return "0"
	}
	var b []byte
	for ; i > 0; i /= 10 {
		b = append([]byte{byte('0' + i%10)}, b...)
	}
	return string(b)
}

// TestScaleDiscoverThenCompile runs discovery on the scale installation
// against the mock, one channel failing, and compiles the merged cache: the
// asked channels serve the mock's models, the failing one its old ones.
func TestScaleDiscoverThenCompile(t *testing.T) {
	if testing.Short() {
		t.Skip("reads and writes 50 MB")
	}
	if _, err := os.Stat(filepath.Join(scaleDir, "config", "router_config.yaml")); err != nil {
		t.Skipf("%s is missing; generate it with: go run ./fixtures/gen", scaleDir)
	}
	before := compiled(t, scaleDir)
	m := startMock(t, mockllm.Config{Models: []string{"mock-one", "mock-two"}})
	u, _ := url.Parse(m.URL())
	cacheDir := t.TempDir()
	orig, err := os.ReadFile(filepath.Join(scaleDir, "cache", "discovered_models.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(cacheDir, "discovered_models.json"), orig, 0o600); err != nil {
		t.Fatal(err)
	}
	const failing = "openrouter_main"
	failKey := "sk-scale-" + failing
	if err := m.SetRules([]mockllm.Rule{{Key: failKey, Fault: mockllm.FaultHTML}}); err != nil {
		t.Fatal(err)
	}
	cfg, err := os.ReadFile(filepath.Join(scaleDir, "config", "router_config.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	env := envOfChannel(string(cfg), failing)
	rep, err := Run(context.Background(), Options{
		ConfigDir: filepath.Join(scaleDir, "config"), CacheDir: cacheDir,
		Client: &http.Client{Transport: &toMock{host: u.Host}},
		LookupEnv: func(name string) (string, bool) {
			if name == env {
				return failKey, true
			}
			return "sk-scale-other-" + name, true
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	if r := result(t, rep, failing); r.Status != StatusError || !strings.Contains(r.Error, "HTML") {
		t.Fatalf("%s: %+v", failing, r)
	}
	inst := t.TempDir()
	if err := os.Symlink(mustAbs(t, filepath.Join(scaleDir, "config")), filepath.Join(inst, "config")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(cacheDir, filepath.Join(inst, "cache")); err != nil {
		t.Fatal(err)
	}
	after := compiled(t, inst)
	if !equal(after[failing], before[failing]) || len(after[failing]) == 0 {
		t.Errorf("%s: %d models before, %d after", failing, len(before[failing]), len(after[failing]))
	}
	for _, c := range rep.Channels {
		if c.Status == StatusOK && !equal(after[c.ID], []string{"mock-one", "mock-two"}) && !containsAll(after[c.ID], "mock-one", "mock-two") {
			t.Errorf("%s: %v", c.ID, after[c.ID])
		}
	}
}

// envOfChannel finds the ${ENV} name of a channel's api_key in the YAML.
func envOfChannel(yaml, id string) string {
	i := strings.Index(yaml, `id: "`+id+`"`)
	if i < 0 {
		i = strings.Index(yaml, "id: "+id)
	}
	if i < 0 {
		return ""
	}
	rest := yaml[i:]
	j := strings.Index(rest, "${")
	if j < 0 {
		return ""
	}
	k := strings.IndexByte(rest[j:], '}')
	return rest[j+2 : j+k]
}

func mustAbs(t *testing.T, p string) string {
	a, err := filepath.Abs(p)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func containsAll(have []string, want ...string) bool {
	for _, w := range want {
		found := false
		for _, h := range have {
			found = found || h == w
		}
		if !found {
			return false
		}
	}
	return true
}
