package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"smartrouter/format"
	"smartrouter/format/inspect"
	"smartrouter/format/vocab"
	"smartrouter/runtime/cluster"
	"smartrouter/runtime/metrics"
	"smartrouter/runtime/server"
	"smartrouter/runtime/snapshot"
	"smartrouter/runtime/usage"
)

// The usage ledger (runtime/usage, docs/operations.md "Usage ledger"):
// its place decided and its start journal opened after the first snapshot
// is loaded (its usage: settings decide), before routerd listens; the
// database opened and attached to the server's recorder after routerd
// listens (usageStart); drained and closed after the server has drained
// at shutdown.

// usageFileName is the ledger's file name in the data folder.
const usageFileName = "usage.db"

// usageOff is the -usage-db value that turns the ledger off.
const usageOff = "off"

// usageLedgerPath decides where the ledger lives: -usage-db wins ("off":
// nowhere); else usage.path (a relative one is taken in the data folder);
// else usage.db in the data folder. The data folder is the snapshot file's
// folder, else the cache folder; with neither (the demo, a bundled binary
// without -cache) there is no default and the ledger is off. It returns ""
// with the reason when the ledger is off.
func usageLedgerPath(flag string, set format.UsageSettings, snapPath, cacheDir string) (path, why string) {
	if flag != "" {
		if flag == usageOff {
			return "", "-usage-db off"
		}
		return flag, ""
	}
	if set.Configured && !set.Enabled {
		return "", "usage.enabled is false"
	}
	data := ""
	switch {
	case snapPath != "":
		data = filepath.Dir(snapPath)
	case cacheDir != "":
		data = cacheDir
	}
	p := set.Path
	switch {
	case vocab.IsPostgresURL(p):
		return p, ""
	case p != "" && filepath.IsAbs(p):
		return p, ""
	case data == "":
		return "", "no data folder (no snapshot file and no cache folder); set -usage-db or an absolute usage.path"
	case p != "":
		return filepath.Join(data, p), ""
	}
	return filepath.Join(data, usageFileName), ""
}

// usagePostgresLocal is the file name, in the data folder, that a
// PostgreSQL ledger's journal, spill file and replica id are named after.
const usagePostgresLocal = "usage-postgres"

// expandUsagePath reads the variable of a usage.path written as ${NAME}
// (the way to keep a PostgreSQL password out of the config and the
// snapshot); other paths are returned as they are.
func expandUsagePath(p string) (string, error) {
	name, ok := strings.CutPrefix(p, "${")
	if !ok || !strings.HasSuffix(name, "}") {
		return p, nil
	}
	name = strings.TrimSuffix(name, "}")
	v := strings.TrimSpace(os.Getenv(name))
	if v == "" {
		return "", fmt.Errorf("usage.path is ${%s} and the variable %s is not set: set it (e.g. to postgres://user:password@host:5432/database), or start with -usage-db off", name, name)
	}
	return v, nil
}

// usageLocalPath is where a PostgreSQL ledger keeps its local files: in
// the data folder (the snapshot file's folder, else the cache folder).
func usageLocalPath(snapPath, cacheDir string) (string, error) {
	switch {
	case snapPath != "":
		return filepath.Join(filepath.Dir(snapPath), usagePostgresLocal), nil
	case cacheDir != "":
		return filepath.Join(cacheDir, usagePostgresLocal), nil
	}
	return "", fmt.Errorf("a PostgreSQL usage ledger keeps its journal and spill file in the data folder, and there is none: run with a snapshot file or -cache, or -usage-db off")
}

// openRetryFirst and openRetryMax are the pauses between attempts to open
// a ledger that failed to open after routerd started listening.
const (
	openRetryFirst = 100 * time.Millisecond
	openRetryMax   = 30 * time.Second
)

// seedWaitMax bounds how long a proxied request waits for the counters
// seeded from the ledger (server.HoldForSeed) before it is answered 503.
const seedWaitMax = 10 * time.Second

