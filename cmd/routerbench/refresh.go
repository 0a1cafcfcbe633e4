package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	vegeta "github.com/tsenart/vegeta/v12/lib"
)

// The refresh-under-load phase: routerd serves a constant load while, every
// refreshEvery, the harness changes the discovery cache (toggles a trailing
// newline, so the file's content differs and the recorded source goes
// stale) and calls POST /v1/admin/refresh, which compiles the installation
// in process, validates it, writes the snapshot file and swaps it in.
// Reported: failed requests, the p99 of the requests that overlapped a
// refresh against the p99 of the others, and routerd's peak RSS against its
// idle RSS.

const refreshEvery = 3 * time.Second

// refreshResult is the refresh-under-load measurement.
type refreshResult struct {
	Requests  int
	Errors    int
	ErrSample []string
	Refreshes int // refreshes answered 200
	Failed    []string
	RefreshMs dist // wall time of POST /v1/admin/refresh
	Base      dist // latency of requests outside every refresh window
	During    dist // latency of requests that overlapped a refresh
	IdleKB    int64
	PeakKB    int64 // the largest VmRSS sampled during the load (and VmHWM at the end)
	HWMKB     int64
	MockLists int   // channel keys the mock answers with the fixture's model list (mockmodels.go)
	SnapStart int64 // bytes of the snapshot file at the start
	SnapEnd   int64 // and after the last refresh
	Err       string
}

// AddedP99 is the p99 during refreshes minus the p99 outside them.
func (r refreshResult) AddedP99() time.Duration { return r.During.P99 - r.Base.P99 }

type window struct{ from, to time.Time }

func (h *harness) refreshUnderLoad(ctx context.Context, in *install, snapSrc string, ct chatTarget) refreshResult {
	var rr refreshResult
	snap := filepath.Join(h.tmp, "refresh.snap")
	if err := copyFile(snapSrc, snap); err != nil {
		rr.Err = err.Error()
		return rr
	}
	// A copy of the cache folder (its files, not the links): the phase
	// edits it.
	cache := filepath.Join(h.tmp, "refresh-cache")
	if err := copyCache(in.CacheDir, cache); err != nil {
		rr.Err = err.Error()
		return rr
	}
	cin := *in
	cin.CacheDir = cache
	// Discovery asks the mock for every channel's models: it must answer
	// what the fixture's cache holds, or the refreshed snapshot shrinks to
	// the mock's shared list and the phase's model disappears.
	n, err := h.serveFixtureModels(ctx, &cin)
	if err != nil {
		rr.Err = err.Error()
		return rr
	}
	rr.MockLists = n
	if fi, err := os.Stat(snap); err == nil {
		rr.SnapStart = fi.Size()
	}
	p, base, t0, err := h.startRouterd(&cin, snap, "refresh")
	if err != nil {
		rr.Err = err.Error()
		return rr
	}
	defer h.stopChecked(p, "after the refresh load")
	wctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	_, err = waitHealthy(wctx, p, base, t0)
	cancel()
	if err != nil {
		rr.Err = err.Error()
		return rr
	}
	tgt := chatTargetFor(base+"/v1/chat/completions", in.Tokens.API, chatBody(ct.Model, false))
	attack(ctx, "routerd", tgt, h.opt.rate, h.opt.warmup, false, 0, nil)
	time.Sleep(h.opt.idle)
	if m, err := procMem(p.Pid()); err == nil {
		rr.IdleKB = m.RSS
	}
	disc, err := discoveryFile(cache)
	if err != nil {
		rr.Err = err.Error()
		return rr
	}

	dur := max(h.opt.loadDur, 4*refreshEvery)
	var (
		mu      sync.Mutex
		windows []window
		took    []time.Duration
	)
	stop := make(chan struct{})
	var bg sync.WaitGroup
	bg.Add(2)
	go func() { // RSS sampler
		defer bg.Done()
		t := time.NewTicker(50 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-stop:
				return
			case <-t.C:
				if m, err := procMem(p.Pid()); err == nil {
					mu.Lock()
					rr.PeakKB = max(rr.PeakKB, m.RSS)
					mu.Unlock()
				}
			}
		}
	}()
	go func() { // refresher
		defer bg.Done()
		c := newClient(5 * time.Minute)
		defer c.CloseIdleConnections()
		t := time.NewTicker(refreshEvery)
		defer t.Stop()
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			case <-t.C:
			}
			if err := toggleTrailingNewline(disc); err != nil {
				mu.Lock()
				rr.Failed = append(rr.Failed, err.Error())
				mu.Unlock()
				return
			}
			from := time.Now()
			resp, b, err := post(ctx, c, base+"/v1/admin/refresh?wait=5m", in.Tokens.Admin, nil)
			to := time.Now()
			mu.Lock()
			windows = append(windows, window{from, to})
			took = append(took, to.Sub(from))
			switch {
			case err != nil:
				rr.Failed = append(rr.Failed, err.Error())
			case resp.StatusCode != http.StatusOK:
				rr.Failed = append(rr.Failed, fmt.Sprintf("status %d: %s", resp.StatusCode, tail(string(b), 200)))
			default:
				var a struct{ Status string }
				if json.Unmarshal(b, &a) == nil && a.Status == "refreshed" {
					rr.Refreshes++
				} else {
					rr.Failed = append(rr.Failed, "answer "+tail(string(b), 200))
				}
			}
			mu.Unlock()
		}
	}()
	type sample struct {
		at  time.Time
		lat time.Duration
	}
	var samples []sample
	atk := vegeta.NewAttacker(vegeta.Timeout(30*time.Second), vegeta.KeepAlive(true), vegeta.Workers(32))
	seen := map[string]bool{}
	for res := range atk.Attack(vegeta.NewStaticTargeter(tgt), vegeta.ConstantPacer{Freq: h.opt.rate, Per: time.Second}, dur, "refresh") {
		if ctx.Err() != nil {
			atk.Stop()
		}
		rr.Requests++
		samples = append(samples, sample{res.Timestamp, res.Latency})
		if why := checkAnswer(int(res.Code), res.Error, res.Body, false); why != "" {
			rr.Errors++
			if k := tail(why, 160); !seen[k] && len(rr.ErrSample) < 3 {
				seen[k] = true
				rr.ErrSample = append(rr.ErrSample, k)
			}
		}
	}
	close(stop)
	bg.Wait()
	if fi, err := os.Stat(snap); err == nil {
		rr.SnapEnd = fi.Size()
	}
	if m, err := procMem(p.Pid()); err == nil {
		rr.HWMKB = m.HWM
		rr.PeakKB = max(rr.PeakKB, m.RSS)
	}
	var during, outside []time.Duration
	for _, s := range samples {
		end := s.at.Add(s.lat)
		hit := false
		for _, w := range windows {
			if s.at.Before(w.to) && end.After(w.from) {
				hit = true
				break
			}
		}
		if hit {
			during = append(during, s.lat)
		} else {
			outside = append(outside, s.lat)
		}
	}
	rr.Base, rr.During, rr.RefreshMs = summarize(outside), summarize(during), summarize(took)
	if ctx.Err() != nil {
		rr.Err = "interrupted"
	}
	h.log.Info("refresh under load", "requests", rr.Requests, "failed", rr.Errors, "refreshes", rr.Refreshes,
		"refresh_failures", len(rr.Failed), "p99_outside", rr.Base.P99, "p99_during", rr.During.P99,
		"idle_rss_kb", rr.IdleKB, "peak_rss_kb", rr.PeakKB, "snapshot_bytes_start", rr.SnapStart, "snapshot_bytes_end", rr.SnapEnd)
	return rr
}

