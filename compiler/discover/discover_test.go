package discover

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"smartrouter/compiler"
	"smartrouter/compiler/cache"
	"smartrouter/compiler/diag"
	"smartrouter/fixtures/mockllm"
	"smartrouter/format"
)

// startMock starts a mock upstream on 127.0.0.1 for the test.
func startMock(t testing.TB, cfg mockllm.Config) *mockllm.Server {
	t.Helper()
	s, err := mockllm.Start(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// install writes an installation whose providers all point at base and
// whose channels are chans (YAML list items), and returns its folder.
func install(t testing.TB, base, chans string) string {
	t.Helper()
	dir := t.TempDir()
	for _, d := range []string{"config", "cache"} {
		if err := os.Mkdir(filepath.Join(dir, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	y := strings.ReplaceAll(`providers:
  openai:
    base_url: "BASE"
  openrouter:
    adapter_class: "OpenRouterAdapter"
    base_url: "BASE/api/v1"
  anthropic:
    adapter_class: "AnthropicAdapter"
    base_url: "BASE/v1"
    auth_type: "x-api-key"
  gemini:
    base_url: "BASE"
  ollama:
    base_url: "BASE/v1"
channels:
`, "BASE", base) + chans
	if err := os.WriteFile(filepath.Join(dir, "config", "router_config.yaml"), []byte(y), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

func channel(id, provider, key string, extra ...string) string {
	s := "  - id: \"" + id + "\"\n    provider: \"" + provider + "\"\n    model_name: \"auto\"\n    api_key: \"" + key + "\"\n"
	for _, e := range extra {
		s += "    " + e + "\n"
	}
	return s
}

func run(t testing.TB, dir string, opts Options) *Report {
	t.Helper()
	opts.ConfigDir, opts.CacheDir = filepath.Join(dir, "config"), filepath.Join(dir, "cache")
	rep, err := Run(context.Background(), opts)
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	return rep
}

func result(t testing.TB, rep *Report, id string) ChannelResult {
	t.Helper()
	for _, c := range rep.Channels {
		if c.ID == id {
			return c
		}
	}
	t.Fatalf("no result for %s in %+v", id, rep.Channels)
	return ChannelResult{}
}

// compiled compiles the installation and returns the model ids of each
// channel.
func compiled(t testing.TB, dir string) map[string][]string {
	t.Helper()
	var w diag.Warnings
	data, err := compiler.BuildBytes(filepath.Join(dir, "config"), filepath.Join(dir, "cache"), compiler.Options{Reproducible: true}, &w)
	if err != nil {
		t.Fatalf("compile: %v", err)
	}
	for _, x := range w.List() {
		if x.Group == cache.GroupUnknownKey && !strings.Contains(x.Msg, "custom") {
			t.Errorf("the compiler did not expect a field discover wrote: %v", x)
		}
	}
	s, err := format.Open(data)
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	out := map[string][]string{}
	for p := 0; p < s.NumPairs(); p++ {
		pr := s.Pair(uint32(p))
		ch := s.Channels()[pr.Channel].ID
		out[ch] = append(out[ch], s.Model(pr.Model).Name)
	}
	for k := range out {
		sort.Strings(out[k])
	}
	return out
}

// entries reads the discovery cache as generic JSON.
func entries(t testing.TB, dir string) map[string]map[string]any {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, "cache", cache.DiscoveryFile))
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("the cache is not JSON: %v", err)
	}
	return m
}

func sorted(s ...string) []string { sort.Strings(s); return s }

func equal(a, b []string) bool {
	return strings.Join(a, "\x00") == strings.Join(b, "\x00")
}

func TestRunProviderShapes(t *testing.T) {
	m := startMock(t, mockllm.Config{Models: []string{"alpha-7b", "beta:free"}})
	dir := install(t, m.URL(), channel("oa", "openai", "sk-test-openai-1")+
		channel("or", "openrouter", "sk-test-openrouter-1")+
		channel("an", "anthropic", "sk-test-anthropic-1")+
		channel("ge", "gemini", "test-gemini-key-1")+
		channel("ol", "ollama", "")+
		channel("nokey", "openai", "YOUR_KEY_HERE", `base_url: "https://api.example.com/v1"`)+
		channel("off", "openai", "sk-test-off-1", "enabled: false"))
	var events []Event
	rep := run(t, dir, Options{Progress: func(e Event) { events = append(events, e) }})
	for _, id := range []string{"oa", "or", "an", "ge", "ol"} {
		r := result(t, rep, id)
		if r.Status != StatusOK || r.Models != 2 || !equal(sorted(r.Added...), []string{"alpha-7b", "beta:free"}) {
			t.Errorf("%s: %+v, want ok with 2 models added", id, r)
		}
	}
	for _, id := range []string{"nokey", "off"} {
		if r := result(t, rep, id); r.Status != StatusSkipped {
			t.Errorf("%s: %+v, want skipped", id, r)
		}
	}
	if !rep.Changed || len(events) != 5 || events[4].Done != 7 || events[4].Total != 7 {
		t.Errorf("changed %v, events %+v", rep.Changed, events)
	}
	got := compiled(t, dir)
	for _, id := range []string{"oa", "or", "an", "ge", "ol"} {
		if !equal(got[id], []string{"alpha-7b", "beta:free"}) {
			t.Errorf("compiled %s: %v", id, got[id])
		}
	}
	e := entries(t, dir)
	// Each shape was recognised: its own answer is kept as response_data.
	checks := map[string]string{"or": "top_provider", "an": "has_more", "ge": "inputTokenLimit", "ol": "parameter_size", "oa": `"object":"list"`}
	for id, want := range checks {
		raw, _ := json.Marshal(e[id]["response_data"])
		if !strings.Contains(string(raw), want) {
			t.Errorf("%s: response_data lacks %s: %.200s", id, want, raw)
		}
		if e[id]["status"] != "success" || e[id]["channel_id"] != id {
			t.Errorf("%s: entry %v", id, e[id]["status"])
		}
	}
	or := e["or"]["models_data"].(map[string]any)["beta:free"].(map[string]any)
	if or["context_length"] != 131072.0 || or["pricing"].(map[string]any)["prompt"] != "0" || or["architecture"] == nil {
		t.Errorf("openrouter models_data: %v", or)
	}
	if p := e["or"]["models_pricing"].(map[string]any)["beta:free"].(map[string]any); p["is_free"] != true {
		t.Errorf("openrouter models_pricing: %v", p)
	}
	ge := e["ge"]["models_data"].(map[string]any)["alpha-7b"].(map[string]any)
	if ge["max_input_tokens"] != 1048576.0 || ge["max_output_tokens"] != 8192.0 {
		t.Errorf("gemini models_data: %v", ge)
	}
	if e["ol"]["models_data"].(map[string]any)["alpha-7b"].(map[string]any)["parameter_size_text"] != "8b" {
		t.Errorf("ollama models_data: %v", e["ol"]["models_data"])
	}
	b, _ := os.ReadFile(filepath.Join(dir, "cache", cache.DiscoveryFile))
	for _, k := range []string{"sk-test-openai-1", "sk-test-openrouter-1", "sk-test-anthropic-1", "test-gemini-key-1"} {
		if bytes.Contains(b, []byte(k)) {
			t.Errorf("the cache holds the key %s", k)
		}
	}
	if _, ok := e["nokey"]; ok {
		t.Error("a skipped channel got an entry")
	}
}

func TestRunBadAnswersKeepLastGood(t *testing.T) {
	cases := []struct {
		name string
		rule mockllm.Rule
		want string
	}{
		{"html", mockllm.Rule{Fault: mockllm.FaultHTML}, "HTML page"},
		{"500", mockllm.Rule{Status: 500}, "HTTP 500"},
		{"401", mockllm.Rule{Status: 401}, "HTTP 401"},
		{"truncated", mockllm.Rule{Fault: mockllm.FaultTruncate}, "cut"},
		{"huge", mockllm.Rule{Fault: mockllm.FaultHuge, Size: MaxBody + 1<<20}, "larger than 32 MB"},
		{"hang", mockllm.Rule{Fault: mockllm.FaultHang}, "no answer within"},
		{"redirect loop", mockllm.Rule{Fault: mockllm.FaultRedirect}, "redirects"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			m := startMock(t, mockllm.Config{Models: []string{"good-1", "good-2"}})
			key := "sk-test-bad-answer-1"
			dir := install(t, m.URL(), channel("ch", "openai", key)+channel("other", "openai", "sk-test-other-1"))
			opts := Options{Timeout: 2 * time.Second}
			if c.name == "hang" {
				opts.Timeout = 200 * time.Millisecond
			}
			run(t, dir, opts)
			before := entries(t, dir)["ch"]
			m.SetModels([]string{"good-1", "good-2", "new-3"})
			rule := c.rule
			rule.Key = key
			if err := m.SetRules([]mockllm.Rule{rule}); err != nil {
				t.Fatal(err)
			}
			rep := run(t, dir, opts)
			r := result(t, rep, "ch")
			if r.Status != StatusError || !strings.Contains(r.Error, c.want) || r.Models != 2 {
				t.Fatalf("result %+v, want an error containing %q and the 2 kept models", r, c.want)
			}
			if strings.Contains(r.Error, key) {
				t.Errorf("the error holds the key: %s", r.Error)
			}
			if o := result(t, rep, "other"); o.Status != StatusOK || !equal(o.Added, []string{"new-3"}) {
				t.Errorf("the other channel: %+v", o)
			}
			after := entries(t, dir)["ch"]
			if after["status"] != "success" || after["last_error"] != r.Error || after["last_error_at"] == nil {
				t.Errorf("entry after the failure: status %v, last_error %v", after["status"], after["last_error"])
			}
			if ab, bb := mustJSON(after["models_data"]), mustJSON(before["models_data"]); ab != bb {
				t.Errorf("models_data changed: %s", ab)
			}
			if got := compiled(t, dir); !equal(got["ch"], []string{"good-1", "good-2"}) || !equal(got["other"], []string{"good-1", "good-2", "new-3"}) {
				t.Errorf("compiled: %v", got)
			}
			// The next good answer clears the error.
			_ = m.SetRules(nil)
			run(t, dir, opts)
			if e := entries(t, dir)["ch"]; e["last_error"] != nil || len(e["models"].([]any)) != 3 {
				t.Errorf("after recovery: %v", e["models"])
			}
		})
	}
}

func mustJSON(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

func TestRunFirstFailureWritesErrorEntry(t *testing.T) {
	m := startMock(t, mockllm.Config{Rules: []mockllm.Rule{{Key: "sk-test-down-1", Status: 503}}})
	dir := install(t, m.URL(), channel("ch", "openai", "sk-test-down-1", `configured_models: ["conf-a"]`))
	rep := run(t, dir, Options{})
	if r := result(t, rep, "ch"); r.Status != StatusError || r.Kind != KindServerError {
		t.Fatalf("%+v", r)
	}
	if e := entries(t, dir)["ch"]; e["status"] != "error" || !strings.Contains(e["error"].(string), "503") {
		t.Errorf("entry %v", e)
	}
	if got := compiled(t, dir); !equal(got["ch"], []string{"conf-a"}) {
		t.Errorf("compiled %v, want the configured model", got)
	}
}

func TestRunUnchangedLeavesFile(t *testing.T) {
	m := startMock(t, mockllm.Config{Models: []string{"a", "b"}})
	dir := install(t, m.URL(), channel("ch", "openai", "sk-test-same-1"))
	clock := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	now := func() time.Time { return clock }
	if rep := run(t, dir, Options{Now: now}); !rep.Changed {
		t.Fatal("the first run did not write")
	}
	p := filepath.Join(dir, "cache", cache.DiscoveryFile)
	first, _ := os.ReadFile(p)
	clock = clock.Add(time.Hour)
	rep := run(t, dir, Options{Now: now})
	second, _ := os.ReadFile(p)
	if rep.Changed || !bytes.Equal(first, second) {
		t.Errorf("same models: changed %v", rep.Changed)
	}
	m.SetModels([]string{"b", "c"})
	rep = run(t, dir, Options{Now: now})
	r := result(t, rep, "ch")
	if !rep.Changed || !equal(r.Added, []string{"c"}) || !equal(r.Removed, []string{"a"}) {
		t.Errorf("changed %v, %+v", rep.Changed, r)
	}
	if e := entries(t, dir)["ch"]; e["last_updated"] != "2026-01-02T04:04:05.000000" {
		t.Errorf("last_updated %v", e["last_updated"])
	}
}

func TestRunKeepsOtherEntriesAndKeyForm(t *testing.T) {
	m := startMock(t, mockllm.Config{Models: []string{"x"}})
	key := "sk-test-hashed-1"
	h := keyHash(key)
	dir := install(t, m.URL(), channel("hashed", "openai", key)+channel("plain", "openai", "sk-test-plain-1")+
		channel("untouched", "openai", "YOUR_KEY_HERE", `base_url: "https://api.example.com/v1"`))
	// An entry the run does not refresh, with what Python writes and
	// encoding/json refuses (NaN), and unknown members.
	other := `{"channel_id": "untouched", "models": ["u1"], "status": "success", "response_data": {"v": NaN}, "custom": [1, {"a": "}"}]}`
	old := `{"hashed_0badc0de": {"channel_id": "hashed", "models": ["old"], "status": "success"},
 "untouched": ` + other + `,
 "plain": {"channel_id": "plain", "models": ["p"], "status": "success", "user_level": "pro", "api_key": "sk-plaintext-old"}}`
	if err := os.WriteFile(filepath.Join(dir, "cache", cache.DiscoveryFile), []byte(old), 0o600); err != nil {
		t.Fatal(err)
	}
	rep := run(t, dir, Options{})
	if r := result(t, rep, "hashed"); r.Key != "hashed_"+h || r.Status != StatusOK {
		t.Errorf("hashed: %+v", r)
	}
	if r := result(t, rep, "plain"); r.Key != "plain" || !equal(r.Removed, []string{"p"}) {
		t.Errorf("plain: %+v", r)
	}
	b, _ := os.ReadFile(filepath.Join(dir, "cache", cache.DiscoveryFile))
	s := string(b)
	if !strings.Contains(s, other) || !strings.Contains(s, `"hashed_0badc0de": {"channel_id": "hashed", "models": ["old"], "status": "success"}`) {
		t.Errorf("entries not refreshed were not kept byte for byte:\n%s", s)
	}
	if strings.Contains(s, "sk-plaintext-old") || !strings.Contains(s, `"user_level": "pro"`) {
		t.Error("a refreshed entry kept the plaintext key or lost an unknown member")
	}
	if strings.Index(s, `"hashed_0badc0de"`) > strings.Index(s, `"untouched"`) || !strings.Contains(s, `"hashed_`+h+`"`) {
		t.Error("order or the hashed key form is wrong")
	}
	if got := compiled(t, dir); !equal(got["hashed"], []string{"x"}) || !equal(got["plain"], []string{"x"}) {
		t.Errorf("compiled %v", got)
	}
}

func TestRunChannelsAndErrors(t *testing.T) {
	m := startMock(t, mockllm.Config{})
	dir := install(t, m.URL(), channel("a", "openai", "sk-test-a-1")+channel("b", "openai", "sk-test-b-1"))
	rep := run(t, dir, Options{Channels: []string{"b"}})
	if len(rep.Channels) != 1 || rep.Channels[0].ID != "b" {
		t.Errorf("channels %+v", rep.Channels)
	}
	_, err := Run(context.Background(), Options{ConfigDir: filepath.Join(dir, "config"), CacheDir: filepath.Join(dir, "cache"), Channels: []string{"zz"}})
	if err == nil || !strings.Contains(err.Error(), `no channel "zz"`) {
		t.Errorf("unknown channel: %v", err)
	}
	_, err = Run(context.Background(), Options{ConfigDir: filepath.Join(dir, "config"), CacheDir: filepath.Join(dir, "nope")})
	if err == nil || !strings.Contains(err.Error(), "create it") {
		t.Errorf("missing cache folder: %v", err)
	}
	if err := os.WriteFile(filepath.Join(dir, "cache", cache.DiscoveryFile), []byte(`{"a": {"models": [`), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err = Run(context.Background(), Options{ConfigDir: filepath.Join(dir, "config"), CacheDir: filepath.Join(dir, "cache")})
	if err == nil || !strings.Contains(err.Error(), "move it away") {
		t.Errorf("corrupt cache: %v", err)
	}
}

func TestListURL(t *testing.T) {
	cases := []struct {
		sh        Shape
		base, url string
	}{
		{ShapeOpenAI, "https://api.openai.com", "https://api.openai.com/v1/models"},
		{ShapeOpenAI, "https://api.openai.com/v1/", "https://api.openai.com/v1/models"},
		{ShapeOpenAI, "https://ark.cn-beijing.volces.com/api/v3", "https://ark.cn-beijing.volces.com/api/v3/models"},
		{ShapeOpenRouter, "https://openrouter.ai/api/v1", "https://openrouter.ai/api/v1/models"},
		{ShapeAnthropic, "https://api.anthropic.com", "https://api.anthropic.com/v1/models"},
		{ShapeGemini, "https://generativelanguage.googleapis.com", "https://generativelanguage.googleapis.com/v1beta/models"},
		{ShapeGemini, "https://generativelanguage.googleapis.com/v1beta", "https://generativelanguage.googleapis.com/v1beta/models"},
		{ShapeOllama, "http://127.0.0.1:11434/v1", "http://127.0.0.1:11434/api/tags"},
	}
	for _, c := range cases {
		if got := listURL(c.sh, c.base); got != c.url {
			t.Errorf("listURL(%s, %s) = %s, want %s", c.sh, c.base, got, c.url)
		}
	}
}

func TestRunModelsURLAndFallbacks(t *testing.T) {
	good := startMock(t, mockllm.Config{Models: []string{"from-fallback"}})
	bad := startMock(t, mockllm.Config{Rules: []mockllm.Rule{{Status: 502}}})
	dir := install(t, bad.URL(), channel("ch", "openai", "sk-test-fallback-1",
		`models_url: "`+bad.URL()+`/custom/models?token=secret-token"`,
		`fallback_urls: ["`+bad.URL()+`/v1/models", "`+good.URL()+`/v1/models"]`)+
		channel("none", "openai", "sk-test-fallback-2", `models_url: "`+bad.URL()+`/v1/models"`, `fallback_urls: ["`+bad.URL()+`/x/models"]`))
	rep := run(t, dir, Options{})
	if r := result(t, rep, "ch"); r.Status != StatusOK || r.Models != 1 {
		t.Errorf("ch: %+v", r)
	}
	r := result(t, rep, "none")
	if r.Status != StatusError || !strings.Contains(r.Error, "HTTP 502") || !strings.Contains(r.Error, "1 other address failed too") {
		t.Errorf("none: %+v", r)
	}
	if e := entries(t, dir)["ch"]; e["models_url"] != good.URL()+"/v1/models" {
		t.Errorf("models_url %v", e["models_url"])
	}
	b, _ := os.ReadFile(filepath.Join(dir, "cache", cache.DiscoveryFile))
	if strings.Contains(string(b), "secret-token") {
		t.Error("the cache holds a query token")
	}
}

func TestRunCanceledWritesNothing(t *testing.T) {
	m := startMock(t, mockllm.Config{Rules: []mockllm.Rule{{Fault: mockllm.FaultHang}}})
	dir := install(t, m.URL(), channel("ch", "openai", "sk-test-cancel-1"))
	ctx, cancel := context.WithCancel(context.Background())
	opts := Options{ConfigDir: filepath.Join(dir, "config"), CacheDir: filepath.Join(dir, "cache"),
		Progress: func(Event) {}}
	cancel() // as on SIGINT: the calls fail, and no failure is recorded
	if _, err := Run(ctx, opts); err == nil || !strings.Contains(err.Error(), "the cache was not changed") {
		t.Errorf("err %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "cache", cache.DiscoveryFile)); !os.IsNotExist(err) {
		t.Errorf("a cache was written: %v", err)
	}
	kctx, kcancel := context.WithCancel(context.Background())
	kcancel()
	if _, err := ValidateKeys(kctx, KeyOptions{ConfigDir: opts.ConfigDir, CacheDir: opts.CacheDir}); err == nil {
		t.Error("ValidateKeys with a canceled context succeeded")
	}
}
