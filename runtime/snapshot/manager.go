package snapshot

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"
)

// Options configure a Manager. Only one of Path, Embedded or Fallback is
// needed; see Load for how they combine.
type Options struct {
	// Path is the snapshot file written by routerc. When empty, Embedded is
	// served (and then Fallback, if Embedded is empty too).
	Path string

	// Embedded is a snapshot shipped inside the binary, served when Path is
	// empty, with mode EmbeddedMode. It is not copied and must not be
	// modified. Its sources are not checked for staleness.
	Embedded []byte

	// EmbeddedMode is the mode Embedded is served with: ModeEmbedded (the
	// default), ModeBundled (a snapshot appended to the routerd binary by
	// "routerc bundle") or ModeDemo (the built-in demo, which Info and the
	// log flag loudly).
	EmbeddedMode Mode

	// ConfigDir and CacheDir resolve the sources recorded in the snapshot:
	// "config/<rel>" against ConfigDir and "cache/<rel>" against CacheDir. A
	// source whose directory is unset or missing cannot be checked and counts
	// as fresh (Info says "unchecked").
	ConfigDir string
	CacheDir  string

	// Fallback builds a snapshot in memory from the configs and caches (the
	// compiler's pipeline) and returns its encoded bytes. It is called when
	// the file is missing, corrupt, of an unsupported version or stale; the
	// result is served with mode "json-fallback". Nil disables the fallback.
	// Inside the call, FallbackLimits(ctx) gives the bounds of the build and
	// RecordPhase(ctx, ...) records its phases. When it fails and a valid
	// but stale file exists, Load serves that file (mode "stale-snapshot").
	Fallback func(ctx context.Context) ([]byte, error)

	// WriteBack writes a fallback build to Path (atomically, mode 0600) so
	// that the next start maps it instead of rebuilding. A failed write is
	// logged and otherwise ignored.
	WriteBack bool

	// AllowStale serves a stale snapshot, with a warning, when no Fallback
	// is configured. Without it a stale snapshot is refused (ReasonStale).
	AllowStale bool

	// OnPublish, when set, runs on every snapshot before it becomes visible
	// to Acquire; it typically builds the per-snapshot router and stores it
	// in Handle.Value. An error refuses the snapshot (ReasonPublish) and,
	// during Reload, keeps the old one serving. It runs while Reload holds
	// the manager's lock: it must not call Release, Reload or Close.
	OnPublish func(*Handle) error

	// Observer, when set, is told about every Reload (for metrics).
	Observer Observer

	// Logger receives one line per load or reload, and warnings; nil means
	// slog.Default().
	Logger *slog.Logger

	// onDrain is a test hook called once for every handle when its count
	// drains to zero, before its mapping is unmapped.
	onDrain func(*Handle)
}

// Observer is told the outcome of every Reload: success, the failure reason
// ("" on success) and the generation now serving (the old one on failure, 0
// if none). It runs while Reload holds the manager's lock: it must be quick
// and must not call Reload or Close (Info is fine).
type Observer interface {
	OnReload(success bool, reason string, gen uint64)
}

// ObserverFunc adapts a function to Observer.
type ObserverFunc func(success bool, reason string, gen uint64)

// OnReload calls f.
func (f ObserverFunc) OnReload(success bool, reason string, gen uint64) { f(success, reason, gen) }

// Manager publishes the current snapshot. All methods are safe for
// concurrent use.
type Manager struct {
	opts Options
	log  *slog.Logger
	cur  atomic.Pointer[Handle]

	retired atomic.Int64 // handles swapped out but not yet drained (held by someone)

	mu      sync.Mutex // serialises Reload and Close; guards seq, closed and loading
	seq     uint64
	closed  bool
	loading bool // Load is running: snapshot phases are start phases

	statsMu   sync.Mutex // guards the reload statistics
	reloadOK  uint64
	reloadBad map[Reason]uint64
	lastOK    time.Time
	lastErr   *ReloadError
	phases    []Phase
}

