// Command routerd serves OpenAI-compatible chat completions, routing each
// request across provider channels with the snapshot that routerc compiled.
//
// It serves the snapshot file given with -snapshot, the snapshot bundled into
// the binary by "routerc bundle", or one built from -config; the built-in
// demo only when given neither (see startup.go for the order). It listens on
// 127.0.0.1:7601 unless told otherwise, reloads the snapshot on SIGHUP and
// drains in-flight requests on SIGTERM or SIGINT before exiting 0. See
// runtime/server/README.md for the HTTP surface.
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
	"os/signal"
	"strings"
	"syscall"
	"time"

	"smartrouter/runtime/cluster"
	"smartrouter/runtime/server"
)

// version is shown by GET / and -version.
const version = "0.1.0"

// defaultSnapshot is used when -snapshot is not given and it exists.
const defaultSnapshot = "router.snap"

type flags struct {
	snapshot     string
	configDir    string
	cacheDir     string
	addr         string
	writeBack    bool
	drainTimeout time.Duration
	logLevel     string
	logFormat    string
	version      bool

	// Limits (runtime/server/limits.go, docs/operations.md).
	maxConns      int
	maxConnsPerIP int
	idleTimeout   time.Duration
	readTimeout   time.Duration
	writeTimeout  time.Duration
	memoryLimit   byteSize
	memorySet     bool // -memory-limit was given
	demo          bool
	usageDB       string // -usage-db (usage.go)
}

func parseFlags(args []string, stderr io.Writer) (*flags, error) {
	f := &flags{}
	fs := flag.NewFlagSet("routerd", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&f.snapshot, "snapshot", "", "snapshot `file` written by routerc (default: the snapshot bundled into this binary, else "+defaultSnapshot+" when it exists, else built from -config; see docs/operations.md)")
	fs.StringVar(&f.configDir, "config", "", "config `dir` the snapshot was compiled from (staleness check and JSON fallback)")
	fs.StringVar(&f.cacheDir, "cache", "", "cache `dir` the snapshot was compiled from (default: the cache folder beside -config, when it exists)")
	fs.StringVar(&f.addr, "addr", "", "listen `address` host:port (default: server.host/server.port of the snapshot, with 0.0.0.0 read as 127.0.0.1; else 127.0.0.1:7601)")
	fs.BoolVar(&f.writeBack, "write-back", false, "write a JSON-fallback build to the -snapshot file so the next start maps it")
	fs.DurationVar(&f.drainTimeout, "drain-timeout", 15*time.Second, "how long SIGTERM/SIGINT waits for in-flight requests")
	fs.StringVar(&f.logLevel, "log-level", "info", "log level: debug, info, warn, error")
	fs.StringVar(&f.logFormat, "log-format", "text", "log format: text or json")
	fs.BoolVar(&f.version, "version", false, "print the version and exit")
	fs.IntVar(&f.maxConns, "max-conns", 0, "most open client connections; at the cap the oldest idle one is closed, else new ones get 503 (0: half the open-file limit less a reserve; -1: no cap)")
	fs.IntVar(&f.maxConnsPerIP, "max-conns-per-ip", 0, "most open connections from one client address (0: no cap)")
	fs.DurationVar(&f.idleTimeout, "idle-timeout", server.DefaultIdleTimeout, "how long a keep-alive connection may wait for its next request")
	fs.DurationVar(&f.readTimeout, "read-timeout", server.DefaultReadTimeout, "how long reading one request may take (a new connection must send its request within it)")
	fs.DurationVar(&f.writeTimeout, "write-timeout", server.DefaultWriteTimeout, "how long one write to a client may block; a client that stops reading is cut after it (-1s: none)")
	f.memoryLimit = defaultMemoryLimit
	fs.Var(&f.memoryLimit, "memory-limit", "memory `size` the process aims to stay under (sets GOMEMLIMIT; new chat requests get 503 overloaded above 90% of it), e.g. 500MB, 1GiB; 0: none (default 500MiB, or GOMEMLIMIT when set)")
	fs.StringVar(&f.usageDB, "usage-db", "", "usage ledger `file` (SQLite) or postgres:// URL (PostgreSQL; prefer usage.path: ${VAR} for a URL with a password); overrides usage.path; \"off\": no ledger, recent requests in memory only; default: usage.db beside the snapshot file, else in the cache folder)")
	fs.BoolVar(&f.demo, "demo", false, "serve the built-in demo snapshot (mock channels on 127.0.0.1:7700, auth off)")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	fs.Visit(func(fl *flag.Flag) {
		if fl.Name == "memory-limit" {
			f.memorySet = true
		}
	})
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected argument %q; routerd takes only flags (see -h)", fs.Arg(0))
	}
	return f, nil
}

func newLogger(f *flags, w io.Writer) (*slog.Logger, error) {
	var lvl slog.Level
	if err := lvl.UnmarshalText([]byte(f.logLevel)); err != nil {
		return nil, fmt.Errorf("-log-level %q: use debug, info, warn or error: %w", f.logLevel, err)
	}
	o := &slog.HandlerOptions{Level: lvl}
	switch strings.ToLower(f.logFormat) {
	case "text":
		return slog.New(slog.NewTextHandler(w, o)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, o)), nil
	}
	return nil, fmt.Errorf("-log-format %q: use text or json", f.logFormat)
}

