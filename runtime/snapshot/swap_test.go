package snapshot

import (
	"context"
	"path/filepath"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
)

// TestSwapUnderLoad reloads many times while readers acquire, read the mapped
// bytes and release in a tight loop. Run with -race. It checks, through the
// drain hook, that no handle is drained while a reader is inside it and that
// every handle, retired or refused, drains exactly once; a read of an
// unmapped page would crash the test outright.
func TestSwapUnderLoad(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "snap.snap")
	writeSnap(t, path, encode(t, testModel(1, nil)))
	tr := newTracker(t)
	m := mustLoad(t, tr.opts(Options{Path: path}))

	const readers, reloads = 8, 300
	var stop atomic.Bool
	var reads atomic.Int64
	var wg sync.WaitGroup
	for r := range readers {
		acquire := m.Acquire
		if r%2 == 1 {
			acquire = func() *Handle { return slowAcquire(m) }
		}
		wg.Go(func() {
			for !stop.Load() {
				h := acquire()
				if h == nil {
					t.Error("Acquire returned nil while a snapshot is published")
					return
				}
				sl := h.Value.(*slot)
				sl.held.Add(1)
				s := h.Snapshot()
				i, ok := s.LookupModel("gpt-4o")
				if !ok || s.Model(i).Name != "gpt-4o" || s.Header().Generation != sl.gen {
					t.Errorf("inconsistent snapshot: found=%v gen %d vs %d", ok, s.Header().Generation, sl.gen)
				}
				if name, _ := s.Tag(0); name == "" {
					t.Error("empty tag name read from the mapping")
				}
				sl.held.Add(-1)
				h.Release()
				reads.Add(1)
			}
		})
	}
	gen := uint64(1)
	for i := range reloads {
		if i%25 == 0 {
			gen++
			writeSnap(t, path, encode(t, testModel(gen, nil)))
		}
		got, err := m.Reload(context.Background())
		if err != nil || got != gen {
			t.Fatalf("Reload %d = %d, %v; want %d", i, got, err, gen)
		}
	}
	stop.Store(true)
	wg.Wait()
	if reads.Load() == 0 {
		t.Fatal("readers made no progress")
	}

	tr.mu.Lock()
	published := append([]*Handle(nil), tr.published...)
	tr.mu.Unlock()
	if len(published) != 1+reloads {
		t.Fatalf("published %d handles, want %d", len(published), 1+reloads)
	}
	for i, h := range published[:len(published)-1] {
		if n := tr.drainCount(h); n != 1 {
			t.Fatalf("retired handle %d drained %d times, want 1", i, n)
		}
	}
	last := published[len(published)-1]
	if n := tr.drainCount(last); n != 0 {
		t.Fatalf("current handle drained %d times before Close", n)
	}
	_ = m.Close()
	if n := tr.drainCount(last); n != 1 {
		t.Fatalf("current handle drained %d times after Close, want 1", n)
	}
	if n := tr.heldAtEnd.Load(); n != 0 {
		t.Fatalf("%d handles drained while a reader was inside them", n)
	}
	t.Logf("%d reads across %d swaps", reads.Load(), reloads)
}

// slowAcquire is Acquire with a yield between loading the pointer and taking
// the reference, to make the preemption window that Acquire guards against
// occur often under test.
func slowAcquire(m *Manager) *Handle {
	for {
		h := m.cur.Load()
		if h == nil {
			return nil
		}
		runtime.Gosched()
		if !h.tryRef() {
			continue
		}
		if m.cur.Load() == h {
			return h
		}
		h.Release()
	}
}

// TestAcquireRacesClose checks that readers racing with Close either get a
// usable handle or nil, and that the last handle drains exactly once.
func TestAcquireRacesClose(t *testing.T) {
	path := filepath.Join(t.TempDir(), "snap.snap")
	writeSnap(t, path, encode(t, testModel(1, nil)))
	for range 20 {
		tr := newTracker(t)
		m := mustLoad(t, tr.opts(Options{Path: path}))
		var wg sync.WaitGroup
		for range 4 {
			wg.Go(func() {
				for range 200 {
					h := m.Acquire()
					if h == nil {
						return
					}
					if _, ok := h.Snapshot().LookupModel("gen-1"); !ok {
						t.Error("held snapshot unreadable")
					}
					h.Release()
				}
			})
		}
		_ = m.Close()
		wg.Wait()
		tr.mu.Lock()
		h := tr.published[0]
		tr.mu.Unlock()
		if n := tr.drainCount(h); n != 1 {
			t.Fatalf("drained %d times, want 1", n)
		}
	}
}
