package tasks

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"smartrouter/format"
)

// Task names of the settings.
const (
	ModelDiscovery   = "model_discovery"
	APIKeyValidation = "api_key_validation"
	HealthCheck      = "health_check"
)

// Triggers of a run.
const (
	TriggerStartup  = "startup"
	TriggerSchedule = "schedule"
	TriggerAdmin    = "admin"
)

// Results of a run or of a refresh cycle.
const (
	ResultOK        = "ok"        // the run (and the cycle it started) succeeded
	ResultUnchanged = "unchanged" // the run succeeded and changed nothing
	ResultFailed    = "failed"    // the run or the cycle failed; the snapshot serving is unchanged
	ResultSkipped   = "skipped"   // the previous run of the task was still going
	ResultElsewhere = "elsewhere" // Options.Allowed refused it: another replica runs it (runtime/cluster's leader)
)

// Defaults of Options' zero fields.
const (
	DefaultJitter         = 0.1 // ± 10 % of the interval
	DefaultMaxConcurrent  = 2
	DefaultRefreshTimeout = 5 * time.Minute
)

// Func is the work of a task. changed says whether it changed an input of
// the snapshot (a cache file), which starts the refresh cycle.
type Func func(ctx context.Context) (changed bool, err error)

// Job is a task the Runner knows how to run.
type Job struct {
	Name string // as in the settings: model_discovery, api_key_validation, health_check
	Run  Func
	// Refresh says that a change reported by Run starts the refresh cycle
	// (and that Refresh runs it).
	Refresh bool
	// Default applies when the snapshot's settings have no entry for Name.
	Default format.Task
}

// Options configure a Runner.
type Options struct {
	Jobs []Job
	// Settings returns the tasks of the snapshot serving now; nil: none
	// (every job takes its Default).
	Settings func() []format.Task

	// Allowed reports whether a scheduled run of the task may go on this
	// replica now (nil: always). routerd with shared state lets only the
	// leader run them; a refused run is counted with result "elsewhere"
	// and logged at debug level. On-demand refreshes are not asked.
	Allowed func(task string) bool

	// Build compiles the configuration and caches in process and returns the
	// encoded snapshot. Nil disables the refresh cycle.
	Build func(ctx context.Context) ([]byte, error)
	// Write replaces the snapshot file with the bytes, atomically. Required
	// with Build: the new snapshot is published by reloading that file.
	Write func(data []byte) error
	// Reload publishes the snapshot file (the path SIGHUP takes) and returns
	// the generation serving.
	Reload func(ctx context.Context) (uint64, error)
	// Current reports whether the snapshot serving was read from the
	// snapshot file and compiled from the inputs as they are now on disk,
	// and its generation. When no task of an on-demand Refresh changed a
	// cache and Current says so, Refresh builds nothing: a new generation
	// of the same content would cost a compile and end every channel's
	// cooldown for nothing. Nil: Refresh always compiles.
	Current func() (generation uint64, current bool)

	Clock         Clock          // nil: RealClock
	Jitter        float64        // fraction of the interval, 0: DefaultJitter, < 0: none
	Rand          func() float64 // in [0, 1); nil: math/rand/v2
	MaxConcurrent int            // runs at once over all tasks; 0: DefaultMaxConcurrent
	// RefreshTimeout bounds one refresh cycle; 0: DefaultRefreshTimeout.
	RefreshTimeout time.Duration
	Logger         *slog.Logger          // nil: slog.Default()
	Registerer     prometheus.Registerer // metrics; nil: none
}

// Result is the outcome of one run or one refresh cycle.
type Result struct {
	Task       string    `json:"task"`
	Trigger    string    `json:"trigger"`
	Result     string    `json:"result"`
	Stage      string    `json:"stage,omitempty"` // of a failure: task, compile, validate, write, reload
	Changed    bool      `json:"changed"`
	Generation uint64    `json:"generation,omitempty"` // serving after a cycle
	Error      string    `json:"error,omitempty"`
	Started    time.Time `json:"started"`
	TookMs     float64   `json:"took_ms"`
}

