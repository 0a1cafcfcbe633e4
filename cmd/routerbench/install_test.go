package main

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

const sampleConfig = `# a comment
auth:
  enabled: true
  api_token: "${ROUTER_API_TOKEN}"
  admin:
    enabled: true
    admin_token: literal-admin
providers:
  openai:
    base_url: "https://api.openai.com/v1"
    auth_type: bearer
  local:
    auth_type: bearer
channels:
  - id: a
    provider: openai
    api_key: "${OPENAI_KEY_1}"
    weight: 1.0
  - id: relay
    provider: openai
    api_key: "${RELAY_KEY}"
    base_url: ["https://r1.example/v1", "https://r2.example/v1"]
  - id: b
    provider: local
    api_key: "${OPENAI_KEY_1}"
    base_url: https://b.example/v1
`

func TestRewriteBaseURLs(t *testing.T) {
	const mock = "http://127.0.0.1:9/v1"
	out, n, err := rewriteBaseURLs([]byte(sampleConfig), mock)
	if err != nil {
		t.Fatal(err)
	}
	// Two providers (one added) and two channels with their own base_url.
	if n != 4 {
		t.Errorf("changed %d base URLs, want 4", n)
	}
	var cfg struct {
		Auth struct {
			APIToken string `yaml:"api_token"`
		} `yaml:"auth"`
		Providers map[string]struct {
			BaseURL  string `yaml:"base_url"`
			AuthType string `yaml:"auth_type"`
		} `yaml:"providers"`
		Channels []struct {
			ID      string `yaml:"id"`
			APIKey  string `yaml:"api_key"`
			BaseURL any    `yaml:"base_url"`
			Weight  string `yaml:"weight"`
		} `yaml:"channels"`
	}
	if err := yaml.Unmarshal(out, &cfg); err != nil {
		t.Fatalf("rewritten YAML does not parse: %v\n%s", err, out)
	}
	for name, p := range cfg.Providers {
		if p.BaseURL != mock || p.AuthType != "bearer" {
			t.Errorf("provider %s = %+v", name, p)
		}
	}
	want := map[string]any{"a": nil, "relay": mock, "b": mock}
	for _, c := range cfg.Channels {
		if c.BaseURL != want[c.ID] {
			t.Errorf("channel %s base_url = %v, want %v", c.ID, c.BaseURL, want[c.ID])
		}
	}
	if cfg.Channels[0].APIKey != "${OPENAI_KEY_1}" || cfg.Auth.APIToken != "${ROUTER_API_TOKEN}" || cfg.Channels[0].Weight != "1.0" {
		t.Errorf("other values changed: %+v", cfg)
	}
	if strings.Contains(string(out), "example") || strings.Contains(string(out), "openai.com") {
		t.Errorf("a provider URL survived:\n%s", out)
	}

	for _, bad := range []string{"- a\n- b\n", "a: [\n"} {
		if _, _, err := rewriteBaseURLs([]byte(bad), mock); err == nil {
			t.Errorf("rewriteBaseURLs(%q): no error", bad)
		}
	}
}

func TestEnvAndTokens(t *testing.T) {
	names := envRefs(sampleConfig + " ${bad-name} $PLAIN ${OPENAI_KEY_1}")
	if want := []string{"OPENAI_KEY_1", "RELAY_KEY", "ROUTER_API_TOKEN"}; !slices.Equal(names, want) {
		t.Errorf("envRefs = %v, want %v", names, want)
	}
	env, vals := benchEnv(names)
	if len(env) != 3 || env[2] != "ROUTER_API_TOKEN=bench-router_api_token" {
		t.Errorf("benchEnv = %v", env)
	}
	for _, v := range vals {
		if strings.Contains(v, "fail-") {
			t.Errorf("value %q would make the mock fail", v)
		}
	}
	tok, err := tokensOf([]byte(sampleConfig), vals)
	if err != nil {
		t.Fatal(err)
	}
	if tok != (authTokens{API: "bench-router_api_token", Admin: "literal-admin"}) {
		t.Errorf("tokensOf = %+v", tok)
	}
	if tok, err := tokensOf([]byte("server: {}\n"), vals); err != nil || tok != (authTokens{}) {
		t.Errorf("tokensOf without auth = %+v, %v", tok, err)
	}
}

