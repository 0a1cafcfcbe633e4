package main

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"smartrouter/compiler"
	"smartrouter/compiler/diag"
	"smartrouter/runtime/snapshot"
)

// newFallback returns the in-memory build used when the snapshot file is
// missing, corrupt or stale: the compiler's whole pipeline run on configDir
// and cacheDir (the JSON caches), returning the encoded snapshot, with its
// config and cache loading bounded (see boundedBuild). It returns nil (no
// fallback) when configDir is empty.
func newFallback(configDir, cacheDir string, log *slog.Logger) func(ctx context.Context) ([]byte, error) {
	if configDir == "" {
		return nil
	}
	build := func(phase func(string)) ([]byte, error) {
		var w diag.Warnings
		b, err := compiler.BuildBytes(configDir, cacheDir, compiler.Options{Phase: phase}, &w)
		if err != nil {
			return nil, fmt.Errorf("build a snapshot from -config %s and -cache %s: %w", configDir, cacheDir, err)
		}
		if n := w.Len(); n > 0 {
			log.Warn("the fallback build has warnings; run routerc compile on the same folders to see them", "warnings", n)
		}
		return b, nil
	}
	return func(ctx context.Context) ([]byte, error) { return boundedBuild(ctx, wallClock{}, build) }
}

// clock is the time source of boundedBuild; tests give a fake one.
type clock interface {
	Now() time.Time
	After(time.Duration) <-chan time.Time
}

type wallClock struct{}

func (wallClock) Now() time.Time                         { return time.Now() }
func (wallClock) After(d time.Duration) <-chan time.Time { return time.After(d) }

// phaseNames maps the compiler's phases to the start phases.
var phaseNames = map[string]string{
	compiler.PhaseConfig: snapshot.PhaseFallbackConfig,
	compiler.PhaseCaches: snapshot.PhaseFallbackCaches,
	compiler.PhaseBuild:  snapshot.PhaseFallbackBuild,
	compiler.PhaseEncode: snapshot.PhaseFallbackEncode,
}

// boundedBuild runs build, which reports its phases, and bounds its config
// and cache phases by snapshot.FallbackLimits (the limits of the last good
// snapshot, else 15 s and 30 s). On expiry it returns an error at once: the
// snapshot manager then serves the last good snapshot (stale-snapshot) if
// there is one, or routerd stops with the message. The build itself cannot
// be interrupted (a read blocked on a hung disk cannot be), so it is
// abandoned: its goroutine ends when its read does, and its result is
// dropped. Each phase's duration is recorded as a start phase.
func boundedBuild(ctx context.Context, clk clock, build func(phase func(string)) ([]byte, error)) ([]byte, error) {
	lim, lastGood := snapshot.FallbackLimits(ctx)
	type result struct {
		b   []byte
		err error
	}
	events := make(chan string, 8) // four phases; never blocks the build
	done := make(chan result, 1)
	go func() {
		b, err := build(func(p string) {
			select {
			case events <- p:
			default:
			}
		})
		done <- result{b, err}
	}()

	var (
		cur      string
		curStart time.Time
		timeout  <-chan time.Time
		bound    time.Duration
	)
	closePhase := func(now time.Time) {
		if cur != "" {
			snapshot.RecordPhase(ctx, phaseNames[cur], now.Sub(curStart))
		}
	}
	enter := func(p string) {
		now := clk.Now()
		closePhase(now)
		cur, curStart, timeout = p, now, nil
		switch p {
		case compiler.PhaseConfig:
			bound = lim.ConfigLoad
			timeout = clk.After(bound)
		case compiler.PhaseCaches:
			bound = lim.CacheLoad
			timeout = clk.After(bound)
		}
	}
	for {
		select {
		case p := <-events:
			enter(p)
		case r := <-done:
			for drained := false; !drained; {
				select {
				case p := <-events:
					enter(p)
				default:
					drained = true
				}
			}
			closePhase(clk.Now())
			return r.b, r.err
		case <-timeout:
			what, key := "config files", "config_loading.timeout_seconds"
			if cur == compiler.PhaseCaches {
				what, key = "JSON caches", "cache_loading.timeout_seconds"
			}
			err := fmt.Errorf("loading the %s took longer than %s (performance.yaml %s); the JSON fallback build was abandoned", what, bound, key)
			if !lastGood {
				err = fmt.Errorf("%w and there is no valid snapshot to serve instead: check the disk holding the config and caches, "+
					"or compile a snapshot with routerc compile and start routerd with -snapshot FILE", err)
			}
			return nil, err
		case <-ctx.Done():
			return nil, fmt.Errorf("the JSON fallback build was cancelled: %w", ctx.Err())
		}
	}
}
