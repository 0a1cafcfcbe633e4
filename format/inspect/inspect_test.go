package inspect

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"smartrouter/compiler"
	"smartrouter/format/sources"
)

// TestDiff changes a copy of the small fixture and checks that the diff
// names each change.
func TestDiff(t *testing.T) {
	old := compileDir(t, smallDir)
	var same bytes.Buffer
	changed, err := Diff(&same, old, old)
	if err != nil || changed || !strings.Contains(same.String(), "no differences") {
		t.Fatalf("diff of a snapshot with itself: changed=%t err=%v\n%s", changed, err, same.String())
	}

	dir := copyTree(t, smallDir)
	replaceIn(t, dir, mainYAML, "priority: 2\n    weight: 0.8", "priority: 7\n    weight: 0.8")                               // deepseek_main changed
	replaceIn(t, dir, mainYAML, `configured_models: ["google/gemma-3-27b-it:free"]`, `configured_models: ["x/new-model-9b"]`) // pair swap
	replaceIn(t, dir, mainYAML, `api_key: "${GROQ_API_KEY}"`, `api_key: "${GROQ_KEY_2}"`)
	replaceIn(t, dir, "cache/pricing_cache.json", `"input": 0.18`, `"input": 0.2`)
	replaceIn(t, dir, mainYAML, "max_retry_attempts: 4", "max_retry_attempts: 5")
	nw := compileDir(t, dir)
	var out bytes.Buffer
	changed, err = Diff(&out, old, nw)
	if err != nil || !changed {
		t.Fatalf("changed=%t err=%v", changed, err)
	}
	text := out.String()
	for _, want := range []string{
		"max_retry_attempts: 4 -> 5",
		"~ deepseek_main: priority: 2 -> 7",
		"~ groq_fast: api_key: ${GROQ_API_KEY} -> ${GROQ_KEY_2}",
		"+ openrouter_trial x/new-model-9b",
		"- openrouter_trial google/gemma-3-27b-it:free",
		"~ relay_oneapi gpt-4o-mini: input $0.180000/M -> $0.200000/M",
		"+ new-model-9b (1)",
		"- gemma-3-27b-it (1)",
		"~ free 5 -> 4",
		"sources: fingerprint",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("diff lacks %q:\n%s", want, text)
		}
	}
}

// TestDiffHidesKeys checks that a changed literal key is reported without
// its value.
func TestDiffHidesKeys(t *testing.T) {
	old := compileDir(t, demoDir)
	dir := copyTree(t, demoDir)
	replaceIn(t, dir, mainYAML, `api_key: "demo-key-main"`, `api_key: "demo-key-MAIN"`)
	nw := compileDir(t, dir)
	var out bytes.Buffer
	if _, err := Diff(&out, old, nw); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(out.String(), "demo-key") {
		t.Errorf("diff shows a key:\n%s", out.String())
	}
	if !strings.Contains(out.String(), "~ mock_main: api_key changed (value not shown)") {
		t.Errorf("diff does not report the key change:\n%s", out.String())
	}
}

// TestCheckSources checks the staleness verdicts on the sources the compiler
// records (format/sources tests the rules one by one).
func TestCheckSources(t *testing.T) {
	dir := copyTree(t, smallDir)
	cfg, cch := filepath.Join(dir, "config"), filepath.Join(dir, "cache")
	m, err := compiler.Build(cfg, cch, compiler.Options{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	state := func() map[string]sources.Status {
		out := map[string]sources.Status{}
		for i, c := range sources.Check(m.Sources, cfg, cch) {
			out[m.Sources[i].Path] = c.Status
		}
		return out
	}
	for p, st := range state() {
		if st != sources.Fresh {
			t.Errorf("%s: %s right after the compile", p, st)
		}
	}
	// Touched, same content: fresh. Changed: stale. Appeared: stale. Deleted: stale.
	later := time.Now().Add(time.Hour)
	if err := os.Chtimes(filepath.Join(cfg, "router_config.yaml"), later, later); err != nil {
		t.Fatal(err)
	}
	replaceIn(t, dir, "cache/pricing_cache.json", `"input": 0.18`, `"input": 0.19`)
	writeFile(t, dir, "config/routing_config.yaml", "routing:\n  max_retry_attempts: 2\n")
	if err := os.Remove(filepath.Join(cch, "discovered_models.json")); err != nil {
		t.Fatal(err)
	}
	want := map[string]sources.Status{
		"config/router_config.yaml":    sources.Fresh,
		"cache/pricing_cache.json":     sources.Stale,
		"config/routing_config.yaml":   sources.Stale,
		"cache/discovered_models.json": sources.Stale,
		"cache/model_pricing.json":     sources.Fresh,
	}
	got := state()
	for p, st := range want {
		if got[p] != st {
			t.Errorf("%s: %s, want %s", p, got[p], st)
		}
	}
	for i, c := range sources.Check(m.Sources, "", "") {
		if c.Status != sources.Unchecked {
			t.Errorf("%s: %s without directories, want unchecked", m.Sources[i].Path, c.Status)
		}
	}
}

func TestInspect(t *testing.T) {
	s := compileDir(t, smallDir)
	var out bytes.Buffer
	if err := Inspect(&out, s, smallDir+"/config", smallDir+"/cache"); err != nil {
		t.Fatal(err)
	}
	text := out.String()
	for _, want := range []string{"format 1.2, generation 1", "sources (19, 0 stale)", "fresh     config/router_config.yaml", "pairs 28 (5 free, 3 local)", "top 20 tags by pairs", "openrouter                       10", "key_states"} {
		if !strings.Contains(text, want) {
			t.Errorf("inspect output lacks %q:\n%s", want, text)
		}
	}
	top := TopTags(s, 3)
	if len(top) != 3 || top[0].Name != "openrouter" || top[1].Name != "community" {
		t.Errorf("top tags %+v", top)
	}
}

// TestInspectMissingDir checks that a directory that does not exist leaves
// its sources unchecked, as routerd does, instead of reporting every file
// as deleted.
func TestInspectMissingDir(t *testing.T) {
	s := compileDir(t, smallDir)
	var out bytes.Buffer
	if err := Inspect(&out, s, smallDir+"/config", filepath.Join(t.TempDir(), "nowhere")); err != nil {
		t.Fatal(err)
	}
	text := out.String()
	for _, want := range []string{"sources (19, 0 stale)", "fresh     config/router_config.yaml", "unchecked cache/pricing_cache.json", "cannot be read"} {
		if !strings.Contains(text, want) {
			t.Errorf("inspect output lacks %q:\n%s", want, text)
		}
	}
}
