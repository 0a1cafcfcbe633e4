package compiler

import (
	"bytes"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"smartrouter/format"
	"smartrouter/format/inspect"
)

const unk = format.PriceUnknown

// TestPricePrecedence checks, pair by pair of the small fixture, which source
// priced it and that the channel's currency rate is applied exactly to the
// prices the channel states itself.
func TestPricePrecedence(t *testing.T) {
	_, s, _ := buildSmall(t)
	tests := []struct {
		channel, model string
		in, out        uint64 // pico-USD per token
		why            string
	}{
		{"openrouter_free", "openai/gpt-4o-mini", 150_000, 600_000, "discovery models_data pricing"},
		{"openrouter_free", "qwen/qwen3-30b-a3b:free", 0, 0, "discovery pricing, zero"},
		{"openrouter_free", "mistralai/mistral-7b-instruct", 28_000, 54_000, "discovery models_pricing"},
		{"openrouter_free", "openrouter/auto", unk, unk, "negative discovery price is unknown, nothing else knows it"},
		{"groq_fast", "llama-3.1-8b-instant", 50_000, 80_000, "cost_per_token (no other source)"},
		{"siliconflow_cn", "Qwen/Qwen2.5-72B-Instruct", 580_000, 580_000, "CNY pricing file already in USD (exchange_rate): no channel rate"},
		{"siliconflow_cn", "deepseek-ai/DeepSeek-V3", 280_000, 1_120_000, "CNY pricing file converted by the reader: no channel rate"},
		{"siliconflow_cn", "Qwen/Qwen2.5-VL-72B-Instruct", 560_000, 2_240_000, "pricing.*_per_1k times the channel rate 0.14"},
		{"siliconflow_cn", "Qwen/Qwen3-8B", 0, 0, "pricing file, free"},
		{"deepseek_main", "deepseek-chat", 270_000, 1_100_000, "base file has no price for it: cost_per_token"},
		{"relay_oneapi", "gpt-4o", 2_500_000, 10_000_000, "base pricing file (alias) before the pricing cache"},
		{"relay_oneapi", "gpt-4o-mini", 180_000, 720_000, "pricing cache input/output"},
		{"relay_oneapi", "ep-20250613210739-qjxdl", 430_000, 1_700_000, "pricing cache raw_pricing"},
		{"relay_oneapi", "claude-3-5-sonnet-20241022", 3_000_000, 15_000_000, "base pricing file by alias"},
		{"anthropic_off", "claude-3-haiku-20240307", 250_000, 1_250_000, "base pricing file by alias"},
		{"ollama_local", "llama3.1:8b", unk, unk, "no source"},
	}
	for _, tc := range tests {
		p, _ := findPair(t, s, tc.channel, tc.model)
		if p.InputPrice != tc.in || p.OutputPrice != tc.out {
			t.Errorf("%s %s (%s): price %s/%s, want %s/%s", tc.channel, tc.model, tc.why,
				inspect.FormatPrice(p.InputPrice), inspect.FormatPrice(p.OutputPrice), inspect.FormatPrice(tc.in), inspect.FormatPrice(tc.out))
		}
	}
}

// TestModelSources checks which models each channel gets: discovery in both
// key forms, the newest of two entries, the error fallback to
// configured_models, the model_name of a channel without an entry, and the
// entry of an unknown channel skipped with a warning.
func TestModelSources(t *testing.T) {
	_, s, w := buildSmall(t)
	models := map[string][]string{}
	for i := 0; i < s.NumPairs(); i++ {
		p := s.Pair(uint32(i))
		id := s.Channels()[p.Channel].ID
		models[id] = append(models[id], s.Model(p.Model).Name)
	}
	want := map[string][]string{
		"groq_fast":        {"gemma2-9b-it", "llama-3.1-8b-instant", "llama-3.3-70b-versatile"},
		"siliconflow_cn":   {"BAAI/bge-m3", "Qwen/Qwen2.5-72B-Instruct", "Qwen/Qwen2.5-VL-72B-Instruct", "Qwen/Qwen3-8B", "deepseek-ai/DeepSeek-V3"},
		"deepseek_main":    {"deepseek-chat", "deepseek-reasoner"},
		"ollama_local":     {"llama3.1:8b", "nomic-embed-text:latest", "qwen2.5:7b"},
		"anthropic_off":    {"claude-3-haiku-20240307"},
		"openrouter_trial": {"google/gemma-3-27b-it:free"},
		"relay_oneapi":     {"claude-3-5-sonnet-20241022", "ep-20250613210739-qjxdl", "gpt-4o", "gpt-4o-mini"},
	}
	for ch, ms := range want {
		got := models[ch]
		slices.Sort(got)
		if !slices.Equal(got, ms) {
			t.Errorf("channel %s: models %q, want %q", ch, got, ms)
		}
	}
	if n := len(models["openrouter_free"]); n != 9 {
		t.Errorf("openrouter_free has %d models, want the 9 of its discovery entry", n)
	}
	for _, g := range []string{groupUnknownChannel, groupDupEntry, groupKeyUnknown} {
		if !hasWarning(w, g) {
			t.Errorf("no warning %q", g)
		}
	}
}

