package config

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/cespare/xxhash/v2"

	"smartrouter/compiler/diag"
	"smartrouter/format"
	"smartrouter/format/vocab"
)

const providersYAML = "providers:\n  openai:\n    base_url: https://api.openai.com\n"

// chanYAML is one valid channel item plus extra lines (indented for you).
func chanYAML(id string, extra ...string) string {
	s := "  - id: " + id + "\n    provider: openai\n    model_name: gpt-4o\n    api_key: ${OPENAI_API_KEY}\n"
	for _, e := range extra {
		s += "    " + e + "\n"
	}
	return s
}

// cfg is a valid router_config.yaml with channel c1, more channel items and
// then more top-level text.
func cfg(rest ...string) string {
	return providersYAML + "channels:\n" + chanYAML("c1") + strings.Join(rest, "")
}

func writeDir(t testing.TB, files map[string]string, dirs ...string) string {
	t.Helper()
	dir := t.TempDir()
	for _, d := range dirs {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for name, body := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func loadFiles(t testing.TB, files map[string]string, opts Options) (*Config, []diag.Warning, string, error) {
	t.Helper()
	dir := writeDir(t, files)
	var w diag.Warnings
	c, _, err := Load(dir, opts, &w)
	return c, w.List(), dir, err
}

func mustLoad(t testing.TB, files map[string]string) (*Config, []diag.Warning, string) {
	t.Helper()
	c, ws, dir, err := loadFiles(t, files, Options{})
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	return c, ws, dir
}

// posOf returns "line:col" of the first occurrence of needle in text.
func posOf(t testing.TB, text, needle string) string {
	t.Helper()
	i := strings.Index(text, needle)
	if i < 0 {
		t.Fatalf("needle %q not in text", needle)
	}
	line, col := lineCol([]byte(text), i)
	return fmt.Sprintf("%d:%d", line, col)
}

func f64(x float64) *float64 { return &x }

// atText is the diag position of the first occurrence of needle in text.
func atText(t testing.TB, file, text, needle string) diag.Pos {
	t.Helper()
	var line, col int
	fmt.Sscanf(posOf(t, text, needle), "%d:%d", &line, &col)
	return diag.At(file, line, col)
}

func TestDefaults(t *testing.T) {
	c, ws, dir := mustLoad(t, map[string]string{MainFile: cfg()})
	file := filepath.Join(dir, MainFile)
	for _, w := range ws {
		if w.Group != "open admin endpoints" {
			t.Errorf("unexpected warning %s %s: %s", w.Group, w.Pos, w.Msg)
		}
	}
	want := &Config{
		Server: Server{Host: "0.0.0.0", Port: 7601, CORSOrigins: []string{"*"},
			RequestTimeout: 300 * time.Second, MaxRequestSize: 10485760},
		Auth: Auth{Admin: Admin{Enabled: false}}, // no admin_token: open, with a warning
		Providers: []Provider{{Key: "openai", Name: "openai", DisplayName: "openai", AdapterClass: "OpenAIAdapter",
			BaseURL: "https://api.openai.com", AuthType: format.AuthBearer, Pos: diag.At(file, 2, 3)}},
		Channels: []Channel{{ID: "c1", Name: "c1", Provider: "openai", ModelName: "gpt-4o",
			APIKey: format.Secret{Env: "OPENAI_API_KEY"}, Enabled: true, Priority: 1, Weight: 1.0, Pos: diag.At(file, 5, 5)}},
		Routing: Routing{DefaultStrategy: "cost_first", EnableFallback: true, MaxRetryAttempts: 3,
			ErrorCooldownPeriod: 60 * time.Second, HealthCheckInterval: 300 * time.Second,
			Prewarm: []string{"tag:free", "tag:gpt", "tag:claude", "tag:local"}, LearnedPrewarm: DefaultLearnedPrewarm,
			StripReasoning: true, ResponseMetadata: true, DefaultInputPrice: 0.5, DefaultOutputPrice: 1.5},
		Tasks: Tasks{
			ModelDiscovery:   Task{Enabled: true, Interval: 6 * time.Hour},
			HealthCheck:      Task{Enabled: true, Interval: 30 * time.Minute},
			APIKeyValidation: Task{Enabled: true, Interval: 24 * time.Hour},
		},
		Performance: Performance{FallbackEnabled: true, PrewarmingEnabled: true, PrecomputationEnabled: true},
		Usage:       Usage{Enabled: true, RetentionDays: format.DefaultUsageRetentionDays},
	}
	compareConfig(t, c, want)
}

func compareConfig(t *testing.T, got, want *Config) {
	t.Helper()
	gv, wv := reflect.ValueOf(got).Elem(), reflect.ValueOf(want).Elem()
	for i := 0; i < gv.NumField(); i++ {
		if !reflect.DeepEqual(gv.Field(i).Interface(), wv.Field(i).Interface()) {
			t.Errorf("%s:\n got %s\nwant %s", gv.Type().Field(i).Name, dump(gv.Field(i).Interface()), dump(wv.Field(i).Interface()))
		}
	}
}

// dump prints pointers to floats as values so diffs are readable.
func dump(v any) string {
	s := fmt.Sprintf("%+v", v)
	switch x := v.(type) {
	case []Channel:
		var b strings.Builder
		for _, ch := range x {
			fmt.Fprintf(&b, "%+v cost=%s per1k=%s cur=%+v\n", ch, prices(ch.CostPerToken), prices(ch.PricePer1K), ch.Currency)
		}
		s = b.String()
	}
	return s
}

func prices(p TokenPrices) string {
	f := func(x *float64) string {
		if x == nil {
			return "nil"
		}
		return fmt.Sprint(*x)
	}
	return f(p.Input) + "/" + f(p.Output)
}

const allFields = `server:
  host: 127.0.0.1
  port: 8080
  debug: yes
  cors_origins: [http://a.example, http://b.example]
  request_timeout: 12.5
  max_request_size: 2048
  connect_timeout: 3
  read_timeout: 45
auth:
  enabled: true
  api_token: ${API_TOKEN}
  admin:
    enabled: true
    admin_token: ${ADMIN_TOKEN}
providers:
  p1:
    name: P One
    display_name: Provider One
    adapter_class: AnthropicAdapter
    base_url: https://p1.example/v1
    auth_type: x-api-key
    rate_limit: 42
    capabilities: [text, vision]
  p2:
    base_url: http://127.0.0.1:8000
    auth_type: api-key
channels:
  - id: c1
    name: Channel One
    provider: p1
    model_name: auto
    api_key: ${C1_KEY}
    base_url: [https://a.example, https://b.example/v1]
    enabled: off
    priority: 7
    weight: 2.5
    daily_limit: 500
    capabilities: [text]
    tags: [Free, fast]
    configured_models: [m1, m2]
    cost_per_token: {input: 0.000001, output: 0.000002}
    pricing: {input_cost_per_1k: 0.5, output_cost_per_1k: 1}
    model_aliases: {std-b: target-b, std-a: target-a}
    performance: {speed_score: 0.9, avg_latency_ms: 250}
    currency_exchange: {from: CNY, to: USD, rate: 0.14, description: d}
    min_request_interval: 1.5
  - id: c2
    provider: p2
    model_name: llama3
    api_key: ""
routing:
  default_strategy: mine
  enable_fallback: false
  max_retry_attempts: 5
  error_cooldown_period: 90
  health_check_interval: 120
  model_filters: {min_context_length: 32000, min_parameter_count: 7000, exclude_embedding_models: true, exclude_vision_only_models: true}
  sorting_strategies:
    mine:
      - {field: cost_score, weight: 0.7, order: asc}
      - {field: Quality, weight: 0.3, order: DESC}
      - {field: local}
  prewarm: ["tag:free", "gpt-4o"]
  learned_prewarm: 3
  strip_reasoning: false
  response_metadata: false
  quality_scores: {zeta: 0.1, alpha: 0.9}
  default_input_price: 0.25
  default_output_price: 0.75
tasks:
  model_discovery: {enabled: false, interval_hours: 2, run_on_startup: true}
  health_check: {interval_minutes: 15}
  api_key_validation: {interval_hours: 1, interval_minutes: 30}
pricing:
  default_input_price: 9
  table: {a: [1, 2.5, "x", true, null]}
`

func TestAllFields(t *testing.T) {
	c, ws, dir := mustLoad(t, map[string]string{MainFile: allFields})
	file := filepath.Join(dir, MainFile)
	want := &Config{
		Server: Server{Host: "127.0.0.1", Port: 8080, Debug: true, CORSOrigins: []string{"http://a.example", "http://b.example"},
			RequestTimeout: 12500 * time.Millisecond, MaxRequestSize: 2048, ConnectTimeout: 3 * time.Second, ReadTimeout: 45 * time.Second},
		Auth: Auth{Enabled: true, APIToken: format.Secret{Env: "API_TOKEN"},
			Admin: Admin{Enabled: true, Token: format.Secret{Env: "ADMIN_TOKEN"}}},
		Providers: []Provider{
			{Key: "p1", Name: "P One", DisplayName: "Provider One", AdapterClass: "AnthropicAdapter",
				BaseURL: "https://p1.example/v1", AuthType: format.AuthXAPIKey, RateLimit: 42,
				Capabilities: []string{"text", "vision"}, Pos: atText(t, file, allFields, "p1:")},
			{Key: "p2", Name: "p2", DisplayName: "p2", AdapterClass: "OpenAIAdapter", BaseURL: "http://127.0.0.1:8000",
				AuthType: format.AuthAPIKey, Pos: atText(t, file, allFields, "p2:")},
		},
		Channels: []Channel{
			{ID: "c1", Name: "Channel One", Provider: "p1", ModelName: "auto", APIKey: format.Secret{Env: "C1_KEY"},
				BaseURLs: []string{"https://a.example", "https://b.example/v1"}, Enabled: false, Priority: 7, Weight: 2.5,
				DailyLimit: 500, Capabilities: []string{"text"}, Tags: []string{"Free", "fast"}, ConfiguredModels: []string{"m1", "m2"},
				CostPerToken: TokenPrices{f64(0.000001), f64(0.000002)}, PricePer1K: TokenPrices{f64(0.0005), f64(0.001)},
				Aliases:     []format.Alias{{Standard: "std-b", Target: "target-b"}, {Standard: "std-a", Target: "target-a"}},
				Performance: map[string]float64{"speed_score": 0.9, "avg_latency_ms": 250}, SpeedScore: 0.9,
				Currency:           &CurrencyExchange{From: "CNY", To: "USD", Rate: 0.14, Description: "d"},
				MinRequestInterval: 1500 * time.Millisecond, Pos: atText(t, file, allFields, "id: c1")},
			{ID: "c2", Name: "c2", Provider: "p2", ModelName: "llama3", KeyPlaceholder: true, Enabled: true,
				Priority: 1, Weight: 1, Pos: atText(t, file, allFields, "id: c2")},
		},
		Routing: Routing{DefaultStrategy: "mine", EnableFallback: false, MaxRetryAttempts: 5,
			ErrorCooldownPeriod: 90 * time.Second, HealthCheckInterval: 120 * time.Second,
			ModelFilters: ModelFilters{MinContextLength: 32000, MinParameterCount: 7000, ExcludeEmbeddingModels: true, ExcludeVisionOnlyModels: true},
			SortingStrategies: []format.Strategy{{Name: "mine", Fields: []format.StrategyField{
				{Field: "cost", Weight: 0.7, Asc: true}, {Field: "quality", Weight: 0.3}, {Field: "local", Weight: 1}}}},
			Prewarm: []string{"tag:free", "gpt-4o"}, LearnedPrewarm: 3,
			StripReasoning: false, ResponseMetadata: false,
			QualityScores:     []format.QualityRule{{Substring: "zeta", Score: 0.1}, {Substring: "alpha", Score: 0.9}},
			DefaultInputPrice: 0.25, DefaultOutputPrice: 0.75},
		Tasks: Tasks{
			ModelDiscovery:   Task{Enabled: false, Interval: 2 * time.Hour, RunOnStartup: true},
			HealthCheck:      Task{Enabled: true, Interval: 15 * time.Minute},
			APIKeyValidation: Task{Enabled: true, Interval: 90 * time.Minute},
		},
		Pricing: Pricing{Data: map[string]any{"default_input_price": 9, "table": map[string]any{"a": []any{1, 2.5, "x", true, nil}}},
			DefaultInputPrice: f64(9)},
		Performance: Performance{FallbackEnabled: true, PrewarmingEnabled: true, PrecomputationEnabled: true},
		Usage:       Usage{Enabled: true, RetentionDays: format.DefaultUsageRetentionDays},
	}
	compareConfig(t, c, want)
	// c2 is enabled with an empty key: one warning, nothing else.
	if len(ws) != 1 || ws[0].Group != "placeholder api key" || ws[0].Pos != atText(t, file, allFields, `""`) {
		t.Errorf("warnings = %+v, want one placeholder api key", ws)
	}
}

func TestTestdata(t *testing.T) {
	var w diag.Warnings
	c, srcs, err := Load("testdata/python", Options{}, &w)
	if err != nil {
		t.Fatal(err)
	}
	groups := map[string]int{}
	for _, x := range w.List() {
		groups[x.Group]++
	}
	wantGroups := map[string]int{"ignored section": 4, "literal secret": 2, "placeholder api key": 1, "unknown key": 4, "unknown provider": 1}
	if !reflect.DeepEqual(groups, wantGroups) {
		t.Errorf("warning groups = %v, want %v", groups, wantGroups)
	}
	if len(srcs) != 5 {
		t.Fatalf("sources = %d, want 5", len(srcs))
	}
	for i, name := range fileOrder() {
		if srcs[i].Path != name {
			t.Errorf("source %d = %q, want %q", i, srcs[i].Path, name)
		}
	}
	checks := []struct {
		name string
		got  any
		want any
	}{
		{"providers", len(c.Providers), 8}, // 6 declared + moonshot (overlay) + implicit burn_hair
		{"openrouter replaced by providers.yaml", c.Provider("openrouter").BaseURL, "https://openrouter.ai/api/v1"},
		{"openrouter rate limit", c.Provider("openrouter").RateLimit, 200},
		{"openrouter capabilities reset", c.Provider("openrouter").Capabilities, []string(nil)},
		{"moonshot auth type", c.Provider("moonshot").AuthType, format.AuthBearer},
		{"anthropic auth type", c.Provider("anthropic").AuthType, format.AuthXAPIKey},
		{"burn_hair implicit", c.Provider("burn_hair").Implicit, true},
		{"channels", len(c.Channels), 7},
		{"siliconflow rate", c.Channel("siliconflow_qwen").Currency.Rate, 0.14},
		{"siliconflow per 1k input", *c.Channel("siliconflow_qwen").PricePer1K.Input, 0.004 / 1000},
		{"siliconflow base urls", c.BaseURLs(c.Channel("siliconflow_qwen")), []string{"https://api.siliconflow.cn", "https://api.siliconflow.com"}},
		{"deepseek placeholder", c.Channel("deepseek_official").KeyPlaceholder, true},
		{"anthropic placeholder", c.Channel("anthropic_haiku").KeyPlaceholder, true},
		{"ollama literal", c.Channel("ollama_local").APIKey, format.Secret{Literal: "ollama"}},
		{"ollama local", vocab.IsLoopbackURL(c.BaseURLs(c.Channel("ollama_local"))[0]), true},
		{"groq env", c.Channel("groq_fast").APIKey, format.Secret{Env: "GROQ_API_KEY"}},
		{"groq free price", *c.Channel("groq_fast").CostPerToken.Output, 0.0},
		{"openrouter aliases", c.Channel("openrouter_free").Aliases[0], format.Alias{Standard: "qwen3-30b", Target: "qwen/qwen3-30b-a3b:free"}},
		{"strategy from routing_config.yaml", c.Routing.DefaultStrategy, "free_first"},
		{"model_filters replaced as a whole", c.Routing.ModelFilters, ModelFilters{MinContextLength: 16384, ExcludeEmbeddingModels: true}},
		{"strip reasoning", c.Routing.StripReasoning, false},
		{"prewarm + priority tags", c.Routing.Prewarm, []string{"tag:free", "tag:gpt", "tag:claude", "tag:local", "tag:qwen"}},
		{"default input price (router pricing)", c.Routing.DefaultInputPrice, 0.5},
		{"default output price (pricing_config.yaml)", c.Routing.DefaultOutputPrice, 2.0},
		{"pricing generic", c.Pricing.Data["exchange_rates"], map[string]any{"USD": 1.0, "CNY": 7.2}},
		{"config load timeout", c.Performance.ConfigLoadTimeout, 10 * time.Second},
		{"health task", c.Tasks.HealthCheck, Task{Enabled: true, Interval: 30 * time.Minute}},
		{"auth", c.Auth, Auth{Enabled: true, APIToken: format.Secret{Env: "ROUTER_API_TOKEN"}, Admin: Admin{Enabled: true, Token: format.Secret{Env: "ROUTER_ADMIN_TOKEN"}}}},
	}
	for _, ck := range checks {
		if !reflect.DeepEqual(ck.got, ck.want) {
			t.Errorf("%s = %#v, want %#v", ck.name, ck.got, ck.want)
		}
	}
	// The literal key of the testdata never appears in a warning.
	var b strings.Builder
	w.Print(&b, 0)
	if strings.Contains(b.String(), "sk-live-") || strings.Contains(b.String(), "ollama\"") {
		t.Errorf("a literal secret reached the warnings:\n%s", b.String())
	}
}

func TestOverlays(t *testing.T) {
	tests := []struct {
		name  string
		files map[string]string
		check func(c *Config) (got, want any)
	}{
		{"routing_config.yaml wins per key",
			map[string]string{MainFile: cfg("routing:\n  default_strategy: balanced\n  max_retry_attempts: 5\n"),
				RoutingFile: "default_strategy: free_first\n"},
			func(c *Config) (any, any) {
				return [2]any{c.Routing.DefaultStrategy, c.Routing.MaxRetryAttempts}, [2]any{"free_first", 5}
			}},
		{"learned_prewarm defaults to 10",
			map[string]string{MainFile: cfg()},
			func(c *Config) (any, any) { return c.Routing.LearnedPrewarm, DefaultLearnedPrewarm }},
		{"learned_prewarm 0 turns it off",
			map[string]string{MainFile: cfg("routing:\n  learned_prewarm: 0\n")},
			func(c *Config) (any, any) { return c.Routing.LearnedPrewarm, 0 }},
		{"learned_prewarm in the routing overlay",
			map[string]string{MainFile: cfg(), RoutingFile: "learned_prewarm: 25\n"},
			func(c *Config) (any, any) { return c.Routing.LearnedPrewarm, 25 }},
		{"routing_config.yaml wrapped in routing:",
			map[string]string{MainFile: cfg(), RoutingFile: "routing:\n  default_strategy: local_first\n"},
			func(c *Config) (any, any) { return c.Routing.DefaultStrategy, "local_first" }},
		{"routing overlay replaces a key as a whole",
			map[string]string{MainFile: cfg("routing:\n  model_filters: {min_context_length: 8192, exclude_embedding_models: true}\n"),
				RoutingFile: "model_filters: {min_parameter_count: 7000}\n"},
			func(c *Config) (any, any) { return c.Routing.ModelFilters, ModelFilters{MinParameterCount: 7000} }},
		{"providers.yaml replaces a provider and adds one",
			map[string]string{MainFile: cfg(), ProvidersFile: "providers:\n  openai:\n    base_url: https://proxy.example/v1\n  extra:\n    base_url: https://extra.example\n"},
			func(c *Config) (any, any) {
				return [3]any{len(c.Providers), c.Provider("openai").BaseURL, c.Provider("extra").Name},
					[3]any{2, "https://proxy.example/v1", "extra"}
			}},
		{"providers.yaml alone declares the provider",
			map[string]string{MainFile: "channels:\n" + chanYAML("c1"), ProvidersFile: providersYAML},
			func(c *Config) (any, any) { return c.Provider("openai").Implicit, false }},
		{"pricing_config.yaml wins per key over pricing",
			map[string]string{MainFile: cfg("pricing:\n  default_input_price: 1\n  default_output_price: 2\n  note: a\n"),
				PricingFile: "default_output_price: 3\nnote: b\n"},
			func(c *Config) (any, any) {
				return [3]any{c.Routing.DefaultInputPrice, c.Routing.DefaultOutputPrice, c.Pricing.Data["note"]}, [3]any{1.0, 3.0, "b"}
			}},
		{"routing default prices win over pricing",
			map[string]string{MainFile: cfg("routing:\n  default_input_price: 0.1\n"), PricingFile: "default_input_price: 7\n"},
			func(c *Config) (any, any) { return c.Routing.DefaultInputPrice, 0.1 }},
		{"routing overlay default price wins over pricing overlay",
			map[string]string{MainFile: cfg(), PricingFile: "default_output_price: 7\n", RoutingFile: "default_output_price: 0.2\n"},
			func(c *Config) (any, any) { return c.Routing.DefaultOutputPrice, 0.2 }},
		{"performance priority tags extend the default prewarm",
			map[string]string{MainFile: cfg(), PerformanceFile: "async_config:\n  index_building:\n    priority_tags: [GPT, deepseek]\n"},
			func(c *Config) (any, any) {
				return c.Routing.Prewarm, []string{"tag:free", "tag:gpt", "tag:claude", "tag:local", "tag:deepseek"}
			}},
		{"prewarming disabled empties the default prewarm",
			map[string]string{MainFile: cfg(), PerformanceFile: "async_config:\n  startup_optimization:\n    prewarming_enabled: false\n"},
			func(c *Config) (any, any) { return c.Routing.Prewarm, []string(nil) }},
		{"explicit prewarm wins over performance.yaml",
			map[string]string{MainFile: cfg(), RoutingFile: "prewarm: [\"tag:x\"]\n",
				PerformanceFile: "async_config:\n  startup_optimization: {prewarming_enabled: false}\n"},
			func(c *Config) (any, any) { return c.Routing.Prewarm, []string{"tag:x"} }},
		{"start-up limits from performance.yaml",
			map[string]string{MainFile: cfg("tasks:\n  model_discovery: {interval_hours: 1, max_concurrent: 8}\n"),
				PerformanceFile: "async_config:\n  config_loading: {timeout_seconds: 15}\n  cache_loading: {timeout_seconds: 30.5}\n  memory_usage_limit: 500\n"},
			func(c *Config) (any, any) {
				return [4]any{c.Performance.ConfigLoadTimeout, c.Performance.CacheLoadTimeout, c.Performance.MemoryLimit, c.Tasks.ModelDiscovery.MaxConcurrent},
					[4]any{15 * time.Second, 30500 * time.Millisecond, uint64(500 << 20), int64(8)}
			}},
		{"memory limit with a unit, fallback_thresholds spelling",
			map[string]string{MainFile: cfg(), PerformanceFile: "async_config:\n  fallback_thresholds: {memory_usage_limit: \"1.5 GB\", config_load_timeout: 2, cache_load_timeout: 3}\n"},
			func(c *Config) (any, any) {
				return [3]any{c.Performance.MemoryLimit, c.Performance.ConfigLoadTimeout, c.Performance.CacheLoadTimeout},
					[3]any{uint64(3 << 29), 2 * time.Second, 3 * time.Second}
			}},
		{"memory limit in MiB string",
			map[string]string{MainFile: cfg(), PerformanceFile: "async_config:\n  memory_usage_limit: 256MiB\n"},
			func(c *Config) (any, any) { return c.Performance.MemoryLimit, uint64(256 << 20) }},
		{"installation folder holding config/",
			map[string]string{"config/" + MainFile: cfg("routing:\n  default_strategy: balanced\n"), "config/" + RoutingFile: "default_strategy: speed_optimized\n"},
			func(c *Config) (any, any) { return c.Routing.DefaultStrategy, "speed_optimized" }},
		{"strategy defined in the routing overlay can be the default",
			map[string]string{MainFile: cfg("routing:\n  default_strategy: mine\n"),
				RoutingFile: "sorting_strategies:\n  mine: [{field: free, weight: 1}]\n"},
			func(c *Config) (any, any) { return c.Routing.SortingStrategies[0].Name, "mine" }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, _, _ := mustLoad(t, tc.files)
			if got, want := tc.check(c); !reflect.DeepEqual(got, want) {
				t.Errorf("got %#v, want %#v", got, want)
			}
		})
	}
}

func TestSources(t *testing.T) {
	files := map[string]string{"config/" + MainFile: cfg(), "config/" + PerformanceFile: "async_config: {}\n"}
	dir := writeDir(t, files)
	c, srcs, err := Load(dir, Options{}, nil)
	if err != nil || c == nil {
		t.Fatal(err)
	}
	want := []string{"config/" + MainFile, "config/" + PerformanceFile}
	if len(srcs) != len(want) {
		t.Fatalf("sources = %+v", srcs)
	}
	for i, s := range srcs {
		data, _ := os.ReadFile(filepath.Join(dir, want[i]))
		fi, _ := os.Stat(filepath.Join(dir, want[i]))
		exp := format.Source{Path: want[i], Size: int64(len(data)), ModTime: fi.ModTime().UnixNano(), Hash: xxhash.Sum64(data)}
		if s != exp {
			t.Errorf("source %d = %+v, want %+v", i, s, exp)
		}
	}
}

func TestLoadFolderErrors(t *testing.T) {
	dir := writeDir(t, map[string]string{"file.txt": "x"})
	for _, tc := range []struct{ path, want string }{
		{filepath.Join(dir, "missing"), "no such file"},
		{filepath.Join(dir, "file.txt"), "is not a directory"},
		{dir, "router_config.yaml not found"},
	} {
		_, _, err := Load(tc.path, Options{}, nil)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Load(%s) = %v, want %q", tc.path, err, tc.want)
		}
	}
}

