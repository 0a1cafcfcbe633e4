package main

import (
	"bytes"
	"context"
	"fmt"
	vegeta "github.com/tsenart/vegeta/v12/lib"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"time"

	"smartrouter/compiler"
	"smartrouter/format"
	"smartrouter/runtime/snapshot"
)

// harness holds the state of one benchmark run.
type harness struct {
	opt    options
	tmp    string
	bin    string
	log    *slog.Logger
	ps     procs
	res    *results
	runSeq int

	mock     *proc
	mockAddr string
	// godebug is routerd's compiled-in runtime setting (cmd/routerd/
	// godebug.txt); the profiled server gets it from the environment.
	godebug string
}

// results is everything the report shows.
type results struct {
	Quick    bool
	Rounds   int
	Machine  machine
	Started  time.Time
	Elapsed  time.Duration
	Commands []string // go test command lines run

	Compile       compileResult
	FormatBench   goBenchResult
	RouteBench    goBenchResult
	CompilerBench goBenchResult
	Open          []openResult
	Fallback      fallbackResult
	Starts        []startResult
	Overhead      []overheadPair
	OverheadErr   string
	Swap          swapResult
	Refresh       refreshResult // refresh.go
	Shared        sharedResult  // shared.go
	Tenants       tenantsResult // tenants.go
	Rates         []rateResult
	InFlight      []shapeResult // inflight.go
	NoFile        uint64        // the open-files limit the processes ran with
	Nginx         string
	Profile       profileResult
	Chat          chatTarget
	Missed        []string
	Notes         []string
}

// goBenchResult is the parsed output of one `go test -bench` command.
type goBenchResult struct {
	Cmd   string
	Lines []benchLine
	Err   string
}

// compileResult is routerc on the scale fixture.
type compileResult struct {
	Wall      dist
	MaxRSSKB  []int64
	SnapBytes int64
	Output    string
	Err       string
}

// openResult is open + validate of a compiled snapshot in this process.
type openResult struct {
	Fixture string
	Bytes   int64
	Pairs   int
	Open    dist // format.Open on the bytes in memory
	Load    dist // snapshot.Load: mmap, validate, staleness check, Close
	Err     string
}

