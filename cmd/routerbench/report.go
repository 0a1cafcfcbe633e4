package main

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"
)

// The markers delimit the part of the output file this program owns.
const (
	beginMarker = "<!-- routerbench:begin -->"
	endMarker   = "<!-- routerbench:end -->"
)

// rewriteMarked replaces the text between the markers of doc by section.
// Without markers, the marked section is inserted after the first level-1
// heading (a "# Benchmarks" heading is added when the file has none), so
// every other section of the file is kept as it is.
func rewriteMarked(doc, section string) (string, error) {
	block := beginMarker + "\n" + strings.Trim(section, "\n") + "\n" + endMarker
	nb, ne := strings.Count(doc, beginMarker), strings.Count(doc, endMarker)
	switch {
	case nb == 1 && ne == 1:
		b, e := strings.Index(doc, beginMarker), strings.Index(doc, endMarker)
		if e < b {
			return "", errors.New("the routerbench end marker comes before the begin marker; fix the markers by hand")
		}
		return doc[:b] + block + doc[e+len(endMarker):], nil
	case nb != 0 || ne != 0:
		return "", fmt.Errorf("found %d begin and %d end routerbench markers, want one of each (or none); fix the markers by hand", nb, ne)
	}
	if strings.TrimSpace(doc) == "" {
		return "# Benchmarks\n\n" + block + "\n", nil
	}
	lines := strings.SplitAfter(doc, "\n")
	for i, l := range lines {
		if strings.HasPrefix(l, "# ") {
			head := strings.Join(lines[:i+1], "")
			if !strings.HasSuffix(head, "\n") {
				head += "\n"
			}
			rest := strings.TrimLeft(strings.Join(lines[i+1:], ""), "\n")
			out := head + "\n" + block + "\n"
			if rest != "" {
				out += "\n" + rest
			}
			return out, nil
		}
	}
	return "# Benchmarks\n\n" + block + "\n\n" + strings.TrimLeft(doc, "\n"), nil
}

// row is one line of the summary table.
type row struct {
	What, Target, Measured, Python, Verdict string
}

// mb formats KiB as decimal megabytes.
func mb(kib int64) string { return sig3(float64(kib)*1024/1e6) + " MB" }

func findStart(res *results, label string) *startResult {
	for i := range res.Starts {
		if res.Starts[i].Label == label {
			return &res.Starts[i]
		}
	}
	return nil
}

func findOpen(res *results, fixture string) *openResult {
	for i := range res.Open {
		if res.Open[i].Fixture == fixture {
			return &res.Open[i]
		}
	}
	return nil
}

func findOverhead(res *results, stream bool) *overheadPair {
	for i := range res.Overhead {
		if res.Overhead[i].Stream == stream {
			return &res.Overhead[i]
		}
	}
	return nil
}

func findRate(res *results, target string) *rateResult {
	for i := range res.Rates {
		if res.Rates[i].Target == target {
			return &res.Rates[i]
		}
	}
	return nil
}

// short cuts an error message to its first line and 400 bytes.
func short(s string) string {
	s, _, _ = strings.Cut(s, "\n")
	if len(s) > 400 {
		s = s[:400] + "…"
	}
	return s
}

// notMeasured is the verdict of a row whose figure is missing.
const notMeasured = "not measured"

// spread prints "median (min–max)".
func spread(d dist) string {
	return fmt.Sprintf("%s (%s–%s)", fmtDur(d.Median), fmtDur(d.Min), fmtDur(d.Max))
}

