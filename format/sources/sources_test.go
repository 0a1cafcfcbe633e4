package sources

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"smartrouter/format"
)

// record returns the source of the file dir/rel as the compiler records it,
// or an absent one when the file does not exist.
func record(t *testing.T, prefix, dir, rel string) format.Source {
	t.Helper()
	p := filepath.Join(dir, filepath.FromSlash(rel))
	fi, err := os.Stat(p)
	if os.IsNotExist(err) {
		return format.Source{Path: prefix + "/" + rel, Size: -1}
	}
	if err != nil {
		t.Fatal(err)
	}
	h, err := HashFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return format.Source{Path: prefix + "/" + rel, Size: fi.Size(), ModTime: fi.ModTime().UnixNano(), Hash: h}
}

func write(t *testing.T, path, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestCheck(t *testing.T) {
	later := time.Date(2030, 1, 2, 3, 4, 5, 6, time.UTC)
	tests := []struct {
		name   string
		change func(t *testing.T, cfg, cache string)
		dirs   func(cfg, cache string) (string, string)
		src    int // index of the checked source: 0 config file, 1 cache file, 2 absent config file
		want   Status
		detail string // part of the detail; "" means the detail must be empty
	}{
		{"unchanged", func(*testing.T, string, string) {}, nil, 0, Fresh, ""},
		{"size changed", func(t *testing.T, cfg, _ string) {
			write(t, filepath.Join(cfg, "providers.yaml"), "providers: {openai: {}}\n")
		}, nil, 0, Stale, "size changed from 14 to 24 bytes"},
		{"mtime only, same content", func(t *testing.T, _, cache string) {
			if err := os.Chtimes(filepath.Join(cache, "models.json"), later, later); err != nil {
				t.Fatal(err)
			}
		}, nil, 1, Fresh, "modification time changed, content unchanged"},
		{"same size, new content", func(t *testing.T, _, cache string) {
			p := filepath.Join(cache, "models.json")
			write(t, p, `{"data":[9]}`)
			if err := os.Chtimes(p, later, later); err != nil {
				t.Fatal(err)
			}
		}, nil, 1, Stale, "content changed"},
		{"absent, now present", func(t *testing.T, cfg, _ string) {
			write(t, filepath.Join(cfg, "local.yaml"), "x: 1\n")
		}, nil, 2, Stale, "appeared since the compile"},
		{"absent, still absent", func(*testing.T, string, string) {}, nil, 2, Fresh, "absent, as at compile time"},
		{"deleted", func(t *testing.T, cfg, _ string) {
			if err := os.Remove(filepath.Join(cfg, "providers.yaml")); err != nil {
				t.Fatal(err)
			}
		}, nil, 0, Stale, "deleted since the compile"},
		{"replaced by a directory", func(t *testing.T, cfg, _ string) {
			p := filepath.Join(cfg, "providers.yaml")
			if err := os.Remove(p); err != nil {
				t.Fatal(err)
			}
			if err := os.Mkdir(p, 0o755); err != nil {
				t.Fatal(err)
			}
		}, nil, 0, Stale, "no longer a regular file"},
		{"config dir not set", func(t *testing.T, cfg, _ string) {
			write(t, filepath.Join(cfg, "providers.yaml"), "changed, nobody can tell\n")
		}, func(_, cache string) (string, string) { return "", cache }, 0, Unchecked, "the config directory is not set"},
		// A missing directory is not a deleted file: it says nothing about
		// the sources, so they are unchecked rather than stale.
		{"cache dir missing", func(t *testing.T, _, cache string) {
			if err := os.RemoveAll(cache); err != nil {
				t.Fatal(err)
			}
		}, nil, 1, Unchecked, "cannot be read"},
		{"cache dir is a file", func(t *testing.T, _, cache string) {
			if err := os.RemoveAll(cache); err != nil {
				t.Fatal(err)
			}
			write(t, cache, "not a directory")
		}, nil, 1, Unchecked, "is not a directory"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			root := t.TempDir()
			cfg, cache := filepath.Join(root, "config"), filepath.Join(root, "cache")
			write(t, filepath.Join(cfg, "providers.yaml"), "providers: {}\n")
			write(t, filepath.Join(cache, "models.json"), `{"data":[1]}`)
			srcs := []format.Source{
				record(t, ConfigPrefix, cfg, "providers.yaml"),
				record(t, CachePrefix, cache, "models.json"),
				record(t, ConfigPrefix, cfg, "local.yaml"),
			}
			tc.change(t, cfg, cache)
			if tc.dirs != nil {
				cfg, cache = tc.dirs(cfg, cache)
			}
			got := Check(srcs, cfg, cache)[tc.src]
			if got.Status != tc.want || (tc.detail == "") != (got.Detail == "") || !strings.Contains(got.Detail, tc.detail) {
				t.Fatalf("%s: %s (%q), want %s (%q)", srcs[tc.src].Path, got.Status, got.Detail, tc.want, tc.detail)
			}
			if (got.File == "") != (tc.want == Unchecked) {
				t.Errorf("file %q for a %s verdict", got.File, got.Status)
			}
		})
	}
}

func TestCheckOddPaths(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct{ path, detail string }{
		{"config/../../etc/passwd", "leaves its directory"},
		{"cache/", "leaves its directory"},
		{"/abs/providers.yaml", "neither under config/ nor under cache/"},
		{"elsewhere/x.json", "neither under config/ nor under cache/"},
		{"config", "neither under config/ nor under cache/"},
	} {
		v := NewChecker(dir, dir).Check(format.Source{Path: tc.path, Size: 1, ModTime: 1, Hash: 1})
		if v.Status != Unchecked || !strings.Contains(v.Detail, tc.detail) || v.File != "" {
			t.Errorf("%s: %+v, want unchecked (%q)", tc.path, v, tc.detail)
		}
	}
}

// TestCheckUnreadable checks that a file whose time changed but which cannot
// be read is unchecked, not stale.
func TestCheckUnreadable(t *testing.T) {
	if os.Geteuid() == 0 {
		t.Skip("root reads files regardless of their mode")
	}
	dir := t.TempDir()
	p := filepath.Join(dir, "a.json")
	write(t, p, "{}")
	src := record(t, CachePrefix, dir, "a.json")
	later := time.Now().Add(time.Hour)
	if err := os.Chtimes(p, later, later); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(p, 0); err != nil {
		t.Fatal(err)
	}
	v := NewChecker("", dir).Check(src)
	if v.Status != Unchecked || !strings.Contains(v.Detail, "cannot be read") {
		t.Fatalf("%+v, want unchecked", v)
	}
}
