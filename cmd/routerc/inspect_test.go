package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestInspect(t *testing.T) {
	inst := t.TempDir()
	for _, d := range []string{"config", "config/pricing", "cache"} {
		if err := os.MkdirAll(filepath.Join(inst, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for _, f := range []string{"config/router_config.yaml", "config/model_capabilities.json", "config/pricing/siliconflow_unified.json", "config/pricing/base_pricing_unified.json", "cache/discovered_models.json", "cache/pricing_cache.json", "cache/api_key_validation_cache.json"} {
		b, err := os.ReadFile(filepath.Join(smallDir, f))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(inst, f), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	snap := compileTo(t, inst, t.TempDir())
	// Flags after the file work too.
	o, e, code := routerc("inspect", snap, "-config", inst+"/config", "-cache", inst+"/cache")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, e)
	}
	for _, want := range []string{"sources (19, 0 stale)", "sections", "channels 8 (7 enabled)", "top 20 tags by pairs"} {
		if !strings.Contains(o, want) {
			t.Errorf("inspect lacks %q:\n%s", want, o)
		}
	}
	// A file absent at compile time that appears makes the snapshot stale.
	if err := os.WriteFile(filepath.Join(inst, "cache/model_pricing.json"), []byte(`{}`), 0o644); err != nil {
		t.Fatal(err)
	}
	o, _, _ = routerc("inspect", "-config", inst+"/config", "-cache", inst+"/cache", snap)
	if !strings.Contains(o, "sources (19, 1 stale)") || !strings.Contains(o, "stale     cache/model_pricing.json (absent): appeared since the compile") {
		t.Errorf("inspect does not report the new file:\n%s", o)
	}
	if _, e, code := routerc("inspect", "nothing.snap"); code != 1 || e == "" {
		t.Errorf("inspect of a missing file: exit %d", code)
	}
}
