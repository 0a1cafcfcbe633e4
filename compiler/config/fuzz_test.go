package config

import (
	"errors"
	"os"
	"testing"

	"smartrouter/compiler/diag"
)

// FuzzLoad feeds arbitrary bytes to the router_config.yaml decoder: it must
// never panic, and every result is either a Config or an error naming the
// file.
func FuzzLoad(f *testing.F) {
	if data, err := os.ReadFile("testdata/python/router_config.yaml"); err == nil {
		f.Add(data)
	}
	f.Add([]byte(allFields))
	f.Add([]byte(billionLaughs))
	f.Add([]byte(mergeBomb))
	f.Add([]byte(cfg("client_keys:\n  - {name: a, key: ${A_KEY}, models: [gpt-4o, \"tag:free\"], budget: {daily_usd: 1}, limits: {requests_per_minute: 5}, expires: 2027-01-01}\n  - {name: b, key: \"sha256:" + testKeyHash + "\", strategy: balanced}\n")))
	for _, tc := range errCases() {
		if s, ok := tc.files[MainFile]; ok {
			f.Add([]byte(s))
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var w diag.Warnings
		c, err := LoadBytes("router_config.yaml", data, Options{MaxNodes: 1 << 16}, &w)
		if err == nil {
			if c == nil {
				t.Fatal("nil Config without an error")
			}
			return
		}
		if c != nil {
			t.Fatal("Config and error together")
		}
		var de *diag.Error
		if !errors.As(err, &de) || de.Pos.File != "router_config.yaml" {
			t.Fatalf("error does not name the file: %v", err)
		}
	})
}

// FuzzOverlays feeds arbitrary overlay files next to a valid
// router_config.yaml.
func FuzzOverlays(f *testing.F) {
	f.Add([]byte("providers:\n  openai: {base_url: https://x.example}\n"), []byte("default_strategy: balanced\n"), []byte("async_config:\n  index_building: {priority_tags: [gpt]}\n"))
	f.Add([]byte("providers: *a\n"), []byte("model_filters: [1]\n"), []byte("async_config: {startup_optimization: {prewarming_enabled: no}}\n"))
	f.Add([]byte("providers: {}\n"), []byte("prewarm: []\n"), []byte("async_config: {memory_usage_limit: \"1.5 GiB\", cache_loading: {timeout_seconds: 30}, fallback_thresholds: {memory_usage_limit: 500}}\n"))
	for _, name := range []string{ProvidersFile, RoutingFile, PerformanceFile} {
		if data, err := os.ReadFile("testdata/python/" + name); err == nil {
			f.Add(data, data, data)
		}
	}
	main := []byte(cfg())
	f.Fuzz(func(t *testing.T, providers, routing, perf []byte) {
		s := newState(Options{MaxNodes: 1 << 16}, nil)
		c, err := s.load([5]memFile{
			{name: MainFile, data: main, present: true},
			{name: ProvidersFile, data: providers, present: true},
			{},
			{name: RoutingFile, data: routing, present: true},
			{name: PerformanceFile, data: perf, present: true},
		})
		if (c == nil) == (err == nil) {
			t.Fatalf("config %v with error %v", c != nil, err)
		}
		var de *diag.Error
		if err != nil && !errors.As(err, &de) {
			t.Fatalf("error without a position: %v", err)
		}
	})
}