// TaskStatus is the state of one task.
type TaskStatus struct {
	Name        string    `json:"name"`
	Enabled     bool      `json:"enabled"`
	IntervalSec uint32    `json:"interval_s"`
	Running     bool      `json:"running"`
	Next        time.Time `json:"next,omitzero"`
	Last        *Result   `json:"last,omitempty"`
	LastSuccess time.Time `json:"last_success,omitzero"`
}

// Status is what GET /v1/admin/snapshot shows of the tasks.
type Status struct {
	Tasks       []TaskStatus `json:"tasks"`
	LastRefresh *Result      `json:"last_refresh,omitempty"`
	LastSuccess time.Time    `json:"last_refresh_success,omitzero"`
}

// ErrNoCycle is returned by Refresh when no Build or Write was handed in.
var ErrNoCycle = errors.New("the refresh cycle is off: routerd needs -config (to compile) and a snapshot file (-snapshot) to write")

type jobState struct {
	Job
	cfg         format.Task
	configured  bool // cfg was set at least once
	next        time.Time
	running     bool
	last        *Result
	lastSuccess time.Time
}

// Runner schedules the jobs and runs the refresh cycle.
type Runner struct {
	opts  Options
	clk   Clock
	log   *slog.Logger
	rnd   func() float64
	sem   chan struct{}
	poke  chan struct{}
	runs  sync.WaitGroup
	runMu sync.Mutex // guards the jobs' state and the refresh status
	jobs  []*jobState

	cycleMu     sync.Mutex // one refresh cycle at a time
	lastCycle   *Result
	lastCycleOK time.Time

	startOnce sync.Once
	stopOnce  sync.Once
	cancel    context.CancelFunc
	loopDone  chan struct{}

	runsTotal *prometheus.CounterVec
	lastOK    *prometheus.GaugeVec
}

// New builds a Runner; Start starts it.
func New(opts Options) (*Runner, error) {
	r := &Runner{opts: opts, clk: opts.Clock, log: opts.Logger, rnd: opts.Rand,
		poke: make(chan struct{}, 1), loopDone: make(chan struct{})}
	if r.clk == nil {
		r.clk = RealClock{}
	}
	if r.log == nil {
		r.log = slog.Default()
	}
	if r.rnd == nil {
		r.rnd = rand.Float64
	}
	if r.opts.Jitter == 0 {
		r.opts.Jitter = DefaultJitter
	}
	if r.opts.Jitter >= 1 {
		return nil, fmt.Errorf("tasks: jitter %v is not a fraction below 1", r.opts.Jitter)
	}
	n := opts.MaxConcurrent
	if n <= 0 {
		n = DefaultMaxConcurrent
	}
	r.sem = make(chan struct{}, n)
	if r.opts.RefreshTimeout <= 0 {
		r.opts.RefreshTimeout = DefaultRefreshTimeout
	}
	if opts.Build != nil && (opts.Write == nil || opts.Reload == nil) {
		return nil, errors.New("tasks: Build needs Write and Reload")
	}
	seen := map[string]bool{}
	for _, j := range opts.Jobs {
		if j.Name == "" || j.Run == nil {
			return nil, errors.New("tasks: a job needs a name and a function")
		}
		if seen[j.Name] {
			return nil, fmt.Errorf("tasks: job %q twice", j.Name)
		}
		seen[j.Name] = true
		r.jobs = append(r.jobs, &jobState{Job: j})
	}
	r.runsTotal = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "smartrouter_task_runs_total",
		Help: "Background task runs and refresh cycles (task=refresh) by result: ok, unchanged, failed, skipped, elsewhere (another replica runs it).",
	}, []string{"task", "result"})
	r.lastOK = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "smartrouter_task_last_success_timestamp_seconds",
		Help: "Unix time of the last successful run of a task (task=refresh: of the last successful refresh cycle).",
	}, []string{"task"})
	if reg := opts.Registerer; reg != nil {
		if err := reg.Register(r.runsTotal); err != nil {
			return nil, fmt.Errorf("tasks: register metrics: %w", err)
		}
		if err := reg.Register(r.lastOK); err != nil {
			return nil, fmt.Errorf("tasks: register metrics: %w", err)
		}
	}
	return r, nil
}

// Start runs the scheduler until Stop. Tasks with run_on_startup run now.
func (r *Runner) Start(ctx context.Context) {
	r.startOnce.Do(func() {
		ctx, r.cancel = context.WithCancel(ctx)
		r.reconfigure(true)
		go r.loop(ctx)
	})
}

