package compiler

import (
	"os"
	"path/filepath"
	"slices"
	"testing"

	"smartrouter/compiler/config"
	"smartrouter/format/reqpatterns"
)

func prewarmQueries(t *testing.T, dir string) ([]string, []string, int) {
	t.Helper()
	_, s, w := buildDir(t, dir)
	var qs, srcs []string
	for _, p := range s.Prewarm() {
		qs = append(qs, p.Query)
	}
	for _, src := range s.Sources() {
		srcs = append(srcs, src.Path)
	}
	slices.Sort(qs) // the snapshot keeps them sorted
	n := 0
	if hasWarning(w, groupLearned) {
		n = 1
	}
	return qs, srcs, n
}

func writePatterns(t *testing.T, dir string, models ...string) {
	t.Helper()
	f := &reqpatterns.File{Version: reqpatterns.Version}
	for i, m := range models {
		f.Models = append(f.Models, reqpatterns.Entry{Model: m, Count: uint64(100 - i)})
	}
	b, err := reqpatterns.Encode(f)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "cache", reqpatterns.FileName), b, 0o600); err != nil {
		t.Fatal(err)
	}
}

func TestLearnedPrewarmAddsTopEntries(t *testing.T) {
	dir := copyTree(t, demoDir)
	base, srcs, _ := prewarmQueries(t, dir)
	if slices.Contains(srcs, "cache/"+reqpatterns.FileName) {
		t.Fatalf("the absent patterns file is recorded as a source: %v", srcs)
	}
	// mock-large and mock-small are served, no-such-model is not (dropped),
	// gpt-4o-mini ... are kept once; with the default 10 all fit.
	writePatterns(t, dir, "mock-large", "no-such-model-xyz", "mock-small", base[0])
	got, srcs, warn := prewarmQueries(t, dir)
	if slices.Contains(srcs, "cache/"+reqpatterns.FileName) {
		t.Fatalf("the patterns file is recorded as a source (a new ranking would make the snapshot stale): %v", srcs)
	}
	want := append(slices.Clone(base), "mock-large", "mock-small")
	slices.Sort(want)
	if !slices.Equal(got, want) || warn != 0 {
		t.Fatalf("prewarm %v, want %v (warnings %d)", got, want, warn)
	}

	// learned_prewarm: 1 takes only the first entry.
	ov := filepath.Join(dir, "config", config.RoutingFile)
	if err := os.WriteFile(ov, []byte("learned_prewarm: 1\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	got, _, _ = prewarmQueries(t, dir)
	want = append(slices.Clone(base), "mock-large")
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Fatalf("learned_prewarm 1: %v", got)
	}

	// 0 turns it off: the file is not read.
	if err := os.WriteFile(ov, []byte("learned_prewarm: 0\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	got, srcs, _ = prewarmQueries(t, dir)
	if !slices.Equal(got, base) || slices.Contains(srcs, "cache/"+reqpatterns.FileName) {
		t.Fatalf("learned_prewarm 0: prewarm %v, sources %v", got, srcs)
	}
}

func TestLearnedPrewarmBadFileIsAWarning(t *testing.T) {
	dir := copyTree(t, demoDir)
	base, _, _ := prewarmQueries(t, dir)
	if err := os.WriteFile(filepath.Join(dir, "cache", reqpatterns.FileName), []byte(`{"version":1,"models":[`), 0o600); err != nil {
		t.Fatal(err)
	}
	got, srcs, warn := prewarmQueries(t, dir)
	if warn != 1 || !slices.Equal(got, base) || slices.Contains(srcs, "cache/"+reqpatterns.FileName) {
		t.Fatalf("bad file: warnings %d, prewarm %v, sources %v", warn, got, srcs)
	}
}