type errCase struct {
	name  string
	files map[string]string // router_config.yaml defaults to cfg()
	dirs  []string
	opts  Options
	file  string // file named by the error; default router_config.yaml
	at    string // the error points at the first occurrence of this text in file
	want  string
}

func errCases() []errCase {
	chans := func(extra ...string) map[string]string {
		return map[string]string{MainFile: cfg(chanYAML("c2", extra...))}
	}
	main := func(s string) map[string]string { return map[string]string{MainFile: s} }
	return []errCase{
		{name: "empty file", files: main(""), want: "file is empty (0 bytes)"},
		{name: "empty overlay", files: map[string]string{ProvidersFile: ""}, file: ProvidersFile, want: "file is empty"},
		{name: "comments only", files: main("# nothing here\n"), want: "no YAML document"},
		{name: "non-UTF-8", files: main(cfg(chanYAML("c\xff2"))), at: "\xff", want: "invalid UTF-8 byte 0xff at byte offset "},
		{name: "main is a directory", files: map[string]string{}, dirs: []string{MainFile}, want: "is a directory"},
		{name: "overlay is a directory", dirs: []string{RoutingFile}, file: RoutingFile, want: "is a directory"},
		{name: "syntax error", files: main("server:\n  host: a\n   port: 1\n"), at: "port", want: "YAML syntax error: mapping values are not allowed"},
		{name: "tab indentation", files: main("channels:\n\t- id: a\n"), at: "- id", want: "YAML syntax error: found character that cannot start any token"},
		{name: "unknown anchor", files: main(cfg("routing: *nope\n")), want: "unknown anchor 'nope'"},
		{name: "two documents", files: main(cfg("---\nserver: {}\n")), at: "---", want: "a second YAML document starts here"},
		{name: "top level is a list", files: main("- a\n- b\n"), at: "- a", want: "expected a mapping of sections"},
		{name: "section of wrong type", files: main(cfg("server: [1, 2]\n")), at: "[1, 2]", want: "server: expected a mapping, got a list"},
		{name: "integer field", files: chans("priority: high"), at: "high", want: `channels[1].priority: expected an integer, got "high"`},
		{name: "bool field", files: main(cfg("server:\n  debug: maybe\n")), at: "maybe", want: `server.debug: expected true or false, got "maybe"`},
		{name: "list field", files: main(cfg("server:\n  cors_origins: \"*\"\n")), at: `"*"`, want: `server.cors_origins: expected a list, got "*"`},
		{name: "port range", files: main(cfg("server:\n  port: 70000\n")), at: "70000", want: "server.port: must be between 1 and 65535"},
		{name: "zero timeout", files: main(cfg("server:\n  request_timeout: 0\n")), at: "0\n", want: "request_timeout: must be more than 0 seconds"},
		{name: "missing api_key", files: main(cfg("  - id: c2\n    provider: openai\n    model_name: m\n")), at: "id: c2", want: `channels[1]: missing required key "api_key"`},
		{name: "missing id", files: main(cfg("  - provider: openai\n    model_name: m\n    api_key: ${K}\n")), at: "provider: openai\n    model_name: m\n    api_key: ${K}", want: `channels[1]: missing required key "id"`},
		{name: "missing provider", files: main(cfg("  - id: c2\n    model_name: m\n    api_key: ${K}\n")), at: "id: c2", want: `channels[1]: missing required key "provider"`},
		{name: "missing model_name", files: main(cfg("  - id: c2\n    provider: openai\n    api_key: ${K}\n")), at: "id: c2", want: `missing required key "model_name"`},
		{name: "empty provider", files: main(cfg("  - id: c2\n    provider: \"\"\n    model_name: m\n    api_key: ${K}\n")), at: `""`, want: "channels[1].provider: must not be empty"},
		{name: "missing channels", files: main(providersYAML), at: "providers", want: `missing required key "channels"`},
		{name: "channels not a list", files: main("channels: {a: 1}\n"), at: "{a: 1}", want: "channels: expected a list, got a mapping"},
		{name: "channel not a mapping", files: main("channels:\n  - just-a-string\n"), at: "just-a-string", want: "channels[0]: expected a mapping"},
		{name: "duplicate channel id", files: main(providersYAML + "channels:\n" + chanYAML("dup") + "  - id: dup  # again\n    provider: openai\n    model_name: m\n    api_key: ${K}\n"),
			at: "dup  # again", want: `channels[1].id: duplicate channel id "dup", first used by channels[0] at `},
		{name: "negative price", files: chans("cost_per_token: {input: -0.001, output: 0}"), at: "-0.001", want: "channels[1].cost_per_token.input: must not be negative (USD per token)"},
		{name: "NaN price", files: chans("cost_per_token: {output: .nan}"), at: ".nan", want: "cost_per_token.output: expected a finite number"},
		{name: "Inf price", files: chans("pricing: {output_cost_per_1k: .inf}"), at: ".inf", want: "pricing.output_cost_per_1k: expected a finite number"},
		{name: "quoted NaN price", files: chans(`cost_per_token: {input: "NaN"}`), at: `"NaN"`, want: "expected a finite number"},
		{name: "price not a number", files: chans("cost_per_token: {input: cheap}"), at: "cheap", want: `expected a number, got "cheap"`},
		{name: "negative priority", files: chans("priority: -1"), at: "-1", want: "channels[1].priority: must be between 0 and 2147483647, got -1"},
		{name: "negative weight", files: chans("weight: -0.5"), at: "-0.5", want: "channels[1].weight: must not be negative"},
		{name: "infinite weight", files: chans("weight: .inf"), at: ".inf", want: "channels[1].weight: expected a finite number"},
		{name: "negative daily limit", files: chans("daily_limit: -5"), at: "-5", want: "daily_limit: must be at least 0"},
		{name: "negative interval", files: chans("min_request_interval: -1"), at: "-1", want: "min_request_interval: must not be negative (seconds)"},
		{name: "currency rate zero", files: chans("currency_exchange: {from: CNY, rate: 0}"), at: "0}", want: "channels[1].currency_exchange.rate: must be more than 0"},
		{name: "currency rate negative", files: chans("currency_exchange: {rate: -7.2}"), at: "-7.2", want: "currency_exchange.rate: must be more than 0"},
		{name: "currency rate missing", files: chans("currency_exchange: {from: CNY, to: USD}"), at: "{from: CNY", want: `channels[1].currency_exchange: missing required key "rate"`},
		{name: "currency rate null", files: chans("currency_exchange: {from: CNY, rate: null}"), at: "{from: CNY", want: "rate must be set"},
		{name: "speed score range", files: chans("performance: {speed_score: 1.5}"), at: "1.5", want: "performance.speed_score: must be between 0 and 1"},
		{name: "alias without target", files: chans("model_aliases: {std: \"\"}"), at: `""`, want: "model_aliases.std: must not be empty"},
		{name: "bad url", files: chans("base_url: ftp://files.example"), at: "ftp:", want: "base_url: expected an http:// or https:// URL"},
		{name: "empty url in list", files: chans("base_url: [https://a.example, \"\"]"), at: `""`, want: "base_url[1]: must not be empty"},
		{name: "no base url", files: main(cfg("  - id: c2\n    provider: nowhere\n    model_name: m\n    api_key: ${K}\n")), at: "id: c2", want: "channels[1]: no base URL: set base_url on the channel or on providers.nowhere"},
		{name: "bad auth_type", files: main("providers:\n  openai:\n    base_url: https://x.example\n    auth_type: basic\nchannels: []\n"), at: "basic", want: "providers.openai.auth_type: expected bearer, x-api-key or api-key"},
		{name: "unknown strategy field", files: main(cfg("routing:\n  sorting_strategies:\n    s:\n      - {field: cost}\n      - {field: speediness}\n")), at: "speediness",
			want: `routing.sorting_strategies.s[1].field: unknown score field "speediness"`},
		{name: "bad order", files: main(cfg("routing:\n  sorting_strategies:\n    s: [{field: cost, order: up}]\n")), at: "up}", want: "s[0].order: expected asc or desc"},
		{name: "zero weights", files: main(cfg("routing:\n  sorting_strategies:\n    s: [{field: cost, weight: 0}]\n")), at: "s: [", want: "routing.sorting_strategies.s: the weights add up to 0"},
		{name: "empty strategy", files: main(cfg("routing:\n  sorting_strategies:\n    s: []\n")), at: "s: [", want: "a strategy needs at least one"},
		{name: "strategy item without field", files: main(cfg("routing:\n  sorting_strategies:\n    s: [{weight: 1}]\n")), at: "{weight: 1}", want: `s[0]: missing required key "field"`},
		{name: "unknown default strategy", files: main(cfg("routing:\n  default_strategy: fastest\n")), at: "fastest", want: `routing.default_strategy: unknown strategy "fastest"`},
		{name: "quality score range", files: main(cfg("routing:\n  quality_scores: {gpt-4: 2}\n")), at: "2}", want: "routing.quality_scores.gpt-4: must be between 0 and 1"},
		{name: "learned prewarm range", files: main(cfg("routing:\n  learned_prewarm: 1000\n")), at: "1000", want: "routing.learned_prewarm: must be between 0 and 256"},
		{name: "retry attempts", files: main(cfg("routing:\n  max_retry_attempts: 0\n")), at: "0\n", want: "routing.max_retry_attempts: must be between 1 and 1000"},
		{name: "task interval zero", files: main(cfg("tasks:\n  health_check: {interval_minutes: 0}\n")), at: "{interval", want: "tasks.health_check: interval_hours + interval_minutes must be more than 0"},
		{name: "auth without token", files: main(cfg("auth:\n  enabled: true\n")), at: "true", want: "auth.enabled: is true but auth.api_token is missing or a placeholder"},
		{name: "auth with placeholder token", files: main(cfg("auth:\n  enabled: true\n  api_token: your-secret-token-here\n")), at: "true", want: "auth.api_token is missing or a placeholder"},
		{name: "admin without token", files: main(cfg("auth:\n  enabled: yes\n  api_token: ${T}\n  admin:\n    enabled: true\n")), at: "true", want: "auth.admin.enabled: is true but auth.admin.admin_token is missing"},
		{name: "literal secrets forbidden", files: chans("api_key: sk-live-abcdef123456"), opts: Options{ForbidLiteralSecrets: true}, at: "sk-live", want: "channels[1].api_key: is a literal secret"},
		{name: "bad env reference", files: chans("api_key: ${1BAD}"), at: "${1BAD}", want: "api_key: not a valid ${ENV_VAR} reference"},
		{name: "secret not a string", files: chans("api_key: [a, b]"), at: "[a, b]", want: "api_key: expected a string or ${ENV_VAR}, got a list"},
		{name: "overlay error position", files: map[string]string{MainFile: cfg(), RoutingFile: "# overrides\nmax_retry_attempts: lots\n"}, file: RoutingFile, at: "lots", want: `routing.max_retry_attempts: expected an integer, got "lots"`},
		{name: "providers overlay error", files: map[string]string{MainFile: cfg(), ProvidersFile: "providers:\n  openai:\n    rate_limit: -3\n"}, file: ProvidersFile, at: "-3", want: "providers.openai.rate_limit: must be between 0"},
		{name: "performance overlay error", files: map[string]string{MainFile: cfg(), PerformanceFile: "async_config:\n  index_building:\n    priority_tags: gpt\n"}, file: PerformanceFile, at: "gpt", want: `priority_tags: expected a list, got "gpt"`},
		{name: "memory limit unit", files: map[string]string{MainFile: cfg(), PerformanceFile: "async_config:\n  memory_usage_limit: 500 parsecs\n"}, file: PerformanceFile, at: "500 parsecs", want: `memory_usage_limit: expected a memory size such as 500 (MB) or "500MB"`},
		{name: "memory limit negative", files: map[string]string{MainFile: cfg(), PerformanceFile: "async_config:\n  memory_usage_limit: -1\n"}, file: PerformanceFile, at: "-1", want: "memory_usage_limit: must not be negative"},
		{name: "task max_concurrent", files: main(cfg("tasks:\n  health_check: {interval_minutes: 5, max_concurrent: -2}\n")), at: "-2}", want: "max_concurrent: must be between 0"},
		{name: "alias cycle", files: main(cfg("pricing:\n  a: &a [*a]\n")), at: "&a [*a]", want: "an alias refers to an anchor that contains it"},
		{name: "too many aliases", files: main(cfg("x: &x 1\ny: [*x, *x, *x]\n")), opts: Options{MaxAliases: 2}, at: "*x]", want: "3 aliases, more than the limit of 2"},
		{name: "too many nodes", files: main(cfg()), opts: Options{MaxNodes: 10}, want: "more than 10 nodes"},
		{name: "file too large", files: main(cfg()), opts: Options{MaxFileSize: 10}, want: "more than the limit of 10"},
	}
}

