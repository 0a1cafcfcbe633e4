package compiler

import (
	"bytes"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
	"time"

	"smartrouter/format"
)

func skipWithoutGenerated(t testing.TB, dir string) {
	t.Helper()
	if _, err := os.Stat(filepath.Join(dir, "config", "router_config.yaml")); err != nil {
		t.Skipf("%s is missing; generate it with: go run ./fixtures/gen", dir)
	}
}

// TestDeterministic compiles the same inputs several times, with channels
// and model lists visited in random orders, and expects the same bytes.
func TestDeterministic(t *testing.T) {
	dirs := []string{smallDir, demoDir, scaleDir}
	for _, dir := range dirs {
		t.Run(filepath.Base(dir), func(t *testing.T) {
			if dir == scaleDir {
				skipWithoutGenerated(t, dir)
			}
			cfg, cch := filepath.Join(dir, "config"), filepath.Join(dir, "cache")
			ref, err := BuildBytes(cfg, cch, Options{Reproducible: true}, nil)
			if err != nil {
				t.Fatal(err)
			}
			runs := 6
			if dir == scaleDir {
				runs = 2
			}
			for seed := uint64(1); seed <= uint64(runs); seed++ {
				opts := Options{Reproducible: true, shuffle: rand.New(rand.NewPCG(seed, seed*7))}
				got, err := BuildBytes(cfg, cch, opts, nil)
				if err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(got, ref) {
					t.Fatalf("seed %d: %d bytes differ from the first build's %d: the output depends on the visiting order", seed, len(got), len(ref))
				}
			}
		})
	}
}

// TestReproducibleIgnoresMtime checks that touching the inputs does not
// change a reproducible build.
func TestReproducibleIgnoresMtime(t *testing.T) {
	dir := copyTree(t, smallDir)
	cfg, cch := filepath.Join(dir, "config"), filepath.Join(dir, "cache")
	a, err := BuildBytes(cfg, cch, Options{Reproducible: true}, nil)
	if err != nil {
		t.Fatal(err)
	}
	later := time.Now().Add(time.Hour)
	for _, p := range []string{"config/router_config.yaml", "cache/discovered_models.json"} {
		if err := os.Chtimes(filepath.Join(dir, p), later, later); err != nil {
			t.Fatal(err)
		}
	}
	b, err := BuildBytes(cfg, cch, Options{Reproducible: true}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(a, b) {
		t.Error("a reproducible build changed when only modification times changed")
	}
}

// TestGenerationAndBuildTime checks the header fields of non-reproducible
// compiles.
func TestGenerationAndBuildTime(t *testing.T) {
	out := filepath.Join(t.TempDir(), "router.snap")
	cfg, cch := smallDir+"/config", smallDir+"/cache"
	bt := time.Date(2025, 9, 12, 16, 0, 0, 0, time.UTC)
	for want := uint64(1); want <= 3; want++ {
		sum, err := Compile(cfg, cch, out, Options{BuildTime: bt}, nil)
		if err != nil {
			t.Fatal(err)
		}
		b, err := os.ReadFile(out)
		if err != nil {
			t.Fatal(err)
		}
		h, err := format.OpenHeader(b)
		if err != nil {
			t.Fatal(err)
		}
		if h.Generation != want || sum.Generation != want {
			t.Errorf("compile %d: generation %d (summary %d)", want, h.Generation, sum.Generation)
		}
		if h.BuildTime != bt.UnixNano() {
			t.Errorf("build time %d, want %d", h.BuildTime, bt.UnixNano())
		}
	}
	// A file that is not a snapshot restarts the count.
	if err := os.WriteFile(out, []byte("not a snapshot"), 0o600); err != nil {
		t.Fatal(err)
	}
	sum, err := Compile(cfg, cch, out, Options{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if sum.Generation != 1 {
		t.Errorf("generation %d after an unreadable previous file, want 1", sum.Generation)
	}
	sum, err = Compile(cfg, cch, out, Options{Reproducible: true}, nil)
	if err != nil || sum.Generation != 1 {
		t.Errorf("reproducible compile: generation %d, err %v; want 1", sum.Generation, err)
	}
	if fi, err := os.Stat(out); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("output mode %v (%v), want 0600", fi.Mode().Perm(), err)
	}
}
