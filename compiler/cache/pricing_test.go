package cache

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/cespare/xxhash/v2"

	"smartrouter/compiler/diag"
	"smartrouter/format"
)

const unifiedUSD = `{
  "provider": "openrouter",
  "source": "openrouter_api",
  "currency": "USD",
  "unit": "per_million_tokens",
  "format_version": "2.0",
  "last_updated": "2025-09-12T16:29:22.397601",
  "description": "OpenRouter models",
  "models": {
    "openai/gpt-4o-mini": {
      "id": "openai/gpt-4o-mini",
      "canonical_slug": "openai/gpt-4o-mini",
      "name": "OpenAI: GPT-4o-mini",
      "context_length": 128000,
      "created": 1721260800,
      "architecture": {"modality": "text+image->text", "input_modalities": ["text", "image"], "output_modalities": ["text"], "tokenizer": "GPT", "instruct_type": null},
      "capabilities": ["chat", "vision", "function_calling"],
      "pricing": {"prompt": 0.15, "completion": 0.6, "request": 0.0, "image": 0.007225, "web_search": 0.0, "original_currency": "USD", "exchange_rate": 1.0},
      "top_provider": {"context_length": 128000, "max_completion_tokens": 16384, "is_moderated": true},
      "description": "GPT-4o mini",
      "category": "medium",
      "aliases": ["gpt-4o-mini-2024-07-18"]
    },
    "meta-llama/llama-3.1-8b-instruct": {
      "id": "meta-llama/llama-3.1-8b-instruct",
      "name": "Meta: Llama 3.1 8B Instruct",
      "context_length": 131072,
      "parameter_count": 8000,
      "capabilities": [],
      "pricing": {"prompt": "0.02", "completion": "0.03"},
      "top_provider": {"context_length": 131072, "max_completion_tokens": null},
      "aliases": []
    },
    "broken/model": {
      "pricing": {"prompt": -0.5, "completion": "NaN"}
    }
  }
}`

// A SiliconFlow-style file: currency CNY, but each model's pricing carries
// exchange_rate, so its values are already USD.
const unifiedCNYConverted = `{
  "provider": "siliconflow", "currency": "CNY", "unit": "per_million_tokens", "format_version": "2.0",
  "models": {
    "moonshotai/Kimi-K2-Instruct": {"id": "moonshotai/Kimi-K2-Instruct", "context_length": 131072,
      "pricing": {"prompt": 0.56, "completion": 2.24, "original_currency": "CNY", "exchange_rate": 0.14}}
  }
}`

// A hand-written CNY file with no exchange_rate: converted by the reader.
// The header comes after the models, which the reader must cope with.
const unifiedCNYRaw = `{
  "models": {
    "deepseek-ai/DeepSeek-V3": {"pricing": {"prompt": 2, "completion": 8}},
    "Qwen/Qwen2.5-7B-Instruct": {"pricing": {"prompt": 0, "completion": 0}}
  },
  "provider": "siliconflow", "currency": "CNY", "unit": "per_million_tokens"
}`

func TestUnifiedPricingUSD(t *testing.T) {
	w := &diag.Warnings{}
	tab, err := DecodeUnifiedPricing(strings.NewReader(unifiedUSD), "openrouter_unified.json", PricingOptions{}, w)
	if err != nil {
		t.Fatal(err)
	}
	if tab.Provider != "openrouter" || tab.Currency != "USD" || tab.Unit != "per_million_tokens" || tab.FormatVersion != "2.0" || tab.Len() != 3 {
		t.Fatalf("header: %+v", tab)
	}
	m, ok := tab.Lookup("openai/gpt-4o-mini")
	want := PricedModel{
		ID: "openai/gpt-4o-mini", Name: "OpenAI: GPT-4o-mini", Created: 1721260800, ContextLength: 128000,
		Capabilities:     []string{"chat", "vision", "function_calling"},
		Architecture:     Architecture{Modality: "text+image->text", InputModalities: []string{"text", "image"}, OutputModalities: []string{"text"}, Tokenizer: "GPT"},
		Price:            Price{Input: 150_000, Output: 600_000, Request: 0, Image: 7_225_000_000},
		TopContextLength: 128000, MaxCompletionTokens: 16384, Aliases: []string{"gpt-4o-mini-2024-07-18"},
	}
	if !ok || !reflect.DeepEqual(*m, want) {
		t.Fatalf("gpt-4o-mini:\n got %+v\nwant %+v", m, want)
	}
	l, _ := tab.Lookup("meta-llama/llama-3.1-8b-instruct")
	if l == nil || l.ParamsM != 8000 || l.Price.Input != 20_000 || l.Price.Output != 30_000 || l.Price.Request != format.PriceUnknown || l.MaxCompletionTokens != 0 {
		t.Fatalf("llama: %+v", l)
	}
	b, _ := tab.Lookup("broken/model")
	if b == nil || b.Price.Input != format.PriceUnknown || b.Price.Output != format.PriceUnknown {
		t.Fatalf("broken: %+v", b)
	}
	paths := map[string]bool{}
	for _, x := range w.List() {
		if x.Group != GroupBadPrice {
			t.Errorf("unexpected warning %+v", x)
		}
		paths[x.Pos.JSONPath] = true
	}
	if !paths[`$.models["broken/model"].pricing.prompt`] || !paths[`$.models["broken/model"].pricing.completion`] || len(paths) != 2 {
		t.Fatalf("warnings: %+v", w.List())
	}
	// The negative price is warned at its own byte offset even though it
	// is converted after the whole file is read.
	for _, x := range w.List() {
		if strings.HasSuffix(x.Pos.JSONPath, "prompt") && x.Pos.Offset != int64(strings.Index(unifiedUSD, "-0.5")) {
			t.Errorf("negative price warned at %d", x.Pos.Offset)
		}
	}
}