// runAll runs every phase; only a failure to build or to start the mock
// stops it early.
func (h *harness) runAll(ctx context.Context) error {
	h.res.Started = time.Now()
	h.res.Machine = readMachine()
	for _, d := range []string{h.bin, filepath.Join(h.tmp, "logs")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return err
		}
	}
	h.log.Info("building binaries", "dir", h.bin)
	if err := h.build(ctx); err != nil {
		return err
	}
	for _, f := range []string{"scale", "growth"} {
		if err := h.ensureFixture(ctx, f); err != nil {
			return err
		}
	}
	if err := h.startMock(ctx); err != nil {
		return err
	}

	// Mock-pointed copies of both fixtures and their snapshots.
	installs := map[string]*install{}
	snaps := map[string]string{}
	for _, f := range []string{"scale", "growth"} {
		in, err := prepareInstall(f, filepath.Join(h.opt.fixtures, f), filepath.Join(h.tmp, f), "http://"+h.mockAddr+"/v1")
		if err != nil {
			return fmt.Errorf("prepare the %s fixture: %w", f, err)
		}
		snap := filepath.Join(h.tmp, f+".snap")
		if _, _, _, err := h.compile(ctx, in.ConfigDir, in.CacheDir, snap, in.Env); err != nil {
			h.res.Notes = append(h.res.Notes, fmt.Sprintf("The %s snapshot did not compile: %v", f, err))
			continue
		}
		installs[f], snaps[f] = in, snap
	}

	if h.opt.only == "overhead" || h.opt.only == "rate" {
		if in := installs["scale"]; in != nil {
			if ct, err := h.probe(ctx, in, snaps["scale"]); err != nil {
				h.res.OverheadErr = "no model routes to the mock: " + err.Error()
			} else {
				h.res.Chat = ct
				h.loadPhases(ctx, in, snaps["scale"], ct)
			}
		}
		h.res.Elapsed = time.Since(h.res.Started)
		h.res.Machine.LoadEnd = loadAvg()
		evaluate(h.res)
		return nil
	}
	if h.opt.only == "shared" {
		if in := installs["scale"]; in != nil {
			if ct, err := h.probe(ctx, in, snaps["scale"]); err != nil {
				h.res.Shared.Err = "probe: " + err.Error()
			} else {
				h.res.Chat = ct
				h.res.Shared = h.sharedUnderLoad(ctx, in, snaps["scale"], ct)
			}
		}
		h.res.Elapsed = time.Since(h.res.Started)
		h.res.Machine.LoadEnd = loadAvg()
		evaluate(h.res)
		return nil
	}
	if h.opt.only == "tenants" {
		if in := installs["scale"]; in != nil {
			if ct, err := h.probe(ctx, in, snaps["scale"]); err != nil {
				h.res.Tenants.Err = "probe: " + err.Error()
			} else {
				h.res.Chat = ct
				h.res.Tenants = h.tenantsUnderLoad(ctx, in, ct)
			}
		}
		h.res.Elapsed = time.Since(h.res.Started)
		h.res.Machine.LoadEnd = loadAvg()
		evaluate(h.res)
		return nil
	}
	if h.opt.only == "inflight" {
		if in := installs["scale"]; in != nil {
			if ct, err := h.probe(ctx, in, snaps["scale"]); err != nil {
				h.res.OverheadErr = "no model routes to the mock: " + err.Error()
			} else {
				h.res.Chat = ct
				h.inflightPhase(ctx, ct)
				if h.opt.profile {
					h.res.Profile.Note = "CPU profiles of the runtime/server package served by `routerbench serve-profiled` (server.New + Serve on the shape's snapshot, as routerd wires it), one process per shape, under the shape's load"
				}
			}
		}
		h.res.Elapsed = time.Since(h.res.Started)
		h.res.Machine.LoadEnd = loadAvg()
		evaluate(h.res)
		return nil
	}
	if h.opt.only == "start" {
		if in := installs["scale"]; in != nil {
			h.coldStarts(ctx, in, snaps["scale"], installs["growth"], snaps["growth"])
		}
		h.res.Elapsed = time.Since(h.res.Started)
		h.res.Machine.LoadEnd = loadAvg()
		evaluate(h.res)
		return nil
	}
	if h.opt.only == "refresh" {
		if in := installs["scale"]; in != nil {
			if ct, err := h.probe(ctx, in, snaps["scale"]); err != nil {
				h.res.Refresh.Err = "probe: " + err.Error()
			} else {
				h.res.Chat = ct
				h.res.Refresh = h.refreshUnderLoad(ctx, in, snaps["scale"], ct)
			}
		}
		h.res.Elapsed = time.Since(h.res.Started)
		h.res.Machine.LoadEnd = loadAvg()
		evaluate(h.res)
		return nil
	}
	h.res.Compile = h.measureCompile(ctx)
	h.goBenches(ctx)
	for _, f := range []string{"scale", "growth"} {
		if in := installs[f]; in != nil {
			h.res.Open = append(h.res.Open, h.measureOpen(f, snaps[f], in))
		}
	}

	if in := installs["scale"]; in != nil {
		h.startsAndLoad(ctx, in, snaps["scale"], installs["growth"], snaps["growth"])
	}
	h.res.Elapsed = time.Since(h.res.Started)
	h.res.Machine.LoadEnd = loadAvg()
	evaluate(h.res)
	return nil
}