// SettingsChanged tells the Runner that a new snapshot was published: it
// re-reads the tasks' settings. It never blocks.
func (r *Runner) SettingsChanged() {
	select {
	case r.poke <- struct{}{}:
	default:
	}
}

// Stop ends the scheduler and waits for the runs in progress (their context
// is canceled) until ctx ends.
func (r *Runner) Stop(ctx context.Context) error {
	r.stopOnce.Do(func() {
		if r.cancel == nil { // never started
			close(r.loopDone)
			r.cancel = func() {}
		}
		r.cancel()
	})
	done := make(chan struct{})
	go func() {
		<-r.loopDone
		r.runs.Wait()
		close(done)
	}()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("background tasks did not stop in time: %w", ctx.Err())
	}
}

// reconfigure reads the settings and sets each job's schedule. A job that
// is newly enabled, or whose interval changed, is scheduled one jittered
// interval from now (now at start when run_on_startup is set).
func (r *Runner) reconfigure(startup bool) {
	var set []format.Task
	if r.opts.Settings != nil {
		set = r.opts.Settings()
	}
	now := r.clk.Now()
	r.runMu.Lock()
	defer r.runMu.Unlock()
	for _, j := range r.jobs {
		cfg := j.Default
		for _, t := range set {
			if t.Name == j.Name {
				cfg = t
				break
			}
		}
		cfg.Name = j.Name
		if !cfg.Enabled || cfg.IntervalSec == 0 {
			if cfg.Enabled && cfg.IntervalSec == 0 && !j.configured {
				r.log.Warn("background task enabled without an interval; it runs only on start-up and on demand", "task", j.Name)
			}
			j.next = time.Time{}
		} else if !j.configured || !j.cfg.Enabled || j.cfg.IntervalSec != cfg.IntervalSec {
			j.next = now.Add(r.jittered(cfg.IntervalSec))
		}
		old := j.cfg
		j.cfg, j.configured = cfg, true
		if startup && cfg.Enabled && cfg.RunOnStartup {
			r.launchLocked(j, TriggerStartup)
		}
		if !startup && old != cfg {
			r.log.Info("background task settings changed", "task", j.Name, "enabled", cfg.Enabled, "interval_s", cfg.IntervalSec)
		}
	}
}

func (r *Runner) jittered(sec uint32) time.Duration {
	d := time.Duration(sec) * time.Second
	if r.opts.Jitter > 0 {
		d = time.Duration(float64(d) * (1 + r.opts.Jitter*(2*r.rnd()-1)))
	}
	return max(d, time.Millisecond)
}

func (r *Runner) loop(ctx context.Context) {
	defer close(r.loopDone)
	for {
		r.runMu.Lock()
		var first time.Time
		for _, j := range r.jobs {
			if !j.next.IsZero() && (first.IsZero() || j.next.Before(first)) {
				first = j.next
			}
		}
		r.runMu.Unlock()
		var timer Timer
		var fire <-chan time.Time
		if !first.IsZero() {
			timer = r.clk.NewTimer(max(first.Sub(r.clk.Now()), 0))
			fire = timer.C()
		}
		select {
		case <-ctx.Done():
			if timer != nil {
				timer.Stop()
			}
			return
		case <-r.poke:
			if timer != nil {
				timer.Stop()
			}
			r.reconfigure(false)
		case <-fire:
			now := r.clk.Now()
			r.runMu.Lock()
			for _, j := range r.jobs {
				if j.next.IsZero() || j.next.After(now) {
					continue
				}
				j.next = now.Add(r.jittered(j.cfg.IntervalSec))
				r.launchLocked(j, TriggerSchedule)
			}
			r.runMu.Unlock()
		}
	}
}

// launchLocked starts a run of j unless one is going (then the run is
// counted as skipped). Called with runMu held.
func (r *Runner) launchLocked(j *jobState, trigger string) bool {
	if r.opts.Allowed != nil && !r.opts.Allowed(j.Name) {
		r.runsTotal.WithLabelValues(j.Name, ResultElsewhere).Inc()
		r.log.Debug("background task runs on another replica; this run is skipped", "task", j.Name)
		return false
	}
	if j.running {
		r.runsTotal.WithLabelValues(j.Name, ResultSkipped).Inc()
		r.log.Debug("background task still running; this run is skipped", "task", j.Name)
		return false
	}
	j.running = true
	r.runs.Add(1)
	go func() {
		defer r.runs.Done()
		r.execute(context.Background(), j, trigger)
	}()
	return true
}