func TestPriceTableLookup(t *testing.T) {
	tab, err := DecodeUnifiedPricing(strings.NewReader(unifiedUSD), "x", PricingOptions{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		id   string
		want string // ID of the model found, "" for none
	}{
		{"openai/gpt-4o-mini", "openai/gpt-4o-mini"},                                  // exact
		{"gpt-4o-mini-2024-07-18", "openai/gpt-4o-mini"},                              // alias
		{"azure/gpt-4o-mini-2024-07-18", "openai/gpt-4o-mini"},                        // alias after the prefix
		{"groq/meta-llama/llama-3.1-8b-instruct", "meta-llama/llama-3.1-8b-instruct"}, // prefix removed
		{"gpt-4o-mini", ""}, // not a rule: no suffix matching
		{"llama-3.1-8b-instruct", ""},
		{"", ""},
		{"openai/", ""},
	}
	for _, tc := range tests {
		m, ok := tab.Lookup(tc.id)
		got := ""
		if ok {
			got = m.ID
		}
		if got != tc.want {
			t.Errorf("Lookup(%q) = %q, want %q", tc.id, got, tc.want)
		}
	}
	var nilTab *PriceTable
	if _, ok := nilTab.Lookup("x"); ok {
		t.Error("nil table found a model")
	}
}

func TestUnifiedPricingCNY(t *testing.T) {
	tests := []struct {
		name    string
		doc     string
		opt     PricingOptions
		id      string
		in, out uint64
	}{
		{"already converted", unifiedCNYConverted, PricingOptions{}, "moonshotai/Kimi-K2-Instruct", 560_000, 2_240_000},
		{"already converted, other rate", unifiedCNYConverted, PricingOptions{CNYToUSD: 0.5}, "moonshotai/Kimi-K2-Instruct", 560_000, 2_240_000},
		{"raw CNY, default rate", unifiedCNYRaw, PricingOptions{}, "deepseek-ai/DeepSeek-V3", 280_000, 1_120_000},
		{"raw CNY, given rate", unifiedCNYRaw, PricingOptions{CNYToUSD: 0.1375}, "deepseek-ai/DeepSeek-V3", 275_000, 1_100_000},
		{"raw CNY, free", unifiedCNYRaw, PricingOptions{}, "Qwen/Qwen2.5-7B-Instruct", 0, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tab, err := DecodeUnifiedPricing(strings.NewReader(tc.doc), "siliconflow_unified.json", tc.opt, nil)
			if err != nil {
				t.Fatal(err)
			}
			m, ok := tab.Lookup(tc.id)
			if !ok || m.Price.Input != tc.in || m.Price.Output != tc.out || tab.Currency != "CNY" {
				t.Fatalf("%+v", m)
			}
		})
	}
}

func TestUnifiedPricingBadHeader(t *testing.T) {
	tests := []struct {
		name, doc, path, msg string
	}{
		{"unknown unit", `{"unit": "per_image", "models": {}}`, "$.unit", "per_million_tokens"},
		{"unknown currency", `{"currency": "EUR", "models": {}}`, "$.currency", "USD or CNY"},
		{"not an object", `"pricing"`, "$", "must be a JSON object"},
		{"truncated", `{"models": {"a": {"pricing": {"prompt": 0.1`, `$.models.a.pricing`, "truncated"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := DecodeUnifiedPricing(strings.NewReader(tc.doc), "p.json", PricingOptions{}, nil)
			var de *diag.Error
			if !errors.As(err, &de) || de.Pos.JSONPath != tc.path || !strings.Contains(de.Msg, tc.msg) {
				t.Fatalf("got %v", err)
			}
		})
	}
}

