package main

import (
	"context"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"smartrouter/compiler"
	"smartrouter/format"
	"smartrouter/format/sources"
	"smartrouter/runtime/cluster"
	"smartrouter/runtime/patterns"
	"smartrouter/runtime/server"
	"smartrouter/runtime/snapshot"
	"smartrouter/runtime/tasks"
)

// Background tasks and learned request patterns: the wiring of runtime/tasks
// and runtime/patterns to the compiler (the work is handed in as functions,
// because runtime/ does not import compiler/).

// patternsSaveEvery is how often the request patterns are persisted (and at
// shutdown).
const patternsSaveEvery = 10 * time.Minute

// taskMaxConcurrent bounds the background runs at once (of all tasks;
// tasks.*.max_concurrent bounds the calls within one run, see
// taskConcurrency).
const taskMaxConcurrent = tasks.DefaultMaxConcurrent

// background holds routerd's background parts.
type background struct {
	log       *slog.Logger
	snapPath  string
	configDir string
	cacheDir  string

	mu     sync.Mutex
	runner *tasks.Runner // set once the server exists

	// node links this replica to the others (nil: one process): the
	// tasks run only where node.ShouldRun, and a snapshot built here is
	// shared.
	node *cluster.Node

	sketch   *patterns.Sketch
	stopPat  context.CancelFunc
	patDone  <-chan struct{}
	patTimer *time.Ticker
}

// newBackground prepares the background parts and adjusts the server's
// options: the recovery prober is driven by the health_check task instead of
// its own loop, and every published snapshot makes the tasks re-read their
// settings.
func newBackground(so snapshot.Options, opts *server.Options, log *slog.Logger) *background {
	bg := &background{log: log, snapPath: so.Path, configDir: so.ConfigDir, cacheDir: so.CacheDir}
	opts.ProbeTick = -1
	user := opts.Snapshot.Observer
	opts.Snapshot.Observer = snapshot.ObserverFunc(func(ok bool, reason string, gen uint64) {
		if ok {
			bg.mu.Lock()
			r := bg.runner
			bg.mu.Unlock()
			if r != nil {
				r.SettingsChanged()
			}
		}
		if user != nil {
			user.OnReload(ok, reason, gen)
		}
	})
	return bg
}

// start builds the task runner and the pattern sketch and starts them.
func (bg *background) start(ctx context.Context, srv *server.Server) error {
	mgr := srv.Manager()
	ro := tasks.Options{
		Jobs: []tasks.Job{{
			// The recovery probes of runtime/server (probe.go), on by default
			// every 30 s as before; tasks.health_check turns them off or makes
			// them more frequent (see currentTasks).
			Name: tasks.HealthCheck,
			Run: func(ctx context.Context) (bool, error) {
				srv.ProbeOnce(ctx)
				return false, nil
			},
			Default: format.Task{Enabled: true, IntervalSec: probeTickSec},
		}},
		Settings:      func() []format.Task { return currentTasks(mgr) },
		MaxConcurrent: taskMaxConcurrent,
		Logger:        bg.log,
		Registerer:    srv.Metrics().Registry(),
	}
	// Discovery, key validation and the compile run in a child process at
	// the lowest priority (refreshchild.go).
	rw := newRefreshWorker()
	if bg.configDir != "" && bg.cacheDir != "" {
		// Discovery and key validation rewrite their cache file and report a
		// change, which starts the refresh cycle below. tasks.*.max_concurrent
		// bounds the providers asked at once within one run.
		ro.Jobs = append(ro.Jobs,
			tasks.Job{Name: tasks.ModelDiscovery, Refresh: true, Run: func(ctx context.Context) (bool, error) {
				ans, err := rw.do(ctx, childRequest{Work: childDiscover, ConfigDir: bg.configDir, CacheDir: bg.cacheDir,
					Concurrency: taskConcurrency(mgr, tasks.ModelDiscovery)})
				if err != nil {
					return false, err
				}
				if ans.Failed > 0 {
					bg.log.Warn("model discovery: some channels did not answer; they keep their last good models",
						"ok", ans.OK, "failed", ans.Failed)
				}
				return ans.Changed, nil
			}},
			tasks.Job{Name: tasks.APIKeyValidation, Refresh: true, Run: func(ctx context.Context) (bool, error) {
				ans, err := rw.do(ctx, childRequest{Work: childKeys, ConfigDir: bg.configDir, CacheDir: bg.cacheDir,
					Concurrency: taskConcurrency(mgr, tasks.APIKeyValidation)})
				if err != nil {
					return false, err
				}
				return ans.Changed, nil
			}})
	}
	if bg.configDir != "" && bg.snapPath != "" {
		ro.Build = func(ctx context.Context) ([]byte, error) {
			gen := mgr.Info().Generation + 1
			b, warnings, err := rw.build(ctx, bg.configDir, bg.cacheDir, bg.snapPath, gen)
			if err != nil {
				return nil, err
			}
			if warnings > 0 {
				bg.log.Warn("the refresh build has warnings; run routerc compile on the same folders to see them", "warnings", warnings)
			}
			return b, nil
		}
		ro.Write = func(b []byte) error { return compiler.WriteFileAtomic(bg.snapPath, b) }
		ro.Reload = srv.Reload
		ro.Current = func() (uint64, bool) { return servingIsCurrent(mgr, bg.configDir, bg.cacheDir) }
	} else {
		bg.log.Info("the refresh cycle is off: it needs -config and a snapshot file (-snapshot)")
	}
	if bg.node != nil {
		bg.shareTasks(&ro)
	}
	r, err := tasks.New(ro)
	if err != nil {
		return err
	}
	bg.mu.Lock()
	bg.runner = r
	bg.mu.Unlock()
	srv.SetTasks(r)
	r.Start(ctx)

	if bg.cacheDir != "" {
		bg.sketch = patterns.New(patterns.DefaultK)
		path := filepath.Join(bg.cacheDir, patterns.FileName)
		if err := bg.sketch.Load(path); err != nil {
			bg.log.Warn("request patterns not read; counting starts from zero", "error", err)
		}
		srv.SetPatterns(bg.sketch)
		pctx, cancel := context.WithCancel(context.Background())
		bg.stopPat = cancel
		bg.patTimer = time.NewTicker(patternsSaveEvery)
		bg.patDone = bg.sketch.Persist(pctx, path, bg.patTimer.C, time.Now, func(err error) {
			bg.log.Warn("request patterns not saved", "path", path, "error", err)
		})
	}
	return nil
}

