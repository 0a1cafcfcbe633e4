package snapshot

import (
	"context"
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"smartrouter/format"
)

func TestLoadMapsAndValidates(t *testing.T) {
	path := filepath.Join(t.TempDir(), "snap.snap")
	writeSnap(t, path, encode(t, testModel(3, nil)))
	tr := newTracker(t)
	m := mustLoad(t, tr.opts(Options{Path: path}))

	h := m.Acquire()
	if h == nil {
		t.Fatal("Acquire returned nil after Load")
	}
	if h.Mode() != ModeSnapshot || h.Path() != path || h.Generation() != 3 || h.Seq() != 1 {
		t.Fatalf("handle: mode %q path %q gen %d seq %d", h.Mode(), h.Path(), h.Generation(), h.Seq())
	}
	if h.mapping == nil {
		t.Fatal("a file snapshot must be served from a mapping")
	}
	if _, ok := h.Snapshot().LookupModel("gen-3"); !ok {
		t.Fatal("model gen-3 not found in the mapped snapshot")
	}
	if s, ok := h.Value.(*slot); !ok || s.gen != 3 {
		t.Fatalf("OnPublish did not run before publishing: Value = %#v", h.Value)
	}
	if h.LoadedAt().IsZero() {
		t.Fatal("LoadedAt not set")
	}
	h.Release()
	if n := tr.drainCount(h); n != 0 {
		t.Fatalf("current snapshot drained %d times while still published", n)
	}
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	if n := tr.drainCount(h); n != 1 {
		t.Fatalf("after Close the snapshot drained %d times, want 1", n)
	}
	if m.Acquire() != nil {
		t.Fatal("Acquire after Close must return nil")
	}
	if err := m.Close(); err != nil {
		t.Fatal("second Close:", err)
	}
	_, err := m.Reload(context.Background())
	reasonIs(t, err, ReasonClosed)
}

func TestCloseWaitsForHolders(t *testing.T) {
	path := filepath.Join(t.TempDir(), "snap.snap")
	writeSnap(t, path, encode(t, testModel(1, nil)))
	tr := newTracker(t)
	m := mustLoad(t, tr.opts(Options{Path: path}))
	h := m.Acquire()
	_ = m.Close()
	if n := tr.drainCount(h); n != 0 {
		t.Fatalf("unmapped while held (drains=%d)", n)
	}
	if _, ok := h.Snapshot().LookupModel("gpt-4o"); !ok {
		t.Fatal("held snapshot unreadable after Close")
	}
	h.Release()
	if n := tr.drainCount(h); n != 1 {
		t.Fatalf("drains = %d after the last Release, want 1", n)
	}
}

func TestLoadErrors(t *testing.T) {
	good := encode(t, testModel(1, nil))
	trunc := good[:len(good)-40]
	flipped := append([]byte(nil), good...)
	gs, err := format.Open(good)
	if err != nil {
		t.Fatal(err)
	}
	for _, si := range gs.Sections() {
		if si.Name == "pairs" && si.Length > 0 {
			flipped[si.Offset+si.Length/2] ^= 0xff // inside a section: its CRC must catch it
		}
	}
	tests := []struct {
		name   string
		setup  func(t *testing.T, dir string) Options
		reason Reason
		is     error
		says   string
	}{
		{"missing file", func(t *testing.T, dir string) Options {
			return Options{Path: filepath.Join(dir, "nope.snap")}
		}, ReasonNotFound, fs.ErrNotExist, "routerc"},
		{"empty file", func(t *testing.T, dir string) Options {
			p := filepath.Join(dir, "e.snap")
			writeSnap(t, p, nil)
			return Options{Path: p}
		}, ReasonCorrupt, nil, "empty"},
		{"truncated", func(t *testing.T, dir string) Options {
			p := filepath.Join(dir, "t.snap")
			writeSnap(t, p, trunc)
			return Options{Path: p}
		}, ReasonCorrupt, format.ErrTruncated, "rebuild"},
		{"bit flip", func(t *testing.T, dir string) Options {
			p := filepath.Join(dir, "f.snap")
			writeSnap(t, p, flipped)
			return Options{Path: p}
		}, ReasonCorrupt, format.ErrChecksum, "rebuild"},
		{"not a snapshot", func(t *testing.T, dir string) Options {
			p := filepath.Join(dir, "x.snap")
			writeSnap(t, p, []byte("providers: {}\n"))
			return Options{Path: p}
		}, ReasonCorrupt, format.ErrBadMagic, "not a snapshot"},
		{"version too new", func(t *testing.T, dir string) Options {
			p := filepath.Join(dir, "v.snap")
			writeSnap(t, p, setVersion(good, format.Major+1))
			return Options{Path: p}
		}, ReasonVersion, format.ErrVersionTooNew, "upgrade"},
		{"directory", func(t *testing.T, dir string) Options {
			return Options{Path: dir}
		}, ReasonIO, nil, "regular file"},
		{"nothing configured", func(t *testing.T, dir string) Options {
			return Options{}
		}, ReasonUnconfigured, nil, "routerc"},
		{"bad embedded", func(t *testing.T, dir string) Options {
			return Options{Embedded: trunc}
		}, ReasonCorrupt, format.ErrTruncated, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			o := tc.setup(t, t.TempDir())
			o.Logger = quietLogger()
			m, err := Load(context.Background(), o)
			if m != nil || err == nil {
				t.Fatalf("Load succeeded, want %s", tc.reason)
			}
			reasonIs(t, err, tc.reason)
			if ReasonOf(err) != tc.reason {
				t.Fatalf("ReasonOf = %q", ReasonOf(err))
			}
			if tc.is != nil && !errors.Is(err, tc.is) {
				t.Fatalf("errors.Is(%v, %v) = false", err, tc.is)
			}
			if !strings.Contains(err.Error(), tc.says) {
				t.Fatalf("error %q does not mention %q", err, tc.says)
			}
		})
	}
}