func main() {
	if len(os.Args) > 1 && os.Args[1] == childArg {
		// One piece of a refresh, run by routerd itself (refreshchild.go).
		os.Exit(runChild(os.Args[2:], os.Stdout, os.Stderr))
	}
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// run is main without the exit, for tests: it returns the exit code.
func run(args []string, stdout, stderr io.Writer) int {
	procStart := time.Now()
	f, err := parseFlags(args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintln(stderr, "routerd:", err)
		return 2
	}
	if f.version {
		fmt.Fprintln(stdout, "routerd", version)
		return 0
	}
	log, err := newLogger(f, stderr)
	if err != nil {
		fmt.Fprintln(stderr, "routerd:", err)
		return 2
	}

	so, bundleRead, err := snapshotOptions(f, log)
	if err != nil {
		log.Error("cannot start", "error", err)
		return 1
	}
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, syscall.SIGHUP, syscall.SIGTERM, syscall.SIGINT)
	defer signal.Stop(sigs)

	nofile := raiseFileLimit(log)
	memLimit := applyMemoryLimit(f, log)
	ctx := context.Background()
	clients := cluster.NewClientCounters() // local until startCluster attaches a node
	sopts := server.Options{Snapshot: so, Logger: log, Version: version,
		MaxConns: f.maxConns, MaxConnsPerIP: f.maxConnsPerIP,
		IdleTimeout: f.idleTimeout, ReadTimeout: f.readTimeout, WriteTimeout: f.writeTimeout,
		MemoryLimit: memLimit, ClientCounters: clients}
	bg := newBackground(so, &sopts, log) // tasks.go
	srv, err := server.New(ctx, sopts)
	if err != nil {
		log.Error("cannot start", "error", err)
		return 1
	}
	memLimit = settingsMemoryLimit(f, srv, memLimit, log)                 // limits.go
	node, err := startCluster(ctx, srv, clients, so.Path, lookupEnv, log) // cluster.go
	if err != nil {
		log.Error("cannot start", "error", err)
		_ = srv.Shutdown(ctx)
		return 1
	}
	ledger, err := prepareUsage(f, so, srv, log) // usage.go; the database is opened after listening
	if err != nil {
		log.Error("cannot start", "error", err)
		stopCluster(ctx, node)
		_ = srv.Shutdown(ctx)
		return 1
	}
	bg.node = node
	if err := bg.start(ctx, srv); err != nil {
		log.Error("cannot start the background tasks", "error", err)
		stopCluster(ctx, node)
		_ = srv.Shutdown(ctx)
		ledger.abandon()
		return 1
	}
	addr, mapped := srv.ListenAddr(f.addr)
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		log.Error("cannot listen; pick another address with -addr", "addr", addr, "error", err)
		bg.stop(ctx)
		stopCluster(ctx, node)
		_ = srv.Shutdown(ctx)
		ledger.abandon()
		return 1
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	if ledger != nil {
		go ledger.attach(srv, node, log) // usage.go
	}
	recordStart(srv, procStart, bundleRead, log)
	info := srv.Manager().Info()
	args2 := []any{"addr", ln.Addr().String(), "version", version, "generation", info.Generation, "mode", info.Mode,
		"max_conns", srv.MaxConns(), "open_file_limit", nofile, "memory_limit", byteSize(memLimit).String()}
	if mapped {
		args2 = append(args2, "note", "server.host 0.0.0.0 is served on 127.0.0.1; use -addr 0.0.0.0:PORT to listen on all interfaces")
	}
	log.Info("routerd listening", args2...)
	noteGODEBUG(log) // godebug.go

	for {
		select {
		case err := <-served:
			if err != nil {
				log.Error("server stopped", "error", err)
				bg.stop(ctx)
				stopCluster(ctx, node)
				_ = srv.Shutdown(ctx)
				closeUsage(ledger.wait(), log)
				return 1
			}
			closeUsage(ledger.wait(), log)
			return 0
		case sig := <-sigs:
			if sig == syscall.SIGHUP {
				// The snapshot manager writes the one line saying what
				// happened (reloaded, or failed with the old one serving).
				go func() { _, _ = srv.Reload(ctx) }()
				continue
			}
			log.Info("shutting down: draining in-flight requests", "signal", sig.String(), "timeout", f.drainTimeout)
			dctx, cancel := context.WithTimeout(ctx, f.drainTimeout)
			bg.stop(dctx)
			stopCluster(dctx, node)
			err := srv.Shutdown(dctx)
			cancel()
			if err != nil {
				log.Warn("drain timeout reached; remaining requests were cut", "error", err)
			}
			<-served
			closeUsage(ledger.wait(), log) // after the drain: every request's record is queued
			log.Info("stopped")
			return 0
		}
	}
}
