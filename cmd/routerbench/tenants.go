package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// The tenants phase: what a client key, its limits and the usage ledger
// cost a proxied request. Routerd processes of the scale installation in the same
// run, loaded with the same chat request in alternating rounds: one whose
// snapshot has a client_keys: entry (a sha256: hash, every limit and
// budget set so high that nothing is refused) and the SQLite usage ledger
// on (usage.path in the temporary folder), called with that key; one with
// neither (no client_keys:, usage.enabled false), called with the shared
// api_token; and, to tell the two apart, a third with the client key and
// the ledger off. Reported: CPU per proxied request of each and the ratio
// against the 1.1× target, the p50 the key and ledger add, the records the
// ledger committed during the load (routerd's
// smartrouter_usage_records_written_total), and the Go benchmarks of the
// combined per-request work (key check + limit check + ledger enqueue,
// ≤ 2 µs) and of the ledger's sustained throughput (≥ 5,000 records/s),
// with the allocation guard of the per-request work.

// tenantsToken is the client key the keyed routerd is called with (its
// SHA-256 is what the config holds).
const tenantsToken = "routerbench-client-key-5f0c2a9e"

// tenantsResult is the tenants measurement.
type tenantsResult struct {
	Off, On    loadResult
	KeyOnly    loadResult    // the client key with the ledger off
	Ratios     []float64     // on / off CPU per request, round by round
	KeyRatios  []float64     // key only / off, round by round
	AddedP50   time.Duration // median over rounds of on's p50 minus off's
	AddedP99   time.Duration
	Rounds     int
	Written    float64 // records the ledger committed, read from /metrics after the load
	Spilled    float64 // records that went to the spill file instead
	LedgerSecs float64 // seconds of load the records came from
	Bench      goBenchResult
	Guard      string // "" when the allocation guard passed, else its failure
	GuardCmd   string
	Err        string
}

// Ratio is the on / off CPU per request over all rounds (0 when unmeasured).
func (r tenantsResult) Ratio() float64 {
	if r.On.CPUPerReq == 0 || r.Off.CPUPerReq == 0 {
		return 0
	}
	return float64(r.On.CPUPerReq) / float64(r.Off.CPUPerReq)
}

// KeyRatio is the key-only / off CPU per request (0 when unmeasured).
func (r tenantsResult) KeyRatio() float64 {
	if r.KeyOnly.CPUPerReq == 0 || r.Off.CPUPerReq == 0 {
		return 0
	}
	return float64(r.KeyOnly.CPUPerReq) / float64(r.Off.CPUPerReq)
}

// withTenants is the config text with a client_keys: entry for token
// (allowed model, generous limits and budgets) and the ledger on at
// dbPath (off when dbPath is "") appended; an existing client_keys: or
// usage: section is refused.
func withTenants(cfg []byte, token, model, dbPath string) ([]byte, error) {
	if err := noSection(cfg, "client_keys", "usage"); err != nil {
		return nil, err
	}
	sum := sha256.Sum256([]byte(token))
	m, _ := json.Marshal(model) // a JSON string is a YAML double-quoted scalar
	p, _ := json.Marshal(dbPath)
	usage := "\nusage:\n  enabled: true\n  path: " + string(p) + "\n"
	if dbPath == "" {
		usage = "\nusage:\n  enabled: false\n"
	}
	s := strings.TrimRight(string(cfg), "\n") + "\n\nclient_keys:\n" +
		"  - name: routerbench\n" +
		"    key: sha256:" + hex.EncodeToString(sum[:]) + "\n" +
		"    models: [" + string(m) + "]\n" +
		"    budget: {daily_usd: 1000000000, monthly_usd: 1000000000}\n" +
		"    limits: {requests_per_minute: 100000000, tokens_per_minute: 1000000000000, concurrent: 100000}\n" +
		usage
	return []byte(s), nil
}

// withoutTenants is the config text with the ledger off (and no client
// key: an existing client_keys: or usage: section is refused).
func withoutTenants(cfg []byte) ([]byte, error) {
	if err := noSection(cfg, "client_keys", "usage"); err != nil {
		return nil, err
	}
	return []byte(strings.TrimRight(string(cfg), "\n") + "\n\nusage:\n  enabled: false\n"), nil
}

func noSection(cfg []byte, names ...string) error {
	for _, line := range strings.Split(string(cfg), "\n") {
		for _, n := range names {
			if strings.HasPrefix(line, n+":") {
				return fmt.Errorf("the config already has a %s: section", n)
			}
		}
	}
	return nil
}