// TestRoutingExamples checks end to end that the examples of the routing
// rules come out as pair tags, with alias, channel, provider, free and local
// tags added.
func TestRoutingExamples(t *testing.T) {
	_, s, _ := buildSmall(t)
	tests := []struct {
		channel, model string
		want, not      []string
	}{
		{"openrouter_free", "qwen/qwen3-30b-a3b:free",
			[]string{"qwen", "qwen3", "30b", "a3b", "free", "qwen3-30b-a3b", "openrouter", "community", "qwen3-30b"}, nil},
		{"openrouter_free", "anthropic/claude-3-haiku-20240307",
			[]string{"anthropic", "claude", "haiku", "20240307", "claude-3-haiku-20240307", "claude-3-haiku", "claude-haiku"}, []string{"3", "free"}},
		{"relay_oneapi", "ep-20250613210739-qjxdl",
			[]string{"ep", "20250613210739", "qjxdl", "ep-20250613210739-qjxdl", "relay", "oneapi"}, nil},
		{"deepseek_main", "deepseek-chat", []string{"deepseek-v3", "deepseek"}, nil},
		{"siliconflow_cn", "Qwen/Qwen3-8B", []string{"free", "cn", "siliconflow", "qwen3-8b"}, nil},
		{"ollama_local", "llama3.1:8b", []string{"local", "ollama", "8b"}, []string{"free"}},
		{"openrouter_trial", "google/gemma-3-27b-it:free", []string{"free", "gemma-3-27b-it"}, nil},
		{"openrouter_free", "openai/gpt-4o-mini-2024-07-18", []string{"gpt-4o-mini-2024-07-18", "gpt-4o-mini"}, nil},
	}
	for _, tc := range tests {
		_, i := findPair(t, s, tc.channel, tc.model)
		got := s.PairTags(i)
		for _, w := range tc.want {
			if !slices.Contains(got, w) {
				t.Errorf("%s %s: tags %q lack %q", tc.channel, tc.model, got, w)
			}
		}
		for _, n := range tc.not {
			if slices.Contains(got, n) {
				t.Errorf("%s %s: tags %q must not have %q", tc.channel, tc.model, got, n)
			}
		}
	}
}