func TestEmbedded(t *testing.T) {
	srcs := []format.Source{{Path: "config/providers.yaml", Size: 10, ModTime: 1, Hash: 2}}
	tr := newTracker(t)
	m := mustLoad(t, tr.opts(Options{Embedded: encode(t, testModel(9, srcs)), ConfigDir: t.TempDir()}))
	defer m.Close()
	in := m.Info()
	if in.Mode != ModeEmbedded || in.Path != "" || in.Generation != 9 || in.Stale {
		t.Fatalf("info = %+v", in)
	}
	if len(in.Sources) != 1 || in.Sources[0].Status != Unchecked {
		t.Fatalf("embedded sources must be reported unchecked: %+v", in.Sources)
	}
	h := m.Acquire()
	defer h.Release()
	if h.mapping != nil {
		t.Fatal("embedded snapshot must not be mapped")
	}
	gen, err := m.Reload(context.Background())
	if err != nil || gen != 9 {
		t.Fatalf("Reload of embedded = %d, %v", gen, err)
	}
}

func TestReload(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "snap.snap")
	writeSnap(t, path, encode(t, testModel(1, nil)))
	tr := newTracker(t)
	type event struct {
		ok     bool
		reason string
		gen    uint64
	}
	var events []event
	o := tr.opts(Options{Path: path, Observer: ObserverFunc(func(ok bool, reason string, gen uint64) {
		events = append(events, event{ok, reason, gen})
	})})
	m := mustLoad(t, o)
	defer m.Close()
	ctx := context.Background()

	first := m.Acquire() // held across the failed and successful reloads

	// A corrupt file keeps the old snapshot serving.
	writeSnap(t, path, []byte("garbage that is not a snapshot"))
	gen, err := m.Reload(ctx)
	reasonIs(t, err, ReasonCorrupt)
	if gen != 1 {
		t.Fatalf("failed Reload reported generation %d, want the old 1", gen)
	}
	if h := m.Acquire(); h != first {
		t.Fatal("a failed reload replaced the serving snapshot")
	} else {
		h.Release()
	}

	// A deleted file too.
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	_, err = m.Reload(ctx)
	reasonIs(t, err, ReasonNotFound)

	// A newer file swaps.
	writeSnap(t, path, encode(t, testModel(2, nil)))
	gen, err = m.Reload(ctx)
	if err != nil || gen != 2 {
		t.Fatalf("Reload = %d, %v; want 2", gen, err)
	}
	h := m.Acquire()
	if h == first || h.Generation() != 2 || h.Seq() != 2 {
		t.Fatalf("after reload: same=%v gen %d seq %d", h == first, h.Generation(), h.Seq())
	}
	if _, ok := h.Snapshot().LookupModel("gen-2"); !ok {
		t.Fatal("new snapshot does not hold gen-2")
	}
	h.Release()

	// The old one is retired but held: still readable, unmapped on release.
	if n := tr.drainCount(first); n != 0 {
		t.Fatal("retired snapshot unmapped while held")
	}
	if _, ok := first.Snapshot().LookupModel("gen-1"); !ok {
		t.Fatal("retired but held snapshot unreadable")
	}
	if r := m.Info().Retired; r != 1 {
		t.Fatalf("Info.Retired = %d while the old snapshot is held, want 1", r)
	}
	first.Release()
	if n := tr.drainCount(first); n != 1 {
		t.Fatalf("retired snapshot drained %d times, want 1", n)
	}
	if r := m.Info().Retired; r != 0 {
		t.Fatalf("Info.Retired = %d after the last release, want 0", r)
	}

	// OnPublish refusing keeps the old one, and the candidate is unmapped.
	var refused *Handle
	m.opts.OnPublish = func(h *Handle) error { refused = h; return errors.New("router build failed") }
	_, err = m.Reload(ctx)
	reasonIs(t, err, ReasonPublish)
	if !strings.Contains(err.Error(), "router build failed") {
		t.Fatalf("error %q lost the cause", err)
	}
	if n := tr.drainCount(refused); n != 1 {
		t.Fatalf("refused candidate drained %d times, want 1", n)
	}
	if h := m.Acquire(); h.Generation() != 2 {
		t.Fatal("refused reload changed the serving snapshot")
	} else {
		h.Release()
	}

	want := []event{{false, "corrupt", 1}, {false, "not_found", 1}, {true, "", 2}, {false, "publish_failed", 2}}
	if len(events) != len(want) {
		t.Fatalf("observer events = %+v, want %+v", events, want)
	}
	for i := range want {
		if events[i] != want[i] {
			t.Fatalf("observer event %d = %+v, want %+v", i, events[i], want[i])
		}
	}
	in := m.Info()
	if in.Reloads.Successes != 1 || in.Reloads.Failures[ReasonCorrupt] != 1 ||
		in.Reloads.Failures[ReasonNotFound] != 1 || in.Reloads.Failures[ReasonPublish] != 1 {
		t.Fatalf("reload stats = %+v", in.Reloads)
	}
	if in.Retired != 0 {
		t.Fatalf("Info.Retired = %d after a refused candidate, want 0", in.Retired)
	}
	if in.LastReloadErr == nil || in.LastReloadErr.Reason != ReasonPublish || in.LastReloadErr.Time.IsZero() {
		t.Fatalf("last reload error = %+v", in.LastReloadErr)
	}
}