func TestErrors(t *testing.T) {
	for _, tc := range errCases() {
		t.Run(tc.name, func(t *testing.T) {
			files := tc.files
			if files == nil {
				files = map[string]string{}
			}
			if _, ok := files[MainFile]; !ok && !contains(tc.dirs, MainFile) {
				files[MainFile] = cfg()
			}
			dir := writeDir(t, files, tc.dirs...)
			var w diag.Warnings
			c, srcs, err := Load(dir, tc.opts, &w)
			if err == nil {
				t.Fatalf("no error; want %q", tc.want)
			}
			if c != nil || srcs != nil {
				t.Errorf("error with a partial result")
			}
			file := tc.file
			if file == "" {
				file = MainFile
			}
			want := filepath.Join(dir, file)
			if tc.at != "" {
				want += ":" + posOf(t, files[file], tc.at) + ":"
			}
			msg := err.Error()
			if !strings.HasPrefix(msg, want) || !strings.Contains(msg, tc.want) {
				t.Errorf("error\n  %s\nwant prefix %s and %q", msg, want, tc.want)
			}
			var de *diag.Error
			if !errors.As(err, &de) || de.Pos.File != filepath.Join(dir, file) {
				t.Errorf("error is not a *diag.Error naming %s: %#v", file, err)
			}
		})
	}
}

