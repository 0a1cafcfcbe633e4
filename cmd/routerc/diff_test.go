package main

import (
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestDiff(t *testing.T) {
	dir := t.TempDir()
	small, demo := compileTo(t, smallDir, dir), compileTo(t, demoDir, dir)
	tests := []struct {
		a, b string
		code int
		want []string
	}{
		{small, small, 0, []string{"no differences"}},
		{demo, demoDir + "/router.snap", 0, []string{"no differences"}},
		{small, demo, 1, []string{"channels: +5 -8 ~0", "+ mock_main", "- groq_fast", "pairs: +14 -28", "tags: +", "+ demo (14)"}},
		{small, "missing.snap", 2, nil},
	}
	for _, tc := range tests {
		o, e, code := routerc("diff", tc.a, tc.b)
		if code != tc.code {
			t.Errorf("diff %s %s: exit %d, want %d (%s)", tc.a, tc.b, code, tc.code, e)
		}
		for _, w := range tc.want {
			if !strings.Contains(o, w) {
				t.Errorf("diff %s %s lacks %q:\n%s", tc.a, tc.b, w, o)
			}
		}
	}
}

var update = flag.Bool("update", false, "rewrite the golden files under testdata/")

// nextInstallation copies fixtures/small and lays fixtures/small-next over
// it: the next version of the installation, with known changes.
func nextInstallation(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	if err := os.CopyFS(dir, os.DirFS(smallDir)); err != nil {
		t.Fatal(err)
	}
	for _, rel := range []string{"config/router_config.yaml", "cache/pricing_cache.json"} {
		b, err := os.ReadFile(filepath.Join(nextDir, rel))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, rel), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// golden compares got with testdata/name, or rewrites it with -update.
func golden(t *testing.T, name, got string) {
	t.Helper()
	p := filepath.Join("testdata", name)
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(p)
	if err != nil {
		t.Fatalf("%v; create it with: go test ./cmd/routerc -run %s -update", err, t.Name())
	}
	if got != string(want) {
		t.Errorf("output differs from %s (go test ./cmd/routerc -run %s -update rewrites it; review the diff)\ngot:\n%s", p, t.Name(), got)
	}
}

// TestDiffSummary compiles fixtures/small and its next version and checks
// the summary in both formats against golden files, with the exit codes of
// diff(1).
func TestDiffSummary(t *testing.T) {
	dir := t.TempDir()
	old := compileTo(t, smallDir, dir)
	nw := compileTo(t, nextInstallation(t), dir)
	for _, tc := range []struct {
		args   []string
		golden string
	}{
		{[]string{"-summary"}, "diff_summary.txt"},
		{[]string{"-format", "markdown"}, "diff_summary.md"},
		{[]string{"-summary", "-limit", "1"}, "diff_summary_limit1.txt"},
	} {
		o, e, code := routerc(append(append([]string{"diff"}, tc.args...), old, nw)...)
		if code != 1 {
			t.Errorf("diff %q: exit %d, want 1 (%s)", tc.args, code, e)
		}
		golden(t, tc.golden, o)
	}
	for _, f := range []string{"text", "markdown"} {
		o, e, code := routerc("diff", "-summary", "-format", f, old, old)
		if code != 0 || !strings.Contains(o, "none") && !strings.Contains(o, "No changes.") {
			t.Errorf("summary of a snapshot with itself (%s): exit %d, %q %q", f, code, o, e)
		}
	}
	for _, args := range [][]string{{"-format", "html"}, {"-summary", "-limit", "0"}} {
		_, e, code := routerc(append(append([]string{"diff"}, args...), old, nw)...)
		if code != 2 || e == "" {
			t.Errorf("diff %q: exit %d, stderr %q; want 2 and a message", args, code, e)
		}
	}
	if _, e, code := routerc("diff", "-summary", old, filepath.Join(dir, "missing.snap")); code != 2 || !strings.Contains(e, "missing.snap") {
		t.Errorf("missing file: exit %d, stderr %q", code, e)
	}
}