func TestUnifiedPricingDefaults(t *testing.T) {
	tab, err := DecodeUnifiedPricing(strings.NewReader(`{"models": {"a": {"pricing": {"prompt": 1, "completion": 2}}, "b": "x", "c": {"capabilities": "chat"}}}`), "p.json", PricingOptions{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if tab.Currency != "USD" || tab.Unit != "per_million_tokens" || tab.Len() != 2 {
		t.Fatalf("%+v", tab)
	}
	if a, _ := tab.Lookup("a"); a.Price.Input != 1_000_000 || a.Price.Output != 2_000_000 {
		t.Fatalf("%+v", a)
	}
	if c, _ := tab.Lookup("c"); c == nil || c.Capabilities != nil || c.Price.Input != format.PriceUnknown {
		t.Fatalf("%+v", c)
	}
}

const pricingCache = `{
  "gpt-4o-mini": {"input": 0.15, "output": 0.6, "provider": "openai"},
  "deepseek-chat": {"raw_pricing": {"prompt": "0.00000027", "completion": "0.0000011"}},
  "mixed": {"input": "0.5", "raw_pricing": {"prompt": "0.000009", "completion": "0.000002"}},
  "last_updated": "2025-09-12T16:29:22",
  "bad": 12,
  "neg": {"input": -3, "output": 1}
}`

func TestPricingCache(t *testing.T) {
	w := &diag.Warnings{}
	tab, err := DecodePricingCache(strings.NewReader(pricingCache), "pricing_cache.json", w)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		id      string
		in, out uint64
	}{
		{"gpt-4o-mini", 150_000, 600_000},
		{"deepseek-chat", 270_000, 1_100_000},
		{"mixed", 500_000, 2_000_000}, // input wins over raw_pricing.prompt; output from raw_pricing
		{"neg", format.PriceUnknown, 1_000_000},
	}
	for _, tc := range tests {
		m, ok := tab.Lookup(tc.id)
		if !ok || m.Price.Input != tc.in || m.Price.Output != tc.out {
			t.Errorf("%s: %+v, want %d/%d", tc.id, m, tc.in, tc.out)
		}
	}
	if tab.Len() != 4 {
		t.Errorf("%d models", tab.Len())
	}
	got := map[string]string{}
	for _, x := range w.List() {
		got[x.Pos.JSONPath] = x.Group
	}
	want := map[string]string{"$.bad": GroupWrongType, "$.neg.input": GroupBadPrice}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("warnings %v, want %v", got, want)
	}
}

func TestReadPricingFilesAndFind(t *testing.T) {
	root := t.TempDir()
	pdir, cdir := filepath.Join(root, "config", "pricing"), filepath.Join(root, "cache")
	for _, d := range []string{pdir, cdir} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	files := map[string]string{
		filepath.Join(pdir, "openrouter_unified.json"):  unifiedUSD,
		filepath.Join(pdir, "siliconflow_unified.json"): unifiedCNYConverted,
		filepath.Join(pdir, BasePricingFile):            unifiedUSD,
		filepath.Join(pdir, "notes.json"):               `{}`,
		filepath.Join(cdir, ModelPricingFile):           pricingCache,
		filepath.Join(cdir, PricingCacheFile):           pricingCache,
	}
	for p, s := range files {
		if err := os.WriteFile(p, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	pf, err := FindPricing(pdir, cdir)
	if err != nil {
		t.Fatal(err)
	}
	want := PricingFiles{
		Providers: []ProviderPricingFile{
			{"openrouter", filepath.Join(pdir, "openrouter_unified.json")},
			{"siliconflow", filepath.Join(pdir, "siliconflow_unified.json")},
		},
		Base:   filepath.Join(pdir, BasePricingFile),
		Caches: []string{filepath.Join(cdir, PricingCacheFile), filepath.Join(cdir, ModelPricingFile)},
	}
	if !reflect.DeepEqual(pf, want) {
		t.Fatalf("FindPricing:\n got %+v\nwant %+v", pf, want)
	}
	tab, err := ReadUnifiedPricing(pf.Providers[0].Path, PricingOptions{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if tab.Source.Hash != xxhash.Sum64String(unifiedUSD) || tab.Source.Size != int64(len(unifiedUSD)) || tab.Source.Path != pf.Providers[0].Path || tab.Source.ModTime == 0 {
		t.Fatalf("source %+v", tab.Source)
	}
	ct, err := ReadPricingCache(pf.Caches[0], nil)
	if err != nil || ct.Len() != 4 || ct.Source.Hash != xxhash.Sum64String(pricingCache) {
		t.Fatalf("pricing cache: %v %+v", err, ct)
	}
	if _, err := ReadPricingCache(cdir, nil); err == nil || !strings.Contains(err.Error(), "directory") {
		t.Fatalf("directory: %v", err)
	}
	if pf, err := FindPricing(filepath.Join(root, "none"), filepath.Join(root, "none")); err != nil || len(pf.Providers)+len(pf.Caches) != 0 || pf.Base != "" {
		t.Fatalf("missing dirs: %+v %v", pf, err)
	}
}
