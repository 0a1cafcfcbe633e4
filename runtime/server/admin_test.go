package server

import (
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"smartrouter/fixtures/mockllm"
	"smartrouter/format"
	"smartrouter/runtime/internal/servertest"
	"smartrouter/runtime/snapshot"
)

func TestModels(t *testing.T) {
	h := start(t, harnessOpt{})
	a := h.do("GET", PathModels, nil, nil)
	if a.status != 200 {
		t.Fatalf("status %d: %s", a.status, a.body)
	}
	m := a.json(t)
	if m["object"] != "list" {
		t.Errorf("object %v", m["object"])
	}
	data := m["data"].([]any)
	byID := map[string]map[string]any{}
	for _, d := range data {
		e := d.(map[string]any)
		byID[e["id"].(string)] = e
		for _, k := range []string{"id", "object", "created", "owned_by", "tags", "context_length", "parameter_count", "prices", "capabilities", "channel_count"} {
			if _, ok := e[k]; !ok {
				t.Errorf("model %v lacks %q", e["id"], k)
			}
		}
	}
	if len(byID) != 3 {
		t.Fatalf("models %v", byID)
	}
	mini := byID["gpt-4o-mini"]
	if mini["object"] != "model" || mini["channel_count"] != 2.0 || mini["context_length"] != 128000.0 {
		t.Errorf("gpt-4o-mini: %v", mini)
	}
	prices := mini["prices"].(map[string]any)
	if prices["input_usd_per_1m"] != 0.15 || prices["output_usd_per_1m"] != 0.6 {
		t.Errorf("prices %v", prices)
	}
	caps := mini["capabilities"].([]any)
	if len(caps) != 3 || caps[1] != "tools" || caps[2] != "vision" {
		t.Errorf("capabilities %v", caps)
	}
	qwen := byID["qwen/qwen3-8b:free"]
	if qwen["parameter_count"] != 8e9 {
		t.Errorf("parameter_count %v", qwen["parameter_count"])
	}
	tags := map[string]bool{}
	for _, tg := range qwen["tags"].([]any) {
		tags[tg.(string)] = true
	}
	for _, want := range []string{"qwen", "qwen3", "8b", "free", "qwen3-8b", "other"} {
		if !tags[want] {
			t.Errorf("qwen tags %v lack %q", tags, want)
		}
	}
	// Built once per snapshot: the same bytes come back.
	if b := h.do("GET", PathModels, nil, nil); string(b.body) != string(a.body) {
		t.Error("second answer differs")
	}
}

func TestHealthRootAndSnapshotInfo(t *testing.T) {
	h := start(t, harnessOpt{})
	a := h.do("GET", PathHealth, nil, nil)
	if a.status != 200 {
		t.Fatalf("health %d: %s", a.status, a.body)
	}
	m := a.json(t)
	if m["status"] != "healthy" || m["channels"] != 3.0 || m["models"] != 3.0 || m["pairs"] != 4.0 {
		t.Errorf("health %s", a.body)
	}
	snap := m["snapshot"].(map[string]any)
	if snap["generation"] != 1.0 || snap["mode"] != "snapshot" || snap["path"] != h.snapPath {
		t.Errorf("health snapshot %v", snap)
	}
	a = h.do("GET", "/", nil, nil)
	root := a.json(t)
	if root["name"] != Name || root["version"] != "test" || root["generation"] != 1.0 || root["mode"] != "snapshot" {
		t.Errorf("root %s", a.body)
	}
	a = h.do("GET", PathAdminSnap, nil, nil)
	info := a.json(t)
	for k, want := range map[string]any{"loaded": true, "generation": 1.0, "mode": "snapshot", "path": h.snapPath, "format_version": "1.2"} {
		if k == "format_version" {
			if s, _ := info[k].(string); !strings.Contains(s, ".") {
				t.Errorf("format_version %v", info[k])
			}
			continue
		}
		if info[k] != want {
			t.Errorf("snapshot.%s = %v, want %v", k, info[k], want)
		}
	}
}