// tenantsInstall copies in's config folder to dir with edit applied to its
// router_config.yaml and compiles it to snap.
func (h *harness) tenantsInstall(ctx context.Context, in *install, dir, snap string, edit func([]byte) ([]byte, error)) (*install, error) {
	out := *in
	out.ConfigDir = dir
	if err := copyTree(in.ConfigDir, dir); err != nil {
		return nil, err
	}
	p := filepath.Join(dir, "router_config.yaml")
	b, err := os.ReadFile(p)
	if err == nil {
		b, err = edit(b)
	}
	if err == nil {
		err = os.WriteFile(p, b, 0o644)
	}
	if err != nil {
		return nil, err
	}
	if _, _, _, err := h.compile(ctx, out.ConfigDir, out.CacheDir, snap, out.Env); err != nil {
		return nil, err
	}
	return &out, nil
}

func (h *harness) tenantsUnderLoad(ctx context.Context, in *install, ct chatTarget) tenantsResult {
	var r tenantsResult
	r.Bench, r.Guard, r.GuardCmd = h.tenantsGoBench(ctx)
	dir := filepath.Join(h.tmp, "tenants")
	db := filepath.Join(dir, "usage.db")
	on, err := h.tenantsInstall(ctx, in, filepath.Join(dir, "on-config"), filepath.Join(dir, "on.snap"),
		func(b []byte) ([]byte, error) { return withTenants(b, tenantsToken, ct.Model, db) })
	if err != nil {
		r.Err = "the installation with a client key and the ledger: " + err.Error()
		return r
	}
	off, err := h.tenantsInstall(ctx, in, filepath.Join(dir, "off-config"), filepath.Join(dir, "off.snap"), withoutTenants)
	if err != nil {
		r.Err = "the installation without: " + err.Error()
		return r
	}
	keyIn, err := h.tenantsInstall(ctx, in, filepath.Join(dir, "key-config"), filepath.Join(dir, "key.snap"),
		func(b []byte) ([]byte, error) { return withTenants(b, tenantsToken, ct.Model, "") })
	if err != nil {
		r.Err = "the installation with a client key only: " + err.Error()
		return r
	}
	pOff, baseOff, t0, err := h.startRouterd(off, filepath.Join(dir, "off.snap"), "tenants-off")
	if err != nil {
		r.Err = err.Error()
		return r
	}
	defer h.stopChecked(pOff, "after the tenants loads")
	wctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	_, err = waitHealthy(wctx, pOff, baseOff, t0)
	cancel()
	if err != nil {
		r.Err = "routerd without keys and ledger: " + err.Error()
		return r
	}
	pOn, baseOn, t1, err := h.startRouterd(on, filepath.Join(dir, "on.snap"), "tenants-on")
	if err != nil {
		r.Err = err.Error()
		return r
	}
	defer h.stopChecked(pOn, "after the tenants loads")
	wctx, cancel = context.WithTimeout(ctx, 20*time.Second)
	_, err = waitHealthy(wctx, pOn, baseOn, t1)
	if err == nil {
		_, err = waitChat(wctx, pOn, baseOn, tenantsToken, chatBody(ct.Model, false), t1)
	}
	cancel()
	if err != nil {
		r.Err = "routerd with a client key and the ledger: " + err.Error()
		return r
	}
	pKey, baseKey, t2, err := h.startRouterd(keyIn, filepath.Join(dir, "key.snap"), "tenants-key")
	if err != nil {
		r.Err = err.Error()
		return r
	}
	defer h.stopChecked(pKey, "after the tenants loads")
	wctx, cancel = context.WithTimeout(ctx, 20*time.Second)
	_, err = waitChat(wctx, pKey, baseKey, tenantsToken, chatBody(ct.Model, false), t2)
	cancel()
	if err != nil {
		r.Err = "routerd with a client key only: " + err.Error()
		return r
	}
	if _, err := os.Stat(db); err != nil {
		r.Err = "routerd with the ledger on did not create " + db + ": " + err.Error()
		return r
	}

	offT := chatTargetFor(baseOff+"/v1/chat/completions", in.Tokens.API, chatBody(ct.Model, false))
	onT := chatTargetFor(baseOn+"/v1/chat/completions", tenantsToken, chatBody(ct.Model, false))
	attack(ctx, "routerd", offT, h.opt.rate, h.opt.warmup, false, 0, nil)
	keyT := chatTargetFor(baseKey+"/v1/chat/completions", tenantsToken, chatBody(ct.Model, false))
	attack(ctx, "routerd-keyed", onT, h.opt.rate, h.opt.warmup, false, 0, nil)
	attack(ctx, "routerd-key-only", keyT, h.opt.rate, h.opt.warmup, false, 0, nil)
	w0, _, _ := ledgerCounters(ctx, baseOn, in.Tokens.Admin)
	var offRounds, onRounds, keyRounds []loadResult
	per := h.opt.loadDur / time.Duration(h.opt.rounds)
	for i := 0; i < h.opt.rounds && ctx.Err() == nil; i++ {
		offRounds = append(offRounds, attack(ctx, "routerd", offT, h.opt.rate, per, false, pOff.Pid(), nil))
		onRounds = append(onRounds, attack(ctx, "routerd-keyed", onT, h.opt.rate, per, false, pOn.Pid(), nil))
		keyRounds = append(keyRounds, attack(ctx, "routerd-key-only", keyT, h.opt.rate, per, false, pKey.Pid(), nil))
	}
	// The writer commits in batches: give it a moment to drain the queue.
	time.Sleep(300 * time.Millisecond)
	w1, spilled, err := ledgerCounters(ctx, baseOn, in.Tokens.Admin)
	if err != nil {
		r.Err = "read the ledger counters: " + err.Error()
	}
	r.Written, r.Spilled = w1-w0, spilled
	r.LedgerSecs = (per * time.Duration(len(onRounds))).Seconds()
	r.Off, r.On, r.Rounds = merge(offRounds), merge(onRounds), len(onRounds)
	r.Ratios = cpuRatios(onRounds, offRounds)
	r.KeyOnly, r.KeyRatios = merge(keyRounds), cpuRatios(keyRounds, offRounds)
	added := pairedAdded(offRounds, onRounds)
	r.AddedP50, r.AddedP99 = added.P50, added.P99
	h.log.Info("tenants", "off_cpu_per_req", r.Off.CPUPerReq, "on_cpu_per_req", r.On.CPUPerReq, "ratio", r.Ratio(), "key_only_cpu_per_req", r.KeyOnly.CPUPerReq,
		"added_p50", r.AddedP50, "ledger_written", r.Written, "ledger_spilled", r.Spilled, "err", r.Err)
	return r
}