func TestPrepareInstall(t *testing.T) {
	src := t.TempDir()
	if err := os.MkdirAll(filepath.Join(src, "config", "pricing"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(src, "config", "router_config.yaml"), []byte(sampleConfig), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(src, "config", "pricing", "p.json"), []byte(`{"x":1}`), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(src, "cache"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(src, "cache", "discovered_models.json"), []byte(`{}`), 0o600); err != nil {
		t.Fatal(err)
	}
	dst := t.TempDir()
	in, err := prepareInstall("s", src, dst, "http://127.0.0.1:9/v1")
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(dst, "config", "router_config.yaml"))
	if err != nil || strings.Contains(string(b), "openai.com") {
		t.Errorf("config copy not rewritten: %v\n%s", err, b)
	}
	if b, err := os.ReadFile(filepath.Join(dst, "config", "pricing", "p.json")); err != nil || string(b) != `{"x":1}` {
		t.Errorf("pricing file not copied: %v %q", err, b)
	}
	if orig, _ := os.ReadFile(filepath.Join(src, "config", "router_config.yaml")); string(orig) != sampleConfig {
		t.Error("the source config was modified")
	}
	// The cache folder links to the fixture's files; what routerd writes
	// there stays out of the fixture.
	if b, err := os.ReadFile(filepath.Join(in.CacheDir, "discovered_models.json")); err != nil || string(b) != `{}` {
		t.Errorf("cache not linked: %v %q", err, b)
	}
	os.WriteFile(filepath.Join(in.CacheDir, "request_patterns.json"), []byte(`{}`), 0o600)
	if _, err := os.Stat(filepath.Join(src, "cache", "request_patterns.json")); err == nil {
		t.Error("a file written into the install's cache reached the fixture")
	}
	if in.CacheDir != filepath.Join(dst, "cache") || in.Tokens.API != "bench-router_api_token" || len(in.Env) != 3 {
		t.Errorf("install = %+v", in)
	}

	empty := t.TempDir()
	if err := os.MkdirAll(filepath.Join(empty, "config"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(empty, "config", "router_config.yaml"), []byte("server: {}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := prepareInstall("e", empty, t.TempDir(), "http://x/v1"); err == nil {
		t.Error("prepareInstall with no base_url anywhere: no error")
	}
}

func TestCheckAnswer(t *testing.T) {
	stream := "data: {\"object\":\"chat.completion.chunk\"}\n\ndata: [DONE]\n\n"
	tests := []struct {
		name   string
		code   int
		errStr string
		body   string
		stream bool
		ok     bool
	}{
		{"plain answer", 200, "", `{"object":"chat.completion","choices":[]}`, false, true},
		{"transport error", 0, "connection refused", "", false, false},
		{"status 503", 503, "", `{"error":{}}`, false, false},
		{"200 without choices", 200, "", `{}`, false, false},
		{"stream", 200, "", stream, true, true},
		{"stream without DONE", 200, "", "data: {\"object\":\"chat.completion.chunk\"}\n\n", true, false},
		{"stream with two DONE", 200, "", stream + "data: [DONE]\n\n", true, false},
		{"stream of nothing", 200, "", "data: [DONE]\n\n", true, false},
	}
	for _, tt := range tests {
		why := checkAnswer(tt.code, tt.errStr, []byte(tt.body), tt.stream)
		if (why == "") != tt.ok {
			t.Errorf("%s: checkAnswer = %q, want ok %v", tt.name, why, tt.ok)
		}
	}
}

func TestRankModels(t *testing.T) {
	in := []modelEntry{
		{ID: "embed", ChannelCount: 20, Capabilities: []string{"embeddings"}},
		{ID: "b", ChannelCount: 3, Capabilities: []string{"chat"}},
		{ID: "a", ChannelCount: 3, Capabilities: []string{"chat", "tools"}},
		{ID: "unknown-caps", ChannelCount: 5},
		{ID: "top", ChannelCount: 10, Capabilities: []string{"chat"}},
	}
	var got []string
	for _, m := range rankModels(in) {
		got = append(got, m.ID)
	}
	if want := []string{"top", "unknown-caps", "a", "b", "embed"}; !slices.Equal(got, want) {
		t.Errorf("rankModels = %v, want %v", got, want)
	}
	if in[0].ID != "embed" {
		t.Error("rankModels reordered its input")
	}
}

func TestLastLine(t *testing.T) {
	for in, want := range map[string]string{"a\nb\n\n": "b", "one": "one", "": "", "x\n  y  \n": "y"} {
		if got := lastLine(in); got != want {
			t.Errorf("lastLine(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestLogError(t *testing.T) {
	tests := map[string]string{
		`time=x level=ERROR msg="cannot start" error="load the snapshot: stale: \"a\" changed; recompile"`: `load the snapshot: stale: "a" changed; recompile`,
		`time=x level=ERROR msg="cannot start" error=plain`:                                                `time=x level=ERROR msg="cannot start" error=plain`,
		`no error here`:         `no error here`,
		`x error="unterminated`: `x error="unterminated`,
	}
	for in, want := range tests {
		if got := logError(in); got != want {
			t.Errorf("logError(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestLiftLimits(t *testing.T) {
	src := `providers:
  openrouter:
    rate_limit: 60
  ollama:
    rate_limit: 0
channels:
  - id: a
    daily_limit: 6000
  - id: b
`
	out, n, err := liftLimits([]byte(src))
	if err != nil {
		t.Fatal(err)
	}
	if n != 2 {
		t.Errorf("changed %d limits, want 2", n)
	}
	var cfg struct {
		Providers map[string]struct {
			RateLimit *int64 `yaml:"rate_limit"`
		} `yaml:"providers"`
		Channels []struct {
			ID         string `yaml:"id"`
			DailyLimit *int64 `yaml:"daily_limit"`
		} `yaml:"channels"`
	}
	if err := yaml.Unmarshal(out, &cfg); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if r := cfg.Providers["openrouter"].RateLimit; r == nil || *r != 100000000 {
		t.Errorf("openrouter rate_limit %v\n%s", r, out)
	}
	if r := cfg.Providers["ollama"].RateLimit; r == nil || *r != 0 {
		t.Errorf("a rate_limit of 0 (none) changed: %v", r)
	}
	if d := cfg.Channels[0].DailyLimit; d == nil || *d != 1000000000000 {
		t.Errorf("daily_limit %v", d)
	}
	if cfg.Channels[1].DailyLimit != nil {
		t.Errorf("a channel without daily_limit got one")
	}
	if same, n, err := liftLimits([]byte("channels: []\n")); err != nil || n != 0 || string(same) != "channels: []\n" {
		t.Errorf("no limits: %q %d %v", same, n, err)
	}
}