// summaryRows compares every measured figure with its target.
func summaryRows(res *results) []row {
	var rows []row
	add := func(r row) { rows = append(rows, r) }
	startRow := func(label, what, target, python string, limit time.Duration, chat bool) {
		s := findStart(res, label)
		r := row{What: what, Target: target, Python: python}
		switch {
		case s == nil:
			r.Measured, r.Verdict = notMeasured, notMeasured
		case len(s.Runs) == 0:
			r.Measured, r.Verdict = notMeasured+": "+short(s.Err), notMeasured
		default:
			d := s.Health
			if chat {
				d = s.Chat
			}
			r.Measured = spread(d) + fmt.Sprintf(", %d runs", d.N)
			r.Verdict = verdictAtMost(float64(d.Median), float64(limit), durFormat)
			if s.Err != "" {
				r.Measured += "; stopped early: " + short(s.Err)
			}
		}
		add(r)
	}
	startRow("scale", "exec → `/health` answers 200", "≤ 20 ms", "10–15 s to start; its async rework aimed at 2–3 s", 20*time.Millisecond, false)
	startRow("scale", "exec → first chat completion answered (mock upstream, no delay)", "≤ 30 ms", "8–12 s to the first answer; aimed at 0.3–0.8 s", 30*time.Millisecond, true)
	startRow("growth", "exec → `/health` 200, **growth fixture** (start must not grow with the JSON size)", "≤ 20 ms", "parsed the JSON caches at every start (3–6 s for 50 MB)", 20*time.Millisecond, false)
	startRow("growth", "exec → first chat completion, **growth fixture**", "≤ 30 ms", "", 30*time.Millisecond, true)

	if o := findOpen(res, "scale"); o != nil && o.Err == "" && o.Load.N > 0 {
		add(row{"open + fully validate the scale snapshot (warm page cache: mmap, checksums, every reference and bitmap, staleness check of the sources)", "≤ 10 ms",
			spread(o.Load) + fmt.Sprintf("; `format.Open` alone %s", fmtDur(o.Open.Median)),
			"5–10 s parsing YAML (2–4 s) and the JSON caches (3–6 s); aimed at < 0.5 s for the config and < 1 s for the caches",
			verdictAtMost(float64(o.Load.Median), float64(10*time.Millisecond), durFormat)})
		add(row{"tag index ready", "at open; nothing built at run time",
			"the postings are part of the file and are validated within the open above", "2–5 s building it at start; aimed at building it in the background", "met"})
	} else {
		msg := notMeasured
		if o != nil && o.Err != "" {
			msg += ": " + short(o.Err)
		}
		add(row{"open + fully validate the scale snapshot (warm page cache)", "≤ 10 ms", msg, "5–10 s", notMeasured})
	}

	rr := row{What: "route decision (3-tag query, filters, scores, sort), 100,000 pairs", Target: "p50 ≤ 5 µs, p99 ≤ 20 µs, ≤ 2 allocs", Python: ""}
	p50, ok1 := metric(res.RouteBench.Lines, "Route/tags3", "p50-ns")
	p99, ok2 := metric(res.RouteBench.Lines, "Route/tags3", "p99-ns")
	al, ok3 := metric(res.RouteBench.Lines, "Route/tags3", "allocs/op")
	if ok1 && ok2 && ok3 {
		rr.Measured = fmt.Sprintf("p50 %s, p99 %s, %.0f allocs (medians of %d runs)", fmtDur(time.Duration(p50.Median)), fmtDur(time.Duration(p99.Median)), al.Median, p50.Runs)
		var miss []string
		if v := verdictAtMost(p50.Median, 5000, durFormat); v != "met" {
			miss = append(miss, "p50 "+v)
		}
		if v := verdictAtMost(p99.Median, 20000, durFormat); v != "met" {
			miss = append(miss, "p99 "+v)
		}
		if v := verdictAtMost(al.Median, 2, func(f float64) string { return fmt.Sprintf("%.0f allocs", f) }); v != "met" {
			miss = append(miss, "allocs "+v)
		}
		rr.Verdict = "met"
		if len(miss) > 0 {
			rr.Verdict = strings.Join(miss, "; ")
		}
	} else {
		rr.Measured, rr.Verdict = notMeasured, notMeasured
		if res.RouteBench.Err != "" {
			rr.Measured += ": " + short(res.RouteBench.Err)
		}
	}
	add(rr)

	for _, stream := range []bool{false, true} {
		kind := "plain"
		if stream {
			kind = "streamed"
		}
		p := findOverhead(res, stream)
		r := row{What: fmt.Sprintf("router overhead under load, %s answers (through routerd vs straight to the mock, %d req/s)", kind, firstRate(res)),
			Target: "p50 ≤ 0.3 ms, p99 ≤ 1 ms added; 0 errors", Python: "aimed at < 100 ms per request"}
		if p == nil || p.Mock.Requests == 0 || p.Routerd.Requests == 0 {
			r.Measured, r.Verdict = notMeasured, notMeasured
			if res.OverheadErr != "" {
				r.Measured += ": " + short(res.OverheadErr)
			}
			add(r)
			continue
		}
		a50, a99 := p.Added.P50, p.Added.P99
		errs := p.Mock.Errors + p.Routerd.Errors
		r.Measured = fmt.Sprintf("p50 +%s ms, p99 +%s ms (medians of %d paired rounds; over all requests +%s and +%s ms), %d errors",
			fmtMs(a50), fmtMs(a99), p.Rounds, fmtMs(p.Routerd.Lat.P50-p.Mock.Lat.P50), fmtMs(p.Routerd.Lat.P99-p.Mock.Lat.P99), errs)
		var miss []string
		if v := verdictAtMost(float64(a50), float64(300*time.Microsecond), durFormat); v != "met" {
			miss = append(miss, "p50 "+v)
		}
		if v := verdictAtMost(float64(a99), float64(time.Millisecond), durFormat); v != "met" {
			miss = append(miss, "p99 "+v)
		}
		if errs > 0 {
			miss = append(miss, fmt.Sprintf("**missed**: %d errors", errs))
		}
		r.Verdict = "met"
		if len(miss) > 0 {
			r.Verdict = strings.Join(miss, "; ")
		}
		if p.Nginx.Requests > 0 {
			r.Measured += fmt.Sprintf("; **nginx** in the same rounds: p50 +%s ms, p99 +%s ms, %d errors", fmtMs(p.NginxAdded.P50), fmtMs(p.NginxAdded.P99), p.Nginx.Errors)
			r.Verdict += "; " + vsNginx(a50, p.NginxAdded.P50, "added p50") + ", " + vsNginx(a99, p.NginxAdded.P99, "added p99")
		}
		add(r)
		cpu := row{What: fmt.Sprintf("router CPU per proxied request, %s (process CPU time ÷ requests at %d req/s)", kind, firstRate(res)), Target: "≤ 0.2 ms",
			Python: "other gateways measured here 0.8–3 ms"}
		cpu.Measured = fmtDur(p.Routerd.CPUPerReq) + fmt.Sprintf(" (%s over %d requests; the mock itself: %s)", fmtDur(p.Routerd.CPU), p.Routerd.Requests, fmtDur(p.Mock.CPUPerReq))
		if sw := p.Routerd.switchesPerReq(); sw != "" {
			cpu.Measured += ", " + sw + " context switches per request"
		}
		cpu.Verdict = verdictAtMost(float64(p.Routerd.CPUPerReq), float64(200*time.Microsecond), durFormat)
		if p.Nginx.Requests > 0 {
			cpu.Measured += fmt.Sprintf("; **nginx** (master and workers): %s", fmtDur(p.Nginx.CPUPerReq))
			if sw := p.Nginx.switchesPerReq(); sw != "" {
				cpu.Measured += ", " + sw + " context switches per request"
			}
			cpu.Verdict += "; " + vsNginx(p.Routerd.CPUPerReq, p.Nginx.CPUPerReq, "CPU")
		}
		add(cpu)
		add(messagesRow(p, kind, firstRate(res)))
	}

	rate := row{What: "highest fixed rate held with p99 < 50 ms and 0 errors (load generator, mock and proxy on the same cores, plain answers)", Target: "≥ 0.9× nginx in front of the same mock, same run",
		Python: ""}
	rt, ng, mk := findRate(res, "routerd"), findRate(res, "nginx"), findRate(res, "mock")
	ceiling := ""
	if mk != nil {
		ceiling = fmt.Sprintf("; straight to the mock %d req/s (the ceiling of generator and mock)", mk.Held)
	}
	switch {
	case rt == nil:
		rate.Measured, rate.Verdict = notMeasured+" (runs without -quick)", notMeasured
		if res.Nginx != "" {
			rate.Measured += "; " + res.Nginx
		}
	case ng == nil:
		rate.Measured = fmt.Sprintf("routerd %d req/s; %s", rt.Held, res.Nginx) + ceiling
		rate.Verdict = "no comparison (" + res.Nginx + ")"
	default:
		rate.Measured = fmt.Sprintf("routerd %d req/s, **nginx** %d req/s", rt.Held, ng.Held) + ceiling
		switch {
		case ng.Held == 0:
			rate.Verdict = "no comparison (nginx held no step)"
		case float64(rt.Held) >= 0.9*float64(ng.Held):
			rate.Verdict = fmt.Sprintf("met (%.2f× nginx)", float64(rt.Held)/float64(ng.Held))
		default:
			rate.Verdict = fmt.Sprintf("**missed**: %.2f× nginx, %.0f req/s short", float64(rt.Held)/float64(ng.Held), 0.9*float64(ng.Held)-float64(rt.Held))
		}
	}
	add(rate)

	c := res.Compile
	cr := row{What: "compile the scale fixture (about 50 MB of JSON caches) with routerc", Target: "≤ 1.5 s", Python: "no compile step: it parsed everything at every start"}
	if c.Wall.N == 0 {
		cr.Measured, cr.Verdict = notMeasured, notMeasured
		if c.Err != "" {
			cr.Measured += ": " + short(c.Err)
		}
	} else {
		cr.Measured = spread(c.Wall) + fmt.Sprintf(", peak RSS %s", mb(medianInt64(c.MaxRSSKB)))
		cr.Verdict = verdictAtMost(float64(c.Wall.Median), float64(1500*time.Millisecond), durFormat)
	}
	add(cr)

	startRow("scale, stale snapshot", "stale snapshot → serving from the JSON caches (json-fallback): exec → `/health` 200", "≤ 1 s for 50 MB", "3–6 s loading the JSON; aimed at < 1 s", time.Second, false)
	startRow("scale, stale snapshot", "stale snapshot → first chat completion answered (json-fallback)", "≤ 1 s", "", time.Second, true)
	fb := res.Fallback
	fr := row{What: "stale snapshot → fallback build ready, in process (`snapshot.Load` finds the file stale and builds from the YAML and the JSON caches with `compiler.BuildBytes`, then validates; the work a routerd start does before it listens)",
		Target: "≤ 1 s for 50 MB", Python: "3–6 s loading the JSON; aimed at < 1 s"}
	switch {
	case fb.Load.N > 0:
		fr.Measured = spread(fb.Load) + fmt.Sprintf(", %d runs", fb.Load.N)
		fr.Verdict = verdictAtMost(float64(fb.Load.Median), float64(time.Second), durFormat)
	case fb.Err != "":
		fr.Measured, fr.Verdict = notMeasured+": "+short(fb.Err), notMeasured
	default:
		fr.Measured, fr.Verdict = notMeasured, notMeasured
	}
	add(fr)

	sw := res.Swap
	sr := row{What: "SIGHUP every 100 ms while serving " + fmt.Sprint(firstRate(res)) + " req/s", Target: "0 failed requests", Python: ""}
	if sw.Load.Requests == 0 {
		sr.Measured, sr.Verdict = notMeasured, notMeasured
		if sw.Err != "" {
			sr.Measured += ": " + short(sw.Err)
		}
	} else {
		sr.Measured = fmt.Sprintf("%d failed of %d; %d signals, %d swaps", sw.Load.Errors, sw.Load.Requests, sw.Signals, sw.Swaps)
		switch {
		case sw.Load.Errors > 0:
			sr.Verdict = fmt.Sprintf("**missed**: %d failed requests", sw.Load.Errors)
		case sw.Swaps <= 0:
			sr.Verdict = "**missed**: no swap observed"
		default:
			sr.Verdict = "met"
		}
		if sw.Err != "" {
			sr.Measured += "; " + short(sw.Err)
		}
	}
	add(sr)

	mr := row{What: "resident memory, idle, scale fixture (VmRSS after the first answer and a pause)", Target: "≤ 40 MB", Python: "50–100 MB; its plan allowed up to 500 MB"}
	if s := findStart(res, "scale"); s != nil && len(s.Runs) > 0 {
		idle, _ := hwmStats(s.Runs, func(r startRun) int64 { return r.IdleRSS })
		_, peak := hwmStats(s.Runs, func(r startRun) int64 { return r.ChatHWM })
		mr.Measured = fmt.Sprintf("%s (peak VmHWM %s)", mb(idle), mb(peak))
		mr.Verdict = verdictAtMost(float64(idle)*1024/1e6, 40, func(f float64) string { return sig3(f) + " MB" })
	} else {
		mr.Measured, mr.Verdict = notMeasured, notMeasured
	}
	add(mr)
	rows = append(rows, refreshRows(res)...)  // refresh.go
	rows = append(rows, inflightRows(res)...) // inflight_report.go
	rows = append(rows, tenantsRows(res)...)  // tenants.go
	return rows
}

