package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"smartrouter/compiler"
	"smartrouter/compiler/diag"
	"smartrouter/compiler/discover"
)

// The refresh work in a child process. Model discovery, key validation
// and the compile of a refresh read and write caches of tens of megabytes
// (the discovery cache of a real installation reaches 50 MB): done inside
// routerd they took a core from the requests for hundreds of milliseconds
// and grew routerd's heap, and so its RSS, by a multiple of the cache. So
// routerd runs each of them in a child process of its own binary
// (`routerd __refresh-child <work> …`), which lowers itself to the lowest
// CPU priority (childNice) before it starts: the kernel gives the serving
// process the cores first, the child's garbage collector never stops or
// taxes the serving goroutines, and its memory is returned whole when it
// exits. The child writes a small
// JSON answer on stdout (childAnswer); a compiled snapshot goes to a
// temporary file beside the snapshot file, which routerd reads, validates
// and writes as before. When routerd's own executable cannot be found, the
// work runs in process as before.

// childArg is the first argument that makes routerd run one piece of
// refresh work and exit.
const childArg = "__refresh-child"

// The work a child does.
const (
	childDiscover = "discover"
	childKeys     = "validate-keys"
	childBuild    = "build"
)

// childNice is the nice value of the child (the lowest priority).
const childNice = 19

// childKillDelay is how long a canceled child has to stop after SIGTERM.
const childKillDelay = 5 * time.Second

// childAnswer is what a child writes on stdout.
type childAnswer struct {
	Changed  bool   `json:"changed"`
	OK       int    `json:"ok,omitempty"`
	Failed   int    `json:"failed,omitempty"`
	Warnings int    `json:"warnings,omitempty"`
	Error    string `json:"error,omitempty"`
}

// childRequest is one piece of work for a child.
type childRequest struct {
	Work        string
	ConfigDir   string
	CacheDir    string
	Concurrency int    // discovery and key validation: providers asked at once (0: default)
	Generation  uint64 // build
	Out         string // build: the file the snapshot is written to
}

func (r childRequest) args() []string {
	return []string{childArg, r.Work, "-config", r.ConfigDir, "-cache", r.CacheDir,
		"-concurrency", strconv.Itoa(r.Concurrency), "-generation", strconv.FormatUint(r.Generation, 10), "-out", r.Out}
}

// runChild is routerd __refresh-child: it does the work and writes the
// answer to stdout. Errors go into the answer (exit 1).
func runChild(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprintln(stderr, "routerd: "+childArg+" needs the work to do; routerd runs it itself during a refresh")
		return 2
	}
	req := childRequest{Work: args[0]}
	fs := flag.NewFlagSet("routerd "+childArg, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&req.ConfigDir, "config", "", "")
	fs.StringVar(&req.CacheDir, "cache", "", "")
	fs.IntVar(&req.Concurrency, "concurrency", 0, "")
	fs.Uint64Var(&req.Generation, "generation", 0, "")
	fs.StringVar(&req.Out, "out", "", "")
	if err := fs.Parse(args[1:]); err != nil {
		return 2
	}
	// routerd cancels a child with SIGTERM (Stop, the refresh timeout):
	// discovery then stops without touching the cache.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	_ = lowerPriority() // best effort: the work is the same at any priority
	ans, err := doChildWork(ctx, req)
	if err != nil {
		ans.Error = err.Error()
	}
	_ = json.NewEncoder(stdout).Encode(ans)
	if err != nil {
		return 1
	}
	return 0
}

// doChildWork does one piece of refresh work, in the child or, as a
// fallback, in routerd itself.
func doChildWork(ctx context.Context, req childRequest) (childAnswer, error) {
	var ans childAnswer
	switch req.Work {
	case childDiscover:
		rep, err := discover.Run(ctx, discover.Options{ConfigDir: req.ConfigDir, CacheDir: req.CacheDir, Concurrency: req.Concurrency})
		if err != nil {
			return ans, err
		}
		ans.OK, ans.Failed, _ = rep.Counts()
		ans.Changed = rep.Changed
	case childKeys:
		rep, err := discover.ValidateKeys(ctx, discover.KeyOptions{ConfigDir: req.ConfigDir, CacheDir: req.CacheDir, Concurrency: req.Concurrency})
		if err != nil {
			return ans, err
		}
		ans.Changed = rep.Changed
	case childBuild:
		if req.Out == "" {
			return ans, errors.New("build needs -out")
		}
		var w diag.Warnings
		// One worker: even at the lowest priority, the build never has
		// more than one core busy beside the requests.
		b, err := compiler.BuildBytes(req.ConfigDir, req.CacheDir, compiler.Options{Generation: req.Generation, Workers: 1}, &w)
		if err != nil {
			return ans, fmt.Errorf("compile -config %s and -cache %s (run routerc compile on them to see the details): %w", req.ConfigDir, req.CacheDir, err)
		}
		ans.Warnings = w.Len()
		if err := os.WriteFile(req.Out, b, 0o600); err != nil {
			return ans, fmt.Errorf("write the built snapshot: %w", err)
		}
		ans.Changed = true
	default:
		return ans, fmt.Errorf("unknown refresh work %q", req.Work)
	}
	return ans, nil
}

