package snapshot

import (
	"context"
	"errors"
	"os"
	"strings"
	"testing"
	"time"
)

// TestStaleSnapshotWhenFallbackFails: a valid file whose sources changed is
// served (mode stale-snapshot, a warning in Info and the log) when the JSON
// fallback build fails at start; Load never refuses while it exists.
func TestStaleSnapshotWhenFallbackFails(t *testing.T) {
	f := newFallbackFixture(t)
	writeSnap(t, f.path, encode(t, testModel(1, f.tr.sources(t, fbSource))))
	f.tr.write(t, fbSource, "providers: {openai: {}}\n")
	f.err = errors.New("cache/discovered_models.json: unexpected end of JSON")
	var logs logBuf
	m := mustLoad(t, f.opts(t, &logs))
	defer m.Close()
	in := m.Info()
	if in.Mode != ModeStale || !in.Stale || in.Generation != 1 || f.calls != 1 {
		t.Fatalf("mode %q stale %v gen %d calls %d", in.Mode, in.Stale, in.Generation, f.calls)
	}
	if !strings.Contains(in.Warning, "unexpected end of JSON") || !strings.Contains(in.Warning, "recompile") {
		t.Errorf("warning %q should name the failure and the fix", in.Warning)
	}
	if m.Mode() != ModeStale {
		t.Errorf("Mode() = %q", m.Mode())
	}
	if l := logs.String(); !strings.Contains(l, "level=WARN") || !strings.Contains(l, "stale-snapshot") {
		t.Errorf("log lacks the stale-snapshot warning:\n%s", l)
	}
	// The file is not rewritten with anything.
	if b, _ := os.ReadFile(f.path); len(b) == 0 {
		t.Error("the stale file was removed")
	}

	// At reload the snapshot serving is the last good one: a failing build
	// fails the reload and keeps it.
	_, err := m.Reload(context.Background())
	reasonIs(t, err, ReasonFallbackFailed)
	if m.Info().Seq != 1 || m.Mode() != ModeStale {
		t.Errorf("after failed reload: %+v", m.Info())
	}
	// Once the build works again, a reload leaves stale-snapshot.
	f.err = nil
	if _, err := m.Reload(context.Background()); err != nil || m.Mode() != ModeFallback {
		t.Fatalf("reload after the fix: %v, mode %q", err, m.Mode())
	}
}

// TestFallbackLimitsFromLastGood: inside the fallback call, FallbackLimits
// gives the bounds stored in the last good snapshot, else the defaults, and
// RecordPhase records start phases during Load only.
func TestFallbackLimitsFromLastGood(t *testing.T) {
	f := newFallbackFixture(t)
	var got []Limits
	var lastGood []bool
	inner := f.fallback(t)
	o := f.opts(t, nil)
	o.Fallback = func(ctx context.Context) ([]byte, error) {
		l, ok := FallbackLimits(ctx)
		got, lastGood = append(got, l), append(lastGood, ok)
		RecordPhase(ctx, PhaseFallbackCaches, 3*time.Millisecond)
		return inner(ctx)
	}
	// No file: no last good snapshot, the defaults.
	m := mustLoad(t, o)
	defer m.Close()
	if got[0] != (Limits{ConfigLoad: DefaultConfigLoadTimeout, CacheLoad: DefaultCacheLoadTimeout}) || lastGood[0] {
		t.Errorf("no file: %+v %v", got[0], lastGood[0])
	}
	if ph := phaseOf(m.StartPhases(), PhaseFallbackCaches); ph != 0.003 {
		t.Errorf("fallback phase %v, want 0.003; phases %+v", ph, m.StartPhases())
	}
	// A stale file that sets its limits: those.
	mod := testModel(1, f.tr.sources(t, fbSource))
	mod.Settings.ConfigLoadTimeoutMs, mod.Settings.CacheLoadTimeoutMs = 1500, 2500
	writeSnap(t, f.path, encode(t, mod))
	f.tr.write(t, fbSource, "providers: {x: {}}\n")
	m2 := mustLoad(t, o)
	defer m2.Close()
	if got[1] != (Limits{ConfigLoad: 1500 * time.Millisecond, CacheLoad: 2500 * time.Millisecond}) || !lastGood[1] {
		t.Errorf("stale file: %+v %v", got[1], lastGood[1])
	}
	if l, ok := FallbackLimits(context.Background()); ok || l.ConfigLoad != DefaultConfigLoadTimeout {
		t.Errorf("outside a fallback: %+v %v", l, ok)
	}
}

