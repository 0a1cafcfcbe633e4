package main

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"smartrouter/compiler"
	"smartrouter/runtime/snapshot"
)

// fakeClock hands out timers that fire only when the test says so, and a
// time that does not move.
type fakeClock struct {
	mu     sync.Mutex
	now    time.Time
	timers chan fakeTimer // every After call, in order
}

type fakeTimer struct {
	d  time.Duration
	ch chan time.Time
}

func newFakeClock() *fakeClock {
	return &fakeClock{now: time.Unix(1_700_000_000, 0), timers: make(chan fakeTimer, 16)}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) After(d time.Duration) <-chan time.Time {
	t := fakeTimer{d: d, ch: make(chan time.Time, 1)}
	c.timers <- t
	return t.ch
}

// slowSource is a fake build: it enters its phases when told to and blocks
// in the phase given by stall until released.
type slowSource struct {
	stall   string
	release chan struct{}
	entered chan string
}

func (s *slowSource) build(phase func(string)) ([]byte, error) {
	for _, p := range []string{compiler.PhaseConfig, compiler.PhaseCaches, compiler.PhaseBuild, compiler.PhaseEncode} {
		phase(p)
		s.entered <- p
		if p == s.stall {
			<-s.release
			return nil, errors.New("released")
		}
	}
	return []byte("snapshot bytes"), nil
}

func TestBoundedBuildTimesOut(t *testing.T) {
	for _, tc := range []struct {
		stall, says, key string
		bound            time.Duration
	}{
		{compiler.PhaseConfig, "loading the config files took longer than 15s", "config_loading.timeout_seconds", snapshot.DefaultConfigLoadTimeout},
		{compiler.PhaseCaches, "loading the JSON caches took longer than 30s", "cache_loading.timeout_seconds", snapshot.DefaultCacheLoadTimeout},
	} {
		t.Run(tc.stall, func(t *testing.T) {
			clk := newFakeClock()
			src := &slowSource{stall: tc.stall, release: make(chan struct{}), entered: make(chan string, 8)}
			defer close(src.release) // the abandoned build ends
			errc := make(chan error, 1)
			go func() {
				_, err := boundedBuild(context.Background(), clk, src.build)
				errc <- err
			}()
			// Wait for the timer of the stalled phase, then fire it.
			for {
				tm := <-clk.timers
				if tm.d == tc.bound {
					tm.ch <- clk.Now()
					break
				}
			}
			err := <-errc
			if err == nil || !strings.Contains(err.Error(), tc.says) || !strings.Contains(err.Error(), tc.key) ||
				!strings.Contains(err.Error(), "-snapshot") {
				t.Fatalf("error %v; want %q, the setting and the advice (no last good snapshot)", err, tc.says)
			}
		})
	}
}

// TestBoundedBuildFinishes: a build that finishes within its bounds returns
// its bytes, with one timer asked for each bounded phase (config, caches).
func TestBoundedBuildFinishes(t *testing.T) {
	clk := newFakeClock()
	src := &slowSource{entered: make(chan string, 8)}
	b, err := boundedBuild(context.Background(), clk, src.build)
	if err != nil || string(b) != "snapshot bytes" {
		t.Fatalf("build = %q, %v", b, err)
	}
	if n := len(src.entered); n != 4 {
		t.Fatalf("%d phases entered", n)
	}
	close(clk.timers)
	var bounds []time.Duration
	for tm := range clk.timers {
		bounds = append(bounds, tm.d)
	}
	if len(bounds) != 2 || bounds[0] != snapshot.DefaultConfigLoadTimeout || bounds[1] != snapshot.DefaultCacheLoadTimeout {
		t.Errorf("timers %v, want the two default bounds", bounds)
	}
}

// TestFallbackTimeoutServesLastGood: with a valid stale snapshot, a fallback
// build that times out leaves the snapshot serving (stale-snapshot), and the
// bound is the one stored in that snapshot.
func TestFallbackTimeoutServesLastGood(t *testing.T) {
	cfg, cache := install(t)
	snap := t.TempDir() + "/router.snap"
	perf := "async_config:\n  cache_loading: {timeout_seconds: 7}\n"
	if err := writeFile(cfg+"/performance.yaml", perf); err != nil {
		t.Fatal(err)
	}
	if _, err := compiler.Compile(cfg, cache, snap, compiler.Options{}, nil); err != nil {
		t.Fatal(err)
	}
	if err := writeFile(cache+"/pricing_cache.json", `{"gpt-4o": {"input": 3, "output": 12}}`); err != nil {
		t.Fatal(err) // the snapshot is now stale
	}
	clk := newFakeClock()
	src := &slowSource{stall: compiler.PhaseCaches, release: make(chan struct{}), entered: make(chan string, 8)}
	defer close(src.release)
	go func() {
		for tm := range clk.timers {
			if tm.d == 7*time.Second {
				tm.ch <- clk.Now()
			}
		}
	}()
	m, err := snapshot.Load(context.Background(), snapshot.Options{Path: snap, ConfigDir: cfg, CacheDir: cache, Logger: quiet(),
		Fallback: func(ctx context.Context) ([]byte, error) { return boundedBuild(ctx, clk, src.build) }})
	close(clk.timers)
	if err != nil {
		t.Fatalf("Load refused although a valid snapshot exists: %v", err)
	}
	defer m.Close()
	in := m.Info()
	if in.Mode != snapshot.ModeStale || !strings.Contains(in.Warning, "took longer than 7s") {
		t.Fatalf("mode %q warning %q", in.Mode, in.Warning)
	}
	if phaseSeconds(in.StartPhases, snapshot.PhaseFallbackConfig) < 0 {
		t.Errorf("the config phase was not recorded: %+v", in.StartPhases)
	}
}
