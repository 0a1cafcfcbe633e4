package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestCompile(t *testing.T) {
	out := filepath.Join(t.TempDir(), "router.snap")
	o, e, code := routerc("compile", "-config", smallDir+"/config", "-cache", smallDir+"/cache", "-o", out, "-reproducible")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, e)
	}
	if !strings.Contains(o, "compiled "+out+": 8 channels, 28 pairs, 28 models, 99 tags, 7 prewarm") {
		t.Errorf("summary line %q", o)
	}
	// Warnings are printed once, grouped.
	if n := strings.Count(e, "warning: placeholder api key (2)"); n != 1 {
		t.Errorf("placeholder warning group printed %d times:\n%s", n, e)
	}
	if _, err := os.Stat(out); err != nil {
		t.Fatal(err)
	}
}

func TestCompileError(t *testing.T) {
	inst := t.TempDir()
	for _, d := range []string{"config", "cache"} {
		if err := os.MkdirAll(filepath.Join(inst, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	cfg, err := os.ReadFile(smallDir + "/config/router_config.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(inst, "config/router_config.yaml"), cfg, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(inst, "cache/discovered_models.json"), []byte(`{"groq_fast": {"models": [`), 0o644); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "router.snap")
	_, e, code := routerc("compile", "-config", inst+"/config", "-cache", inst+"/cache", "-o", out)
	if code != 1 {
		t.Fatalf("exit %d, want 1", code)
	}
	if !strings.Contains(e, "discovered_models.json: byte") || !strings.Contains(e, "no snapshot written") {
		t.Errorf("stderr %q lacks the positioned error", e)
	}
	if _, err := os.Stat(out); err == nil {
		t.Error("a snapshot was written")
	}
}
