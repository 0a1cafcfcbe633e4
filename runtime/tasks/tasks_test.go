package tasks

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"smartrouter/format"
	"smartrouter/runtime/internal/servertest"
)

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// waitTimer waits until the scheduler armed a new timer (it is then idle).
func waitTimer(t *testing.T, clk *fakeClock) {
	t.Helper()
	select {
	case <-clk.made:
	case <-time.After(10 * time.Second):
		t.Fatal("the scheduler armed no timer")
	}
}

func recv[T any](t *testing.T, c <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-c:
		return v
	case <-time.After(10 * time.Second):
		t.Fatalf("timed out waiting for %s", what)
	}
	var zero T
	return zero
}

func snapshotBytes(t *testing.T, model string) []byte {
	t.Helper()
	sp := servertest.Spec{Generation: 7, Settings: servertest.DefaultSettings(), Channels: []servertest.Channel{
		{ID: "a", BaseURL: "http://127.0.0.1:1", Models: []servertest.Model{{ID: model}}},
	}}
	b, err := sp.Encode()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestScheduleRunsOnIntervalAndSkipsOverlap(t *testing.T) {
	clk := newFakeClock()
	started := make(chan struct{}, 8)
	release := make(chan struct{})
	reg := prometheus.NewRegistry()
	r, err := New(Options{
		Jobs: []Job{{Name: ModelDiscovery, Run: func(ctx context.Context) (bool, error) {
			started <- struct{}{}
			<-release
			return false, nil
		}}},
		Settings: func() []format.Task {
			return []format.Task{{Name: ModelDiscovery, Enabled: true, IntervalSec: 60}}
		},
		Clock: clk, Jitter: -1, Logger: quiet(), Registerer: reg,
	})
	if err != nil {
		t.Fatal(err)
	}
	r.Start(context.Background())
	defer func() { _ = r.Stop(context.Background()) }()
	waitTimer(t, clk)
	clk.Advance(59 * time.Second)
	select {
	case <-started:
		t.Fatal("ran before its interval")
	default:
	}
	clk.Advance(time.Second)
	recv(t, started, "the first run")
	waitTimer(t, clk)
	// The first run is still going: the next tick is skipped, not doubled.
	clk.Advance(60 * time.Second)
	waitTimer(t, clk)
	if n := counter(t, r.runsTotal.WithLabelValues(ModelDiscovery, ResultSkipped)); n != 1 {
		t.Fatalf("skipped runs = %v, want 1", n)
	}
	select {
	case <-started:
		t.Fatal("two runs of one task at once")
	default:
	}
	close(release)
	st := r.Status()
	if len(st.Tasks) != 1 || !st.Tasks[0].Enabled || st.Tasks[0].IntervalSec != 60 {
		t.Fatalf("status %+v", st)
	}
}

func TestRunOnStartupAndChangeStartsCycle(t *testing.T) {
	clk := newFakeClock()
	var built, wrote, reloaded atomic.Int32
	var data atomic.Value
	done := make(chan struct{}, 1)
	r, err := New(Options{
		Jobs: []Job{{Name: ModelDiscovery, Refresh: true, Run: func(ctx context.Context) (bool, error) {
			return true, nil
		}}},
		Settings: func() []format.Task {
			return []format.Task{{Name: ModelDiscovery, Enabled: true, IntervalSec: 3600, RunOnStartup: true}}
		},
		Build: func(ctx context.Context) ([]byte, error) {
			built.Add(1)
			return snapshotBytes(t, "gpt-new"), nil
		},
		Write: func(b []byte) error {
			wrote.Add(1)
			data.Store(b)
			return nil
		},
		Reload: func(ctx context.Context) (uint64, error) {
			reloaded.Add(1)
			done <- struct{}{}
			return 7, nil
		},
		Clock: clk, Logger: quiet(), Registerer: prometheus.NewRegistry(),
	})
	if err != nil {
		t.Fatal(err)
	}
	r.Start(context.Background())
	recv(t, done, "the reload")
	if err := r.Stop(context.Background()); err != nil {
		t.Fatal(err)
	}
	if built.Load() != 1 || wrote.Load() != 1 || reloaded.Load() != 1 {
		t.Fatalf("build %d write %d reload %d, want 1 each", built.Load(), wrote.Load(), reloaded.Load())
	}
	if _, err := format.Open(data.Load().([]byte)); err != nil {
		t.Fatalf("written bytes do not open: %v", err)
	}
	st := r.Status()
	if st.LastRefresh == nil || st.LastRefresh.Result != ResultOK || st.LastRefresh.Generation != 7 {
		t.Fatalf("last refresh %+v", st.LastRefresh)
	}
	if l := st.Tasks[0].Last; l == nil || l.Trigger != TriggerStartup || l.Result != ResultOK {
		t.Fatalf("last run %+v", l)
	}
}

func TestFailedCompileKeepsServingAndIsRecorded(t *testing.T) {
	reg := prometheus.NewRegistry()
	var wrote, reloaded atomic.Int32
	r, err := New(Options{
		Jobs: []Job{{Name: ModelDiscovery, Refresh: true, Run: func(ctx context.Context) (bool, error) { return true, nil }}},
		Build: func(ctx context.Context) ([]byte, error) {
			return nil, errors.New("config/router_config.yaml:3: bad strategy")
		},
		Write:  func([]byte) error { wrote.Add(1); return nil },
		Reload: func(context.Context) (uint64, error) { reloaded.Add(1); return 1, nil },
		Clock:  newFakeClock(), Logger: quiet(), Registerer: reg,
	})
	if err != nil {
		t.Fatal(err)
	}
	res := r.Refresh(context.Background())
	if res.Result != ResultFailed || res.Stage != "compile" || !strings.Contains(res.Error, "bad strategy") {
		t.Fatalf("result %+v", res)
	}
	if wrote.Load() != 0 || reloaded.Load() != 0 {
		t.Fatal("a failed compile wrote or reloaded")
	}
	if n := counter(t, r.runsTotal.WithLabelValues("refresh", ResultFailed)); n != 1 {
		t.Fatalf("failed refresh counter = %v", n)
	}
	if st := r.Status(); st.LastRefresh == nil || st.LastRefresh.Result != ResultFailed || !st.LastSuccess.IsZero() {
		t.Fatalf("status %+v", st)
	}

	// Bytes that do not validate are refused before the write.
	r2, err := New(Options{
		Build:  func(context.Context) ([]byte, error) { return []byte("not a snapshot"), nil },
		Write:  func([]byte) error { wrote.Add(1); return nil },
		Reload: func(context.Context) (uint64, error) { reloaded.Add(1); return 1, nil },
		Logger: quiet(),
	})
	if err != nil {
		t.Fatal(err)
	}
	if res := r2.Refresh(context.Background()); res.Stage != "validate" || wrote.Load() != 0 {
		t.Fatalf("result %+v, writes %d", res, wrote.Load())
	}
}

func TestSettingsChangedReschedules(t *testing.T) {
	clk := newFakeClock()
	var mu sync.Mutex
	enabled := true
	runs := make(chan string, 8)
	r, err := New(Options{
		Jobs: []Job{
			{Name: ModelDiscovery, Run: func(context.Context) (bool, error) { runs <- ModelDiscovery; return false, nil }},
			{Name: HealthCheck, Run: func(context.Context) (bool, error) { runs <- HealthCheck; return false, nil },
				Default: format.Task{Enabled: true, IntervalSec: 30}},
		},
		Settings: func() []format.Task {
			mu.Lock()
			defer mu.Unlock()
			return []format.Task{{Name: ModelDiscovery, Enabled: enabled, IntervalSec: 10}}
		},
		Clock: clk, Jitter: -1, Logger: quiet(),
	})
	if err != nil {
		t.Fatal(err)
	}
	r.Start(context.Background())
	defer func() { _ = r.Stop(context.Background()) }()
	waitTimer(t, clk)
	mu.Lock()
	enabled = false
	mu.Unlock()
	r.SettingsChanged()
	waitTimer(t, clk)
	st := r.Status()
	if st.Tasks[0].Enabled || !st.Tasks[0].Next.IsZero() {
		t.Fatalf("discovery still scheduled after it was disabled: %+v", st.Tasks[0])
	}
	// Only the health check (its default: 30 s) runs now.
	clk.Advance(30 * time.Second)
	if got := recv(t, runs, "a run"); got != HealthCheck {
		t.Fatalf("ran %s, want %s", got, HealthCheck)
	}
}

func TestStopDrainsRuns(t *testing.T) {
	clk := newFakeClock()
	started := make(chan struct{})
	var canceled atomic.Bool
	r, err := New(Options{
		Jobs: []Job{{Name: HealthCheck, Run: func(ctx context.Context) (bool, error) {
			close(started)
			<-ctx.Done()
			canceled.Store(true)
			return false, ctx.Err()
		}, Default: format.Task{Enabled: true, IntervalSec: 5, RunOnStartup: true}}},
		Clock: clk, Logger: quiet(),
	})
	if err != nil {
		t.Fatal(err)
	}
	r.Start(context.Background())
	<-started
	if err := r.Stop(context.Background()); err != nil {
		t.Fatal(err)
	}
	if !canceled.Load() {
		t.Fatal("Stop returned before the run ended")
	}
}

func TestJitterStaysWithinBounds(t *testing.T) {
	for _, x := range []float64{0, 0.5, 0.999} {
		r, err := New(Options{Rand: func() float64 { return x }, Logger: quiet()})
		if err != nil {
			t.Fatal(err)
		}
		d := r.jittered(100)
		if d < 90*time.Second || d > 110*time.Second {
			t.Fatalf("rand %v: %v outside 100 s ± 10 %%", x, d)
		}
	}
}

func TestNewRefusesBadOptions(t *testing.T) {
	if _, err := New(Options{Build: func(context.Context) ([]byte, error) { return nil, nil }}); err == nil {
		t.Fatal("Build without Write/Reload accepted")
	}
	if _, err := New(Options{Jobs: []Job{{Name: "x"}}}); err == nil {
		t.Fatal("a job without a function accepted")
	}
	r, _ := New(Options{Logger: quiet()})
	if res := r.Refresh(context.Background()); res.Result != ResultFailed || !strings.Contains(res.Error, "-snapshot") {
		t.Fatalf("refresh without a cycle: %+v", res)
	}
}

func counter(t *testing.T, c prometheus.Counter) float64 {
	t.Helper()
	var m dto.Metric
	if err := c.Write(&m); err != nil {
		t.Fatal(err)
	}
	return m.GetCounter().GetValue()
}

// TestAllowedRefusesRuns checks that a run Options.Allowed refuses does not
// happen and is counted as "elsewhere", and that it runs once allowed.
func TestAllowedRefusesRuns(t *testing.T) {
	clk := newFakeClock()
	started := make(chan struct{}, 8)
	var allowed atomic.Bool
	reg := prometheus.NewRegistry()
	r, err := New(Options{
		Jobs: []Job{{Name: ModelDiscovery, Run: func(ctx context.Context) (bool, error) {
			started <- struct{}{}
			return false, nil
		}}},
		Settings: func() []format.Task {
			return []format.Task{{Name: ModelDiscovery, Enabled: true, IntervalSec: 60}}
		},
		Allowed: func(task string) bool { return task == ModelDiscovery && allowed.Load() },
		Clock:   clk, Jitter: -1, Logger: quiet(), Registerer: reg,
	})
	if err != nil {
		t.Fatal(err)
	}
	r.Start(context.Background())
	defer func() { _ = r.Stop(context.Background()) }()
	waitTimer(t, clk)
	clk.Advance(60 * time.Second)
	waitTimer(t, clk)
	if n := counter(t, r.runsTotal.WithLabelValues(ModelDiscovery, ResultElsewhere)); n != 1 {
		t.Fatalf("refused runs = %v, want 1", n)
	}
	select {
	case <-started:
		t.Fatal("a refused run ran")
	default:
	}
	allowed.Store(true)
	clk.Advance(60 * time.Second)
	recv(t, started, "the allowed run")
}

// An on-demand refresh whose tasks changed nothing, with the snapshot
// serving current, builds, writes and reloads nothing and answers
// "unchanged" with the generation serving; a task's change, or a snapshot
// older than its inputs, still rebuilds.
func TestRefreshUnchangedBuildsNothing(t *testing.T) {
	var built, wrote, reloaded atomic.Int32
	var jobChanged, current atomic.Bool
	current.Store(true)
	reg := prometheus.NewRegistry()
	r, err := New(Options{
		Jobs: []Job{{Name: ModelDiscovery, Refresh: true, Run: func(ctx context.Context) (bool, error) { return jobChanged.Load(), nil }}},
		Build: func(ctx context.Context) ([]byte, error) {
			built.Add(1)
			return snapshotBytes(t, "m"), nil
		},
		Write:   func([]byte) error { wrote.Add(1); return nil },
		Reload:  func(context.Context) (uint64, error) { reloaded.Add(1); return 8, nil },
		Current: func() (uint64, bool) { return 7, current.Load() },
		Clock:   newFakeClock(), Logger: quiet(), Registerer: reg,
	})
	if err != nil {
		t.Fatal(err)
	}
	res := r.Refresh(context.Background())
	if res.Result != ResultUnchanged || res.Generation != 7 || res.Changed || res.Error != "" {
		t.Fatalf("result %+v, want unchanged at generation 7", res)
	}
	if built.Load() != 0 || wrote.Load() != 0 || reloaded.Load() != 0 {
		t.Fatalf("nothing changed, yet built %d, wrote %d, reloaded %d", built.Load(), wrote.Load(), reloaded.Load())
	}
	if n := counter(t, r.runsTotal.WithLabelValues("refresh", ResultUnchanged)); n != 1 {
		t.Fatalf("unchanged refresh counter = %v", n)
	}
	if st := r.Status(); st.LastRefresh == nil || st.LastRefresh.Result != ResultUnchanged || st.LastSuccess.IsZero() {
		t.Fatalf("status %+v", st)
	}

	// The files changed by hand: the snapshot serving is not current.
	current.Store(false)
	if res := r.Refresh(context.Background()); res.Result != ResultOK || res.Generation != 8 || built.Load() != 1 || reloaded.Load() != 1 {
		t.Fatalf("stale snapshot: result %+v, built %d", res, built.Load())
	}
	// A task changed a cache.
	current.Store(true)
	jobChanged.Store(true)
	if res := r.Refresh(context.Background()); res.Result != ResultOK || built.Load() != 2 || wrote.Load() != 2 {
		t.Fatalf("changed cache: result %+v, built %d", res, built.Load())
	}
}