// discoveryFile is the discovery cache of the folder.
func discoveryFile(cache string) (string, error) {
	for _, n := range []string{"discovered_models.json", "model_discovery_cache.json"} {
		if p := filepath.Join(cache, n); fileExists(p) {
			return p, nil
		}
	}
	return "", fmt.Errorf("no discovery cache in %s", cache)
}

func fileExists(p string) bool {
	st, err := os.Stat(p)
	return err == nil && st.Mode().IsRegular()
}

// toggleTrailingNewline adds a newline at the end of the file, or removes
// the one it added: a change of content that keeps the JSON valid.
func toggleTrailingNewline(p string) error {
	b, err := os.ReadFile(p)
	if err != nil {
		return err
	}
	if strings.HasSuffix(string(b), "\n\n") {
		b = b[:len(b)-1]
	} else {
		b = append(b, '\n')
	}
	tmp := p + ".tmp"
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, p)
}

// refreshRows are the summary rows of the phase.
func refreshRows(res *results) []row {
	r := res.Refresh
	what := fmt.Sprintf("in-process refresh → compile → swap (`POST /v1/admin/refresh`, cache changed, every %s) while serving %d req/s", fmtDur(refreshEvery), firstRate(res))
	if r.Requests == 0 {
		m := notMeasured
		if r.Err != "" {
			m += ": " + short(r.Err)
		}
		return []row{{What: what, Target: "0 failed requests, ≤ 1 ms added p99, peak RSS ≤ idle + 80 MB", Measured: m, Verdict: notMeasured}}
	}
	fail := row{What: what + ": failed requests", Target: "0", Measured: fmt.Sprintf("%d failed of %d; %d refreshes (%d failed), each %s median", r.Errors, r.Requests, r.Refreshes, len(r.Failed), fmtDur(r.RefreshMs.Median))}
	switch {
	case r.Errors > 0:
		fail.Verdict = fmt.Sprintf("**missed**: %d failed requests", r.Errors)
	case r.Refreshes == 0:
		fail.Verdict = "**missed**: no refresh succeeded"
	default:
		fail.Verdict = "met"
	}
	p99 := row{What: "added p99 during a refresh", Target: "≤ 1 ms",
		Measured: fmt.Sprintf("%s (p99 %s over %d requests overlapping a refresh, %s over %d others)", fmtDur(r.AddedP99()), fmtDur(r.During.P99), r.During.N, fmtDur(r.Base.P99), r.Base.N),
		Verdict:  verdictAtMost(float64(r.AddedP99()), float64(time.Millisecond), durFormat)}
	rss := row{What: "peak RSS during the refreshes", Target: "≤ idle + 80 MB",
		Measured: fmt.Sprintf("%s peak VmRSS, %s idle (+%s); VmHWM %s", mb(r.PeakKB), mb(r.IdleKB), mb(r.PeakKB-r.IdleKB), mb(r.HWMKB)),
		Verdict:  verdictAtMost(float64(r.PeakKB-r.IdleKB)*1024/1e6, 80, func(f float64) string { return sig3(f) + " MB" })}
	return []row{fail, p99, rss}
}