// TestPairFeatures checks sizes, capabilities, flags and static scores.
func TestPairFeatures(t *testing.T) {
	_, s, _ := buildSmall(t)
	tests := []struct {
		channel, model       string
		ctx, maxOut, params  uint64
		caps, flags          uint32
		quality, free, local float32
	}{
		{"ollama_local", "llama3.1:8b", 131072, 0, 8000, format.CapVisionKnown | format.CapToolsKnown | format.CapTools, format.FlagLocal, 0.6, 0.1, 1},
		{"ollama_local", "qwen2.5:7b", 32768, 0, 7000, format.CapVisionKnown | format.CapToolsKnown | format.CapTools, format.FlagLocal, 0.6, 0.1, 1},
		{"ollama_local", "nomic-embed-text:latest", 8192, 0, 0, 0, format.FlagLocal | format.FlagEmbedding | format.FlagChatExcluded, 0.6, 0.1, 1},
		{"openrouter_free", "openai/gpt-4o-mini", 128000, 16384, 0, format.CapVisionKnown | format.CapVision, 0, 0.95, 0.1, 0.1},
		{"openrouter_free", "qwen/qwen3-30b-a3b:free", 40960, 0, 30000, format.CapVisionKnown, format.FlagFree, 0.8, 1, 0.1},
		{"openrouter_free", "meta-llama/llama-3.3-70b-instruct:free", 131072, 0, 70000, 0, format.FlagFree, 0.6, 1, 0.1},
		{"openrouter_free", "openai/text-embedding-3-small", 8192, 0, 0, 0, format.FlagEmbedding | format.FlagChatExcluded, 0.6, 0.1, 0.1},
		{"siliconflow_cn", "Qwen/Qwen3-8B", 131072, 8192, 8000, format.CapVisionKnown | format.CapToolsKnown | format.CapTools, format.FlagFree, 0.8, 1, 0.1},
		{"siliconflow_cn", "Qwen/Qwen2.5-VL-72B-Instruct", 0, 0, 72000, format.CapVisionKnown | format.CapVision | format.CapToolsKnown | format.CapTools, 0, 0.6, 0.1, 0.1},
		{"deepseek_main", "deepseek-chat", 64000, 8192, 671000, format.CapToolsKnown | format.CapTools, 0, 0.6, 0.1, 0.1},
		{"relay_oneapi", "claude-3-5-sonnet-20241022", 200000, 8192, 0, format.CapVisionKnown | format.CapVision | format.CapToolsKnown | format.CapTools, 0, 0.92, 0.1, 0.1},
	}
	for _, tc := range tests {
		p, _ := findPair(t, s, tc.channel, tc.model)
		if p.ContextLength != tc.ctx || p.MaxOutputTokens != tc.maxOut || p.ParamsM != tc.params {
			t.Errorf("%s %s: sizes ctx=%d out=%d params=%d, want %d %d %d", tc.channel, tc.model, p.ContextLength, p.MaxOutputTokens, p.ParamsM, tc.ctx, tc.maxOut, tc.params)
		}
		if p.Caps != tc.caps {
			t.Errorf("%s %s: caps %04b, want %04b", tc.channel, tc.model, p.Caps, tc.caps)
		}
		if p.Flags != tc.flags {
			t.Errorf("%s %s: flags %s, want %s", tc.channel, tc.model, inspect.FlagWords(p.Flags), inspect.FlagWords(tc.flags))
		}
		if p.QualityScore != tc.quality || p.FreeScore != tc.free || p.LocalScore != tc.local {
			t.Errorf("%s %s: quality/free/local %v/%v/%v, want %v/%v/%v", tc.channel, tc.model, p.QualityScore, p.FreeScore, p.LocalScore, tc.quality, tc.free, tc.local)
		}
	}
}

// TestChannelsSettingsKeys checks the config parts of the snapshot.
func TestChannelsSettingsKeys(t *testing.T) {
	_, s, _ := buildSmall(t)
	chans := s.Channels()
	var ids []string
	for _, c := range chans {
		ids = append(ids, c.ID)
	}
	wantIDs := []string{"openrouter_free", "groq_fast", "siliconflow_cn", "deepseek_main", "ollama_local", "anthropic_off", "openrouter_trial", "relay_oneapi"}
	if !slices.Equal(ids, wantIDs) {
		t.Fatalf("channels %q, want the config order %q", ids, wantIDs)
	}
	byID := map[string]format.Channel{}
	for _, c := range chans {
		byID[c.ID] = c
	}
	if c := byID["anthropic_off"]; c.Enabled {
		t.Error("anthropic_off is enabled; the config disables it")
	}
	for _, id := range []string{"openrouter_trial", "ollama_local"} {
		if !byID[id].APIKey.IsZero() {
			t.Errorf("%s: key %+v, want none (placeholder or empty)", id, byID[id].APIKey)
		}
	}
	if k := byID["groq_fast"].APIKey; k.Env != "GROQ_API_KEY" || k.Literal != "" {
		t.Errorf("groq_fast key %+v, want ${GROQ_API_KEY}", k)
	}
	if c := byID["openrouter_free"]; !slices.Equal(c.Tags, []string{"openrouter", "community"}) || c.MinRequestIntervalMs != 2000 || c.SpeedScore != 0.6 {
		t.Errorf("openrouter_free: tags %q interval %d speed %v", c.Tags, c.MinRequestIntervalMs, c.SpeedScore)
	}
	if c := byID["siliconflow_cn"]; c.CurrencyRate != 0.14 {
		t.Errorf("siliconflow_cn currency rate %v, want 0.14", c.CurrencyRate)
	}
	if c := byID["relay_oneapi"]; len(c.BaseURLs) != 2 || s.Providers()[c.Provider].Key != "oneapi" {
		t.Errorf("relay_oneapi: base URLs %q, provider %q", c.BaseURLs, s.Providers()[c.Provider].Key)
	}
	if c := byID["groq_fast"]; !slices.Equal(c.BaseURLs, []string{"https://api.groq.com/openai/v1"}) {
		t.Errorf("groq_fast base URLs %q, want the provider's", c.BaseURLs)
	}

	st := s.Settings()
	if st.DefaultInputPrice != 500_000 || st.DefaultOutputPrice != 1_500_000 {
		t.Errorf("default prices %d/%d, want 0.5/1.5 USD per 1M", st.DefaultInputPrice, st.DefaultOutputPrice)
	}
	if st.MinContextLength != 4096 || !st.ExcludeEmbeddingModels || st.MaxRetryAttempts != 4 || st.ErrorCooldownSec != 30 {
		t.Errorf("routing settings %+v", st)
	}
	if len(st.Quality) < 2 || st.Quality[0] != (format.QualityRule{Substring: "qwen3", Score: 0.8}) || st.Quality[1].Substring != "claude" {
		t.Errorf("quality table %+v: the config's rules come first", st.Quality)
	}
	nClaude := 0
	for _, q := range st.Quality {
		if q.Substring == "claude" {
			nClaude++
		}
	}
	if nClaude != 1 {
		t.Errorf("quality table has %d claude rules; the config's replaces the built-in", nClaude)
	}
	if len(st.Strategies) != 2 || st.Strategies[0].Name != "cheap_and_good" {
		t.Errorf("strategies %+v", st.Strategies)
	}

	ks := s.KeyStates()
	if len(ks) != 3 {
		t.Fatalf("%d key states, want 3 (old_channel skipped)", len(ks))
	}
	for _, k := range ks {
		if chans[k.Channel].ID == "siliconflow_cn" {
			if k.Valid || k.ErrorType != "invalid_key" || k.HealthScore != 0.2 || k.ConsecutiveFailures != 3 {
				t.Errorf("siliconflow_cn key state %+v", k)
			}
		}
	}
}