func TestWarnings(t *testing.T) {
	main := `system: {name: x}
caching: {enable_response_cache: false, cache_ttl: 1}
monitoring: {enable_metrics: true}
cost_control: {global_daily_budget: 1}
extras: 1
server:
  hots: 127.0.0.1
  port: 1
  port: 2
providers:
  openai:
    base_url: https://api.openai.com
    adapter_class: TuZiAdapter
    discovery: {models_endpoint: /v1/models}
channels:
  - id: c1
    provider: openai
    model_name: m
    api_key: sk-live-0123456789abcdef
  - id: c2
    provider: reseller
    base_url: https://reseller.example
    model_name: m
    api_key: YOUR_RESELLER_KEY_HERE
  - id: c3
    provider: openai
    model_name: m
    api_key: YOUR_KEY_HERE
    enabled: false
routing:
  error_handling: {permanent_errors: [quota_exceeded]}
`
	files := map[string]string{MainFile: main,
		ProvidersFile: "# no providers key\nother: 1\n",
		PricingFile:   "pricing:\n  a: 1\nstray: 2\n",
		RoutingFile:   "# nothing yet\n",
	}
	c, ws, dir := mustLoad(t, files)
	if c.Server.Port != 2 {
		t.Errorf("repeated key: port = %d, want the later value 2", c.Server.Port)
	}
	if c.Pricing.Data["a"] != 1 || c.Pricing.Data["stray"] != nil {
		t.Errorf("wrapped pricing overlay: %v", c.Pricing.Data)
	}
	type wkey struct{ group, at, msg string }
	want := []wkey{
		{"duplicate key", MainFile + ":" + posOf(t, main, "port: 2"), "server.port: repeats the key of line 8"},
		{"empty overlay", ProvidersFile + ":2:1", `no top-level "providers" key`},
		{"empty overlay", RoutingFile, "no YAML document"},
		{"ignored section", MainFile + ":1:1", "system: section not used"},
		{"ignored section", MainFile + ":2:1", "caching: section not used"},
		{"ignored section", MainFile + ":3:1", "monitoring: section not used"},
		{"ignored section", MainFile + ":4:1", "cost_control: section not used"},
		{"literal secret", MainFile + ":" + posOf(t, main, "sk-live"), "channels[0].api_key: secret written in the file"},
		{"open admin endpoints", MainFile, "auth.admin: enabled without admin_token"},
		{"placeholder api key", MainFile + ":" + posOf(t, main, "YOUR_RESELLER"), "channels[1].api_key: empty or a placeholder"},
		{"unknown adapter", MainFile + ":" + posOf(t, main, "TuZiAdapter"), `adapter "TuZiAdapter" is not known`},
		{"unknown key", PricingFile + ":3:1", "stray: unknown key"},
		{"unknown key", MainFile + ":5:1", "extras: unknown key"},
		{"unknown key", MainFile + ":" + posOf(t, main, "hots"), "server.hots: unknown key"},
		{"unknown key", MainFile + ":" + posOf(t, main, "discovery"), "providers.openai.discovery: unknown key"},
		{"unknown key", MainFile + ":" + posOf(t, main, "error_handling"), "routing.error_handling: unknown key"},
		{"unknown provider", MainFile + ":" + posOf(t, main, "reseller\n"), `channels[1].provider: provider "reseller" is not declared`},
	}
	if len(ws) != len(want) {
		for _, w := range ws {
			t.Logf("%s %s %s", w.Group, w.Pos, w.Msg)
		}
		t.Fatalf("%d warnings, want %d", len(ws), len(want))
	}
	for i, w := range ws {
		wk := want[i]
		if w.Group != wk.group || w.Pos.String() != filepath.Join(dir, wk.at) || !strings.Contains(w.Msg, wk.msg) {
			t.Errorf("warning %d = %s %s %q, want %s %s %q", i, w.Group, w.Pos, w.Msg, wk.group, wk.at, wk.msg)
		}
		if strings.Contains(w.Msg, "0123456789abcdef") {
			t.Errorf("warning %d prints a secret: %s", i, w.Msg)
		}
	}
}

