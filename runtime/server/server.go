package server

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gofiber/fiber/v2"

	"smartrouter/runtime/metrics"
	"smartrouter/runtime/route"
	"smartrouter/runtime/snapshot"
	"smartrouter/runtime/upstream"
	"smartrouter/runtime/usage"
)

// Defaults of Options' zero fields and of unset settings.
const (
	DefaultBodyLimit   = 10 << 20 // bytes, when the snapshot sets no server.max_request_size
	DefaultReadTimeout = 60 * time.Second
	DefaultIdleTimeout = 120 * time.Second
	DefaultHost        = "127.0.0.1"
	DefaultPort        = 7601
	Name               = "smartrouter"
)

// Options configure a Server.
type Options struct {
	// Snapshot configures the snapshot manager. OnPublish and Observer, when
	// set, run after the server's own (which builds the per-snapshot state
	// and records metrics).
	Snapshot snapshot.Options

	Logger    *slog.Logger                     // nil: slog.Default()
	LookupEnv func(name string) (string, bool) // resolves ${ENV} secrets; nil: os.LookupEnv
	Clock     func() time.Time                 // the live routing state's clock; nil: time.Now
	Version   string                           // shown by GET /; "" = "dev"
	// BodyLimit is the largest request body read, in bytes; 0 takes the
	// first snapshot's server.max_request_size (DefaultBodyLimit when unset).
	// It is fixed for the life of the server; a reloaded snapshot can only
	// lower the limit its requests get.
	BodyLimit   int
	ReadTimeout time.Duration // reading one request; 0: DefaultReadTimeout
	IdleTimeout time.Duration // idle keep-alive connections; 0: DefaultIdleTimeout
	// Metrics receives the server's metrics; nil: a new registry with the Go
	// and process collectors.
	Metrics *metrics.Metrics
	// ProbeTick is how often the recovery prober looks for auth-cooled and
	// unhealthy channels (see probe.go); 0: DefaultProbeTick, < 0: off.
	ProbeTick time.Duration
	// ProbeSpacing is the least time between two probes of one channel;
	// 0: DefaultProbeSpacing.
	ProbeSpacing time.Duration

	// Limits (limits.go). MaxConns caps open client connections; 0:
	// DefaultMaxConns of the process's descriptor limit; < 0: no cap.
	MaxConns int
	// MaxConnsPerIP caps the open connections of one client address;
	// 0: no cap.
	MaxConnsPerIP int
	// WriteTimeout bounds each write to a client (a client that stops
	// reading is cut after it); 0: DefaultWriteTimeout; < 0: none.
	WriteTimeout time.Duration
	// MemoryLimit, in bytes, is what new chat requests are shed against:
	// above MemoryHighWater of it they get 503 overloaded; 0: no shedding.
	// The server does not set the Go runtime's limit (GOMEMLIMIT): the
	// process does (cmd/routerd).
	MemoryLimit int64
	// MemoryHighWater is the fraction of MemoryLimit above which requests
	// are shed; 0: DefaultMemoryHighWater.
	MemoryHighWater float64
	// MemoryReader reads the memory in use; nil: ReadMemoryInUse. For
	// tests.
	MemoryReader func() uint64
	// ShedInterval is how often memory use is read; 0:
	// DefaultShedInterval; < 0: never by the server (tests read by hand).
	ShedInterval time.Duration

	// Usage receives one record per request (runtime/usage); nil: a new
	// recorder (in-memory ring only, until a ledger is attached to it).
	Usage *usage.Recorder
}

// Server is routerd's HTTP server: the fiber app, the snapshot manager, the
// live routing state and the metrics.
type Server struct {
	opts      Options
	log       *slog.Logger
	lookupEnv func(string) (string, bool)
	version   string
	bodyLimit int

	mgr  *snapshot.Manager
	live *route.Live
	met  *metrics.Metrics
	app  *fiber.App

	baseCtx    context.Context // upstream calls; canceled when a shutdown gives up draining
	cancelBase context.CancelFunc

	clientMu  sync.Mutex
	client    *upstream.Client
	clientCfg upstream.Config

	pool    sync.Pool // *work
	idPref  [12]byte  // request id prefix (random, per process)
	idSeq   atomic.Uint64
	closing atomic.Bool
	debug   bool // the logger is at debug level: one line per request
	lnMu    sync.Mutex
	lns     []net.Listener
	conns   connTracker
	started time.Time
	probes  prober
	ext     extensions // background tasks and request patterns (tasks.go)
	shed    *shedder
	usage   *usage.Recorder
}