// execute runs j once (under the concurrency bound) and, when it reports a
// change of an input, the refresh cycle.
func (r *Runner) execute(ctx context.Context, j *jobState, trigger string) {
	ctx, cancel := r.untilStop(ctx)
	defer cancel()
	select {
	case r.sem <- struct{}{}:
	case <-r.loopDone:
		r.finish(j, r.result(j.Name, trigger, r.clk.Now(), false, "task", errors.New("routerd is shutting down")))
		return
	}
	start := r.clk.Now()
	changed, err := r.runJob(ctx, j)
	<-r.sem
	res := r.result(j.Name, trigger, start, changed, "task", err)
	if err == nil && changed && j.Refresh && r.opts.Build != nil {
		cr := r.cycle(ctx, trigger, j.Name)
		if cr.Result == ResultFailed {
			res.Result, res.Stage, res.Error = ResultFailed, cr.Stage, cr.Error
		}
		res.Generation = cr.Generation
	}
	r.finish(j, res)
}

// untilStop is ctx, also canceled when the scheduler stops.
func (r *Runner) untilStop(ctx context.Context) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancel(ctx)
	go func() {
		select {
		case <-r.loopDone:
			cancel()
		case <-ctx.Done():
		}
	}()
	return ctx, cancel
}

func (r *Runner) runJob(ctx context.Context, j *jobState) (changed bool, err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("task %s panicked: %v", j.Name, p)
		}
	}()
	return j.Run(ctx)
}

func (r *Runner) result(task, trigger string, start time.Time, changed bool, stage string, err error) Result {
	res := Result{Task: task, Trigger: trigger, Result: ResultUnchanged, Changed: changed, Started: start,
		TookMs: float64(r.clk.Now().Sub(start).Microseconds()) / 1000}
	if changed {
		res.Result = ResultOK
	}
	if err != nil {
		res.Result, res.Stage, res.Error = ResultFailed, stage, err.Error()
	}
	return res
}

func (r *Runner) finish(j *jobState, res Result) {
	r.runsTotal.WithLabelValues(j.Name, res.Result).Inc()
	r.runMu.Lock()
	j.running = false
	j.last = &res
	if res.Result != ResultFailed {
		j.lastSuccess = res.Started
	}
	r.runMu.Unlock()
	if res.Result != ResultFailed {
		r.lastOK.WithLabelValues(j.Name).Set(float64(res.Started.UnixNano()) / 1e9)
		r.log.Info("background task done", "task", j.Name, "trigger", res.Trigger, "result", res.Result, "took_ms", res.TookMs)
		return
	}
	r.log.Error("background task failed; the current snapshot keeps serving",
		"task", j.Name, "trigger", res.Trigger, "stage", res.Stage, "error", res.Error)
}