func TestSecrets(t *testing.T) {
	tests := []struct {
		yaml        string
		want        format.Secret
		placeholder bool
		literalWarn bool
	}{
		{"${OPENAI_API_KEY}", format.Secret{Env: "OPENAI_API_KEY"}, false, false},
		{`"  ${_K2}  "`, format.Secret{Env: "_K2"}, false, false},
		{"sk-proj-4f9c2b7e", format.Secret{Literal: "sk-proj-4f9c2b7e"}, false, true},
		{`" gsk_8d2k "`, format.Secret{Literal: "gsk_8d2k"}, false, true},
		{"prefix-${K}", format.Secret{Literal: "prefix-${K}"}, false, true},
		{"12345", format.Secret{Literal: "12345"}, false, true},
		{`""`, format.Secret{}, true, false},
		{"null", format.Secret{}, true, false},
		{"YOUR_GROQ_API_KEY_HERE", format.Secret{}, true, false},
		{"sk-xxxxxxxx", format.Secret{}, true, false},
		{"<openrouter key>", format.Secret{}, true, false},
	}
	for _, tc := range tests {
		t.Run(tc.yaml, func(t *testing.T) {
			c, ws, _ := mustLoad(t, map[string]string{MainFile: cfg(chanYAML("c2")[:len(chanYAML("c2"))-len("    api_key: ${OPENAI_API_KEY}\n")] + "    api_key: " + tc.yaml + "\n" + "    enabled: false\n")})
			ch := c.Channel("c2")
			if ch.APIKey != tc.want || ch.KeyPlaceholder != tc.placeholder {
				t.Errorf("key = %+v placeholder=%v, want %+v %v", ch.APIKey, ch.KeyPlaceholder, tc.want, tc.placeholder)
			}
			lit := false
			for _, w := range ws {
				lit = lit || w.Group == "literal secret"
				if tc.want.Literal != "" && strings.Contains(w.Msg, tc.want.Literal) {
					t.Errorf("warning shows the secret: %s", w.Msg)
				}
			}
			if lit != tc.literalWarn {
				t.Errorf("literal secret warning = %v, want %v", lit, tc.literalWarn)
			}
		})
	}
}