// messagesRow compares routerd's CPU per POST /v1/messages request with
// its CPU per chat completion in the same run (rounds alternate).
func messagesRow(p *overheadPair, kind string, rate int) row {
	r := row{What: fmt.Sprintf("router CPU per proxied `/v1/messages` request over chat completions', %s (same request translated, rounds alternating with chat's, %d req/s)", kind, rate),
		Target: "≤ 1.2×", Python: ""}
	m, c := p.Messages, p.Routerd
	if m.Requests == 0 || m.CPUPerReq == 0 || c.CPUPerReq == 0 {
		r.Measured, r.Verdict = notMeasured, notMeasured
		if m.Err != "" {
			r.Measured += ": " + short(m.Err)
		}
		return r
	}
	ratio := float64(m.CPUPerReq) / float64(c.CPUPerReq)
	x := func(f float64) string { return fmt.Sprintf("%.2f×", f) }
	r.Measured = fmt.Sprintf("%s (%s vs %s per request", x(ratio), fmtDur(m.CPUPerReq), fmtDur(c.CPUPerReq))
	if len(p.MsgRatios) > 1 {
		lo, hi := slices.Min(p.MsgRatios), slices.Max(p.MsgRatios)
		r.Measured += fmt.Sprintf("; per round %s–%s over %d rounds", x(lo), x(hi), len(p.MsgRatios))
	}
	r.Measured += fmt.Sprintf("), %d errors", m.Errors)
	r.Verdict = verdictAtMost(ratio, 1.2, x)
	if m.Errors > 0 {
		r.Verdict = fmt.Sprintf("**missed**: %d errors", m.Errors)
	}
	return r
}

