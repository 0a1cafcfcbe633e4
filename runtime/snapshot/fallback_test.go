package snapshot

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"smartrouter/format"
)

// fallbackFixture is a config tree, a snapshot path and a fallback that
// "compiles" the tree the way routerc would, counting its calls.
type fallbackFixture struct {
	tr    tree
	path  string
	gen   uint64
	calls int
	err   error  // returned by the fallback when set
	bytes []byte // returned by the fallback when set
}

const fbSource = "config/providers.yaml"

func newFallbackFixture(t *testing.T) *fallbackFixture {
	f := &fallbackFixture{tr: newTree(t), path: filepath.Join(t.TempDir(), "snap.snap"), gen: 100}
	f.tr.write(t, fbSource, "providers: {}\n")
	return f
}

func (f *fallbackFixture) fallback(t *testing.T) func(context.Context) ([]byte, error) {
	return func(ctx context.Context) ([]byte, error) {
		f.calls++
		if f.err != nil {
			return nil, f.err
		}
		if f.bytes != nil {
			return f.bytes, nil
		}
		f.gen++
		return format.Encode(testModel(f.gen, f.tr.sources(t, fbSource)))
	}
}

func (f *fallbackFixture) opts(t *testing.T, logs *logBuf) Options {
	o := Options{Path: f.path, ConfigDir: f.tr.cfg, CacheDir: f.tr.cache, Fallback: f.fallback(t), WriteBack: true, Logger: quietLogger()}
	if logs != nil {
		o.Logger = logs.logger()
	}
	return o
}

func TestFallbackAtLoad(t *testing.T) {
	tests := []struct {
		name   string
		setup  func(t *testing.T, f *fallbackFixture)
		reason Reason
	}{
		{"missing", func(*testing.T, *fallbackFixture) {}, ReasonNotFound},
		{"corrupt", func(t *testing.T, f *fallbackFixture) {
			writeSnap(t, f.path, []byte("not a snapshot at all"))
		}, ReasonCorrupt},
		{"old version", func(t *testing.T, f *fallbackFixture) {
			writeSnap(t, f.path, setVersion(encode(t, testModel(1, f.tr.sources(t, fbSource))), 0))
		}, ReasonVersion},
		{"stale", func(t *testing.T, f *fallbackFixture) {
			writeSnap(t, f.path, encode(t, testModel(1, f.tr.sources(t, fbSource))))
			f.tr.write(t, fbSource, "providers: {openai: {}}\n")
		}, ReasonStale},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFallbackFixture(t)
			tc.setup(t, f)
			var logs logBuf
			tr := newTracker(t)
			m := mustLoad(t, tr.opts(f.opts(t, &logs)))
			defer m.Close()

			if f.calls != 1 {
				t.Fatalf("fallback called %d times, want 1", f.calls)
			}
			in := m.Info()
			if in.Mode != ModeFallback || in.FallbackReason != tc.reason || in.Generation != 101 || in.Stale {
				t.Fatalf("info: mode %q reason %q gen %d stale %v", in.Mode, in.FallbackReason, in.Generation, in.Stale)
			}
			if !strings.Contains(logs.String(), "level=WARN") || !strings.Contains(logs.String(), "reason="+string(tc.reason)) {
				t.Fatalf("no warning with the reason in the log:\n%s", logs.String())
			}
			h := m.Acquire()
			if h.mapping != nil || h.Value == nil {
				t.Fatalf("fallback handle: mapped %v, OnPublish ran %v", h.mapping != nil, h.Value != nil)
			}
			h.Release()

			// Write-back left a valid 0600 file and no temporary files.
			b, err := os.ReadFile(f.path)
			if err != nil {
				t.Fatalf("write-back: %v", err)
			}
			s, err := format.Open(b)
			if err != nil || s.Header().Generation != 101 {
				t.Fatalf("written-back snapshot: %v", err)
			}
			fi, _ := os.Stat(f.path)
			if fi.Mode().Perm() != 0o600 {
				t.Fatalf("written-back file mode %v, want 0600", fi.Mode().Perm())
			}
			ents, _ := os.ReadDir(filepath.Dir(f.path))
			if len(ents) != 1 {
				t.Fatalf("directory holds %d entries after write-back, want 1", len(ents))
			}

			// The next load maps the written file without the fallback.
			m2 := mustLoad(t, f.opts(t, nil))
			defer m2.Close()
			if in := m2.Info(); in.Mode != ModeSnapshot || in.Generation != 101 || f.calls != 1 {
				t.Fatalf("second start: mode %q gen %d fallback calls %d", in.Mode, in.Generation, f.calls)
			}
		})
	}
}

func TestFallbackNotWrittenOverNewerFormat(t *testing.T) {
	f := newFallbackFixture(t)
	newer := setVersion(encode(t, testModel(1, nil)), format.Major+1)
	writeSnap(t, f.path, newer)
	m := mustLoad(t, f.opts(t, nil))
	defer m.Close()
	if in := m.Info(); in.Mode != ModeFallback || in.FallbackReason != ReasonVersion {
		t.Fatalf("mode %q reason %q", in.Mode, in.FallbackReason)
	}
	b, _ := os.ReadFile(f.path)
	if string(b) != string(newer) {
		t.Fatal("the fallback build overwrote a snapshot of a newer format")
	}
}

