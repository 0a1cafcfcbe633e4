package main

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	vegeta "github.com/tsenart/vegeta/v12/lib"
)

// The refresh-under-load phase: routerd serves a constant load while, every
// refreshEvery, the harness changes one channel's model list at the mock
// (adds refreshProbeModel, or takes it away again) and calls POST
// /v1/admin/refresh, whose model discovery finds that change, rewrites the
// discovery cache, and whose cycle compiles the installation in process,
// validates it, writes the snapshot file and swaps it in: every refresh is
// a real change, compile and swap. (routerd builds nothing when no input
// changed; after the load the phase checks that with one more refresh with
// nothing changed.) Reported: failed requests, the p99 of the requests that
// overlapped a refresh against the p99 of the others, and routerd's peak
// RSS against its idle RSS.

const refreshEvery = 3 * time.Second

// refreshProbeModel is the model the phase adds to one channel's list and
// takes away again, one refresh in two.
const refreshProbeModel = "routerbench-refresh-probe"

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
	// ChildKB is the largest VmHWM of routerd's refresh children
	// (discovery, key validation, compile run as child processes) seen by
	// the sampler; a child that lives less than a sampling period may be
	// missed.
	ChildKB int64
	// CPU is routerd's own CPU time over the load (requests and what
	// routerd does of the refreshes), ChildCPU that of its refresh
	// children: figures the other work on the machine disturbs little.
	CPU, ChildCPU time.Duration
	MockLists     int   // channel keys the mock answers with the fixture's model list (mockmodels.go)
	SnapStart     int64 // bytes of the snapshot file at the start
	SnapEnd       int64 // and after the last refresh
	ProbeKey      int   // how many models the changed channel lists without the probe model
	// NoChange is the answer of one more refresh after the load, with no
	// model list changed ("unchanged" when routerd built nothing), and
	// NoChangeMs its wall time.
	NoChange   string
	NoChangeMs float64
	Err        string
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
	lists, err := h.serveFixtureModels(ctx, &cin)
	if err != nil {
		rr.Err = err.Error()
		return rr
	}
	rr.MockLists = len(lists)
	// The channel whose list changes: the first key (in order) with models.
	probeKey := ""
	for _, k := range slices.Sorted(maps.Keys(lists)) {
		if len(lists[k]) > 0 {
			probeKey = k
			break
		}
	}
	if probeKey == "" {
		rr.Err = "no channel of the fixture has models to change"
		return rr
	}
	probeList := lists[probeKey]
	rr.ProbeKey = len(probeList)
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
	// (The idle RSS is taken before it.) A first refresh before the load: the mock's answers hold less data
	// than the fixture's entries, so this one rewrites every entry of the
	// cache once; the refreshes measured change one list each.
	{
		c := newClient(5 * time.Minute)
		from := time.Now()
		resp, b, err := post(ctx, c, base+"/v1/admin/refresh?wait=5m", in.Tokens.Admin, nil)
		c.CloseIdleConnections()
		if err != nil || resp.StatusCode != http.StatusOK {
			rr.Err = fmt.Sprintf("the first refresh failed: %v %s", err, tail(string(b), 200))
			return rr
		}
		h.log.Info("first refresh (rewrites every discovery entry once)", "took", time.Since(from))
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
		tickUntil(stop, 50*time.Millisecond, func() {
			if m, err := procMem(p.Pid()); err == nil {
				mu.Lock()
				rr.PeakKB = max(rr.PeakKB, m.RSS)
				mu.Unlock()
			}
			for _, c := range childPIDs(p.Pid()) {
				if m, err := procMem(c); err == nil {
					mu.Lock()
					rr.ChildKB = max(rr.ChildKB, m.HWM)
					mu.Unlock()
				}
			}
		})
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
			ids := probeList
			if i%2 == 0 {
				ids = append(slices.Clone(probeList), refreshProbeModel)
			}
			if err := h.setKeyModels(ctx, c, probeKey, ids); err != nil {
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
	cpu0, _ := procCPU(p.Pid())
	child0, _ := procChildCPU(p.Pid())
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
	if c, err := procCPU(p.Pid()); err == nil {
		rr.CPU = c - cpu0
	}
	if c, err := procChildCPU(p.Pid()); err == nil {
		rr.ChildCPU = c - child0
	}
	// One more refresh with no model list changed: routerd should build
	// nothing.
	{
		c := newClient(5 * time.Minute)
		from := time.Now()
		resp, b, err := post(ctx, c, base+"/v1/admin/refresh?wait=5m", in.Tokens.Admin, nil)
		rr.NoChangeMs = float64(time.Since(from).Microseconds()) / 1000
		var a struct{ Status string }
		switch {
		case err != nil:
			rr.NoChange = "error: " + err.Error()
		case resp.StatusCode != http.StatusOK || json.Unmarshal(b, &a) != nil:
			rr.NoChange = fmt.Sprintf("status %d: %s", resp.StatusCode, tail(string(b), 200))
		default:
			rr.NoChange = a.Status
		}
		c.CloseIdleConnections()
	}
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
		"idle_rss_kb", rr.IdleKB, "peak_rss_kb", rr.PeakKB, "child_peak_kb", rr.ChildKB, "routerd_cpu", rr.CPU, "children_cpu", rr.ChildCPU, "snapshot_bytes_start", rr.SnapStart, "snapshot_bytes_end", rr.SnapEnd,
		"refresh_median", rr.RefreshMs.Median, "unchanged_refresh", rr.NoChange, "unchanged_refresh_ms", rr.NoChangeMs)
	return rr
}