// firstRate is the rate of the overhead loads.
func firstRate(res *results) int {
	for _, p := range res.Overhead {
		if p.Routerd.Rate > 0 {
			return p.Routerd.Rate
		}
	}
	return 1000
}

// evaluate fills the lists of missed and unmeasured targets.
func evaluate(res *results) {
	res.Missed = nil
	for _, r := range summaryRows(res) {
		if strings.Contains(r.Verdict, "missed") {
			res.Missed = append(res.Missed, fmt.Sprintf("%s: %s (target %s, measured %s)", r.What, r.Verdict, r.Target, r.Measured))
		}
	}
}

// cell escapes a table cell.
func cell(s string) string {
	if s == "" {
		return "—"
	}
	return strings.ReplaceAll(s, "|", `\|`)
}

// renderReport writes the generated section of docs/benchmarks.md.
func renderReport(res *results) string {
	var b strings.Builder
	p := func(format string, a ...any) { fmt.Fprintf(&b, format, a...) }
	m := res.Machine
	p("## Summary (`make bench`)\n\n")
	p("Written by `go run ./cmd/routerbench` (`make bench`); the text between the routerbench markers is replaced on every run, the sections below them are kept.\n\n")
	if res.Quick {
		p("**Smoke run (`-quick`)**: %d starts per case, %s loads, no rate search. Run `make bench` for the real figures.\n\n", firstStarts(res), fmtDur(firstDur(res)))
	}
	p("Machine: %s, %d cores, %s, %s (1-minute load average %s at the start, %s at the end: the machine is shared, so single figures vary). Measured %s, the whole run took %s.\n\n",
		m.CPU, m.Cores, m.OS, m.GoVersion, orDash(m.LoadStart), orDash(m.LoadEnd), res.Started.UTC().Format("2006-01-02 15:04 MST"), res.Elapsed.Round(time.Second))
	p("| what | target | measured | the Python router | verdict |\n|---|---|---|---|---|\n")
	for _, r := range summaryRows(res) {
		p("| %s | %s | %s | %s | %s |\n", cell(r.What), cell(r.Target), cell(r.Measured), cell(r.Python), cell(r.Verdict))
	}
	p("\n")
	if len(res.Missed) > 0 {
		p("Targets missed in this run:\n\n")
		for _, s := range res.Missed {
			p("- %s\n", s)
		}
		p("\n")
	} else {
		p("Every measured target was met in this run.\n\n")
	}

	p("### How it is measured\n\n")
	p("- **Inputs.** The scale fixture (38 channels, about 4,500 pairs, a discovery cache of about 50 MB) and the growth fixture (about 100,000 pairs) of `fixtures/gen`, generated when missing. ")
	p("Their channels name real provider URLs, so the harness copies each `config/` folder and rewrites, in the YAML tree, every provider's and channel's `base_url` to the mock upstream (`mockllm`, no delay, no recording); nothing else changes, so the compiled snapshot has the fixture's channels, pairs and caches. Every `${VAR}` the config names (keys and tokens) is set to a dummy value.\n")
	if res.Chat.Model != "" {
		p("- **Chat requests** ask for `%s`, the chat model of `/v1/models` served by the most channels (%d), so every decision filters, scores and sorts several pairs; routerd sent it upstream as `%s` on channel `%s` in one attempt. The body is one user message with `max_tokens` 16; an answer counts only if it is a 200 with `choices` (plain) or with exactly one `data: [DONE]` (streamed).\n", res.Chat.Model, res.Chat.Channels, res.Chat.Upstream, res.Chat.Channel)
	}
	p("- **Cold start.** The clock starts just before the exec; the harness polls `GET /health` (or `POST /v1/chat/completions`) back to back over loopback until the first 200, in separate runs for the two figures, after one untimed warm-up start. Peak RSS is `VmHWM` of `/proc/PID/status` read just before the process is stopped; idle RSS is `VmRSS` after the first answer and a %s pause.\n", fmtDur(idlePause(res)))
	p("- **Fallback start.** The same, with the scale snapshot served from a copy of the config whose `router_config.yaml` has one comment line appended, so its size and content differ from what the snapshot recorded: routerd finds the snapshot stale and builds one in memory from the YAML and the 50 MB of JSON (mode `json-fallback`, checked on `/v1/admin/snapshot`). The stale file is copied anew before each run, so every run starts from the same state. The same work is also timed in the harness: `snapshot.Load` with `compiler.BuildBytes` as its fallback, on the same stale file and config.\n")
	p("- **Open + validate** runs in the harness on the compiled files: `format.Open` on the bytes in memory, and `snapshot.Load` + `Close` (mmap, full validation, staleness check of the sources), medians of %d runs after one warm-up.\n", openRuns(res))
	p("- **Load.** vegeta (as a library) at a constant rate, keep-alive connections; the same body straight to the mock, through routerd and (when installed) through nginx in front of the same mock, in the same run, in alternating rounds (%d of each) after a short warm-up of each, so that background load on the shared machine hits every path alike. nginx is a keep-alive reverse proxy started by the harness (its configuration, written to the temporary folder, is `nginxConf` in cmd/routerbench/load.go); its CPU is its master's and workers'. Latency percentiles are exact (nearest rank). The latency routerd adds is the median over the rounds of routerd's percentile minus the mock's in the round just before it; the tables also give the percentiles over every request of all rounds. CPU per request is the change of the process's `utime + stime` (`/proc/PID/stat`, 10 ms ticks) during its rounds divided by their requests.\n", res.Rounds)
	p("- **Requests in flight.** Slow mocks (`-latency 1s`; `-chunk-delay` for 1-second and 10-second streams) with routerd and nginx in front of each; see the table of that name below.\n")
	p("- **Swap.** During a constant load through routerd, every 100 ms the snapshot path is replaced by rename with one of two copies of the file in turn (so each reload maps a new inode) and routerd gets SIGHUP; swaps are counted from routerd's publish sequence.\n")
	p("- **Compile.** `routerc compile` of the scale fixture as generated, from no previous output; wall time from exec to exit, peak RSS from the child's rusage.\n\n")

	renderStarts(&b, res)
	renderOpen(&b, res)
	renderRoute(&b, res)
	renderOverhead(&b, res)
	renderProfile(&b, res)
	renderInFlight(&b, res)
	renderSwap(&b, res)
	renderRefresh(&b, res)
	renderShared(&b, res)
	renderTenants(&b, res)
	renderRates(&b, res)
	renderCompile(&b, res)
	if len(res.Notes) > 0 {
		p("### Notes\n\n")
		for _, n := range res.Notes {
			p("- %s\n", short(n))
		}
		p("\n")
	}
	if len(res.Commands) > 0 {
		p("Go benchmark commands run:\n\n```\n%s\n```\n", strings.Join(res.Commands, "\n"))
	}
	return b.String()
}