// startsAndLoad runs the routerd phases on the scale snapshot (and the
// growth one for the cold start).
func (h *harness) startsAndLoad(ctx context.Context, scale *install, scaleSnap string, growth *install, growthSnap string) {
	ct, err := h.probe(ctx, scale, scaleSnap)
	if err != nil {
		h.res.Starts = append(h.res.Starts, startResult{Label: "scale", Fixture: "scale", Err: "probe: " + err.Error()})
		h.res.OverheadErr = "no model routes to the mock: " + err.Error()
		return
	}
	h.res.Chat = ct
	h.log.Info("chat target", "model", ct.Model, "upstream_model", ct.Upstream, "channel", ct.Channel, "tried", ct.Tried)
	h.coldStartsOf(ctx, ct, scale, scaleSnap, growth, growthSnap)
	if stale, err := h.staleInstall(scale); err != nil {
		h.res.Starts = append(h.res.Starts, startResult{Label: "scale, stale snapshot", Fixture: "scale", Err: err.Error()})
	} else {
		h.res.Starts = append(h.res.Starts, h.coldStart(ctx, "scale, stale snapshot", stale, scaleSnap, "json-fallback", true, ct, 60*time.Second))
		h.res.Fallback = h.measureFallback(ctx, stale, scaleSnap)
	}
	if ctx.Err() != nil {
		return
	}
	h.loadPhases(ctx, scale, scaleSnap, ct)
}

// coldStarts is the start phase alone (-only start): the cold starts of
// the scale and growth snapshots.
func (h *harness) coldStarts(ctx context.Context, scale *install, scaleSnap string, growth *install, growthSnap string) {
	ct, err := h.probe(ctx, scale, scaleSnap)
	if err != nil {
		h.res.Starts = append(h.res.Starts, startResult{Label: "scale", Fixture: "scale", Err: "probe: " + err.Error()})
		return
	}
	h.res.Chat = ct
	h.coldStartsOf(ctx, ct, scale, scaleSnap, growth, growthSnap)
}

// coldStartsOf measures the cold starts of the scale snapshot (chat
// target ct) and of the growth one.
func (h *harness) coldStartsOf(ctx context.Context, ct chatTarget, scale *install, scaleSnap string, growth *install, growthSnap string) {
	h.res.Starts = append(h.res.Starts, h.coldStart(ctx, "scale", scale, scaleSnap, "snapshot", false, ct, 20*time.Second))
	if growth == nil {
		return
	}
	gct, err := h.probe(ctx, growth, growthSnap)
	if err != nil {
		h.res.Starts = append(h.res.Starts, startResult{Label: "growth", Fixture: "growth", Err: "probe: " + err.Error()})
		return
	}
	h.res.Starts = append(h.res.Starts, h.coldStart(ctx, "growth", growth, growthSnap, "snapshot", false, gct, 20*time.Second))
}

// staleInstall is scale with a config whose content differs from what the
// snapshot recorded (a comment appended), so routerd finds the snapshot
// stale and rebuilds from the JSON caches.
func (h *harness) staleInstall(in *install) (*install, error) {
	dst := filepath.Join(h.tmp, "scale-stale", "config")
	if err := copyTree(in.ConfigDir, dst); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(filepath.Join(dst, "router_config.yaml"), os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		return nil, fmt.Errorf("make the config stale: %w", err)
	}
	_, err = f.WriteString("\n# edited after the snapshot was compiled\n")
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return nil, fmt.Errorf("make the config stale: %w", err)
	}
	cp := *in
	cp.ConfigDir = dst
	return &cp, nil
}