// tenantsGoBench runs the Go benchmarks of the per-request work and of the
// ledger's throughput, and the allocation guard of the per-request work.
func (h *harness) tenantsGoBench(ctx context.Context) (goBenchResult, string, string) {
	bt := "1s"
	if h.opt.quick {
		bt = "300ms"
	}
	lines, cmd, err := goBench(ctx, h.opt.root, "./runtime/usage", "^Benchmark(KeyLimitsAndEnqueue|LedgerThroughput)$", bt, h.opt.benchCnt)
	res := goBenchResult{Cmd: cmd, Lines: lines}
	if err != nil {
		res.Err = err.Error()
	}
	h.res.Commands = append(h.res.Commands, cmd)
	args := []string{"test", "-count=1", "-run", "^TestKeyLimitsAndEnqueueDoesNotAllocate$", "./runtime/usage"}
	gcmd := "go " + strings.Join(quoteArgs(args), " ")
	c := exec.CommandContext(ctx, "go", args...)
	c.Dir = h.opt.root
	out, gerr := c.CombinedOutput()
	guard := ""
	if gerr != nil {
		guard = fmt.Sprintf("%v: %s", gerr, tail(string(out), 400))
	}
	return res, guard, gcmd
}

// ledgerCounters reads the written and spilled record counters of
// routerd's /metrics.
func ledgerCounters(ctx context.Context, base, adminToken string) (written, spilled float64, err error) {
	c := newClient(5 * time.Second)
	defer c.CloseIdleConnections()
	code, body, err := get(ctx, c, base+"/metrics", adminToken)
	if err != nil {
		return 0, 0, err
	}
	if code != 200 {
		return 0, 0, fmt.Errorf("/metrics: status %d", code)
	}
	found := false
	sc := bufio.NewScanner(bytes.NewReader(body))
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		name, val, ok := strings.Cut(line, " ")
		if !ok || strings.HasPrefix(line, "#") {
			continue
		}
		v, perr := strconv.ParseFloat(strings.TrimSpace(val), 64)
		if perr != nil {
			continue
		}
		switch {
		case name == "smartrouter_usage_records_written_total":
			written, found = v, true
		case strings.HasPrefix(name, "smartrouter_usage_records_spilled_total{"):
			spilled += v
		}
	}
	if !found {
		return 0, 0, fmt.Errorf("/metrics has no smartrouter_usage_records_written_total: is the ledger on?")
	}
	return written, spilled, nil
}