func TestAdminReload(t *testing.T) {
	h := start(t, harnessOpt{})
	// A new snapshot: generation 2, where gpt-4o-mini is only on ch-b.
	next := h.spec
	next.Generation = 2
	next.Channels = append([]servertest.Channel(nil), h.spec.Channels[1:]...)
	if err := next.WriteFile(h.snapPath); err != nil {
		t.Fatal(err)
	}
	a := h.do("POST", PathAdminReload, nil, nil)
	if a.status != 200 {
		t.Fatalf("reload %d: %s", a.status, a.body)
	}
	m := a.json(t)
	if m["generation"] != 2.0 || m["seq"] != 2.0 || m["status"] != "reloaded" {
		t.Errorf("reload answer %s", a.body)
	}
	if a := h.chat(hello, nil); a.header.Get(HeaderChannel) != "ch-b" {
		t.Errorf("after reload served by %q", a.header.Get(HeaderChannel))
	}

	cases := []struct {
		name   string
		write  func() error
		status int
		reason snapshot.Reason
	}{
		{"corrupt", func() error { return servertest.WriteFileAtomic(h.snapPath, []byte("not a snapshot at all")) }, 422, snapshot.ReasonCorrupt},
		{"missing", func() error { return os.Remove(h.snapPath) }, 404, snapshot.ReasonNotFound},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if err := tc.write(); err != nil {
				t.Fatal(err)
			}
			a := h.do("POST", PathAdminReload, nil, nil)
			if a.status != tc.status || a.errorCode(t) != codeReload {
				t.Fatalf("status %d: %s", a.status, a.body)
			}
			e := a.json(t)["error"].(map[string]any)
			if e["reason"] != string(tc.reason) || e["generation"] != 2.0 {
				t.Errorf("error %v", e)
			}
			// The old snapshot keeps serving.
			if a := h.chat(hello, nil); a.status != 200 || a.header.Get(HeaderChannel) != "ch-b" {
				t.Errorf("after a failed reload: %d via %q", a.status, a.header.Get(HeaderChannel))
			}
			if g := h.do("GET", "/", nil, nil).json(t)["generation"]; g != 2.0 {
				t.Errorf("generation %v after a failed reload", g)
			}
		})
	}
}

func TestAdminRouteExplain(t *testing.T) {
	h := start(t, harnessOpt{mock: mockllm.Config{Rules: []mockllm.Rule{{Key: keyA, Status: 500}}}})
	h.chat(hello, nil) // ch-a fails and cools
	calls := h.mock.Count()
	a := h.do("GET", PathAdminRoute+"?model=gpt-4o-mini&strategy=balanced&max_tokens=100", nil, nil)
	if a.status != 200 {
		t.Fatalf("status %d: %s", a.status, a.body)
	}
	if h.mock.Count() != calls {
		t.Error("explain called the upstream")
	}
	m := a.json(t)
	ex := m["explain"].(map[string]any)
	if ex["strategy"].(map[string]any)["name"] != "balanced" || ex["request"].(map[string]any)["max_tokens"] != 100.0 {
		t.Errorf("explain %v", ex)
	}
	cands, filtered := ex["candidates"].([]any), ex["filtered"].([]any)
	if len(cands) != 1 || cands[0].(map[string]any)["channel"] != "ch-b" {
		t.Errorf("candidates %v", cands)
	}
	if len(filtered) != 1 || filtered[0].(map[string]any)["reason"] != "pair_cooling" {
		t.Errorf("filtered %v", filtered)
	}
	if chans := m["channels"].([]any); len(chans) != 2 {
		t.Errorf("channels %v", chans)
	}
	cases := []struct {
		query   string
		status  int
		outcome string
		code    string
	}{
		{"?model=no-such", 404, codeModel, ""},
		{"?model=tag:gpt,!gpt", 404, codeModel, ""},
		{"?model=text-only-1&vision=1", 503, codeNoChannels, ""},
		{"?model=gpt-4o-mini&strategy=nope", 400, "", codeStrategy},
		{"", 400, "", codeInvalid},
		{"?model=gpt-4o-mini&max_tokens=-1", 400, "", codeInvalid},
	}
	for _, tc := range cases {
		a := h.do("GET", PathAdminRoute+tc.query, nil, nil)
		if a.status != tc.status {
			t.Errorf("%s: status %d, want %d: %s", tc.query, a.status, tc.status, a.body)
			continue
		}
		if tc.code != "" {
			if c := a.errorCode(t); c != tc.code {
				t.Errorf("%s: code %q", tc.query, c)
			}
			continue
		}
		if o := a.json(t)["outcome"]; o != tc.outcome {
			t.Errorf("%s: outcome %v", tc.query, o)
		}
	}
}