func phaseOf(ps []Phase, name string) float64 {
	for _, p := range ps {
		if p.Name == name {
			return p.Seconds
		}
	}
	return -1
}

// TestStartPhasesOfAFile: Load records reading and validating the file;
// reloads do not change the start phases; RecordStartPhase adds and
// replaces.
func TestStartPhasesOfAFile(t *testing.T) {
	tr := newTree(t)
	path := tr.cfg + "/../snap.snap"
	writeSnap(t, path, encode(t, testModel(1, nil)))
	m := mustLoad(t, Options{Path: path, Logger: quietLogger()})
	defer m.Close()
	ps := m.StartPhases()
	if len(ps) != 2 || ps[0].Name != PhaseSnapshotRead || ps[1].Name != PhaseSnapshotValidate || ps[0].Seconds <= 0 {
		t.Fatalf("phases %+v", ps)
	}
	if _, err := m.Reload(context.Background()); err != nil {
		t.Fatal(err)
	}
	m.RecordStartPhase(PhaseStartTotal, 2*time.Millisecond)
	m.RecordStartPhase(PhaseStartTotal, 5*time.Millisecond)
	ps = m.Info().StartPhases
	if len(ps) != 3 || ps[2] != (Phase{Name: PhaseStartTotal, Seconds: 0.005}) {
		t.Fatalf("phases after reload %+v", ps)
	}
}

// TestDemoModeWarns: the demo is flagged in Info and loudly in the log.
func TestDemoModeWarns(t *testing.T) {
	var logs logBuf
	m := mustLoad(t, Options{Embedded: encode(t, testModel(3, nil)), EmbeddedMode: ModeDemo, Logger: logs.logger()})
	defer m.Close()
	in := m.Info()
	if in.Mode != ModeDemo || in.Warning != DemoWarning {
		t.Fatalf("mode %q warning %q", in.Mode, in.Warning)
	}
	if !strings.Contains(logs.String(), "BUILT-IN DEMO") {
		t.Errorf("log:\n%s", logs.String())
	}
	m2 := mustLoad(t, Options{Embedded: encode(t, testModel(3, nil)), EmbeddedMode: ModeBundled, Logger: quietLogger()})
	defer m2.Close()
	if in := m2.Info(); in.Mode != ModeBundled || in.Warning != "" {
		t.Fatalf("bundled: mode %q warning %q", in.Mode, in.Warning)
	}
}

// TestRewriteInPlaceWhileHeld: the file is rewritten in place (truncate and
// write, as cp does) with another snapshot, then truncated to nothing, while
// a handle is held. The held snapshot keeps answering with its own bytes
// (no wrong answer, no fault), and a reload swaps in the new file.
func TestRewriteInPlaceWhileHeld(t *testing.T) {
	tr := newTree(t)
	path := tr.cfg + "/../snap.snap"
	writeSnap(t, path, encode(t, bigModel(1, 4500)))
	m := mustLoad(t, Options{Path: path, Logger: quietLogger()})
	defer m.Close()
	h := m.Acquire()
	defer h.Release()
	check := func(gen uint64) {
		t.Helper()
		s := h.Snapshot()
		if s.Header().Generation != gen {
			t.Fatalf("generation %d, want %d", s.Header().Generation, gen)
		}
		for i := range s.NumModels() {
			if !strings.HasPrefix(s.Model(uint32(i)).Name, "vendor-") {
				t.Fatalf("model %d is %q: the bytes changed under the reader", i, s.Model(uint32(i)).Name)
			}
		}
	}
	check(1)
	overwrite(t, path, encode(t, testModel(2, nil)))
	check(1)
	overwrite(t, path, nil) // truncated to 0: a mapping of the file would fault here
	check(1)
	overwrite(t, path, encode(t, testModel(2, nil)))
	if gen, err := m.Reload(context.Background()); err != nil || gen != 2 {
		t.Fatalf("reload = %d, %v", gen, err)
	}
	check(1)
	h2 := m.Acquire()
	defer h2.Release()
	if _, ok := h2.Snapshot().LookupModel("gen-2"); !ok {
		t.Error("the reloaded snapshot is not the new file")
	}
}

// overwrite rewrites path in place like cp: open with O_TRUNC, write.
func overwrite(t *testing.T, path string, b []byte) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_TRUNC, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Write(b); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
}