// tenantsRows are the summary rows of the phase.
func tenantsRows(res *results) []row {
	r := res.Tenants
	x := func(f float64) string { return fmt.Sprintf("%.2f×", f) }
	cpu := row{What: fmt.Sprintf("router CPU per proxied request with a client key, its limits and the usage ledger on, over all of them off (routerd processes side by side in the same run, rounds alternating, %d req/s)", firstRate(res)),
		Target: "≤ 1.1×"}
	if ratio := r.Ratio(); ratio == 0 {
		cpu.Measured, cpu.Verdict = notMeasured, notMeasured
		if r.Err != "" {
			cpu.Measured += ": " + short(r.Err)
		}
	} else {
		cpu.Measured = fmt.Sprintf("%s (%s vs %s per request", x(ratio), fmtDur(r.On.CPUPerReq), fmtDur(r.Off.CPUPerReq))
		if len(r.Ratios) > 1 {
			cpu.Measured += fmt.Sprintf("; per round %s–%s over %d rounds", x(minF(r.Ratios)), x(maxF(r.Ratios)), len(r.Ratios))
		}
		cpu.Measured += fmt.Sprintf("); p50 added %s, p99 added %s; %d + %d errors", fmtMs(r.AddedP50), fmtMs(r.AddedP99), r.On.Errors, r.Off.Errors)
		if kr := r.KeyRatio(); kr > 0 {
			cpu.Measured += fmt.Sprintf("; the client key and limits alone, ledger off: %s (%d errors)", x(kr), r.KeyOnly.Errors)
		}
		cpu.Verdict = verdictAtMost(ratio, 1.1, x)
		if n := r.On.Errors + r.Off.Errors + r.KeyOnly.Errors; n > 0 {
			cpu.Verdict = fmt.Sprintf("**missed**: %d errors", n)
		}
	}
	rows := []row{cpu}

	per := row{What: "key check + limit check + ledger enqueue per request (`BenchmarkKeyLimitsAndEnqueue`, runtime/usage; 0 allocations guarded by `TestKeyLimitsAndEnqueueDoesNotAllocate`)", Target: "≤ 2 µs, 0 allocs"}
	thr := row{What: "usage ledger throughput: records committed per second (`BenchmarkLedgerThroughput`: SQLite in WAL mode, batched transactions)", Target: "≥ 5,000 records/s"}
	ns, okNs := metric(r.Bench.Lines, "KeyLimitsAndEnqueue", "ns/op")
	rps, okRps := metric(r.Bench.Lines, "LedgerThroughput", "records/s")
	switch {
	case r.Bench.Err != "":
		per.Measured, per.Verdict = notMeasured+": "+short(r.Bench.Err), notMeasured
		thr.Measured, thr.Verdict = per.Measured, notMeasured
	case !okNs && !okRps:
		per.Measured, per.Verdict, thr.Measured, thr.Verdict = notMeasured, notMeasured, notMeasured, notMeasured
	default:
		if okNs {
			al, _ := metric(r.Bench.Lines, "KeyLimitsAndEnqueue", "allocs/op")
			guard := "the guard passed: 0 allocations on the request path"
			if r.Guard != "" {
				guard = "the guard failed: " + short(r.Guard)
			}
			per.Measured = fmt.Sprintf("%s median (best %s) over %d runs; %s allocs/op in the benchmark, the ledger writer's batch commits included; %s",
				fmtDur(time.Duration(ns.Median)), fmtDur(time.Duration(ns.Best)), ns.Runs, sig3(al.Median), guard)
			per.Verdict = verdictAtMost(ns.Median, 2000, func(f float64) string { return fmtDur(time.Duration(f)) })
			if r.Guard != "" {
				per.Verdict = "**missed**: allocates on the request path"
			}
		} else {
			per.Measured, per.Verdict = notMeasured, notMeasured
		}
		if okRps {
			thr.Measured = fmt.Sprintf("%s records/s median over %d runs", sig3(rps.Median), rps.Runs)
			if r.LedgerSecs > 0 {
				thr.Measured += fmt.Sprintf("; under the load above it committed %.0f records (%.0f/s, every request of the keyed routerd's rounds), %.0f spilled", r.Written, r.Written/r.LedgerSecs, r.Spilled)
			}
			thr.Verdict = "met"
			if rps.Median < 5000 {
				thr.Verdict = fmt.Sprintf("**missed**: %s records/s", sig3(rps.Median))
			}
		} else {
			thr.Measured, thr.Verdict = notMeasured, notMeasured
		}
	}
	return append(rows, per, thr)
}

