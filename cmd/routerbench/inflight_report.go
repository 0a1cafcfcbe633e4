package main

import (
	"fmt"
	"strings"
	"time"
)

// vsNginx states routerd's figure as a multiple of nginx's.
func vsNginx(routerd, nginx time.Duration, what string) string {
	if nginx <= 0 {
		return fmt.Sprintf("%s: nginx %s, no ratio", what, fmtDur(nginx))
	}
	return fmt.Sprintf("%s %.1f× nginx's", what, float64(routerd)/float64(nginx))
}

func findShape(res *results, key string) *shapeResult {
	for i := range res.InFlight {
		if res.InFlight[i].Shape.Key == key {
			return &res.InFlight[i]
		}
	}
	return nil
}

// inflightRows are the summary rows of the in-flight shapes: added p99 and
// errors, and memory.
func inflightRows(res *results) []row {
	var rows []row
	for _, key := range []string{"plain-1s", "stream-1s", "stream-10s"} {
		r := findShape(res, key)
		if r == nil {
			continue
		}
		sh := r.Shape
		lat := row{What: fmt.Sprintf("router overhead with requests in flight: %s, %d new requests/s (about %d in flight)", sh.Name, sh.Rate, sh.InFlight()),
			Target: "p99 ≤ 2 ms added; 0 errors"}
		if r.Routerd.Requests == 0 {
			lat.Measured, lat.Verdict = notMeasured, notMeasured
			if r.Err != "" {
				lat.Measured += ": " + short(r.Err)
			}
			rows = append(rows, lat)
			continue
		}
		errs := r.Mock.Errors + r.Routerd.Errors
		lat.Measured = fmt.Sprintf("p50 +%s ms, p99 +%s ms (medians of %d paired rounds), %d errors, CPU %s per request",
			fmtMs(r.Added.P50), fmtMs(r.Added.P99), sh.Rounds, errs, fmtDur(r.Routerd.CPUPerReq))
		lat.Verdict = verdictAtMost(float64(r.Added.P99), float64(2*time.Millisecond), durFormat)
		if errs > 0 {
			lat.Verdict = fmt.Sprintf("**missed**: %d errors", errs)
		}
		if r.Nginx.Requests > 0 {
			lat.Measured += fmt.Sprintf("; **nginx**: p50 +%s ms, p99 +%s ms, %d errors, CPU %s per request",
				fmtMs(r.NAdded.P50), fmtMs(r.NAdded.P99), r.Nginx.Errors, fmtDur(r.Nginx.CPUPerReq))
			lat.Verdict += "; " + vsNginx(r.Routerd.CPUPerReq, r.Nginx.CPUPerReq, "CPU")
		}
		rows = append(rows, lat)

		m := r.RouterdMem
		mem := row{What: fmt.Sprintf("routerd memory, %s", sh.Name)}
		switch key {
		case "stream-10s":
			mem.What += " (per request in flight beyond the idle RSS)"
			mem.Target = "≤ 16 KB per stream (documented)"
		default:
			mem.What += " (peak VmRSS)"
			mem.Target = "≤ 150 MB at 1,000 in flight"
		}
		if m.PeakKB == 0 {
			mem.Measured, mem.Verdict = notMeasured, notMeasured
			rows = append(rows, mem)
			continue
		}
		per := m.PerInFlight()
		mem.Measured = fmt.Sprintf("peak %s; %s with %d sockets open at the plateau (idle %s before the load): %s per request in flight", mb(m.PeakKB), mb(m.PlateauKB), m.Conns, mb(m.IdleKB), humanBytes(per))
		if n := r.NginxMem; n.PeakKB > 0 {
			mem.Measured += fmt.Sprintf("; **nginx** (master and workers): peak %s; %s with %d sockets (idle %s): %s per request", mb(n.PeakKB), mb(n.PlateauKB), n.Conns, mb(n.IdleKB), humanBytes(n.PerInFlight()))
		}
		if key == "stream-10s" {
			mem.Verdict = verdictAtMost(per/1000, 16, func(f float64) string { return sig3(f) + " kB" })
		} else {
			mem.Verdict = verdictAtMost(float64(m.PeakKB)*1024/1e6, 150, func(f float64) string { return sig3(f) + " MB" })
		}
		rows = append(rows, mem)
	}
	return rows
}