func TestFallbackFailures(t *testing.T) {
	tests := []struct {
		name string
		set  func(f *fallbackFixture)
		says []string
	}{
		{"build error", func(f *fallbackFixture) { f.err = errors.New("models.json: unexpected EOF") },
			[]string{"models.json: unexpected EOF", "no such file"}},
		{"invalid bytes", func(f *fallbackFixture) { f.bytes = []byte("{}") },
			[]string{"invalid snapshot", "no such file"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFallbackFixture(t)
			tc.set(f)
			_, err := Load(context.Background(), f.opts(t, nil))
			reasonIs(t, err, ReasonFallbackFailed)
			for _, s := range tc.says {
				if !strings.Contains(err.Error(), s) {
					t.Fatalf("error %q does not mention %q", err, s)
				}
			}
			if _, statErr := os.Stat(f.path); statErr == nil {
				t.Fatal("a failed fallback wrote a file")
			}
		})
	}
}

func TestFallbackWithoutPath(t *testing.T) {
	f := newFallbackFixture(t)
	o := f.opts(t, nil)
	o.Path = ""
	m := mustLoad(t, o)
	defer m.Close()
	if in := m.Info(); in.Mode != ModeFallback || in.FallbackReason != ReasonUnconfigured || in.Path != "" {
		t.Fatalf("info %+v", in)
	}
}

func TestWriteBackFailureStillServes(t *testing.T) {
	f := newFallbackFixture(t)
	blocker := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(blocker, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	f.path = filepath.Join(blocker, "snap.snap") // parent is a file: cannot open, cannot write
	var logs logBuf
	m := mustLoad(t, f.opts(t, &logs))
	defer m.Close()
	if in := m.Info(); in.Mode != ModeFallback || in.FallbackReason != ReasonIO {
		t.Fatalf("mode %q reason %q", in.Mode, in.FallbackReason)
	}
	if !strings.Contains(logs.String(), "could not write the fallback build back") {
		t.Fatalf("write-back failure not logged:\n%s", logs.String())
	}
}

func TestReloadWithFallback(t *testing.T) {
	f := newFallbackFixture(t)
	writeSnap(t, f.path, encode(t, testModel(1, f.tr.sources(t, fbSource))))
	o := f.opts(t, nil)
	o.WriteBack = false
	m := mustLoad(t, o)
	defer m.Close()
	ctx := context.Background()
	if in := m.Info(); in.Mode != ModeSnapshot || f.calls != 0 {
		t.Fatalf("start: mode %q, fallback calls %d", in.Mode, f.calls)
	}

	// A corrupt file at reload keeps the good snapshot; no fallback.
	writeSnap(t, f.path, []byte("half-copied"))
	_, err := m.Reload(ctx)
	reasonIs(t, err, ReasonCorrupt)
	if f.calls != 0 || m.Info().Generation != 1 {
		t.Fatalf("corrupt reload: fallback calls %d, generation %d", f.calls, m.Info().Generation)
	}

	// A valid but stale file at reload serves the fallback.
	writeSnap(t, f.path, encode(t, testModel(2, f.tr.sources(t, fbSource))))
	f.tr.write(t, fbSource, "providers: {a: {}}\n")
	gen, err := m.Reload(ctx)
	if err != nil || gen != 101 || f.calls != 1 {
		t.Fatalf("stale reload = %d, %v (calls %d)", gen, err, f.calls)
	}
	if in := m.Info(); in.Mode != ModeFallback || in.FallbackReason != ReasonStale {
		t.Fatalf("after stale reload: %q %q", in.Mode, in.FallbackReason)
	}

	// While a fallback build serves, a broken file rebuilds it.
	if err := os.Remove(f.path); err != nil {
		t.Fatal(err)
	}
	gen, err = m.Reload(ctx)
	if err != nil || gen != 102 || f.calls != 2 {
		t.Fatalf("reload in fallback mode = %d, %v (calls %d)", gen, err, f.calls)
	}
	if in := m.Info(); in.FallbackReason != ReasonNotFound || in.Seq != 3 {
		t.Fatalf("reason %q seq %d", in.FallbackReason, in.Seq)
	}

	// A failing fallback keeps the previous build.
	f.err = errors.New("cache unreadable")
	_, err = m.Reload(ctx)
	reasonIs(t, err, ReasonFallbackFailed)
	if in := m.Info(); in.Generation != 102 || in.Mode != ModeFallback {
		t.Fatalf("after failed fallback: gen %d mode %q", in.Generation, in.Mode)
	}

	// A fresh file at reload leaves fallback mode.
	f.err = nil
	writeSnap(t, f.path, encode(t, testModel(7, f.tr.sources(t, fbSource))))
	gen, err = m.Reload(ctx)
	if err != nil || gen != 7 || m.Info().Mode != ModeSnapshot {
		t.Fatalf("fresh reload = %d, %v, mode %q", gen, err, m.Info().Mode)
	}
}