func minF(v []float64) float64 {
	m := v[0]
	for _, f := range v[1:] {
		m = min(m, f)
	}
	return m
}

func maxF(v []float64) float64 {
	m := v[0]
	for _, f := range v[1:] {
		m = max(m, f)
	}
	return m
}

func renderTenants(b *strings.Builder, res *results) {
	r := res.Tenants
	fmt.Fprintf(b, "### Client keys, limits and the usage ledger on and off\n\n")
	fmt.Fprintf(b, "Three routerd of the scale installation in the same run, each loaded with the plain chat request at %d req/s in alternating rounds (%d of each): one whose snapshot has a `client_keys:` entry (a `sha256:` hash; the chat model allowed; requests per minute, tokens per minute, concurrency and daily and monthly budgets set so high that nothing is refused) and the SQLite usage ledger on (`usage.path` in the temporary folder), called with that key; one with neither (`usage: {enabled: false}`), called with the shared `auth.api_token`; and a third with the same client key and the ledger off, to tell the key's share from the ledger's. All check a token's SHA-256; the keyed one also checks the model allowance, admits, charges and releases against the limits, and hands one record per request to the ledger, whose writer commits them off the request path. Records committed are read from routerd's `smartrouter_usage_records_written_total` before and after the rounds.\n\n", firstRate(res), r.Rounds)
	if r.On.Requests == 0 {
		fmt.Fprintf(b, "Load not measured: %s\n\n", orDash(r.Err))
	} else {
		fmt.Fprintf(b, "| routerd | requests | errors | p50 (ms) | p99 (ms) | CPU per request |\n|---|---|---|---|---|---|\n")
		for _, x := range []struct {
			name string
			l    loadResult
		}{{"no client key, ledger off", r.Off}, {"client key + limits, ledger off", r.KeyOnly}, {"client key + limits + ledger", r.On}} {
			fmt.Fprintf(b, "| %s | %d | %d | %s | %s | %s |\n", x.name, x.l.Requests, x.l.Errors, fmtMs(x.l.Lat.P50), fmtMs(x.l.Lat.P99), fmtDur(x.l.CPUPerReq))
		}
		ratios := make([]string, len(r.Ratios))
		for i, v := range r.Ratios {
			ratios[i] = fmt.Sprintf("%.2f", v)
		}
		kr := make([]string, len(r.KeyRatios))
		for i, v := range r.KeyRatios {
			kr[i] = fmt.Sprintf("%.2f", v)
		}
		fmt.Fprintf(b, "\nCPU per request on over off: %.2f× over all rounds; round by round: %s. The client key and limits alone (ledger off) over off: %.2f×; round by round: %s. p50 added by key, limits and ledger (median over rounds): %s; p99: %s. Ledger: %.0f records committed during the keyed rounds, %.0f spilled.\n\n",
			r.Ratio(), orDash(strings.Join(ratios, ", ")), r.KeyRatio(), orDash(strings.Join(kr, ", ")), fmtMs(r.AddedP50), fmtMs(r.AddedP99), r.Written, r.Spilled)
	}
	if r.Bench.Cmd != "" {
		fmt.Fprintf(b, "`%s`:\n\n", r.Bench.Cmd)
		if r.Bench.Err != "" {
			fmt.Fprintf(b, "failed: %s\n\n", short(r.Bench.Err))
		} else {
			fmt.Fprintf(b, "| benchmark | ns/op median (best) | allocs/op | records/s |\n|---|---:|---:|---:|\n")
			for _, n := range benchNames(r.Bench.Lines) {
				ns, _ := metric(r.Bench.Lines, n, "ns/op")
				al, _ := metric(r.Bench.Lines, n, "allocs/op")
				rps, ok := metric(r.Bench.Lines, n, "records/s")
				rs := "—"
				if ok {
					rs = sig3(rps.Median)
				}
				fmt.Fprintf(b, "| %s | %s (%s) | %s | %s |\n", n, fmtDur(time.Duration(ns.Median)), fmtDur(time.Duration(ns.Best)), sig3(al.Median), rs)
			}
			fmt.Fprintf(b, "\nThe allocations of `KeyLimitsAndEnqueue` are the ledger writer goroutine's (its SQLite batch commits run beside the loop and testing counts every goroutine); `%s` holds the writer and checks that the request path itself allocates nothing: %s.\n\n", r.GuardCmd, map[bool]string{true: "passed", false: "failed"}[r.Guard == ""])
		}
	}
}
