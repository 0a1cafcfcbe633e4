package compiler

import (
	"os"
	"path/filepath"
	"testing"

	"smartrouter/compiler/diag"
	"smartrouter/format"
)

// Fixture folders, relative to this package.
const (
	smallDir  = "../fixtures/small"
	demoDir   = "../fixtures/demo"
	scaleDir  = "../fixtures/generated/scale"
	growthDir = "../fixtures/generated/growth"
)

// copyTree copies the folder src into a new temporary folder and returns it.
func copyTree(t testing.TB, src string) string {
	t.Helper()
	dst := t.TempDir()
	if err := os.CopyFS(dst, os.DirFS(src)); err != nil {
		t.Fatal(err)
	}
	return dst
}

// buildSmall compiles the small fixture reproducibly and opens it.
func buildSmall(t testing.TB) (*format.Model, *format.Snapshot, *diag.Warnings) {
	t.Helper()
	return buildDir(t, smallDir)
}

func buildDir(t testing.TB, dir string) (*format.Model, *format.Snapshot, *diag.Warnings) {
	t.Helper()
	var w diag.Warnings
	res, err := build(filepath.Join(dir, "config"), filepath.Join(dir, "cache"), Options{Reproducible: true}, &w, 1)
	if err != nil {
		t.Fatalf("build %s: %v", dir, err)
	}
	s, err := format.Open(res.data)
	if err != nil {
		t.Fatalf("open the snapshot of %s: %v", dir, err)
	}
	return res.model, s, &w
}

// findPair returns the pair (channel id, model id) of s.
func findPair(t testing.TB, s *format.Snapshot, channel, model string) (format.Pair, uint32) {
	t.Helper()
	mi, ok := s.LookupModel(model)
	if !ok {
		t.Fatalf("model %q not in the snapshot", model)
	}
	first, n := s.ModelPairs(mi)
	for p := first; p < first+n; p++ {
		pr := s.Pair(p)
		if s.Channels()[pr.Channel].ID == channel {
			return pr, p
		}
	}
	t.Fatalf("no pair (%s, %s)", channel, model)
	return format.Pair{}, 0
}

func hasWarning(w *diag.Warnings, group string) bool {
	for _, x := range w.List() {
		if x.Group == group {
			return true
		}
	}
	return false
}