// mbOrDash is mb, or a dash when nothing was measured.
func mbOrDash(kb int64) string {
	if kb <= 0 {
		return "—"
	}
	return mb(kb)
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

// refreshRows are the summary rows of the phase.
func refreshRows(res *results) []row {
	r := res.Refresh
	what := fmt.Sprintf("refresh → compile → swap (`POST /v1/admin/refresh`, a model list changed, every %s) while serving %d req/s", fmtDur(refreshEvery), firstRate(res))
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
	child := ""
	if r.ChildKB > 0 {
		child = fmt.Sprintf("; refresh child processes peaked at %s", mb(r.ChildKB))
	}
	rss := row{What: "peak RSS of routerd during the refreshes", Target: "≤ idle + 80 MB",
		Measured: fmt.Sprintf("%s peak VmRSS, %s idle (+%s); VmHWM %s%s", mb(r.PeakKB), mb(r.IdleKB), mb(r.PeakKB-r.IdleKB), mb(r.HWMKB), child),
		Verdict:  verdictAtMost(float64(r.PeakKB-r.IdleKB)*1024/1e6, 80, func(f float64) string { return sig3(f) + " MB" })}
	return []row{fail, p99, rss}
}

func renderRefresh(b *strings.Builder, res *results) {
	r := res.Refresh
	fmt.Fprintf(b, "### Refresh under load\n\n")
	fmt.Fprintf(b, "Every %s `POST /v1/admin/refresh` runs routerd's refresh cycle on a copy of the scale installation (model discovery, key validation, then compile in process, validate, write the snapshot file, reload it as SIGHUP does) while vegeta sends %d req/s through routerd. Routerd runs discovery, key validation and the compile as child processes of its own binary at nice 19; their peak RSS (VmHWM, sampled with routerd's) is shown beside routerd's. Routerd's model discovery asks the mock for every channel's models; the mock answers each channel's key with the model list the fixture's discovery cache holds for that channel (%d keys; cmd/routerbench/mockmodels.go), and before each refresh the harness adds the model `%s` to one channel's list (%d models) or takes it away again, so every refresh finds a changed list, rewrites the discovery cache (a first refresh before the load has rewritten every entry from the fixture's data to the mock's once), compiles and swaps a new generation, and no request fails because of the harness. A request counts as during a refresh when its send-to-answer interval overlaps a refresh call. RSS is sampled from `/proc/PID/status` every 50 ms. After the load, one more refresh with no list changed answered `%s` in %.0f ms (routerd builds no new generation when no input changed).\n\n", fmtDur(refreshEvery), firstRate(res), r.MockLists, refreshProbeModel, r.ProbeKey, orDash(r.NoChange), r.NoChangeMs)
	if r.Requests == 0 {
		fmt.Fprintf(b, "Not measured: %s\n\n", orDash(r.Err))
		return
	}
	fmt.Fprintf(b, "| requests | failed | refreshes ok | refresh failed | refresh time p50 / max | p99 outside (ms) | p99 during (ms) | idle RSS | peak RSS | refresh children's peak RSS |\n|---|---|---|---|---|---|---|---|---|---|\n")
	fmt.Fprintf(b, "| %d | %d | %d | %d | %s / %s | %s | %s | %s | %s | %s |\n\n", r.Requests, r.Errors, r.Refreshes, len(r.Failed),
		fmtDur(r.RefreshMs.Median), fmtDur(r.RefreshMs.Max), fmtMs(r.Base.P99), fmtMs(r.During.P99), mb(r.IdleKB), mb(r.PeakKB), mbOrDash(r.ChildKB))
	if r.CPU > 0 {
		fmt.Fprintf(b, "CPU time over the load: routerd %s (its %d requests and its share of the refreshes), its refresh children %s.\n\n", fmtDur(r.CPU), r.Requests, fmtDur(r.ChildCPU))
	}
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