// loadPhases runs the overhead loads, the swap and the rate search against
// one routerd.
func (h *harness) loadPhases(ctx context.Context, in *install, snapSrc string, ct chatTarget) {
	snap := filepath.Join(h.tmp, "load.snap")
	if err := copyFile(snapSrc, snap); err != nil {
		h.res.OverheadErr = err.Error()
		return
	}
	var extra []string
	profPath := ""
	if h.opt.profile && h.routerdHasFlag("cpuprofile") {
		profPath = filepath.Join(h.tmp, "routerd.cpu.pprof")
		extra = append(extra, "-cpuprofile", profPath)
	}
	p, base, t0, err := h.startRouterd(in, snap, "load", extra...)
	if err != nil {
		h.res.OverheadErr = err.Error()
		return
	}
	defer h.stopChecked(p, "after the loads")
	wctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	_, err = waitHealthy(wctx, p, base, t0)
	cancel()
	if err != nil {
		h.res.OverheadErr = err.Error()
		return
	}
	mockURL := "http://" + h.mockAddr + "/v1/chat/completions"
	routerURL := base + "/v1/chat/completions"
	msgURL := base + "/v1/messages"
	// nginx in front of the same mock, measured in the same rounds.
	var np *proc
	nginxURL := ""
	if bin := nginxPath(); bin == "" {
		h.res.Nginx = "nginx not installed"
	} else if p, nbase, err := h.startNginx(ctx, bin, h.mockAddr, "main"); err != nil {
		h.res.Nginx = "nginx did not start: " + err.Error()
	} else {
		h.res.Nginx = "nginx at " + bin
		np, nginxURL = p, nbase+"/v1/chat/completions"
		defer h.ps.stop(np, 5*time.Second)
	}
	if h.opt.only == "rate" {
		h.rateSearches(ctx, mockURL, nginxURL, np != nil, chatTargetFor(routerURL, in.Tokens.API, chatBody(ct.Model, false)), ct)
		return
	}
	for _, stream := range []bool{false, true} {
		routed := chatTargetFor(routerURL, in.Tokens.API, chatBody(ct.Model, stream))
		direct := chatTargetFor(mockURL, "bench-direct", chatBody(ct.Upstream, stream))
		viaNginx := chatTargetFor(nginxURL, "bench-direct", chatBody(ct.Upstream, stream))
		// Warm both paths: connections, caches, the route cache entry.
		attack(ctx, "mock", direct, h.opt.rate, h.opt.warmup, stream, 0, nil)
		attack(ctx, "routerd", routed, h.opt.rate, h.opt.warmup, stream, 0, nil)
		if np != nil {
			attack(ctx, "nginx", viaNginx, h.opt.rate, h.opt.warmup, stream, 0, nil)
		}
		// Alternate rounds so that a change of background load on the
		// shared machine hits both paths alike.
		msgs := chatTargetFor(msgURL, in.Tokens.API, messagesBody(ct.Model, stream))
		attackChecked(ctx, "routerd-messages", msgs, h.opt.rate, h.opt.warmup, stream, 0, nil, checkMessages)
		var mockRounds, routerRounds, msgRounds, nginxRounds []loadResult
		per := h.opt.loadDur / time.Duration(h.opt.rounds)
		for i := 0; i < h.opt.rounds; i++ {
			mockRounds = append(mockRounds, attack(ctx, "mock", direct, h.opt.rate, per, stream, h.mock.Pid(), nil))
			routerRounds = append(routerRounds, attack(ctx, "routerd", routed, h.opt.rate, per, stream, p.Pid(), nil))
			if np != nil {
				nginxRounds = append(nginxRounds, attack(ctx, "nginx", viaNginx, h.opt.rate, per, stream, np.Pid(), nil))
			}
			msgRounds = append(msgRounds, attackChecked(ctx, "routerd-messages", msgs, h.opt.rate, per, stream, p.Pid(), nil, checkMessages))
		}
		pair := overheadPair{Stream: stream, Mock: merge(mockRounds), Routerd: merge(routerRounds),
			Added: pairedAdded(mockRounds, routerRounds), Rounds: len(routerRounds),
			Messages: merge(msgRounds), MsgRatios: cpuRatios(msgRounds, routerRounds)}
		if len(nginxRounds) > 0 {
			pair.Nginx, pair.NginxAdded = merge(nginxRounds), pairedAdded(mockRounds, nginxRounds)
		}
		h.log.Info("overhead", "stream", stream, "mock_p50", pair.Mock.Lat.P50, "routerd_p50", pair.Routerd.Lat.P50,
			"mock_p99", pair.Mock.Lat.P99, "routerd_p99", pair.Routerd.Lat.P99, "errors", pair.Mock.Errors+pair.Routerd.Errors,
			"routerd_cpu_per_req", pair.Routerd.CPUPerReq, "messages_cpu_per_req", pair.Messages.CPUPerReq, "messages_errors", pair.Messages.Errors)
		h.res.Overhead = append(h.res.Overhead, pair)
		if ctx.Err() != nil {
			return
		}
	}
	if h.opt.only == "overhead" {
		h.profileAll(ctx, p, profPath, in, snapSrc, ct)
		return
	}
	if ctx.Err() == nil {
		h.inflightPhase(ctx, ct)
	}
	routed := chatTargetFor(routerURL, in.Tokens.API, chatBody(ct.Model, false))
	h.res.Swap = h.swapUnderLoad(ctx, p, base, snap, in.Tokens, routed)
	h.log.Info("swap under load", "signals", h.res.Swap.Signals, "swaps", h.res.Swap.Swaps, "failed", h.res.Swap.Load.Errors, "err", h.res.Swap.Err)

	if ctx.Err() == nil {
		h.res.Refresh = h.refreshUnderLoad(ctx, in, snapSrc, ct)
	}
	if ctx.Err() == nil {
		h.res.Shared = h.sharedUnderLoad(ctx, in, snapSrc, ct)
		h.log.Info("shared state", "off_cpu_per_req", h.res.Shared.Off.CPUPerReq, "on_cpu_per_req", h.res.Shared.On.CPUPerReq,
			"added_p50", h.res.Shared.AddedP50, "err", h.res.Shared.Err)
	}
	if ctx.Err() == nil {
		h.res.Tenants = h.tenantsUnderLoad(ctx, in, ct)
	}
	if h.opt.stepDur > 0 && ctx.Err() == nil {
		h.rateSearches(ctx, mockURL, nginxURL, np != nil, routed, ct)
	} else if np != nil {
		h.res.Nginx += "; the rate search runs without -quick"
	}
	h.profileAll(ctx, p, profPath, in, snapSrc, ct)
}

