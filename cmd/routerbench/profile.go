package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime/metrics"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"smartrouter/runtime/server"
	"smartrouter/runtime/snapshot"
	"smartrouter/runtime/usage"
)

// serveProfiledCmd is the hidden subcommand that serves a snapshot with the
// runtime/server package, as routerd does, while writing a CPU profile. The
// harness uses it when routerd itself has no -cpuprofile flag.
const serveProfiledCmd = "serve-profiled"

// serveProfiled runs server.New + Serve on -snapshot until SIGTERM or
// SIGINT, with the CPU profile written to -cpuprofile.
func serveProfiled(args []string, stderr io.Writer) error {
	fs := flag.NewFlagSet(serveProfiledCmd, flag.ContinueOnError)
	fs.SetOutput(stderr)
	snap := fs.String("snapshot", "", "snapshot file")
	cfg := fs.String("config", "", "config folder of the snapshot")
	cache := fs.String("cache", "", "cache folder of the snapshot")
	addr := fs.String("addr", "127.0.0.1:0", "listen address")
	prof := fs.String("cpuprofile", "", "CPU profile output file")
	usageDB := fs.String("usage-db", "", "usage ledger file, attached as routerd attaches its default ledger (default: the CPU profile's path + .usage.db; \"off\": none)")
	heapAt := fs.String("heapprofile", "", "on SIGUSR1, write the heap profile to this file and the goroutine profile next to it (.goroutine)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *snap == "" || *prof == "" {
		return errors.New("serve-profiled needs -snapshot and -cpuprofile")
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT)
	defer signal.Stop(sigs)
	ctx := context.Background()
	srv, err := server.New(ctx, server.Options{
		Snapshot: snapshot.Options{Path: *snap, ConfigDir: *cfg, CacheDir: *cache, Logger: log},
		Logger:   log,
	})
	if err != nil {
		return err
	}
	// routerd keeps a usage ledger by default: so does the profiled server.
	if *usageDB == "" {
		*usageDB = *prof + ".usage.db"
	}
	if *usageDB != "off" {
		l, err := usage.Open(usage.Options{Path: *usageDB, Logger: log})
		if err != nil {
			_ = srv.Shutdown(ctx)
			return fmt.Errorf("open the usage ledger: %w", err)
		}
		srv.Usage().Attach(l)
		defer l.Close(context.Background())
	}
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		_ = srv.Shutdown(ctx)
		return fmt.Errorf("listen on %s: %w", *addr, err)
	}
	f, err := os.Create(*prof)
	if err != nil {
		_ = srv.Shutdown(ctx)
		return fmt.Errorf("create the CPU profile: %w", err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		_ = srv.Shutdown(ctx)
		return fmt.Errorf("start the CPU profile: %w", err)
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	if *heapAt != "" {
		usr1 := make(chan os.Signal, 1)
		signal.Notify(usr1, syscall.SIGUSR1)
		defer signal.Stop(usr1)
		go func() {
			for range usr1 {
				writeProfile(*heapAt, "heap", log)
				writeProfile(*heapAt+".goroutine", "goroutine", log)
				writeMemBreakdown(*heapAt+".mem", log)
			}
		}()
	}
	select {
	case err = <-served:
		pprof.StopCPUProfile()
	case <-sigs:
		// The load is over: end the profile before the shutdown so that it
		// covers serving only.
		pprof.StopCPUProfile()
		sctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		if serr := srv.Shutdown(sctx); serr != nil {
			log.Warn("shutdown did not drain in time", "error", serr)
		}
		cancel()
		<-served
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// writeProfile writes the named runtime/pprof profile to path.
func writeProfile(path, name string, log *slog.Logger) {
	f, err := os.Create(path)
	if err != nil {
		log.Warn("cannot write the profile", "profile", name, "error", err)
		return
	}
	if err := pprof.Lookup(name).WriteTo(f, 0); err != nil {
		log.Warn("cannot write the profile", "profile", name, "error", err)
	}
	f.Close()
}

// memBreakdown names the runtime/metrics figures of writeMemBreakdown:
// where the memory of requests in flight goes (goroutine stacks, live heap,
// the heap the collector lets garbage grow to).
var memBreakdown = []struct{ name, label string }{
	{"/sched/goroutines:goroutines", "goroutines"},
	{"/memory/classes/heap/stacks:bytes", "goroutine stacks"},
	{"/gc/heap/live:bytes", "live heap at the last GC"},
	{"/memory/classes/heap/objects:bytes", "heap objects (live and not yet swept)"},
	{"/gc/heap/goal:bytes", "heap goal of the next GC"},
	{"/memory/classes/heap/unused:bytes", "heap spans, unused"},
	{"/memory/classes/heap/free:bytes", "heap free, not returned"},
	{"/memory/classes/total:bytes", "all memory mapped by the Go runtime"},
}

// writeMemBreakdown writes the memBreakdown figures and VmRSS to path,
// one "label: value" a line.
func writeMemBreakdown(path string, log *slog.Logger) {
	samples := make([]metrics.Sample, len(memBreakdown))
	for i, m := range memBreakdown {
		samples[i].Name = m.name
	}
	metrics.Read(samples)
	var b strings.Builder
	for i, m := range memBreakdown {
		if samples[i].Value.Kind() != metrics.KindUint64 {
			continue
		}
		v := samples[i].Value.Uint64()
		if strings.HasSuffix(m.name, ":bytes") {
			fmt.Fprintf(&b, "%s: %.1f MB\n", m.label, float64(v)/1e6)
		} else {
			fmt.Fprintf(&b, "%s: %d\n", m.label, v)
		}
	}
	if m, err := procMem(os.Getpid()); err == nil {
		fmt.Fprintf(&b, "VmRSS: %.1f MB\n", float64(m.RSS)*1024/1e6)
	}
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		log.Warn("cannot write the memory breakdown", "error", err)
	}
}

// profileCategory is a group of functions whose cumulative share of the
// CPU profile the report shows. Groups overlap (a write syscall is also
// part of the HTTP server's or client's time).
type profileCategory struct {
	Name, Focus string
}

func profileCategories() []profileCategory {
	return []profileCategory{
		{"HTTP server (fasthttp + fiber, the whole request as seen from the server, I/O included)", `fasthttp\.\(\*Server\)\.serveConn$`},
		{"HTTP client to the upstream (upstream's pooled HTTP/1.1 calls and stream reads, run on the handler's or the relay's goroutine; net/http's connection loops only when a proxy from the environment applies)", `net/http\.\(\*persistConn\)\.(readLoop|writeLoop)$|smartrouter/runtime/upstream\.\(\*Client\)\.(doH1|streamH1)$|smartrouter/runtime/upstream\.\(\*Response\)\.readH1$`},
		{"stream relay (reading upstream events, translating, batching; fasthttp writes what it returns)", `smartrouter/runtime/server\.\(\*relay\)\.Read$`},
		{"write syscalls (to the client and to the upstream)", `syscall\.write$`},
		{"read syscalls", `syscall\.read$`},
		{"network poller (epoll)", `runtime\.netpoll$`},
		{"futex: waking and parking threads around goroutine handoffs", `runtime\.futex$`},
		{"scheduler looking for work (findRunnable)", `runtime\.findRunnable$`},
		{"route decision (runtime/route)", `smartrouter/runtime/route\.`},
		{"usage ledger (the record on the request path, and the SQLite writer)", `smartrouter/runtime/usage\.`},
		{"metrics (prometheus client)", `prometheus`},
		{"logging (log/slog)", `log/slog`},
		{"memory allocation (mallocgc)", `runtime\.mallocgc$`},
		{"garbage collector background work", `runtime\.gcBgMarkWorker|runtime\.bgsweep|runtime\.bgscavenge`},
	}
}

// profileCut is one load's CPU profile.
type profileCut struct {
	Label    string // the load, for the report ("plain", "streamed", an in-flight shape)
	Stream   bool
	Requests int
	Total    time.Duration      // sampled CPU time
	Shares   map[string]float64 // category name -> percent of Total
	Top      string             // go tool pprof -top -cum
	// Heap and Goroutines: go tool pprof -top of the in-use heap and of the
	// goroutines, taken at the load's plateau (in-flight shapes only); Mem
	// the runtime's memory figures at the same moment (writeMemBreakdown).
	Heap, Goroutines, Mem string
	Err                   string
}

// profileResult is everything the profile phase found.
type profileResult struct {
	Note string
	Cuts []profileCut
	// GOMAXPROCS=1 run of routerd under the plain load, for comparison with
	// the default (one P per core).
	OneP loadResult
}

// parsePprofShare reads the percentage and total of a `go tool pprof -top
// -focus=...` output ("Showing nodes accounting for 0.87s, 22.25% of 3.91s
// total"); a focus that matched nothing is 0 %.
func parsePprofShare(out string) (pct float64, total time.Duration, err error) {
	for _, line := range strings.Split(out, "\n") {
		line = strings.TrimSpace(line)
		if strings.HasPrefix(line, "Duration:") {
			if _, t, ok := strings.Cut(line, "Total samples = "); ok {
				t, _, _ = strings.Cut(t, " ")
				if d, err := time.ParseDuration(t); err == nil {
					total = d
				}
			}
		}
		if strings.HasPrefix(line, "Focus expression matched no samples") {
			return 0, total, nil
		}
		if rest, ok := strings.CutPrefix(line, "Showing nodes accounting for "); ok {
			_, p, ok := strings.Cut(rest, ", ")
			if !ok {
				break
			}
			p, _, _ = strings.Cut(p, "%")
			v, err := strconv.ParseFloat(p, 64)
			if err != nil {
				return 0, total, fmt.Errorf("parse the pprof share %q: %w", line, err)
			}
			return v, total, nil
		}
	}
	return 0, total, fmt.Errorf("no share in the pprof output: %s", tail(out, 300))
}

// profileUnderLoad profiles the server package under the plain and the
// streamed load (one serve-profiled process each), splits the CPU time by
// category, and measures routerd with GOMAXPROCS=1 under the plain load.
func (h *harness) profileUnderLoad(ctx context.Context, in *install, snap string, ct chatTarget) profileResult {
	var pr profileResult
	exe, err := os.Executable()
	if err != nil {
		pr.Note = "no profile: " + err.Error()
		return pr
	}
	for _, stream := range []bool{false, true} {
		label := "plain, 0 ms upstream"
		if stream {
			label = "streamed, 0 ms upstream"
		}
		pr.Cuts = append(pr.Cuts, h.profileOne(ctx, exe, in, snap, ct, stream, h.opt.rate, h.opt.loadDur, label, 0))
	}
	// The same plain load through routerd limited to one P.
	p, base, t0, err := h.startRouterdEnv(in, snap, "gomaxprocs1", []string{"GOMAXPROCS=1"})
	if err != nil {
		pr.OneP.Err = err.Error()
		return pr
	}
	defer h.ps.stop(p, 10*time.Second)
	wctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	_, err = waitHealthy(wctx, p, base, t0)
	cancel()
	if err != nil {
		pr.OneP.Err = err.Error()
		return pr
	}
	tgt := chatTargetFor(base+"/v1/chat/completions", in.Tokens.API, chatBody(ct.Model, false))
	attack(ctx, "routerd", tgt, h.opt.rate, h.opt.warmup, false, 0, nil)
	pr.OneP = attack(ctx, "routerd", tgt, h.opt.rate, h.opt.loadDur, false, p.Pid(), nil)
	return pr
}

// profileOne runs one serve-profiled process under one load.
// With plateau > 0 it also asks the server for its heap and goroutine
// profiles that long after the load started (SIGUSR1).
func (h *harness) profileOne(ctx context.Context, exe string, in *install, snap string, ct chatTarget, stream bool, rate int, dur time.Duration, label string, plateau time.Duration) profileCut {
	cut := profileCut{Label: label, Stream: stream, Shares: map[string]float64{}}
	addr, err := freeAddr()
	if err != nil {
		cut.Err = err.Error()
		return cut
	}
	prof := filepath.Join(h.tmp, fmt.Sprintf("server-%s.pprof", strings.NewReplacer(" ", "", ",", "-").Replace(label)))
	heap := ""
	if plateau > 0 {
		heap = strings.TrimSuffix(prof, ".pprof") + ".heap"
	}
	// The profiled server runs with routerd's compiled-in runtime setting.
	env := append(slices.Clone(in.Env), "GODEBUG="+h.godebug)
	p, t0, err := h.ps.start("serve-profiled", filepath.Join(h.tmp, "logs", "serve-profiled.log"), env, exe,
		serveProfiledCmd, "-snapshot", snap, "-config", in.ConfigDir, "-cache", in.CacheDir, "-addr", addr, "-cpuprofile", prof, "-heapprofile", heap)
	if err != nil {
		cut.Err = err.Error()
		return cut
	}
	base := "http://" + addr
	wctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	_, err = waitHealthy(wctx, p, base, t0)
	cancel()
	if err != nil {
		h.ps.stop(p, 5*time.Second)
		cut.Err = err.Error()
		return cut
	}
	tgt := chatTargetFor(base+"/v1/chat/completions", in.Tokens.API, chatBody(ct.Model, stream))
	var during func(stop <-chan struct{})
	if plateau > 0 {
		during = func(stop <-chan struct{}) {
			select {
			case <-stop:
			case <-time.After(plateau):
				_ = sendSignal(p, syscall.SIGUSR1)
			}
		}
	}
	r := attack(ctx, "profiled", tgt, rate, dur, stream, 0, during)
	cut.Requests = r.Requests
	h.ps.stop(p, 15*time.Second)
	if p.waitErr != nil {
		cut.Err = fmt.Sprintf("serve-profiled ended with %v: %s", p.waitErr, lastLine(p.logTail()))
		return cut
	}
	cut.Top = h.pprofTop(ctx, exe, prof)
	if heap != "" {
		cut.Heap = pprofText(ctx, "-sample_index=inuse_space", exe, heap)
		cut.Goroutines = pprofText(ctx, "-cum", exe, heap+".goroutine")
		if b, err := os.ReadFile(heap + ".mem"); err == nil {
			cut.Mem = string(b)
		}
	}
	for _, c := range profileCategories() {
		out, err := exec.CommandContext(ctx, "go", "tool", "pprof", "-top", "-nodecount=100000", "-nodefraction=0", "-edgefraction=0", "-focus="+c.Focus, exe, prof).CombinedOutput()
		if err != nil {
			cut.Err = fmt.Sprintf("go tool pprof -focus=%s: %v: %s", c.Focus, err, tail(string(out), 300))
			return cut
		}
		pct, total, err := parsePprofShare(string(out))
		if err != nil {
			cut.Err = err.Error()
			return cut
		}
		cut.Shares[c.Name] = pct
		// A focus that matched nothing prints no sample total: keep the
		// total of the groups that did.
		if total > 0 {
			cut.Total = total
		}
	}
	return cut
}

// pprofText is `go tool pprof -top` of a profile with one extra option.
func pprofText(ctx context.Context, opt, binary, prof string) string {
	out, err := exec.CommandContext(ctx, "go", "tool", "pprof", "-top", opt, "-nodecount=25", binary, prof).CombinedOutput()
	if err != nil {
		return fmt.Sprintf("go tool pprof failed: %v: %s", err, tail(string(out), 500))
	}
	return string(out)
}