func TestConcurrentReloadsAreSerialised(t *testing.T) {
	path := filepath.Join(t.TempDir(), "snap.snap")
	writeSnap(t, path, encode(t, testModel(1, nil)))
	var inside, overlaps atomic.Int32
	o := Options{Path: path, Logger: quietLogger(), OnPublish: func(h *Handle) error {
		if !inside.CompareAndSwap(0, 1) {
			overlaps.Add(1)
		}
		for range 1000 { // widen the window
			_ = h.Snapshot().NumPairs()
		}
		inside.Store(0)
		return nil
	}}
	m := mustLoad(t, o)
	defer m.Close()
	const workers, each = 4, 5
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for range each {
				if _, err := m.Reload(context.Background()); err != nil {
					t.Error(err)
				}
			}
		})
	}
	wg.Wait()
	if overlaps.Load() != 0 {
		t.Fatalf("OnPublish ran concurrently %d times", overlaps.Load())
	}
	if in := m.Info(); in.Seq != 1+workers*each || in.Reloads.Successes != workers*each {
		t.Fatalf("seq %d successes %d, want %d and %d", in.Seq, in.Reloads.Successes, 1+workers*each, workers*each)
	}
}

// TestAcquireNeverRevivesADrainedHandle replays the classic interleaving by
// hand: a reader loads the pointer, the snapshot is swapped out and drained,
// then the reader tries to take its reference.
func TestAcquireNeverRevivesADrainedHandle(t *testing.T) {
	path := filepath.Join(t.TempDir(), "snap.snap")
	writeSnap(t, path, encode(t, testModel(1, nil)))
	tr := newTracker(t)
	m := mustLoad(t, tr.opts(Options{Path: path}))
	defer m.Close()

	stale := m.cur.Load() // the reader is preempted right here
	if _, err := m.Reload(context.Background()); err != nil {
		t.Fatal(err)
	}
	if n := tr.drainCount(stale); n != 1 {
		t.Fatalf("unheld retired handle drained %d times, want 1", n)
	}
	if stale.tryRef() {
		t.Fatal("tryRef revived a drained handle")
	}
	if stale.refs.Load() != 0 {
		t.Fatalf("refs of drained handle = %d", stale.refs.Load())
	}
	h := m.Acquire()
	defer h.Release()
	if h == stale || h.Seq() != 2 {
		t.Fatal("Acquire did not move on to the current handle")
	}
}

