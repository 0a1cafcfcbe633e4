// Command routerbench measures smartrouter against its performance targets
// and rewrites the generated part of docs/benchmarks.md:
//
//	go run ./cmd/routerbench [-quick] [-out docs/benchmarks.md]
//
// It builds routerd, routerc and mockllm into a temporary folder, generates
// the scale and growth fixtures when they are missing, compiles snapshots
// with routerc, and then measures, each phase on its own so that one failure
// does not hide the others:
//
//   - compile: routerc on the scale fixture (wall time, peak RSS);
//   - the Go benchmarks of format (open + validate) and runtime/route
//     (route decision), parsed from `go test -bench` output, and open +
//     validate of the compiled snapshots in this process;
//   - cold start: exec routerd → first 200 on /health, and → first answered
//     chat completion through the mock, on the scale and growth fixtures and
//     with a stale snapshot (JSON fallback), with peak and idle RSS;
//   - overhead: a fixed-rate load (vegeta) straight to the mock, through
//     routerd and, when nginx is installed, through nginx in front of the
//     same mock (a keep-alive reverse proxy the harness configures and
//     starts), in alternating rounds, plain and streamed, with each
//     proxy's CPU time per request, and the same request as an Anthropic
//     Messages one (POST /v1/messages) through routerd, whose CPU per
//     request is compared with chat's;
//   - requests in flight (inflight.go): slow mocks (an answer in 1 s,
//     1-second and 10-second streams) at fixed rates that hold 1,000 and up
//     to 10,000 requests in flight, through routerd and nginx, with RSS and
//     memory per request in flight, and profiles at the plateau;
//   - swap: SIGHUP every 100 ms during a fixed-rate load;
//   - refresh (refresh.go): POST /v1/admin/refresh every 3 s during a
//     fixed-rate load, with the mock answering each channel's model list
//     as the fixture's discovery cache has it (mockmodels.go);
//   - shared state (shared.go): CPU per request with Redis on and off;
//   - tenants (tenants.go): CPU per request and added p50 with a client
//     key, its limits and the usage ledger on and off, two routerd in
//     alternating rounds, and the Go benchmarks of the per-request key +
//     limit + ledger work and of the ledger's throughput;
//   - the highest fixed rate held with p99 < 50 ms and no error, for the
//     mock alone, nginx and routerd, back to back.
//
// Only the part of the output file between the routerbench markers is
// rewritten; sections written by hand are kept.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"
)

