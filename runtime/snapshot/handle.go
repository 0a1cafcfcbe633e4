package snapshot

import (
	"sync/atomic"
	"time"

	"github.com/edsrzf/mmap-go"

	"smartrouter/format"
)

// Mode says where a published snapshot came from.
type Mode string

// The modes.
const (
	ModeSnapshot Mode = "snapshot"      // the file at Options.Path, mapped read-only
	ModeFallback Mode = "json-fallback" // bytes built in memory by Options.Fallback
	ModeEmbedded Mode = "embedded"      // Options.Embedded, used when no path is given
	ModeBundled  Mode = "bundled"       // Options.Embedded read from the routerd binary (routerc bundle)
	ModeDemo     Mode = "demo"          // Options.Embedded is the built-in demo
	// ModeStale is a valid snapshot file whose sources changed, served
	// because the JSON fallback build failed (or no fallback is configured
	// and Options.AllowStale is set).
	ModeStale Mode = "stale-snapshot"
)

// Handle is one loaded snapshot with a reference count. Get it from
// Manager.Acquire and give it back with Release; between the two, the
// snapshot and everything it returns stay valid even if a reload swaps in a
// newer one. Never use a Handle, or anything obtained from it, after Release.
type Handle struct {
	// Value is the server's per-snapshot attachment (a router, caches built
	// from this snapshot). Set it only inside Options.OnPublish: the handle is
	// not visible to Acquire before OnPublish returns, and Value is read-only
	// afterwards, so readers need no synchronisation.
	Value any

	snap     *format.Snapshot
	path     string
	mode     Mode
	loadedAt time.Time
	seq      uint64
	size     int64

	sources        []SourceStatus
	stale          int // sources found stale
	unchecked      int // sources that could not be checked
	fallbackReason Reason
	fallbackDetail string
	warning        string // why this snapshot is not what the operator asked for (demo, stale)

	// refs counts the holders plus one for the Manager while the handle is
	// current (or is a candidate being prepared). It never goes up from zero:
	// see tryRef.
	refs    atomic.Int64
	mapping mmap.MMap // nil when the bytes are in memory (fallback, embedded)
	retired bool      // set before the Manager drops its reference; false for refused candidates
	m       *Manager
}

// Snapshot returns the validated snapshot view.
func (h *Handle) Snapshot() *format.Snapshot { return h.snap }

// Path returns the snapshot file ("" for an embedded snapshot, or for a
// fallback build when no path was configured).
func (h *Handle) Path() string { return h.path }

// Mode returns where the snapshot came from.
func (h *Handle) Mode() Mode { return h.mode }

// LoadedAt returns when the snapshot was loaded by this process.
func (h *Handle) LoadedAt() time.Time { return h.loadedAt }

// Generation returns the compile generation recorded in the snapshot header.
func (h *Handle) Generation() uint64 { return h.snap.Header().Generation }

// Seq returns the publish sequence number: 1 for the snapshot published by
// Load, then one more for every successful Reload. Unlike Generation it
// changes on every swap, also when the same file is reloaded.
func (h *Handle) Seq() uint64 { return h.seq }

// tryRef raises the count unless it has already drained to zero. A drained
// handle is unmapped (or about to be) and must never be revived; the caller
// then reloads the current pointer, which a swap has already changed.
func (h *Handle) tryRef() bool {
	for {
		n := h.refs.Load()
		if n <= 0 {
			return false
		}
		if h.refs.CompareAndSwap(n, n+1) {
			return true
		}
	}
}

// Release gives the handle back. The last Release of a retired handle unmaps
// its file. Release on a nil Handle does nothing, so
//
//	h := m.Acquire()
//	defer h.Release()
//
// is safe even when nothing is loaded. Releasing a handle more often than it
// was acquired is a programming error that would unmap memory still in use;
// Release panics on it rather than let a later read fault.
func (h *Handle) Release() {
	if h == nil {
		return
	}
	switch n := h.refs.Add(-1); {
	case n == 0:
		h.drain()
	case n < 0:
		panic("snapshot: Handle.Release called more often than Acquire")
	}
}

// drain runs exactly once per handle, when its count reaches zero: only one
// Add can observe the transition to zero, and tryRef never raises it again.
func (h *Handle) drain() {
	m := h.m
	if m.opts.onDrain != nil {
		m.opts.onDrain(h)
	}
	if h.retired {
		m.retired.Add(-1)
	}
	h.snap = nil // a use after Release now fails loudly instead of reading unmapped memory
	if h.mapping != nil {
		if err := h.mapping.Unmap(); err != nil {
			m.log.Error("snapshot: unmap failed; the mapping leaks until exit", "path", h.path, "error", err)
		}
		h.mapping = nil
	}
}