// usageStart is the ledger of the first snapshot while routerd starts:
// prepareUsage, before routerd listens, does the cheap part (where the
// ledger is, its folder, the start journal that keeps the records answered
// until the ledger is open); attach, after routerd listens, opens the
// database (schema, journal replay, retention), hands it the held records
// and seeds the counters. See docs/operations.md "Usage ledger".
type usageStart struct {
	opts  usage.Options
	early *usage.Early
	// fresh: no ledger file exists yet and no earlier start left records,
	// so the counters have nothing to be seeded with and requests do not
	// wait for the ledger; otherwise requests wait at the seed gate when
	// the snapshot has budgets or daily limits (hasSeededLimits).
	fresh bool
	path  string // for the log (a URL masked)
	done  chan struct{}
	led   *usage.Ledger // set before done is closed, nil when attach failed
	// stop ends attach's retries (wait, at shutdown).
	stop     chan struct{}
	stopOnce sync.Once
	state    atomic.Pointer[string]
}

// prepareUsage decides where the ledger of the first snapshot lives and
// opens its start journal, which the server's recorder holds from now on;
// nil when the ledger is off (the server keeps its in-memory ring of
// recent requests). An error (a ${VAR} not set, a folder or file that
// cannot be written) stops the start.
func prepareUsage(f *flags, so snapshot.Options, srv *server.Server, log *slog.Logger) (*usageStart, error) {
	h := srv.Manager().Acquire()
	if h == nil {
		return nil, nil
	}
	set := h.Snapshot().Settings().Usage
	snapPath := h.Path()
	limited := hasSeededLimits(h.Snapshot())
	h.Release()
	if snapPath == "" {
		snapPath = so.Path
	}
	var err error
	if set.Path, err = expandUsagePath(set.Path); err != nil {
		return nil, err
	}
	path, why := usageLedgerPath(f.usageDB, set, snapPath, so.CacheDir)
	if path == "" {
		log.Info("usage ledger off; /v1/admin/usage answers from the last requests in memory", "reason", why)
		return nil, nil
	}
	retention := int(set.RetentionDays)
	if !set.Configured {
		retention = format.DefaultUsageRetentionDays
	}
	opts := usage.Options{Path: path, RetentionDays: retention, QueueSize: int(set.QueueSize), Logger: log}
	if vocab.IsPostgresURL(path) {
		if opts.LocalPath, err = usageLocalPath(snapPath, so.CacheDir); err != nil {
			return nil, err
		}
	}
	early, err := usage.OpenEarly(opts)
	if err != nil {
		return nil, fmt.Errorf("open the usage ledger (set usage.path or -usage-db, or -usage-db off): %w", err)
	}
	u := &usageStart{opts: opts, early: early, path: inspect.MaskURL(path), done: make(chan struct{}), stop: make(chan struct{})}
	u.fresh = usage.Fresh(opts) && early.Leftover() == 0
	u.setState("opening")
	srv.Usage().Hold(early)
	if !u.fresh && limited {
		srv.HoldForSeed(seedWaitMax)
	}
	srv.SetLedgerState(func() any { return *u.state.Load() })
	return u, nil
}

// hasSeededLimits reports whether snap has a limit that counts from the
// ledger: a client key with a daily or monthly budget, or a channel with a
// daily_limit. Only then do requests wait for the seeded counters.
func hasSeededLimits(snap *format.Snapshot) bool {
	for _, k := range snap.ClientKeys() {
		if k.DailyUSD > 0 || k.MonthlyUSD > 0 {
			return true
		}
	}
	for _, c := range snap.Channels() {
		if c.DailyLimit > 0 {
			return true
		}
	}
	return false
}

func (u *usageStart) setState(s string) { u.state.Store(&s) }