// renderInFlight writes the table of the in-flight shapes.
func renderInFlight(b *strings.Builder, res *results) {
	if len(res.InFlight) == 0 {
		return
	}
	fmt.Fprintf(b, "### Requests in flight (slow upstreams)\n\n")
	fmt.Fprintf(b, "Each shape runs its own mock (`mockllm -latency 1s`, or `-chunk-delay` for streams of 8 content chunks), with routerd and nginx in front of it, and the same load straight to the mock, through routerd and through nginx in alternating rounds; a round's answers end before the next round starts. VmRSS and the descriptors opened since before the load are sampled every 250 ms during the round (nginx: master and workers summed; descriptors by listing `/proc/PID/fd`, no readlink, so the sampling costs the load generator next to nothing); per request in flight is (RSS at the sample with the most descriptors − idle RSS) ÷ (descriptors ÷ 2), each request holding a client and an upstream socket. Open-files limit of every process: %d (the hard limit; a proxy needs two descriptors per request in flight, so the largest shape is capped at (limit − 4,000) ÷ 2: routerd's connection cap is half the limit, and the load generator needs room above the planned requests in flight, which grow with the latency the proxy adds).\n\n", res.NoFile)
	fmt.Fprintf(b, "| shape | path | rate | requests | errors | p50 ms | p99 ms | max ms | CPU per request | peak RSS | sockets at the plateau | per request in flight |\n|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n")
	for _, r := range res.InFlight {
		sh := r.Shape
		if r.Err != "" && r.Routerd.Requests == 0 {
			fmt.Fprintf(b, "| %s | — | | | | | | | | | | not measured: %s |\n", sh.Name, cell(short(r.Err)))
			continue
		}
		line := func(path string, l loadResult, m *memSample) {
			if l.Requests == 0 {
				return
			}
			peak, socks, per := "", "", ""
			if m != nil && m.PeakKB > 0 {
				peak, socks, per = mb(m.PeakKB), fmt.Sprint(m.Conns), humanBytes(m.PerInFlight())
			}
			fmt.Fprintf(b, "| %s | %s | %d/s for %s | %d | %d | %s | %s | %s | %s | %s | %s | %s |\n", sh.Name, path, l.Rate, fmtDur(l.Dur), l.Requests, l.Errors,
				fmtMs(l.Lat.P50), fmtMs(l.Lat.P99), fmtMs(l.Lat.Max), fmtDur(l.CPUPerReq), peak, socks, per)
		}
		line("straight to the mock", r.Mock, nil)
		line("through routerd", r.Routerd, &r.RouterdMem)
		line("through nginx", r.Nginx, &r.NginxMem)
		fmt.Fprintf(b, "| %s | **added by routerd** / **by nginx** (median of paired rounds) | | | | %s / %s | %s / %s | | | | | |\n", sh.Name,
			fmtMs(r.Added.P50), fmtMs(r.NAdded.P50), fmtMs(r.Added.P99), fmtMs(r.NAdded.P99))
		for _, l := range []loadResult{r.Mock, r.Routerd, r.Nginx} {
			for _, e := range l.ErrSamples {
				fmt.Fprintf(b, "| %s | error sample (%s) | | | | | | | | | | `%s` |\n", sh.Name, l.Target, cell(strings.ReplaceAll(short(e), "`", "'")))
			}
		}
		if r.Err != "" {
			fmt.Fprintf(b, "| %s | note | | | | | | | | | | %s |\n", sh.Name, cell(short(r.Err)))
		}
	}
	fmt.Fprintf(b, "\n")
}