func TestPythonCompat(t *testing.T) {
	main := `defaults: &defaults
  provider: openai
  model_name: gpt-4o-mini
  api_key: ${OPENAI_API_KEY}
  enabled: yes
  priority: "2"
  weight: 3
channels:
  - id: 42
    <<: *defaults
  - <<: [*defaults]
    id: c2
    priority: 1.0
    enabled: Off
    tags: &tags [a, b]
  - <<: *defaults
    id: c3
    tags: *tags
providers:
  openai: {base_url: "https://api.openai.com"}
`
	c, ws, _ := mustLoad(t, map[string]string{MainFile: main})
	got := fmt.Sprintln(len(c.Channels), c.Channels[0].ID, c.Channels[0].Enabled, c.Channels[0].Priority, c.Channels[0].Weight,
		c.Channels[1].Priority, c.Channels[1].Enabled, c.Channels[1].Tags, c.Channels[2].Tags, c.Channels[2].ModelName)
	if want := "3 42 true 2 3 1 false [a b] [a b] gpt-4o-mini\n"; got != want {
		t.Errorf("got %s, want %s", got, want)
	}
	// "defaults" is an unknown top-level key (used only as an anchor): one warning.
	n := 0
	for _, w := range ws {
		if w.Group == "unknown key" {
			n++
		}
	}
	if n != 1 {
		t.Errorf("unknown key warnings = %d, want 1", n)
	}
}