func orDash(s string) string {
	if s == "" {
		return "?"
	}
	return s
}

func firstStarts(res *results) int {
	for _, s := range res.Starts {
		if len(s.Runs) > 0 {
			return len(s.Runs)
		}
	}
	return 0
}

func firstDur(res *results) time.Duration {
	for _, p := range res.Overhead {
		return p.Routerd.Dur
	}
	return 0
}

func idlePause(res *results) time.Duration {
	if res.Quick {
		return 100 * time.Millisecond
	}
	return 500 * time.Millisecond
}

func openRuns(res *results) int {
	for _, o := range res.Open {
		if o.Load.N > 0 {
			return o.Load.N
		}
	}
	return 0
}

func renderStarts(b *strings.Builder, res *results) {
	if len(res.Starts) == 0 {
		return
	}
	fmt.Fprintf(b, "### Cold start\n\n| case | snapshot | JSON caches | mode | pairs | runs | exec → /health 200, median (min–max) | exec → first chat answer, median (min–max) | peak RSS after /health | peak RSS after the first answer (max) | idle RSS |\n|---|---:|---:|---|---:|---:|---|---|---:|---:|---:|\n")
	for _, s := range res.Starts {
		if len(s.Runs) == 0 {
			fmt.Fprintf(b, "| %s | %s MB | %s MB | %s | %s | 0 | not measured: %s | | | | |\n", s.Label, sig3(s.SnapMB), sig3(s.CacheMB), orDash(s.Mode), orDash(s.Pairs), cell(short(s.Err)))
			continue
		}
		hh, _ := hwmStats(s.Runs, func(r startRun) int64 { return r.HealthHWM })
		ch, chMax := hwmStats(s.Runs, func(r startRun) int64 { return r.ChatHWM })
		idle, _ := hwmStats(s.Runs, func(r startRun) int64 { return r.IdleRSS })
		fmt.Fprintf(b, "| %s | %s MB | %s MB | %s | %s | %d | %s | %s | %s | %s (%s) | %s |\n", s.Label, sig3(s.SnapMB), sig3(s.CacheMB), s.Mode, orDash(s.Pairs), len(s.Runs),
			spread(s.Health), spread(s.Chat), mb(hh), mb(ch), mb(chMax), mb(idle))
	}
	fmt.Fprintf(b, "\n")
	notes := false
	for _, s := range res.Starts {
		if s.Err != "" && len(s.Runs) > 0 {
			fmt.Fprintf(b, "- %s stopped early: %s\n", s.Label, short(s.Err))
			notes = true
		}
	}
	if sc, gr := findStart(res, "scale"), findStart(res, "growth"); sc != nil && gr != nil && len(sc.Runs) > 0 && len(gr.Runs) > 0 {
		fmt.Fprintf(b, "- Start does not read the JSON caches (%s MB for growth, %s MB for scale); what grows from scale to growth is the snapshot itself (%s MB vs %s MB, every byte checksummed and every pair and bitmap validated at open; %s vs %s pairs).\n",
			sig3(gr.CacheMB), sig3(sc.CacheMB), sig3(gr.SnapMB), sig3(sc.SnapMB), orDash(gr.Pairs), orDash(sc.Pairs))
		notes = true
	}
	if notes {
		fmt.Fprintf(b, "\n")
	}
}