// rateSearches runs the three searches back to back in the same run, the
// mock's own first: it is the ceiling of the generator and mock.
func (h *harness) rateSearches(ctx context.Context, mockURL, nginxURL string, nginx bool, routed vegeta.Target, ct chatTarget) {
	h.res.Rates = append(h.res.Rates, rateSearch(ctx, "mock", chatTargetFor(mockURL, "bench-direct", chatBody(ct.Upstream, false)), h.opt.stepDur))
	if nginx {
		h.res.Rates = append(h.res.Rates, rateSearch(ctx, "nginx", chatTargetFor(nginxURL, "bench-direct", chatBody(ct.Upstream, false)), h.opt.stepDur))
	}
	h.res.Rates = append(h.res.Rates, rateSearch(ctx, "routerd", routed, h.opt.stepDur))
}

// profileAll takes the CPU profiles of the plain and streamed loads (after
// routerd's own loads are over) and keeps those of the in-flight shapes.
func (h *harness) profileAll(ctx context.Context, p *proc, profPath string, in *install, snapSrc string, ct chatTarget) {
	if !h.opt.profile {
		return
	}
	h.stopChecked(p, "after the loads")
	shapeCuts := h.res.Profile.Cuts
	if profPath != "" {
		h.res.Profile.Note = "routerd -cpuprofile during all the loads above"
		h.res.Profile.Cuts = []profileCut{{Top: h.pprofTop(ctx, filepath.Join(h.bin, "routerd"), profPath)}}
	} else {
		h.res.Profile = h.profileUnderLoad(ctx, in, snapSrc, ct)
		h.res.Profile.Note = "routerd has no -cpuprofile flag, so the profiles are of the same runtime/server package served by `routerbench serve-profiled` " +
			"(server.New + Serve on the same snapshot, as routerd wires it), one process per load"
	}
	h.res.Profile.Cuts = append(h.res.Profile.Cuts, shapeCuts...)
}

// stopChecked stops routerd and notes in the report when it did not exit
// promptly on SIGTERM with no request in flight.
func (h *harness) stopChecked(p *proc, when string) {
	if p.exited() {
		return
	}
	took, killed := h.ps.stop(p, 20*time.Second)
	switch {
	case killed:
		h.res.Notes = append(h.res.Notes, fmt.Sprintf("routerd did not exit within 20 s of SIGTERM %s (no request in flight) and was killed.", when))
	case took > 2*time.Second:
		h.res.Notes = append(h.res.Notes, fmt.Sprintf("routerd took %s to exit after SIGTERM %s, with no request in flight but the load generator's keep-alive connections still open (some of them never carried a request).", fmtDur(took), when))
	}
}