func renderRefresh(b *strings.Builder, res *results) {
	r := res.Refresh
	fmt.Fprintf(b, "### Refresh under load\n\n")
	fmt.Fprintf(b, "Every %s the discovery cache of a copy of the scale installation gets a changed byte and `POST /v1/admin/refresh` runs routerd's refresh cycle (compile in process, validate, write the snapshot file, reload it as SIGHUP does) while vegeta sends %d req/s through routerd. A request counts as during a refresh when its send-to-answer interval overlaps a refresh call. RSS is sampled from `/proc/PID/status` every 50 ms. Routerd's model discovery asks the mock for every channel's models during the phase; the mock answers each channel's key with the model list the fixture's discovery cache holds for that channel (%d keys; cmd/routerbench/mockmodels.go), as providers whose lists did not change would, so a refresh compiles the same pairs and no request fails because of the harness.\n\n", fmtDur(refreshEvery), firstRate(res), r.MockLists)
	if r.Requests == 0 {
		fmt.Fprintf(b, "Not measured: %s\n\n", orDash(r.Err))
		return
	}
	fmt.Fprintf(b, "| requests | failed | refreshes ok | refresh failed | refresh time p50 / max | p99 outside (ms) | p99 during (ms) | idle RSS | peak RSS |\n|---|---|---|---|---|---|---|---|---|\n")
	fmt.Fprintf(b, "| %d | %d | %d | %d | %s / %s | %s | %s | %s | %s |\n\n", r.Requests, r.Errors, r.Refreshes, len(r.Failed),
		fmtDur(r.RefreshMs.Median), fmtDur(r.RefreshMs.Max), fmtMs(r.Base.P99), fmtMs(r.During.P99), mb(r.IdleKB), mb(r.PeakKB))
	if r.SnapStart > 0 && r.SnapEnd > 0 {
		fmt.Fprintf(b, "Snapshot file: %s before the phase, %s after its last refresh.\n\n", humanBytes(float64(r.SnapStart)), humanBytes(float64(r.SnapEnd)))
	}
	for _, s := range append(r.ErrSample, r.Failed...) {
		fmt.Fprintf(b, "- %s\n", short(s))
	}
	if len(r.ErrSample)+len(r.Failed) > 0 {
		fmt.Fprintf(b, "\n")
	}
}

// linkCache makes dst a folder of symbolic links to the files of the
// fixture's cache folder src, so that routerd, which writes its request
// patterns (request_patterns.json) into its cache folder, never writes into
// the fixture; the caches themselves are not copied.
func linkCache(src, dst string) (string, error) {
	ents, err := os.ReadDir(src)
	if err != nil && !os.IsNotExist(err) {
		return "", fmt.Errorf("read the fixture's cache folder: %w", err)
	}
	if err := os.MkdirAll(dst, 0o755); err != nil {
		return "", err
	}
	abs, err := filepath.Abs(src)
	if err != nil {
		return "", err
	}
	for _, e := range ents {
		if e.Name() == "request_patterns.json" || !e.Type().IsRegular() {
			continue // a routerd of an older run wrote it there
		}
		if err := os.Symlink(filepath.Join(abs, e.Name()), filepath.Join(dst, e.Name())); err != nil {
			return "", fmt.Errorf("link the fixture's cache: %w", err)
		}
	}
	return dst, nil
}

// copyCache copies the files of src (following links) into the new folder
// dst.
func copyCache(src, dst string) error {
	ents, err := os.ReadDir(src)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(dst, 0o755); err != nil {
		return err
	}
	for _, e := range ents {
		if e.IsDir() {
			continue
		}
		if err := copyFile(filepath.Join(src, e.Name()), filepath.Join(dst, e.Name())); err != nil {
			return err
		}
	}
	return nil
}