// New loads the first snapshot (see snapshot.Load) and builds the server.
// It does not listen: call Serve or Listen.
func New(ctx context.Context, opts Options) (*Server, error) {
	s := &Server{opts: opts, log: opts.Logger, lookupEnv: opts.LookupEnv, version: opts.Version, started: time.Now()}
	if s.log == nil {
		s.log = slog.Default()
	}
	if s.lookupEnv == nil {
		s.lookupEnv = os.LookupEnv
	}
	s.debug = s.log.Enabled(ctx, slog.LevelDebug)
	if s.version == "" {
		s.version = "dev"
	}
	s.met = opts.Metrics
	s.usage = opts.Usage
	if s.usage == nil {
		s.usage = usage.NewRecorder()
	}
	if s.met == nil {
		s.met = metrics.New(metrics.Options{Cooldowns: s.activeCooldowns, OpenConns: s.openConns, ProcessCollectors: true})
	}
	s.conns.lim = s.connLimits()
	s.conns.met = s.met
	s.shed = newShedder(opts.MemoryLimit, opts.MemoryHighWater, opts.MemoryReader)
	reasons := snapshot.Reasons()
	names := make([]string, len(reasons))
	for i, r := range reasons {
		names[i] = string(r)
	}
	s.met.PreRegisterReloadReasons(names)
	s.live = route.NewLive(opts.Clock)
	s.baseCtx, s.cancelBase = context.WithCancel(context.Background())
	var pref [6]byte
	if _, err := rand.Read(pref[:]); err != nil {
		return nil, fmt.Errorf("read random bytes for request ids: %w", err)
	}
	hex.Encode(s.idPref[:], pref[:])
	s.pool.New = func() any { return newWork(s) }

	s.bodyLimit = opts.BodyLimit
	if s.bodyLimit <= 0 {
		// Not known before the first snapshot: publish clamps per snapshot,
		// and the fiber limit is set below from the loaded settings.
		s.bodyLimit = int(^uint(0) >> 1)
	}

	so := opts.Snapshot
	userPublish, userObserver := so.OnPublish, so.Observer
	so.OnPublish = func(h *snapshot.Handle) error {
		if err := s.publish(h); err != nil {
			return err
		}
		if userPublish != nil {
			return userPublish(h)
		}
		return nil
	}
	so.Observer = snapshot.ObserverFunc(func(ok bool, reason string, gen uint64) {
		s.met.Reload(ok, reason)
		if userObserver != nil {
			userObserver.OnReload(ok, reason, gen)
		}
	})
	if so.Logger == nil {
		so.Logger = s.log
	}
	mgr, err := snapshot.Load(ctx, so)
	if err != nil {
		s.cancelBase()
		return nil, fmt.Errorf("load the snapshot: %w", err)
	}
	s.mgr = mgr

	if opts.BodyLimit <= 0 {
		s.bodyLimit = DefaultBodyLimit
		if h := mgr.Acquire(); h != nil {
			if n := h.Snapshot().Settings().MaxRequestSize; n > 0 && n < 1<<40 {
				s.bodyLimit = int(n)
			}
			// The state of this first snapshot was built before the limit was
			// known; fix its per-snapshot limit.
			if st, ok := h.Value.(*state); ok && st.maxBody > s.bodyLimit {
				st.maxBody = s.bodyLimit
			}
			h.Release()
		}
	}
	s.app = s.newApp()
	s.probes.last = make(map[string]time.Time)
	if tick := opts.ProbeTick; tick >= 0 {
		if tick == 0 {
			tick = DefaultProbeTick
		}
		go s.probeLoop(s.baseCtx, tick)
	}
	s.startShedding()
	return s, nil
}

// Manager returns the snapshot manager.
func (s *Server) Manager() *snapshot.Manager { return s.mgr }

// Live returns the live routing state (health, cooldowns, latency).
func (s *Server) Live() *route.Live { return s.live }

// Metrics returns the server's metrics.
func (s *Server) Metrics() *metrics.Metrics { return s.met }

// App returns the fiber app (for tests with app.Test).
func (s *Server) App() *fiber.App { return s.app }

// BodyLimit returns the request body limit the server enforces, in bytes.
func (s *Server) BodyLimit() int { return s.bodyLimit }

// Serve answers on ln until Shutdown, and returns nil then. A Shutdown that
// comes first (even before Serve started) makes Serve return at once.
func (s *Server) Serve(ln net.Listener) error {
	s.lnMu.Lock()
	if s.closing.Load() {
		s.lnMu.Unlock()
		ln.Close()
		return nil
	}
	s.lns = append(s.lns, ln)
	s.lnMu.Unlock()
	err := s.app.Listener(s.conns.wrap(ln))
	if s.closing.Load() {
		return nil
	}
	return err
}

// Reload re-reads the snapshot and swaps it in (SIGHUP and POST
// /v1/admin/reload). On failure the old snapshot keeps serving.
func (s *Server) Reload(ctx context.Context) (uint64, error) {
	return s.mgr.Reload(ctx)
}

// Shutdown stops accepting connections, closes at once every connection
// without a request in progress (keep-alive ones between two requests, and
// ones that never sent a byte), and waits for the requests in flight
// (streams included) until ctx ends; then it cancels the upstream calls that
// are still running and closes the snapshot manager. It returns ctx's error
// when draining did not finish in time.
func (s *Server) Shutdown(ctx context.Context) error {
	s.lnMu.Lock()
	s.closing.Store(true)
	lns := s.lns
	s.lnMu.Unlock()
	s.conns.shutdown()
	err := s.app.ShutdownWithContext(ctx)
	// A Serve that had not reached fasthttp's accept loop yet is not known
	// to the app: closing its listener ends it.
	for _, ln := range lns {
		ln.Close()
	}
	s.cancelBase()
	s.clientMu.Lock()
	if s.client != nil {
		s.client.Close()
	}
	s.clientMu.Unlock()
	s.mgr.Close()
	if err != nil && !errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, context.Canceled) {
		return fmt.Errorf("shut down the HTTP server: %w", err)
	}
	return err
}

// openConns counts the open client connections (scrape time only).
func (s *Server) openConns() float64 {
	s.conns.mu.Lock()
	defer s.conns.mu.Unlock()
	return float64(s.conns.count)
}

// activeCooldowns counts the channels and pairs cooling down now (scrape
// time only).
func (s *Server) activeCooldowns() float64 {
	if s.mgr == nil {
		return 0
	}
	h := s.mgr.Acquire()
	if h == nil {
		return 0
	}
	defer h.Release()
	n := 0
	now := s.now()
	for _, c := range h.Snapshot().Channels() {
		cs := s.live.Channel(c.ID)
		if cs.Cooling != nil && (cs.Cooling.Until.IsZero() || cs.Cooling.Until.After(now)) {
			n++
		}
		for _, p := range cs.Pairs {
			if p.Cooling {
				n++
			}
		}
	}
	return float64(n)
}