// routerdHasFlag reports whether `routerd -h` lists -name.
func (h *harness) routerdHasFlag(name string) bool {
	out, _ := exec.Command(filepath.Join(h.bin, "routerd"), "-h").CombinedOutput()
	return bytes.Contains(out, []byte("-"+name+" ")) || bytes.Contains(out, []byte("-"+name+"\n"))
}

// pprofTop summarises a CPU profile of binary with `go tool pprof -top`.
func (h *harness) pprofTop(ctx context.Context, binary, prof string) string {
	cmd := exec.CommandContext(ctx, "go", "tool", "pprof", "-top", "-cum", "-nodecount=35", binary, prof)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Sprintf("go tool pprof failed: %v: %s", err, tail(string(out), 500))
	}
	return string(out)
}

// build compiles the three commands into h.bin.
func (h *harness) build(ctx context.Context) error {
	gd, err := readGODEBUG(h.opt.root)
	if err != nil {
		return err
	}
	h.godebug = gd
	// routerd as `make build` and the CI recipe build it: with its runtime
	// setting compiled in as the binary's default GODEBUG.
	for _, args := range [][]string{
		{"build", "-o", h.bin + string(filepath.Separator), "./cmd/routerc", "./cmd/mockllm"},
		{"build", "-ldflags", "-X=runtime.godebugDefault=" + gd, "-o", filepath.Join(h.bin, "routerd"), "./cmd/routerd"},
	} {
		cmd := exec.CommandContext(ctx, "go", args...)
		cmd.Dir = h.opt.root
		if out, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("go %s: %w\n%s", strings.Join(args, " "), err, tail(string(out), 2000))
		}
	}
	return nil
}

// godebugFile holds routerd's runtime setting (docs/operations.md, "The
// scheduler setting compiled into routerd").
const godebugFile = "cmd/routerd/godebug.txt"

// readGODEBUG reads godebugFile under the module root: one line of
// comma-separated key=value settings.
func readGODEBUG(root string) (string, error) {
	b, err := os.ReadFile(filepath.Join(root, godebugFile))
	if err != nil {
		return "", fmt.Errorf("read routerd's runtime setting: %w", err)
	}
	v := strings.TrimSpace(string(b))
	for _, kv := range strings.Split(v, ",") {
		if k, _, ok := strings.Cut(kv, "="); !ok || k == "" || strings.ContainsAny(kv, " \t\n'\"") {
			return "", fmt.Errorf("%s: %q is not a key=value GODEBUG setting", godebugFile, kv)
		}
	}
	return v, nil
}

// ensureFixture generates fixture name when its config is missing.
func (h *harness) ensureFixture(ctx context.Context, name string) error {
	if _, err := os.Stat(filepath.Join(h.opt.fixtures, name, "config", "router_config.yaml")); err == nil {
		return nil
	}
	h.log.Info("generating fixture", "name", name)
	cmd := exec.CommandContext(ctx, "go", "run", "./fixtures/gen", "-out", h.opt.fixtures, "-only", name)
	cmd.Dir = h.opt.root
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("generate the %s fixture: %w\n%s", name, err, tail(string(out), 1500))
	}
	return nil
}

// startMock runs mockllm with no delay and no request recording.
func (h *harness) startMock(ctx context.Context) error {
	addr, err := freeAddr()
	if err != nil {
		return err
	}
	p, t0, err := h.ps.start("mockllm", filepath.Join(h.tmp, "logs", "mockllm.log"), nil, filepath.Join(h.bin, "mockllm"), "-addr", addr, "-record", "-1")
	if err != nil {
		return err
	}
	wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	c := newClient(2 * time.Second)
	defer c.CloseIdleConnections()
	if _, err := pollUntil(wctx, p, t0, func(ctx context.Context) (bool, error) {
		code, _, err := get(ctx, c, "http://"+addr+"/v1/models", "")
		return err == nil && code == http.StatusOK, err
	}); err != nil {
		return fmt.Errorf("start mockllm: %w", err)
	}
	h.mock, h.mockAddr = p, addr
	return nil
}