// attach opens the ledger (after routerd listens), attaches it to the
// server (the records held so far go to its queue), seeds the counters
// and removes the start journal once its records are committed. A ledger
// that cannot be opened (a database SQLite cannot open, no descriptor
// left, PostgreSQL away) is retried with a growing pause (up to
// openRetryMax) and an error line each time, while routerd serves on and
// the start journal holds the records; a shutdown stops the retries and
// leaves the held records in the start journal for the next start.
func (u *usageStart) attach(srv *server.Server, node *cluster.Node, log *slog.Logger) {
	defer close(u.done)
	pause := openRetryFirst
	var l *usage.Ledger
	for {
		var err error
		if l, err = usage.Open(u.opts); err == nil {
			break
		}
		u.setState("retrying")
		log.Error("usage ledger: cannot open it; routerd serves on, keeps the records in the start journal and retries (fix usage.path or -usage-db, or restart with -usage-db off)",
			"error", err, "retry_in", pause.String())
		t := time.NewTimer(pause)
		select {
		case <-u.stop:
			t.Stop()
			u.setState("failed")
			_ = u.early.Close()
			return
		case <-t.C:
		}
		pause = min(2*pause, openRetryMax)
	}
	srv.Usage().Attach(l)
	u.led = l
	srv.Metrics().UsageLedger(func() metrics.LedgerStats {
		st := l.Stats()
		return metrics.LedgerStats{Written: st.Written, SpilledOverflow: st.SpilledOverflow, SpilledDBError: st.SpilledDBError,
			SpillReplayed: st.SpillReplayed, JournalReplayed: st.JournalReplayed, JournalFull: st.JournalFull,
			Lost: st.Lost, DBErrors: st.DBErrors, Pruned: st.Pruned, Queued: st.Queued}
	})
	est := u.early.Stats()
	log.Info("usage ledger open", "backend", l.Backend(), "path", u.path, "retention_days", u.opts.RetentionDays,
		"held_before_open", est.Held, "left_by_an_earlier_start", est.Leftover)
	if !u.fresh {
		// The held records (this run's and an earlier start's) are
		// committed before the counts are read, so the seeded figures
		// include them; requests wait at the gate meanwhile.
		ctx, cancel := context.WithTimeout(context.Background(), seedWaitMax)
		_ = l.Sync(ctx)
		cancel()
		seedUsage(l, srv, node, log)
		srv.Seeded()
	}
	u.setState("open")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := u.early.Finish(ctx); err != nil {
		log.Warn("usage ledger: the start journal stays for the next start", "error", err)
	}
}

// abandon closes the start journal when routerd stops before attach ran
// (nothing was answered; an earlier start's records stay for the next).
func (u *usageStart) abandon() {
	if u != nil {
		_ = u.early.Close()
	}
}

// wait stops attach's retries, waits for attach and returns the ledger
// (nil when it never opened). Called at shutdown.
func (u *usageStart) wait() *usage.Ledger {
	if u == nil {
		return nil
	}
	u.stopOnce.Do(func() { close(u.stop) })
	<-u.done
	return u.led
}

// closeUsage drains the ledger's queue into the database and closes it
// (after the server drained, so no request adds to it any more).
func closeUsage(l *usage.Ledger, log *slog.Logger) {
	if l == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := l.Close(ctx); err != nil {
		log.Warn("usage ledger not closed cleanly", "error", err)
		return
	}
	st := l.Stats()
	log.Info("usage ledger closed", "written", st.Written, "spilled", st.SpilledOverflow+st.SpilledDBError)
}

// seedUsage hands what the ledger holds of today and this month to the
// counters that start from it: the client keys' spend (budgets) and the
// channels' requests today (daily_limit), locally and, with a node, as
// floors of the fleet's counts. Without a ledger nothing is seeded; a
// ledger that cannot be read is logged and the counts start from zero.
func seedUsage(l *usage.Ledger, srv *server.Server, node *cluster.Node, log *slog.Logger) {
	if l == nil {
		return
	}
	now := time.Now()
	day, month, chans, err := usageSeeds(l, now)
	if err != nil {
		log.Warn("budgets and channel daily limits start from zero: the usage ledger could not be read", "error", err)
		return
	}
	srv.ClientCounters().SeedSpend(now, day, month)
	srv.Live().SeedChannelDay(chans)
	if node != nil {
		node.SeedChannelDay(chans)
	}
	log.Info("budgets and channel daily limits seeded from the usage ledger", "keys", len(month), "channels", len(chans))
}

// usageSeeds reads from the ledger what the client keys' budgets and the
// channels' daily limits start from: spend per client key name since the
// start of the UTC day and of the UTC month, and requests per channel
// since the start of the UTC day. The tenants wiring hands them to its
// package at start.
func usageSeeds(l *usage.Ledger, now time.Time) (daySpend, monthSpend map[string]float64, channelDay map[string]int, err error) {
	now = now.UTC()
	day := time.Date(now.Year(), now.Month(), now.Day(), 0, 0, 0, 0, time.UTC)
	month := time.Date(now.Year(), now.Month(), 1, 0, 0, 0, 0, time.UTC)
	if daySpend, err = l.SpendByKey(day); err != nil {
		return nil, nil, nil, err
	}
	if monthSpend, err = l.SpendByKey(month); err != nil {
		return nil, nil, nil, err
	}
	if channelDay, err = l.RequestsByChannel(day); err != nil {
		return nil, nil, nil, err
	}
	return daySpend, monthSpend, channelDay, nil
}