func renderOpen(b *strings.Builder, res *results) {
	fmt.Fprintf(b, "### Open and validate\n\n")
	if len(res.Open) > 0 {
		fmt.Fprintf(b, "| compiled snapshot | size | pairs | `format.Open`, median (min–max) | `snapshot.Load` + `Close`, median (min–max) |\n|---|---:|---:|---|---|\n")
		for _, o := range res.Open {
			if o.Err != "" {
				fmt.Fprintf(b, "| %s | | | not measured: %s | |\n", o.Fixture, cell(short(o.Err)))
				continue
			}
			fmt.Fprintf(b, "| %s | %s MB | %d | %s | %s |\n", o.Fixture, sig3(float64(o.Bytes)/1e6), o.Pairs, spread(o.Open), spread(o.Load))
		}
		fmt.Fprintf(b, "\n")
	}
	fb := res.FormatBench
	if fb.Err != "" {
		fmt.Fprintf(b, "`%s` failed: %s\n\n", fb.Cmd, short(fb.Err))
	} else if len(fb.Lines) > 0 {
		fmt.Fprintf(b, "`%s` (synthetic snapshots with 2,000 tags):\n\n| benchmark | ns/op median (best) | allocs/op |\n|---|---:|---:|\n", fb.Cmd)
		for _, n := range benchNames(fb.Lines) {
			ns, _ := metric(fb.Lines, n, "ns/op")
			al, _ := metric(fb.Lines, n, "allocs/op")
			fmt.Fprintf(b, "| %s | %s (%s) | %.0f |\n", n, fmtDur(time.Duration(ns.Median)), fmtDur(time.Duration(ns.Best)), al.Median)
		}
		fmt.Fprintf(b, "\n")
	}
}

func renderRoute(b *strings.Builder, res *results) {
	rb := res.RouteBench
	fmt.Fprintf(b, "### Route decision\n\n")
	if rb.Err != "" {
		fmt.Fprintf(b, "`%s` failed: %s\n\n", rb.Cmd, short(rb.Err))
		return
	}
	if len(rb.Lines) == 0 {
		return
	}
	fmt.Fprintf(b, "`%s` (a synthetic snapshot of 100,000 pairs built in the test):\n\n| decision | ns/op median (best) | p50 | p99 | allocs/op | matched pairs |\n|---|---:|---:|---:|---:|---:|\n", rb.Cmd)
	for _, n := range benchNames(rb.Lines) {
		ns, _ := metric(rb.Lines, n, "ns/op")
		p50, _ := metric(rb.Lines, n, "p50-ns")
		p99, _ := metric(rb.Lines, n, "p99-ns")
		al, _ := metric(rb.Lines, n, "allocs/op")
		mt, _ := metric(rb.Lines, n, "matched")
		fmt.Fprintf(b, "| %s | %s (%s) | %s | %s | %.0f | %.0f |\n", n, fmtDur(time.Duration(ns.Median)), fmtDur(time.Duration(ns.Best)),
			fmtDur(time.Duration(p50.Median)), fmtDur(time.Duration(p99.Median)), al.Median, mt.Median)
	}
	fmt.Fprintf(b, "\n")
}