// compile runs routerc compile and returns its wall time and peak RSS.
func (h *harness) compile(ctx context.Context, cfg, cache, out string, env []string) (time.Duration, int64, string, error) {
	cmd := exec.CommandContext(ctx, filepath.Join(h.bin, "routerc"), "compile", "-q", "-config", cfg, "-cache", cache, "-o", out)
	cmd.Env = append(os.Environ(), env...)
	var buf bytes.Buffer
	cmd.Stdout, cmd.Stderr = &buf, &buf
	t0 := time.Now()
	err := cmd.Run()
	wall := time.Since(t0)
	if err != nil {
		return 0, 0, "", fmt.Errorf("routerc compile -config %s -cache %s: %w\n%s", cfg, cache, err, tail(buf.String(), 1500))
	}
	var rss int64
	if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
		rss = ru.Maxrss // KiB on Linux
	}
	return wall, rss, buf.String(), nil
}

// measureCompile compiles the scale fixture as it is (provider URLs and
// all) opt.compiles times.
func (h *harness) measureCompile(ctx context.Context) compileResult {
	var r compileResult
	src := filepath.Join(h.opt.fixtures, "scale")
	out := filepath.Join(h.tmp, "compile-scale.snap")
	env, _ := benchEnv(nil)
	var walls []time.Duration
	for i := 0; i < h.opt.compiles; i++ {
		// Start from nothing each time: the same work as a first compile.
		_ = os.Remove(out)
		wall, rss, output, err := h.compile(ctx, filepath.Join(src, "config"), filepath.Join(src, "cache"), out, env)
		if err != nil {
			r.Err = err.Error()
			break
		}
		walls = append(walls, wall)
		r.MaxRSSKB = append(r.MaxRSSKB, rss)
		r.Output = strings.TrimSpace(output)
	}
	if fi, err := os.Stat(out); err == nil {
		r.SnapBytes = fi.Size()
	}
	r.Wall = summarize(walls)
	h.log.Info("compile", "runs", len(walls), "median", r.Wall.Median, "err", r.Err)
	return r
}

// goBenches runs the Go benchmarks the report quotes.
func (h *harness) goBenches(ctx context.Context) {
	quick := h.opt.quick
	pick := func(full, short string) string {
		if quick {
			return short
		}
		return full
	}
	runB := func(pkg, pattern, benchtime string) goBenchResult {
		h.log.Info("go test -bench", "pkg", pkg, "pattern", pattern)
		lines, cmd, err := goBench(ctx, h.opt.root, pkg, pattern, benchtime, h.opt.benchCnt)
		r := goBenchResult{Cmd: cmd, Lines: lines}
		if err != nil {
			r.Err = err.Error()
		}
		h.res.Commands = append(h.res.Commands, cmd)
		return r
	}
	h.res.FormatBench = runB("./format", "^BenchmarkOpen$", pick("300ms", "100ms"))
	h.res.RouteBench = runB("./runtime/route", "^BenchmarkRoute$/^(tags3|physical)$", pick("20000x", "2000x"))
	if hasTimingTest(filepath.Join(h.opt.root, "compiler")) {
		h.res.CompilerBench = runB("./compiler", ".", pick("3x", "1x"))
	}
}

// hasTimingTest reports whether dir has a *_timing_test.go file.
func hasTimingTest(dir string) bool {
	m, _ := filepath.Glob(filepath.Join(dir, "*_timing_test.go"))
	return len(m) > 0
}

