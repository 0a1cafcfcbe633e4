package snapshot

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"smartrouter/format"
)

func TestStaleness(t *testing.T) {
	const (
		cfgFile   = "config/providers.yaml"
		cacheFile = "cache/models.json"
		optional  = "config/local.yaml" // absent at compile time
	)
	later := time.Date(2030, 1, 2, 3, 4, 5, 6, time.UTC)
	tests := []struct {
		name   string
		change func(t *testing.T, tr tree)
		dirs   func(tr tree) (cfg, cache string)
		src    string    // the source whose verdict is checked
		want   Freshness // its verdict
		detail string    // part of its detail
		stale  bool      // whether the snapshot as a whole is stale
	}{
		{"unchanged", func(*testing.T, tree) {}, nil, cfgFile, Fresh, "", false},
		{"size changed", func(t *testing.T, tr tree) {
			tr.write(t, cfgFile, "providers: {openai: {}}\n")
		}, nil, cfgFile, Stale, "size changed", true},
		{"mtime only, same content", func(t *testing.T, tr tree) {
			if err := os.Chtimes(tr.file(cacheFile), later, later); err != nil {
				t.Fatal(err)
			}
		}, nil, cacheFile, Fresh, "content unchanged", false},
		{"same size, new content", func(t *testing.T, tr tree) {
			tr.write(t, cacheFile, `{"data":[9]}`)
			if err := os.Chtimes(tr.file(cacheFile), later, later); err != nil {
				t.Fatal(err)
			}
		}, nil, cacheFile, Stale, "content changed", true},
		{"absent at compile, now present", func(t *testing.T, tr tree) {
			tr.write(t, optional, "x: 1\n")
		}, nil, optional, Stale, "appeared", true},
		{"absent at compile, still absent", func(*testing.T, tree) {}, nil, optional, Fresh, "absent", false},
		{"deleted", func(t *testing.T, tr tree) {
			if err := os.Remove(tr.file(cfgFile)); err != nil {
				t.Fatal(err)
			}
		}, nil, cfgFile, Stale, "deleted", true},
		{"replaced by a directory", func(t *testing.T, tr tree) {
			if err := os.Remove(tr.file(cfgFile)); err != nil {
				t.Fatal(err)
			}
			if err := os.Mkdir(tr.file(cfgFile), 0o755); err != nil {
				t.Fatal(err)
			}
		}, nil, cfgFile, Stale, "regular file", true},
		{"config dir not set", func(t *testing.T, tr tree) {
			tr.write(t, cfgFile, "changed but nobody can tell\n")
		}, func(tr tree) (string, string) { return "", tr.cache }, cfgFile, Unchecked, "not set", false},
		{"cache dir missing", func(t *testing.T, tr tree) {
			if err := os.RemoveAll(tr.cache); err != nil {
				t.Fatal(err)
			}
		}, nil, cacheFile, Unchecked, "cannot be read", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tr := newTree(t)
			tr.write(t, cfgFile, "providers: {}\n")
			tr.write(t, cacheFile, `{"data":[1]}`)
			srcs := tr.sources(t, cfgFile, cacheFile, optional)
			path := filepath.Join(t.TempDir(), "snap.snap")
			writeSnap(t, path, encode(t, testModel(1, srcs)))
			tc.change(t, tr)
			cfg, cache := tr.cfg, tr.cache
			if tc.dirs != nil {
				cfg, cache = tc.dirs(tr)
			}

			// Without a fallback: a stale snapshot is refused, a fresh one served.
			m, err := Load(context.Background(), Options{Path: path, ConfigDir: cfg, CacheDir: cache, Logger: quietLogger()})
			if tc.stale {
				reasonIs(t, err, ReasonStale)
				if !strings.Contains(err.Error(), tc.detail) || !strings.Contains(err.Error(), "routerc") {
					t.Fatalf("stale error %q should name the change (%q) and the fix", err, tc.detail)
				}
			} else if err != nil {
				t.Fatalf("Load: %v", err)
			} else {
				_ = m.Close()
			}

			// AllowStale serves it either way and reports each source.
			m = mustLoad(t, Options{Path: path, ConfigDir: cfg, CacheDir: cache, AllowStale: true, Logger: quietLogger()})
			defer m.Close()
			in := m.Info()
			wantMode := ModeSnapshot
			if tc.stale {
				wantMode = ModeStale
			}
			if in.Mode != wantMode || in.Stale != tc.stale || (in.Warning != "") != tc.stale {
				t.Fatalf("mode %q stale %v warning %q, want %s/%v", in.Mode, in.Stale, in.Warning, wantMode, tc.stale)
			}
			var got *SourceStatus
			for i := range in.Sources {
				if in.Sources[i].Path == tc.src {
					got = &in.Sources[i]
				}
			}
			if got == nil {
				t.Fatalf("source %s not reported: %+v", tc.src, in.Sources)
			}
			if got.Status != tc.want || !strings.Contains(got.Detail, tc.detail) {
				t.Fatalf("%s: %s (%q), want %s (%q)", tc.src, got.Status, got.Detail, tc.want, tc.detail)
			}
			if (tc.want == Unchecked) != (in.Unchecked > 0) {
				t.Fatalf("unchecked count %d", in.Unchecked)
			}
		})
	}
}

func TestStalenessOddPaths(t *testing.T) {
	tr := newTree(t)
	srcs := []format.Source{
		{Path: "config/../../etc/passwd", Size: 1, ModTime: 1, Hash: 1},
		{Path: "/abs/providers.yaml", Size: 1, ModTime: 1, Hash: 1},
		{Path: "elsewhere/x.json", Size: 1, ModTime: 1, Hash: 1},
	}
	path := filepath.Join(t.TempDir(), "snap.snap")
	writeSnap(t, path, encode(t, testModel(1, srcs)))
	m := mustLoad(t, Options{Path: path, ConfigDir: tr.cfg, CacheDir: tr.cache, Logger: quietLogger()})
	defer m.Close()
	in := m.Info()
	if in.Stale || in.Unchecked != 3 {
		t.Fatalf("stale %v unchecked %d, want false/3: %+v", in.Stale, in.Unchecked, in.Sources)
	}
	if d := in.Sources[0].Detail; !strings.Contains(d, "leaves") {
		t.Fatalf("escaping path detail = %q", d)
	}
}