// Load builds a Manager and publishes its first snapshot:
//
//   - With a Path, the file is mapped and validated, and its sources are
//     checked. If it is missing, unreadable, corrupt, of an unsupported
//     version or stale, Fallback (when set) builds one in memory; with
//     WriteBack the build is also written to Path.
//   - Without a Path, Embedded is served; without either, Fallback.
//   - A valid file whose sources are stale is served anyway, with mode
//     ModeStale and a warning, when the fallback build fails: the last good
//     snapshot is better than none.
//
// With neither a usable snapshot nor a fallback, Load returns an *Error
// saying what was wrong and what to do.
func Load(ctx context.Context, opts Options) (*Manager, error) {
	m := &Manager{opts: opts, log: opts.Logger, reloadBad: make(map[Reason]uint64)}
	if m.log == nil {
		m.log = slog.Default()
	}
	if m.opts.EmbeddedMode == "" {
		m.opts.EmbeddedMode = ModeEmbedded
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	start := time.Now()
	m.loading = true
	c, err := m.resolve(ctx, true)
	m.loading = false
	if err != nil {
		return nil, err // not logged here: the caller reports it and stops
	}
	m.publish(c)
	m.logLoaded("snapshot loaded", c.h, time.Since(start))
	m.writeBack(c)
	return m, nil
}

// Acquire returns the current snapshot with its count raised, or nil when
// none is published (after Close). Every non-nil result must be released
// exactly once. Acquire takes no lock and does not allocate.
//
// A swap can retire and drain the handle between loading the pointer and
// raising its count; tryRef refuses to raise a count that has reached zero,
// so a drained handle is never revived, and the pointer is re-read. After
// raising the count Acquire checks that the handle is still current, so a
// caller never starts work on a snapshot already replaced.
func (m *Manager) Acquire() *Handle {
	for {
		h := m.cur.Load()
		if h == nil {
			return nil
		}
		if !h.tryRef() {
			continue
		}
		if m.cur.Load() == h {
			return h
		}
		h.Release()
	}
}

// Reload re-reads the snapshot and swaps it in, returning the generation now
// serving. On any failure the old snapshot keeps serving and the error is an
// *Error with the reason. Reloads are serialised; a reload waits for the one
// in progress.
//
// A file that is missing, unreadable, corrupt or of an unsupported version
// does not trigger the fallback here, because the snapshot already serving is
// known to be good; the exception is when it is itself a fallback build, which
// is then rebuilt. A stale file does trigger the fallback, as at Load.
func (m *Manager) Reload(ctx context.Context) (uint64, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	start := time.Now()
	old := m.cur.Load() // stable: only Reload and Close swap, under m.mu
	var oldGen uint64
	if old != nil {
		oldGen = old.Generation()
	}
	if m.closed {
		err := &Error{Reason: ReasonClosed, Path: m.opts.Path, Err: errors.New("the snapshot manager is closed; reloads stop at shutdown")}
		m.reloadFailed(err, oldGen, start)
		return 0, err
	}
	c, err := m.resolve(ctx, old != nil && old.mode == ModeFallback)
	if err != nil {
		m.reloadFailed(err, oldGen, start)
		return oldGen, err
	}
	m.publish(c)
	gen := c.h.Generation()
	m.statsMu.Lock()
	m.reloadOK++
	m.lastOK = time.Now()
	m.statsMu.Unlock()
	if o := m.opts.Observer; o != nil {
		o.OnReload(true, "", gen)
	}
	m.logLoaded("snapshot reloaded", c.h, time.Since(start))
	m.writeBack(c)
	return gen, nil
}

func (m *Manager) reloadFailed(err error, gen uint64, start time.Time) {
	r := ReasonOf(err)
	m.statsMu.Lock()
	m.reloadBad[r]++
	m.lastErr = &ReloadError{Reason: r, Message: err.Error(), Time: time.Now()}
	m.statsMu.Unlock()
	if o := m.opts.Observer; o != nil {
		o.OnReload(false, string(r), gen)
	}
	m.log.Error("snapshot reload failed; the previous snapshot keeps serving",
		"reason", r, "generation", gen, "took", time.Since(start), "error", err)
}

// Close retires the current snapshot: Acquire returns nil from now on, and
// the mapping is unmapped when the last holder releases it. Later Reloads
// fail with ReasonClosed. Close is idempotent and always returns nil.
func (m *Manager) Close() error {
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return nil
	}
	m.closed = true
	old := m.cur.Swap(nil)
	m.mu.Unlock()
	m.retire(old)
	return nil
}

// publish makes c current and retires the previous handle. Called with m.mu
// held.
func (m *Manager) publish(c *candidate) {
	m.seq = c.h.seq
	m.retire(m.cur.Swap(c.h))
}

// retire drops the Manager's reference to a handle that is no longer
// current; it is unmapped once its holders are done.
func (m *Manager) retire(h *Handle) {
	if h == nil {
		return
	}
	h.retired = true // ordered before drain by the atomic count
	m.retired.Add(1)
	h.Release()
}

// Mode returns the mode of the snapshot serving now ("" after Close).
func (m *Manager) Mode() Mode {
	h := m.Acquire()
	if h == nil {
		return ""
	}
	defer h.Release()
	return h.mode
}

func (m *Manager) logLoaded(msg string, h *Handle, took time.Duration) {
	hdr := h.snap.Header()
	args := []any{"path", h.path, "mode", h.mode, "generation", hdr.Generation, "seq", h.seq,
		"fingerprint", fmt.Sprintf("%016x", hdr.Fingerprint), "bytes", h.size, "took", took}
	if h.stale > 0 {
		args = append(args, "stale_sources", h.stale)
	}
	if h.unchecked > 0 {
		args = append(args, "unchecked_sources", h.unchecked)
	}
	m.log.Info(msg, args...)
}