// measureOpen times format.Open on the snapshot's bytes and snapshot.Load
// (mmap, full validation, staleness check of the sources, Close) on the
// file, both with the file in the page cache.
func (h *harness) measureOpen(name, path string, in *install) openResult {
	r := openResult{Fixture: name}
	buf, err := os.ReadFile(path)
	if err != nil {
		r.Err = err.Error()
		return r
	}
	r.Bytes = int64(len(buf))
	var opens, loads []time.Duration
	quiet := slog.New(slog.DiscardHandler)
	for i := 0; i < h.opt.openRuns+1; i++ {
		t0 := time.Now()
		s, err := format.Open(buf)
		d := time.Since(t0)
		if err != nil {
			r.Err = fmt.Sprintf("format.Open: %v", err)
			return r
		}
		r.Pairs = s.NumPairs()
		t0 = time.Now()
		m, err := snapshot.Load(context.Background(), snapshot.Options{Path: path, ConfigDir: in.ConfigDir, CacheDir: in.CacheDir, Logger: quiet})
		if err == nil {
			err = m.Close()
		}
		dl := time.Since(t0)
		if err != nil {
			r.Err = fmt.Sprintf("snapshot.Load: %v", err)
			return r
		}
		if i == 0 {
			continue // the first run pays for faults and lazy init
		}
		opens, loads = append(opens, d), append(loads, dl)
		runtime.GC() // keep one run's garbage out of the next
	}
	r.Open, r.Load = summarize(opens), summarize(loads)
	h.log.Info("open+validate", "fixture", name, "open_median", r.Open.Median, "load_median", r.Load.Median)
	return r
}

// fallbackResult is snapshot.Load of a stale snapshot with the compiler's
// in-memory build as the fallback, in this process.
type fallbackResult struct {
	Load dist
	Mode string
	Err  string
}

// measureFallback times what a start with a stale snapshot does before it
// can serve: snapshot.Load finds the file stale and builds a snapshot from
// the YAML and the JSON caches with compiler.BuildBytes, then validates it.
func (h *harness) measureFallback(ctx context.Context, stale *install, snapSrc string) fallbackResult {
	var r fallbackResult
	quiet := slog.New(slog.DiscardHandler)
	path := filepath.Join(h.tmp, "fallback.snap")
	var runs []time.Duration
	n := max(h.opt.compiles, 1)
	for i := 0; i < n+1 && ctx.Err() == nil; i++ {
		if err := copyFile(snapSrc, path); err != nil {
			r.Err = err.Error()
			return r
		}
		t0 := time.Now()
		m, err := snapshot.Load(ctx, snapshot.Options{
			Path: path, ConfigDir: stale.ConfigDir, CacheDir: stale.CacheDir, Logger: quiet,
			Fallback: func(context.Context) ([]byte, error) {
				return compiler.BuildBytes(stale.ConfigDir, stale.CacheDir, compiler.Options{}, nil)
			},
		})
		d := time.Since(t0)
		if err != nil {
			r.Err = fmt.Sprintf("snapshot.Load with the compiler as fallback: %v", err)
			return r
		}
		r.Mode = string(m.Info().Mode)
		if err := m.Close(); err != nil {
			r.Err = err.Error()
			return r
		}
		if r.Mode != "json-fallback" {
			r.Err = fmt.Sprintf("snapshot.Load served mode %q, want json-fallback: the snapshot was not found stale", r.Mode)
			return r
		}
		if i > 0 { // the first run warms the page cache for the 50 MB of JSON
			runs = append(runs, d)
		}
		runtime.GC()
	}
	r.Load = summarize(runs)
	h.log.Info("fallback build in process", "runs", len(runs), "median", r.Load.Median)
	return r
}

// machine describes where the figures were taken.
type machine struct {
	CPU       string
	Cores     int
	GoVersion string
	OS        string
	LoadStart string
	LoadEnd   string
}

func readMachine() machine {
	m := machine{Cores: runtime.NumCPU(), GoVersion: runtime.Version(), OS: runtime.GOOS + "/" + runtime.GOARCH, LoadStart: loadAvg()}
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		m.CPU = cpuModel(string(b))
	}
	if out, err := exec.Command("go", "env", "GOVERSION").Output(); err == nil {
		m.GoVersion = strings.TrimSpace(string(out))
	}
	return m
}

// cpuModel returns the first "model name" of /proc/cpuinfo text.
func cpuModel(cpuinfo string) string {
	for _, line := range strings.Split(cpuinfo, "\n") {
		k, v, ok := strings.Cut(line, ":")
		if ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return "unknown"
}

// loadAvg returns the 1-minute load average, or "".
func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return ""
	}
	f := strings.Fields(string(b))
	if len(f) == 0 {
		return ""
	}
	return f[0]
}