// shareTasks makes the tasks run only on the leader (the recovery probes
// also while Redis is away, since they change only this replica's state)
// and shares every snapshot this replica writes with the others.
func (bg *background) shareTasks(ro *tasks.Options) {
	node := bg.node
	ro.Allowed = func(task string) bool { return node.ShouldRun(task == tasks.HealthCheck) }
	if write := ro.Write; write != nil {
		ro.Write = func(b []byte) error {
			if err := write(b); err != nil {
				return err
			}
			if err := node.PublishSnapshot(context.Background(), b); err != nil {
				bg.log.Warn("the new snapshot serves here but was not shared", "error", err)
			}
			return nil
		}
	}
}

// stop drains the background runs and saves the request patterns.
func (bg *background) stop(ctx context.Context) {
	bg.mu.Lock()
	r := bg.runner
	bg.mu.Unlock()
	if r != nil {
		if err := r.Stop(ctx); err != nil {
			bg.log.Warn("background tasks cut at shutdown", "error", err)
		}
	}
	if bg.stopPat != nil {
		bg.patTimer.Stop()
		bg.stopPat()
		<-bg.patDone
	}
}

// currentTasks copies the task settings of the snapshot serving now (the
// names are cloned: the snapshot may be unmapped later).
func currentTasks(mgr *snapshot.Manager) []format.Task {
	h := mgr.Acquire()
	if h == nil {
		return nil
	}
	defer h.Release()
	ts := h.Snapshot().Settings().Tasks
	out := make([]format.Task, len(ts))
	for i, t := range ts {
		out[i] = t
		out[i].Name = strings.Clone(t.Name)
		// The health check is the recovery prober: it only probes channels
		// that are cooling or unhealthy, each at most every 5 minutes, so it
		// runs at least every 30 s whatever tasks.health_check's interval
		// says (the config's 30-minute default would otherwise keep a
		// recovered key unused for half an hour).
		if out[i].Name == tasks.HealthCheck && (out[i].IntervalSec == 0 || out[i].IntervalSec > probeTickSec) {
			out[i].IntervalSec = probeTickSec
		}
	}
	return out
}

// servingIsCurrent reports whether the snapshot serving was read from the
// snapshot file and none of its recorded sources changed on disk since its
// compile (format/sources: size and time, the contents' hash when only the
// time changed), and its generation. Then an on-demand refresh whose tasks
// changed nothing has nothing to rebuild.
func servingIsCurrent(mgr *snapshot.Manager, configDir, cacheDir string) (uint64, bool) {
	h := mgr.Acquire()
	if h == nil {
		return 0, false
	}
	defer h.Release()
	if h.Mode() != snapshot.ModeSnapshot {
		return 0, false // a fallback or stale snapshot: the file needs the build
	}
	for _, v := range sources.Check(h.Snapshot().Sources(), configDir, cacheDir) {
		if v.Status != sources.Fresh {
			return 0, false // changed, or not checkable: build to be sure
		}
	}
	return h.Generation(), true
}

// taskConcurrency is tasks.<name>.max_concurrent of the current snapshot
// (0: the task's own default).
func taskConcurrency(mgr *snapshot.Manager, name string) int {
	for _, t := range currentTasks(mgr) {
		if t.Name == name {
			return int(t.MaxConcurrent)
		}
	}
	return 0
}

// probeTickSec is the longest interval of the health_check task, in seconds.
const probeTickSec = uint32(server.DefaultProbeTick / time.Second)