// refreshWorker runs refresh work in child processes of routerd's own
// binary (exe), or in process when exe is "".
type refreshWorker struct {
	exe string
}

// newRefreshWorker runs the children from the running binary itself
// (/proc/self/exe: the same version even when the file was replaced by an
// upgrade since routerd started), else from os.Executable.
func newRefreshWorker() refreshWorker {
	if fi, err := os.Stat("/proc/self/exe"); err == nil && fi.Mode().IsRegular() {
		return refreshWorker{exe: "/proc/self/exe"}
	}
	exe, err := os.Executable()
	if err != nil {
		return refreshWorker{}
	}
	return refreshWorker{exe: exe}
}

// do runs req and returns its answer.
func (rw refreshWorker) do(ctx context.Context, req childRequest) (childAnswer, error) {
	if rw.exe == "" {
		return doChildWork(ctx, req)
	}
	cmd := exec.CommandContext(ctx, rw.exe, req.args()...)
	// Canceled: SIGTERM first, so that the child stops cleanly (no
	// temporary file left beside a cache), SIGKILL after childKillDelay.
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGTERM) }
	cmd.WaitDelay = childKillDelay
	var out, errOut bytes.Buffer
	cmd.Stdout = &out
	cmd.Stderr = &limitedBuffer{buf: &errOut, max: 16 << 10}
	if err := cmd.Start(); err != nil {
		if ctx.Err() != nil {
			return childAnswer{}, ctx.Err()
		}
		return doChildWork(ctx, req) // cannot start a process: do it here
	}
	werr := cmd.Wait()
	var ans childAnswer
	if jerr := json.Unmarshal(bytes.TrimSpace(out.Bytes()), &ans); jerr != nil {
		if ctx.Err() != nil {
			return ans, ctx.Err()
		}
		// The first line of what it printed (a panic's message, not its
		// stack), and how it ended.
		msg, _, _ := strings.Cut(strings.TrimSpace(errOut.String()), "\n")
		if len(msg) > 300 {
			msg = msg[:300] + "…"
		}
		if werr != nil {
			msg = strings.TrimSpace(msg + " (" + werr.Error() + ")")
		}
		return ans, fmt.Errorf("the refresh child (%s) gave no answer: %s; run routerc on the same folders to see the problem", req.Work, msg)
	}
	if ans.Error != "" {
		return ans, errors.New(ans.Error)
	}
	return ans, nil
}

// build compiles in a child and returns the snapshot's bytes.
func (rw refreshWorker) build(ctx context.Context, configDir, cacheDir, snapPath string, gen uint64) ([]byte, int, error) {
	req := childRequest{Work: childBuild, ConfigDir: configDir, CacheDir: cacheDir, Generation: gen}
	f, err := os.CreateTemp(filepath.Dir(snapPath), "."+filepath.Base(snapPath)+".build-*")
	if err != nil {
		return nil, 0, fmt.Errorf("create a temporary file beside %s: %w; check that the folder is writable", snapPath, err)
	}
	req.Out = f.Name()
	_ = f.Close()
	defer os.Remove(req.Out)
	ans, err := rw.do(ctx, req)
	if err != nil {
		return nil, 0, err
	}
	b, err := os.ReadFile(req.Out)
	if err != nil {
		return nil, 0, fmt.Errorf("read the built snapshot: %w", err)
	}
	return b, ans.Warnings, nil
}

// lowerPriority sets every thread of this process to nice childNice. On
// Linux the nice value belongs to a thread, and a new thread inherits its
// creator's; the runtime may start a thread while the list is walked, so
// it is walked until every thread is lowered (a few passes at most).
// Lowering one's own priority needs no privilege. routerd itself is never
// lowered, not even the thread that forks the child: a low-priority thread
// holding one of routerd's Ps, or late to a stop-the-world, would stall
// the requests.
func lowerPriority() error {
	for range 5 {
		ents, err := os.ReadDir("/proc/self/task")
		if err != nil {
			// No /proc: this thread at least, and those it starts.
			return syscall.Setpriority(syscall.PRIO_PROCESS, 0, childNice)
		}
		all := true
		for _, e := range ents {
			tid, err := strconv.Atoi(e.Name())
			if err != nil {
				continue
			}
			// The raw getpriority system call answers 20 - nice.
			if p, err := syscall.Getpriority(syscall.PRIO_PROCESS, tid); err == nil && 20-p == childNice {
				continue
			}
			all = false
			_ = syscall.Setpriority(syscall.PRIO_PROCESS, tid, childNice)
		}
		if all {
			return nil
		}
	}
	return nil
}

// limitedBuffer keeps the first max bytes written to it.
type limitedBuffer struct {
	buf *bytes.Buffer
	max int
}

func (l *limitedBuffer) Write(p []byte) (int, error) {
	if room := l.max - l.buf.Len(); room > 0 {
		l.buf.Write(p[:min(len(p), room)])
	}
	return len(p), nil
}