func TestMetrics(t *testing.T) {
	h := start(t, harnessOpt{mock: mockllm.Config{Rules: []mockllm.Rule{{Key: keyA, Status: 500, Times: 1}}}})
	h.chat(hello, nil)                                        // ch-a fails, ch-b answers
	h.chat(helloStream, nil)                                  // ch-b
	h.chat(`{"model":"nope","messages":[]}`, nil)             // 404
	h.do("POST", PathAdminReload, nil, nil)                   // success
	os.WriteFile(filepath.Join(t.TempDir(), "x"), nil, 0o600) // no-op
	a := h.do("GET", PathMetrics, nil, nil)
	if a.status != 200 || !strings.HasPrefix(a.header.Get("Content-Type"), "text/plain") {
		t.Fatalf("status %d, type %q", a.status, a.header.Get("Content-Type"))
	}
	text := string(a.body)
	want := map[string]float64{
		`smartrouter_requests_total{code="",status="200"}`:                      2,
		`smartrouter_requests_total{code="model_not_found",status="404"}`:       1,
		`smartrouter_upstream_attempts_total{result="server"}`:                  1,
		`smartrouter_upstream_attempts_total{result="ok"}`:                      2,
		`smartrouter_snapshot_generation`:                                       1,
		`smartrouter_snapshot_seq`:                                              2,
		`smartrouter_snapshot_reloads_total{reason="",result="success"}`:        1,
		`smartrouter_snapshot_reloads_total{reason="corrupt",result="failure"}`: 0,
		`smartrouter_active_cooldowns`:                                          0, // ch-a's 500 cooled it; the reload ended that
		`smartrouter_router_overhead_seconds_count`:                             3,
		`smartrouter_upstream_latency_seconds_count{result="ok"}`:               2,
		`smartrouter_active_streams`:                                            0,
	}
	for series, v := range want {
		re := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(series) + ` (\S+)$`)
		mm := re.FindStringSubmatch(text)
		if mm == nil {
			t.Errorf("no series %s", series)
			continue
		}
		if got, _ := strconv.ParseFloat(mm[1], 64); got != v {
			t.Errorf("%s = %v, want %v", series, got, v)
		}
	}
	if !strings.Contains(text, "go_goroutines") {
		t.Error("no Go runtime metrics")
	}
}

// A stale snapshot at start is replaced by the fallback build (here a
// hand-made one standing in for the compiler's).
func TestStaleSnapshotFallsBack(t *testing.T) {
	mock, err := mockllm.Start(mockllm.Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer mock.Close()
	dir := t.TempDir()
	cfg := filepath.Join(dir, "config")
	os.MkdirAll(cfg, 0o755)
	os.WriteFile(filepath.Join(cfg, "router_config.yaml"), []byte("channels: []\n"), 0o600)
	src, err := servertest.Source("config", cfg, "router_config.yaml")
	if err != nil {
		t.Fatal(err)
	}
	stale := baseSpec(mock.URL())
	stale.Sources = []format.Source{src}
	path := filepath.Join(dir, "router.snap")
	if err := stale.WriteFile(path); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(cfg, "router_config.yaml"), []byte("channels: [changed]\n"), 0o600)
	fresh := baseSpec(mock.URL())
	fresh.Generation = 7
	fresh.Channels = fresh.Channels[1:] // gpt-4o-mini only on ch-b
	fb, err := fresh.Encode()
	if err != nil {
		t.Fatal(err)
	}
	built := 0
	srv, err := New(context.Background(), Options{Logger: quietLogger(), LookupEnv: lookup(testEnv),
		Snapshot: snapshot.Options{Path: path, ConfigDir: cfg, Fallback: func(context.Context) ([]byte, error) {
			built++
			return fb, nil
		}}})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Shutdown(context.Background())
	if built != 1 {
		t.Errorf("fallback built %d times", built)
	}
	h := srv.Manager().Acquire()
	mode, gen := h.Mode(), h.Generation()
	h.Release()
	if mode != snapshot.ModeFallback || gen != 7 {
		t.Errorf("serving %s generation %d", mode, gen)
	}
}