// Refresh runs the cycle on demand: every refresh job that is not already
// running and that the settings do not turn off (an operator who turned
// discovery off keeps a cache maintained by hand), then compile, validate,
// write and reload when a job reported a change or when Options.Current
// finds the snapshot serving older than its inputs (a file edited by hand).
// When nothing changed it answers ResultUnchanged with the generation
// serving and publishes nothing. It returns the cycle's result.
func (r *Runner) Refresh(ctx context.Context) Result {
	// Stop waits for an on-demand refresh too, so nothing writes the
	// snapshot file after the runner stopped.
	r.runs.Add(1)
	defer r.runs.Done()
	start := r.clk.Now()
	if r.opts.Build == nil {
		res := r.result("refresh", TriggerAdmin, start, false, "compile", ErrNoCycle)
		r.recordCycle(res)
		return res
	}
	ctx, cancel := r.untilStop(ctx)
	defer cancel()
	changed := false
	var errs []string
	for _, j := range r.jobs {
		if !j.Refresh {
			continue
		}
		r.runMu.Lock()
		busy, off := j.running, j.configured && !j.cfg.Enabled
		if !busy && !off {
			j.running = true
		}
		r.runMu.Unlock()
		if off {
			continue // a task the settings turn off is not run on demand either
		}
		if busy {
			continue // its run starts the cycle itself when it changes something
		}
		c, err := r.runJob(ctx, j)
		r.finish(j, r.result(j.Name, TriggerAdmin, start, c, "task", err))
		changed = changed || c
		if err != nil {
			errs = append(errs, j.Name+": "+err.Error())
		}
	}
	if !changed && r.opts.Current != nil {
		if gen, ok := r.opts.Current(); ok {
			res := r.result("refresh", TriggerAdmin, start, false, "", nil)
			res.Generation = gen
			if len(errs) > 0 {
				res.Error = "nothing to rebuild, but some tasks failed (their caches keep their last good content): " + strings.Join(errs, "; ")
			}
			r.recordCycle(res)
			r.log.Info("snapshot refresh: no input changed; the snapshot serving stays", "trigger", TriggerAdmin, "generation", gen)
			return res
		}
	}
	res := r.cycle(ctx, TriggerAdmin, "refresh")
	res.Changed = res.Changed || changed
	if len(errs) > 0 && res.Error == "" {
		// The cycle compiled what the caches hold; say which task failed.
		res.Error = "the snapshot was rebuilt, but some tasks failed (their caches keep their last good content): " + strings.Join(errs, "; ")
	}
	return res
}

// cycle compiles, validates, writes and reloads. The snapshot serving stays
// unless every step succeeds.
func (r *Runner) cycle(ctx context.Context, trigger, cause string) Result {
	r.cycleMu.Lock()
	defer r.cycleMu.Unlock()
	ctx, cancel := context.WithTimeout(ctx, r.opts.RefreshTimeout)
	defer cancel()
	start := r.clk.Now()
	fail := func(stage string, err error) Result {
		res := r.result("refresh", trigger, start, false, stage, err)
		r.recordCycle(res)
		return res
	}
	data, err := r.opts.Build(ctx)
	if err != nil {
		return fail("compile", err)
	}
	if _, err := format.Open(data); err != nil {
		return fail("validate", fmt.Errorf("the compiled snapshot does not validate: %w", err))
	}
	if err := r.opts.Write(data); err != nil {
		return fail("write", fmt.Errorf("write the snapshot file: %w", err))
	}
	gen, err := r.opts.Reload(ctx)
	if err != nil {
		return fail("reload", err)
	}
	res := r.result("refresh", trigger, start, true, "", nil)
	res.Generation = gen
	r.recordCycle(res)
	r.log.Info("snapshot refreshed", "cause", cause, "trigger", trigger, "generation", gen, "bytes", len(data), "took_ms", res.TookMs)
	return res
}

func (r *Runner) recordCycle(res Result) {
	r.runsTotal.WithLabelValues("refresh", res.Result).Inc()
	r.runMu.Lock()
	r.lastCycle = &res
	if res.Result != ResultFailed {
		r.lastCycleOK = res.Started
	}
	r.runMu.Unlock()
	if res.Result != ResultFailed {
		r.lastOK.WithLabelValues("refresh").Set(float64(res.Started.UnixNano()) / 1e9)
		return
	}
	r.log.Error("snapshot refresh failed; the current snapshot keeps serving", "trigger", res.Trigger, "stage", res.Stage, "error", res.Error)
}

// Status returns a copy of the tasks' state and of the last refresh cycle.
func (r *Runner) Status() Status {
	r.runMu.Lock()
	defer r.runMu.Unlock()
	st := Status{Tasks: make([]TaskStatus, 0, len(r.jobs)), LastSuccess: r.lastCycleOK}
	if r.lastCycle != nil {
		c := *r.lastCycle
		st.LastRefresh = &c
	}
	for _, j := range r.jobs {
		ts := TaskStatus{Name: j.Name, Enabled: j.cfg.Enabled, IntervalSec: j.cfg.IntervalSec, Running: j.running,
			Next: j.next, LastSuccess: j.lastSuccess}
		if j.last != nil {
			l := *j.last
			ts.Last = &l
		}
		st.Tasks = append(st.Tasks, ts)
	}
	return st
}