func TestAcquireReleaseDoNotAllocate(t *testing.T) {
	path := filepath.Join(t.TempDir(), "snap.snap")
	writeSnap(t, path, encode(t, testModel(1, nil)))
	m := mustLoad(t, Options{Path: path, Logger: quietLogger()})
	defer m.Close()
	if a := testing.AllocsPerRun(1000, func() {
		h := m.Acquire()
		_ = h.Value
		h.Release()
	}); a != 0 {
		t.Fatalf("Acquire+Release allocates %v times per call", a)
	}
}

func TestDoubleReleasePanics(t *testing.T) {
	path := filepath.Join(t.TempDir(), "snap.snap")
	writeSnap(t, path, encode(t, testModel(1, nil)))
	m := mustLoad(t, Options{Path: path, Logger: quietLogger()})
	h := m.Acquire()
	h.Release()
	_ = m.Close() // drains: refs 0
	defer func() {
		if r := recover(); r == nil || !strings.Contains(r.(string), "more often") {
			t.Fatalf("recover() = %v, want the double-release panic", r)
		}
	}()
	h.Release()
}

func TestNilHandleRelease(t *testing.T) {
	var h *Handle
	h.Release() // must not panic
}

func TestInfoJSON(t *testing.T) {
	tr := newTree(t)
	tr.write(t, "config/providers.yaml", "providers: {}\n")
	srcs := tr.sources(t, "config/providers.yaml", "cache/models.json")
	path := filepath.Join(t.TempDir(), "snap.snap")
	writeSnap(t, path, encode(t, testModel(5, srcs)))
	m := mustLoad(t, Options{Path: path, ConfigDir: tr.cfg, CacheDir: tr.cache, Logger: quietLogger()})
	defer m.Close()
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	_, _ = m.Reload(context.Background())

	raw, err := json.Marshal(m.Info())
	if err != nil {
		t.Fatal(err)
	}
	var got map[string]any
	if err := json.Unmarshal(raw, &got); err != nil {
		t.Fatal(err)
	}
	for k, want := range map[string]any{
		"loaded": true, "path": path, "mode": "snapshot", "format_version": "1.2",
		"generation": 5.0, "seq": 1.0, "stale": false,
	} {
		if got[k] != want {
			t.Errorf("%s = %v, want %v (json %s)", k, got[k], want, raw)
		}
	}
	if fp, _ := got["fingerprint"].(string); len(fp) != 16 {
		t.Errorf("fingerprint %q is not 16 hex digits", fp)
	}
	for _, k := range []string{"built_at", "loaded_at"} {
		if s, _ := got[k].(string); !strings.HasPrefix(s, "20") {
			t.Errorf("%s = %v, want an RFC 3339 time", k, got[k])
		}
	}
	srcsJSON, _ := got["sources"].([]any)
	if len(srcsJSON) != 2 {
		t.Fatalf("sources = %v", got["sources"])
	}
	if s0 := srcsJSON[0].(map[string]any); s0["status"] != "fresh" || s0["path"] != "config/providers.yaml" {
		t.Errorf("source 0 = %v", s0)
	}
	if s1 := srcsJSON[1].(map[string]any); s1["status"] != "fresh" || s1["size"] != -1.0 {
		t.Errorf("source 1 = %v", s1)
	}
	rl := got["reloads"].(map[string]any)
	if f := rl["failures"].(map[string]any); f["not_found"] != 1.0 {
		t.Errorf("reloads = %v", rl)
	}
	if le := got["last_reload_error"].(map[string]any); le["reason"] != "not_found" || le["message"] == "" {
		t.Errorf("last_reload_error = %v", le)
	}
}