func TestLoadBytes(t *testing.T) {
	c, err := LoadBytes("inline.yaml", []byte(cfg()), Options{}, nil)
	if err != nil || c.Channel("c1") == nil {
		t.Fatalf("LoadBytes = %v, %v", c, err)
	}
	doc := cfg(chanYAML("c2", "priority: high"))
	_, err = LoadBytes("inline.yaml", []byte(doc), Options{}, nil)
	if err == nil || !strings.HasPrefix(err.Error(), "inline.yaml:"+posOf(t, doc, "high")+": channels[1].priority") {
		t.Errorf("LoadBytes error = %v", err)
	}
}

func TestBaseURLs(t *testing.T) {
	c, _, _ := mustLoad(t, map[string]string{MainFile: cfg(chanYAML("own", "base_url: http://127.0.0.1:8080/v1"))})
	if got := c.BaseURLs(c.Channel("c1")); !reflect.DeepEqual(got, []string{"https://api.openai.com"}) {
		t.Errorf("provider URL: %v", got)
	}
	if got := c.BaseURLs(c.Channel("own")); !reflect.DeepEqual(got, []string{"http://127.0.0.1:8080/v1"}) {
		t.Errorf("own URL: %v", got)
	}
	if got := c.BaseURLs(&Channel{Provider: "nowhere"}); got != nil {
		t.Errorf("no URL: %v", got)
	}
}

// Files saved on Windows (BOM, CRLF) load like any other.
func TestBOMAndCRLF(t *testing.T) {
	doc := "\ufeff" + strings.ReplaceAll(cfg(chanYAML("c2", "priority: 4")), "\n", "\r\n")
	c, err := LoadBytes(MainFile, []byte(doc), Options{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if ch := c.Channel("c2"); ch == nil || ch.Priority != 4 || ch.APIKey.Env != "OPENAI_API_KEY" {
		t.Errorf("channel c2 = %+v", ch)
	}
	_, err = LoadBytes(MainFile, []byte(strings.Replace(doc, "priority: 4", "priority: x", 1)), Options{}, nil)
	if err == nil || !strings.HasPrefix(err.Error(), MainFile+":13:15:") {
		t.Errorf("error = %v, want line 13 col 15", err)
	}
}