func renderOverhead(b *strings.Builder, res *results) {
	if len(res.Overhead) == 0 {
		if res.OverheadErr != "" {
			fmt.Fprintf(b, "### Overhead under load\n\nNot measured: %s\n\n", short(res.OverheadErr))
		}
		return
	}
	fmt.Fprintf(b, "### Overhead under load\n\n| answers | path | rate | requests | errors | p50 ms | p90 ms | p99 ms | max ms | CPU per request | context switches per request |\n|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n")
	for _, p := range res.Overhead {
		kind := "plain"
		if p.Stream {
			kind = "streamed"
		}
		for _, l := range overheadLoads(&p) {
			path := "straight to the mock"
			switch l.Target {
			case "nginx":
				path = "through nginx"
			case "routerd":
				path = "through routerd"
			case "routerd-messages":
				path = "through routerd, as `/v1/messages`"
			}
			fmt.Fprintf(b, "| %s | %s | %d/s for %s | %d | %d | %s | %s | %s | %s | %s | %s |\n", kind, path, l.Rate, fmtDur(l.Dur), l.Requests, l.Errors,
				fmtMs(l.Lat.P50), fmtMs(l.Lat.P90), fmtMs(l.Lat.P99), fmtMs(l.Lat.Max), fmtDur(l.CPUPerReq), l.switchesPerReq())
		}
		fmt.Fprintf(b, "| %s | difference over all requests | | | | %s | %s | %s | %s | | |\n", kind,
			fmtMs(p.Routerd.Lat.P50-p.Mock.Lat.P50), fmtMs(p.Routerd.Lat.P90-p.Mock.Lat.P90), fmtMs(p.Routerd.Lat.P99-p.Mock.Lat.P99), fmtMs(p.Routerd.Lat.Max-p.Mock.Lat.Max))
		fmt.Fprintf(b, "| %s | **added by routerd** (median of %d paired rounds) | | | | %s | | %s | | | |\n", kind, p.Rounds, fmtMs(p.Added.P50), fmtMs(p.Added.P99))
		if p.Nginx.Requests > 0 {
			fmt.Fprintf(b, "| %s | **added by nginx** (median of %d paired rounds) | | | | %s | | %s | | | |\n", kind, p.Rounds, fmtMs(p.NginxAdded.P50), fmtMs(p.NginxAdded.P99))
		}
	}
	fmt.Fprintf(b, "\nThe CPU column is the process under test: the mock on its own row, routerd on its row, nginx (master and workers) on its row; the mock's share is never included. "+
		"Context switches are those of every thread of that process (`voluntary_ctxt_switches` + `nonvoluntary_ctxt_switches` of /proc/PID/task/*/status) during its rounds: a thread put to sleep on a futex, epoll or nanosleep and woken again, which on this virtual machine costs several microseconds each.\n\n")
	notes := false
	for _, p := range res.Overhead {
		for _, l := range overheadLoads(&p) {
			for _, e := range l.ErrSamples {
				fmt.Fprintf(b, "- error sample (%s, stream %v): `%s`\n", l.Target, p.Stream, strings.ReplaceAll(short(e), "`", "'"))
				notes = true
			}
			if l.Err != "" {
				fmt.Fprintf(b, "- %s (stream %v): %s\n", l.Target, p.Stream, short(l.Err))
				notes = true
			}
		}
	}
	if notes {
		fmt.Fprintf(b, "\n")
	}
}

// overheadLoads are the loads of a pair: the mock, routerd, and the
// Messages load when it ran.
func overheadLoads(p *overheadPair) []loadResult {
	out := []loadResult{p.Mock, p.Routerd}
	if p.Nginx.Requests > 0 || p.Nginx.Err != "" {
		out = append(out, p.Nginx)
	}
	if p.Messages.Requests > 0 || p.Messages.Err != "" {
		out = append(out, p.Messages)
	}
	return out
}

func renderSwap(b *strings.Builder, res *results) {
	sw := res.Swap
	if sw.Load.Requests == 0 && sw.Err == "" {
		return
	}
	fmt.Fprintf(b, "### Swap under load\n\n")
	l := sw.Load
	fmt.Fprintf(b, "%d req/s for %s through routerd: %d requests, %d failed, p50 %s ms, p99 %s ms, max %s ms; %d SIGHUPs sent, %d swaps (%s went from %.0f to %.0f).\n",
		l.Rate, fmtDur(l.Dur), l.Requests, l.Errors, fmtMs(l.Lat.P50), fmtMs(l.Lat.P99), fmtMs(l.Lat.Max), sw.Signals, sw.Swaps, orDash(sw.Source), sw.SeqBefore, sw.SeqAfter)
	if sw.Signals > sw.Swaps && sw.Swaps > 0 {
		fmt.Fprintf(b, "Fewer swaps than signals: a SIGHUP that arrives while the previous one is still pending is merged with it (signals do not queue), which happens when the process waits for CPU.\n")
	}
	for _, e := range l.ErrSamples {
		fmt.Fprintf(b, "- error sample: `%s`\n", strings.ReplaceAll(short(e), "`", "'"))
	}
	if sw.Err != "" {
		fmt.Fprintf(b, "- %s\n", short(sw.Err))
	}
	fmt.Fprintf(b, "\n")
}

func renderRates(b *strings.Builder, res *results) {
	fmt.Fprintf(b, "### Highest rate held (p99 < 50 ms, no error)\n\n")
	if res.Nginx != "" {
		fmt.Fprintf(b, "nginx: %s.\n\n", res.Nginx)
	}
	if len(res.Rates) == 0 {
		fmt.Fprintf(b, "Not run (it runs without `-quick`).\n\n")
		return
	}
	fmt.Fprintf(b, "Steps of %s each, raised until one fails, then the midpoint; each step starts with %s at its rate on the same connections that is not counted (the step measures the rate held, not the opening of the connections it needs). The mock's own row is the ceiling of the load generator and mock on these cores.\n\n| target | held | steps (rate: p99, errors) |\n|---|---:|---|\n", fmtDur(res.Rates[0].StepDur), fmtDur(stepWarmup))
	for _, r := range res.Rates {
		var steps []string
		for _, s := range r.Steps {
			mark := "ok"
			if !s.Held {
				mark = "fail: " + s.Why
			}
			steps = append(steps, fmt.Sprintf("%d: %s ms, %d (%s)", s.Rate, fmtMs(s.P99), s.Errors, mark))
		}
		held := fmt.Sprintf("%d req/s", r.Held)
		if rates := searchRates(); r.Held == rates[len(rates)-1] {
			held = "≥ " + held + " (the highest step)"
		}
		fmt.Fprintf(b, "| %s | %s | %s |\n", r.Target, held, cell(strings.Join(steps, "; ")))
	}
	fmt.Fprintf(b, "\n")
}