// options are the harness's settings, from its flags.
type options struct {
	quick    bool
	out      string
	keep     bool
	root     string // module root
	fixtures string // folder with scale/ and growth/
	starts   int    // cold starts per measurement
	loadDur  time.Duration
	rate     int
	warmup   time.Duration
	idle     time.Duration // wait before reading the idle RSS
	stepDur  time.Duration // per step of the rate search; 0 skips it
	rounds   int           // the overhead load is split into this many alternating rounds
	openRuns int
	compiles int
	benchCnt int
	profile  bool
	only     string // "refresh": only the refresh-under-load phase
	shape    string // the in-flight phase runs only this shape (its key), when set
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	err := run(ctx, os.Args[1:], os.Stderr)
	if errors.Is(err, flag.ErrHelp) {
		return
	}
	if err != nil {
		stop()
		fmt.Fprintln(os.Stderr, "routerbench:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, stderr io.Writer) error {
	if len(args) > 0 && args[0] == serveProfiledCmd {
		return serveProfiled(args[1:], stderr)
	}
	opt, err := parseFlags(args, stderr)
	if err != nil {
		return err
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	tmp, err := os.MkdirTemp("", "routerbench-")
	if err != nil {
		return fmt.Errorf("create a temporary folder: %w", err)
	}
	h := &harness{opt: opt, tmp: tmp, bin: filepath.Join(tmp, "bin"), log: log, res: &results{Quick: opt.quick, Rounds: opt.rounds}}
	defer func() {
		h.ps.stopAll()
		if opt.keep {
			log.Info("kept the temporary folder", "dir", tmp)
		} else {
			os.RemoveAll(tmp)
		}
	}()
	if err := h.runAll(ctx); err != nil {
		return err
	}
	section := renderReport(h.res)
	old, err := os.ReadFile(opt.out)
	if err != nil && !os.IsNotExist(err) {
		return fmt.Errorf("read %s: %w", opt.out, err)
	}
	doc, err := rewriteMarked(string(old), section)
	if err != nil {
		return fmt.Errorf("%s: %w", opt.out, err)
	}
	if err := os.WriteFile(opt.out, []byte(doc), 0o644); err != nil {
		return fmt.Errorf("write %s: %w", opt.out, err)
	}
	log.Info("wrote the report", "file", opt.out, "missed_targets", len(h.res.Missed))
	return nil
}

func parseFlags(args []string, stderr io.Writer) (options, error) {
	fs := flag.NewFlagSet("routerbench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var opt options
	fs.BoolVar(&opt.quick, "quick", false, "short runs for a smoke test (3 starts, 2 s loads, no rate search)")
	fs.StringVar(&opt.out, "out", "docs/benchmarks.md", "markdown file whose routerbench section is rewritten")
	fs.BoolVar(&opt.keep, "keep", false, "keep the temporary folder (binaries, snapshots, process logs)")
	fs.StringVar(&opt.fixtures, "fixtures", "fixtures/generated", "folder of the scale and growth fixtures (generated when missing)")
	fs.IntVar(&opt.rate, "rate", 1000, "requests per second of the overhead and swap loads")
	fs.BoolVar(&opt.profile, "profile", false, "also take a CPU profile of the server under load (routerd's -cpuprofile when it has one, else the same server package run by this harness)")
	fs.StringVar(&opt.only, "only", "", "run only one phase: refresh (refresh → compile → swap under load, refresh.go), overhead (the chat and Messages loads through routerd and nginx) inflight (slow upstreams: 1,000 and up to 10,000 requests in flight, inflight.go) shared (CPU per request with Redis shared state on and off, shared.go) tenants (CPU per request with a client key, limits and the usage ledger on and off, and the ledger's Go benchmarks, tenants.go) rate (the highest rate held by the mock, nginx and routerd) or start (the cold starts of the scale and growth fixtures, start.go); the report shows only it")
	fs.StringVar(&opt.shape, "shape", "", "run only this shape of the in-flight phase: plain-1s, stream-1s or stream-10s (all when empty)")
	if err := fs.Parse(args); err != nil {
		return opt, err
	}
	if opt.shape != "" && opt.shape != "plain-1s" && opt.shape != "stream-1s" && opt.shape != "stream-10s" {
		return opt, fmt.Errorf("-shape %q: the in-flight shapes are plain-1s, stream-1s and stream-10s", opt.shape)
	}
	if phases := []string{"refresh", "overhead", "inflight", "shared", "tenants", "rate", "start"}; opt.only != "" && !slices.Contains(phases, opt.only) {
		return opt, fmt.Errorf("-only %q: the phases that run alone are %s", opt.only, strings.Join(phases, ", "))
	}
	if fs.NArg() > 0 {
		return opt, fmt.Errorf("unexpected argument %q; see -h", fs.Arg(0))
	}
	if opt.rate <= 0 {
		return opt, fmt.Errorf("-rate %d: want a positive rate", opt.rate)
	}
	root, err := moduleRoot()
	if err != nil {
		return opt, err
	}
	opt.root = root
	if !filepath.IsAbs(opt.fixtures) {
		opt.fixtures = filepath.Join(root, opt.fixtures)
	}
	if opt.out, err = filepath.Abs(opt.out); err != nil {
		return opt, err
	}
	if opt.quick {
		opt.starts, opt.loadDur, opt.warmup, opt.idle = 3, 2*time.Second, 500*time.Millisecond, 100*time.Millisecond
		opt.openRuns, opt.compiles, opt.benchCnt, opt.rounds = 5, 1, 1, 1
		if opt.only == "rate" {
			opt.stepDur = 2 * time.Second
		}
	} else {
		opt.starts, opt.loadDur, opt.warmup, opt.idle = 9, 10*time.Second, 2*time.Second, 500*time.Millisecond
		opt.stepDur = 3 * time.Second
		opt.openRuns, opt.compiles, opt.benchCnt, opt.rounds = 31, 3, 5, 5
	}
	return opt, nil
}

// moduleRoot is the folder of the go.mod that `go env GOMOD` names.
func moduleRoot() (string, error) {
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOMOD: %w (run routerbench from inside the smartrouter module)", err)
	}
	mod := strings.TrimSpace(string(out))
	if mod == "" || mod == os.DevNull {
		return "", fmt.Errorf("not inside a Go module; run routerbench from the smartrouter checkout")
	}
	return filepath.Dir(mod), nil
}