// TestSourcesRecorded checks that every file read is a source under
// config/ or cache/, that optional files looked for are recorded absent,
// and that the fingerprint covers them.
func TestSourcesRecorded(t *testing.T) {
	m, s, _ := buildSmall(t)
	var got []string
	for _, src := range s.Sources() {
		p := src.Path
		if src.Size < 0 {
			p += " (absent)"
		} else if src.ModTime != 0 {
			t.Errorf("%s: mtime %d in a reproducible build", src.Path, src.ModTime)
		}
		got = append(got, p)
	}
	want := []string{
		"config/router_config.yaml",
		"config/providers.yaml (absent)",
		"config/pricing_config.yaml (absent)",
		"config/routing_config.yaml (absent)",
		"config/performance.yaml (absent)",
		"config/model_capabilities.json",
		"config/pricing/anthropic_unified.json (absent)",
		"config/pricing/deepseek_unified.json (absent)",
		"config/pricing/groq_unified.json (absent)",
		"config/pricing/ollama_unified.json (absent)",
		"config/pricing/oneapi_unified.json (absent)",
		"config/pricing/openrouter_unified.json (absent)",
		"config/pricing/siliconflow_unified.json",
		"config/pricing/base_pricing_unified.json",
		"cache/discovered_models.json",
		"cache/pricing_cache.json",
		"cache/model_pricing.json (absent)",
		"cache/api_key_validation.json (absent)",
		"cache/api_key_validation_cache.json",
	}
	if !slices.Equal(got, want) {
		t.Errorf("sources:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if m.Fingerprint != format.SourcesFingerprint(m.Sources) || s.Header().Fingerprint != m.Fingerprint {
		t.Error("fingerprint is not SourcesFingerprint(sources)")
	}
}

// TestPrewarm checks the precomputed candidate sets against the tag index.
func TestPrewarm(t *testing.T) {
	_, s, _ := buildSmall(t)
	got := map[string][]uint32{}
	for _, p := range s.Prewarm() {
		got[p.Query] = p.Pairs
	}
	ti, ok := s.LookupTag("free")
	if !ok {
		t.Fatal("no free tag")
	}
	if free := s.TagPairs(ti).ToArray(); !slices.Equal(got["tag:free"], free) {
		t.Errorf("tag:free prewarm %v, want the free postings %v", got["tag:free"], free)
	}
	if l, ok := got["tag:nothing-here"]; !ok || len(l) != 0 {
		t.Errorf("tag:nothing-here: %v (present %t), want an empty list", l, ok)
	}
	var names []string
	for _, p := range got["gpt-4o-mini"] {
		pr := s.Pair(p)
		names = append(names, s.Channels()[pr.Channel].ID+" "+s.Model(pr.Model).Name)
	}
	if want := []string{"relay_oneapi gpt-4o-mini", "openrouter_free openai/gpt-4o-mini"}; !slices.Equal(names, want) {
		t.Errorf("gpt-4o-mini prewarm %q, want %q", names, want)
	}
	for _, p := range got["tag:qwen,!free"] {
		if s.Pair(p).Flags&format.FlagFree != 0 {
			t.Errorf("tag:qwen,!free holds free pair %d", p)
		}
	}
	if len(got["qwen3->=8b"]) != 3 {
		t.Errorf("qwen3->=8b: %d pairs, want 3", len(got["qwen3->=8b"]))
	}
}

// TestNoPlaintextKeys checks that the api_key fields of the caches never
// reach the snapshot.
func TestNoPlaintextKeys(t *testing.T) {
	data, err := BuildBytes(smallDir+"/config", smallDir+"/cache", Options{Reproducible: true}, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"sk-or-v1-small-fixture-plaintext-never-copied", "sk-small-fixture-siliconflow-plaintext"} {
		if bytes.Contains(data, []byte(k)) {
			t.Errorf("the snapshot holds the cache's plaintext key %q", k)
		}
	}
}

// TestBuildMatchesBytes checks that Build and BuildBytes agree.
func TestBuildMatchesBytes(t *testing.T) {
	opts := Options{Reproducible: true}
	m, err := Build(smallDir+"/config", smallDir+"/cache", opts, nil)
	if err != nil {
		t.Fatal(err)
	}
	b, err := BuildBytes(smallDir+"/config", smallDir+"/cache", opts, nil)
	if err != nil {
		t.Fatal(err)
	}
	enc, err := format.Encode(m)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(enc, b) {
		t.Error("Encode(Build()) differs from BuildBytes()")
	}
}

// TestLimitsSettings checks that the start-up and resource limits of
// performance.yaml and tasks.*.max_concurrent reach the snapshot, and that
// an installation without them stores them unset.
func TestLimitsSettings(t *testing.T) {
	_, s, _ := buildSmall(t)
	st := s.Settings()
	if st.MemoryLimitBytes != 0 || st.ConfigLoadTimeoutMs != 0 || st.CacheLoadTimeoutMs != 0 {
		t.Errorf("small fixture limits %d/%d/%d, want unset", st.MemoryLimitBytes, st.ConfigLoadTimeoutMs, st.CacheLoadTimeoutMs)
	}

	dir := copyTree(t, smallDir)
	cfg := filepath.Join(dir, "config")
	perf := "async_config:\n  config_loading: {timeout_seconds: 15}\n  cache_loading: {timeout_seconds: 30}\n  memory_usage_limit: \"500MB\"\n"
	if err := os.WriteFile(filepath.Join(cfg, "performance.yaml"), []byte(perf), 0o644); err != nil {
		t.Fatal(err)
	}
	main := filepath.Join(cfg, "router_config.yaml")
	b, err := os.ReadFile(main)
	if err != nil {
		t.Fatal(err)
	}
	b = bytes.Replace(b, []byte("    interval_minutes: 15\n"), []byte("    interval_minutes: 15\n    max_concurrent: 6\n"), 1)
	if err := os.WriteFile(main, b, 0o644); err != nil {
		t.Fatal(err)
	}
	_, s, _ = buildDir(t, dir)
	st = s.Settings()
	if st.MemoryLimitBytes != 500<<20 || st.ConfigLoadTimeoutMs != 15000 || st.CacheLoadTimeoutMs != 30000 {
		t.Errorf("limits %d/%d/%d, want 500 MB, 15 s, 30 s", st.MemoryLimitBytes, st.ConfigLoadTimeoutMs, st.CacheLoadTimeoutMs)
	}
	for _, task := range st.Tasks {
		want := uint32(0)
		if task.Name == "health_check" {
			want = 6
		}
		if task.MaxConcurrent != want {
			t.Errorf("task %s max_concurrent %d, want %d", task.Name, task.MaxConcurrent, want)
		}
	}
}

// TestPhases checks that Options.Phase sees the four phases once each, in
// order.
func TestPhases(t *testing.T) {
	var got []string
	_, err := BuildBytes(smallDir+"/config", smallDir+"/cache", Options{Phase: func(p string) { got = append(got, p) }}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{PhaseConfig, PhaseCaches, PhaseBuild, PhaseEncode}; !slices.Equal(got, want) {
		t.Errorf("phases %q, want %q", got, want)
	}
}