func renderCompile(b *strings.Builder, res *results) {
	c := res.Compile
	fmt.Fprintf(b, "### Compile\n\n")
	if c.Wall.N > 0 {
		fmt.Fprintf(b, "`routerc compile` of the scale fixture, %d runs: %s, peak RSS %s median, snapshot %s MB.\n\n", c.Wall.N, spread(c.Wall), mb(medianInt64(c.MaxRSSKB)), sig3(float64(c.SnapBytes)/1e6))
		if c.Output != "" {
			fmt.Fprintf(b, "Its last summary line: `%s`\n\n", lastLine(c.Output))
		}
	}
	if c.Err != "" {
		fmt.Fprintf(b, "Compile failed: %s\n\n", short(c.Err))
	}
	cb := res.CompilerBench
	if cb.Err != "" {
		fmt.Fprintf(b, "`%s` failed: %s\n\n", cb.Cmd, short(cb.Err))
	} else if len(cb.Lines) > 0 {
		fmt.Fprintf(b, "`%s`:\n\n| benchmark | time/op median (best) | B/op | allocs/op |\n|---|---:|---:|---:|\n", cb.Cmd)
		for _, n := range benchNames(cb.Lines) {
			ns, _ := metric(cb.Lines, n, "ns/op")
			by, _ := metric(cb.Lines, n, "B/op")
			al, _ := metric(cb.Lines, n, "allocs/op")
			fmt.Fprintf(b, "| %s | %s (%s) | %s | %.0f |\n", n, fmtDur(time.Duration(ns.Median)), fmtDur(time.Duration(ns.Best)), humanBytes(by.Median), al.Median)
		}
		fmt.Fprintf(b, "\n")
	}
}

// humanBytes prints a byte count in B, kB, MB or GB (decimal).
func humanBytes(v float64) string {
	switch a := math.Abs(v); {
	case a >= 1e9:
		return sig3(v/1e9) + " GB"
	case a >= 1e6:
		return sig3(v/1e6) + " MB"
	case a >= 1e3:
		return sig3(v/1e3) + " kB"
	default:
		return fmt.Sprintf("%.0f B", v)
	}
}

func renderProfile(b *strings.Builder, res *results) {
	pr := res.Profile
	if pr.Note == "" {
		return
	}
	fmt.Fprintf(b, "### Where the server's CPU goes\n\n%s. ", pr.Note)
	var cuts []profileCut
	for _, c := range pr.Cuts {
		if c.Err != "" {
			fmt.Fprintf(b, "\n\nProfile (%s) failed: %s\n\n", cutLabel(c), short(c.Err))
			continue
		}
		if c.Requests > 0 && c.Total > 0 {
			cuts = append(cuts, c)
		}
	}
	if len(cuts) > 0 {
		fmt.Fprintf(b, "Cumulative share of the sampled CPU time (`go tool pprof -top -focus=…`); the groups overlap, so they do not add up to 100 %%. The profiler's 100 Hz samples add up to less than the process CPU time from `/proc` in the overhead table.\n\n| group |")
		for _, c := range cuts {
			fmt.Fprintf(b, " %s: share | per request |", cutLabel(c))
		}
		fmt.Fprintf(b, "\n|---|%s\n| all sampled CPU |", strings.Repeat("---:|---:|", len(cuts)))
		for _, c := range cuts {
			fmt.Fprintf(b, " 100 %% | %s |", fmtDur(c.Total/time.Duration(c.Requests)))
		}
		fmt.Fprintf(b, "\n")
		for _, cat := range profileCategories() {
			fmt.Fprintf(b, "| %s |", cat.Name)
			for _, c := range cuts {
				pct := c.Shares[cat.Name]
				per := time.Duration(pct / 100 * float64(c.Total) / float64(c.Requests))
				fmt.Fprintf(b, " %.1f %% | %s |", pct, fmtDur(per))
			}
			fmt.Fprintf(b, "\n")
		}
		fmt.Fprintf(b, "\n")
	} else {
		fmt.Fprintf(b, "\n\n")
	}
	if o := pr.OneP; o.Requests > 0 {
		def := "?"
		if p := findOverhead(res, false); p != nil {
			def = fmtDur(p.Routerd.CPUPerReq)
		}
		fmt.Fprintf(b, "The same plain load through routerd started with `GOMAXPROCS=1`: CPU per request %s (default, one P per core: %s), p50 %s ms, p99 %s ms, %d errors of %d.\n\n",
			fmtDur(o.CPUPerReq), def, fmtMs(o.Lat.P50), fmtMs(o.Lat.P99), o.Errors, o.Requests)
	} else if o.Err != "" {
		fmt.Fprintf(b, "The `GOMAXPROCS=1` run failed: %s\n\n", short(o.Err))
	}
	for _, c := range pr.Cuts {
		if c.Top == "" {
			continue
		}
		fmt.Fprintf(b, "<details><summary>go tool pprof -top -cum, %s</summary>\n\n```\n%s\n```\n\n</details>\n\n", cutLabel(c), strings.TrimSpace(c.Top))
		if c.Heap != "" {
			fmt.Fprintf(b, "<details><summary>in-use heap at the plateau, %s</summary>\n\n```\n%s\n```\n\n</details>\n\n", cutLabel(c), strings.TrimSpace(c.Heap))
		}
		if c.Mem != "" {
			fmt.Fprintf(b, "<details><summary>Go runtime memory at the plateau, %s</summary>\n\n```\n%s\n```\n\n</details>\n\n", cutLabel(c), strings.TrimSpace(c.Mem))
		}
		if c.Goroutines != "" {
			fmt.Fprintf(b, "<details><summary>goroutines at the plateau, %s</summary>\n\n```\n%s\n```\n\n</details>\n\n", cutLabel(c), strings.TrimSpace(c.Goroutines))
		}
	}
}

// cutLabel names the load of a profile.
func cutLabel(c profileCut) string {
	switch {
	case c.Label != "":
		return c.Label
	case c.Stream:
		return "streamed"
	}
	return "plain"
}
