package snapshot

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"time"

	"github.com/edsrzf/mmap-go"

	"smartrouter/format"
)

// candidate is a handle prepared for publishing (count 1, OnPublish done),
// with the bytes to write back to Path after the swap, if any.
type candidate struct {
	h         *Handle
	writeBack []byte
}

// resolve prepares the next snapshot following the rules documented on Load
// and Reload. fallbackOnFileError says whether a broken or missing file calls
// the fallback (always at Load; at Reload only when a fallback build is
// serving). Called with m.mu held.
func (m *Manager) resolve(ctx context.Context, fallbackOnFileError bool) (*candidate, error) {
	o := &m.opts
	if o.Path == "" {
		switch {
		case o.Embedded != nil:
			start := time.Now()
			h, err := m.fromBytes(o.Embedded, o.EmbeddedMode, "")
			if err != nil {
				return nil, err
			}
			m.phase(PhaseSnapshotValidate, time.Since(start))
			h.markUnchecked(string(o.EmbeddedMode) + " snapshot; its sources are not checked")
			if o.EmbeddedMode == ModeDemo {
				h.warning = DemoWarning
				m.log.Warn("snapshot: SERVING THE BUILT-IN DEMO SNAPSHOT, not your configuration; " + DemoWarning)
			}
			return m.finish(h, nil)
		case o.Fallback != nil:
			return m.fallback(m.withFallback(ctx, m.cur.Load()), ReasonUnconfigured,
				errors.New("no snapshot file and no bundled snapshot; building from the JSON caches"))
		default:
			return nil, &Error{Reason: ReasonUnconfigured, Err: errors.New(
				"no snapshot path, no embedded snapshot and no fallback build are configured; " +
					"pass the path of a snapshot compiled with routerc")}
		}
	}

	h, err := m.openFile(o.Path)
	if err != nil {
		if o.Fallback != nil && fallbackOnFileError {
			return m.fallback(m.withFallback(ctx, m.cur.Load()), ReasonOf(err), err)
		}
		if o.Fallback == nil {
			err.Err = fmt.Errorf("%w; no fallback build is configured", err.Err)
		}
		return nil, err
	}
	m.checkSources(h)
	if h.stale > 0 {
		staleErr := &Error{Reason: ReasonStale, Path: o.Path, Err: fmt.Errorf(
			"%d of %d sources changed since the snapshot was compiled (%s); recompile it with routerc",
			h.stale, len(h.sources), h.firstStale())}
		switch {
		case o.Fallback != nil:
			c, ferr := m.fallback(m.withFallback(ctx, h), ReasonStale, staleErr)
			if ferr == nil {
				h.Release()
				return c, nil
			}
			if !m.loading {
				// At reload the snapshot serving now is the last good one.
				h.Release()
				return nil, ferr
			}
			// Last good over nothing: the file is valid, only its sources
			// moved on, and nothing better could be built.
			h.mode = ModeStale
			h.warning = "the sources changed since this snapshot was compiled and the JSON fallback build failed (" +
				ferr.Error() + "); serving the last good snapshot: fix the config or caches and recompile with routerc"
			m.log.Warn("snapshot: serving a stale snapshot (stale-snapshot) because the JSON fallback build failed; fix the inputs and recompile with routerc",
				"path", o.Path, "stale", staleErr, "error", ferr)
		case !o.AllowStale:
			h.Release()
			return nil, staleErr
		default:
			h.mode = ModeStale
			h.warning = "the sources changed since this snapshot was compiled; recompile it with routerc"
			m.log.Warn("snapshot: serving a stale snapshot because no fallback build is configured",
				"path", o.Path, "error", staleErr)
		}
	}
	return m.finish(h, nil)
}

// DemoWarning is the warning of the built-in demo snapshot in Info and the log.
const DemoWarning = "this is the built-in demo (mock channels on 127.0.0.1:7700, auth off); " +
	"start routerd with -snapshot FILE, a bundled binary, or -config DIR to serve your own configuration"

// finish runs OnPublish on a prepared handle; on error the handle is
// discarded (and unmapped).
func (m *Manager) finish(h *Handle, writeBack []byte) (*candidate, error) {
	if f := m.opts.OnPublish; f != nil {
		if err := f(h); err != nil {
			h.Release()
			return nil, &Error{Reason: ReasonPublish, Path: h.path, Err: fmt.Errorf("preparing the snapshot for serving failed: %w", err)}
		}
	}
	return &candidate{h: h, writeBack: writeBack}, nil
}

// fallback builds a snapshot in memory because of why (cause says more).
func (m *Manager) fallback(ctx context.Context, why Reason, cause error) (*candidate, error) {
	o := &m.opts
	start := time.Now()
	fail := func(err error) (*candidate, error) {
		return nil, &Error{Reason: ReasonFallbackFailed, Path: o.Path,
			Err: fmt.Errorf("%w; the fallback build failed too: %w", cause, err)}
	}
	b, err := o.Fallback(ctx)
	if err != nil {
		return fail(err)
	}
	h, err := m.fromBytes(b, ModeFallback, o.Path)
	if err != nil {
		return fail(fmt.Errorf("it returned an invalid snapshot: %w", errors.Unwrap(err)))
	}
	h.fallbackReason = why
	h.fallbackDetail = cause.Error()
	m.checkSources(h)
	m.log.Warn("snapshot: serving the in-memory fallback build (json-fallback); recompile the snapshot with routerc to start fast again",
		"reason", why, "path", o.Path, "generation", h.Generation(), "took", time.Since(start), "error", cause)
	var wb []byte
	switch {
	case !o.WriteBack || o.Path == "":
	case errors.Is(cause, format.ErrVersionTooNew) || errors.Is(cause, format.ErrUnknownSection):
		m.log.Warn("snapshot: not writing the fallback build back, the file on disk belongs to a newer routerd", "path", o.Path)
	default:
		wb = b
	}
	return m.finish(h, wb)
}

// writeBack stores a fallback build at Path after it was published.
func (m *Manager) writeBack(c *candidate) {
	if c.writeBack == nil {
		return
	}
	if err := writeFileAtomic(m.opts.Path, c.writeBack); err != nil {
		m.log.Warn("snapshot: could not write the fallback build back; the next start rebuilds it again",
			"path", m.opts.Path, "error", err)
		return
	}
	m.log.Info("snapshot: wrote the fallback build back", "path", m.opts.Path, "bytes", len(c.writeBack))
}

func (m *Manager) newHandle(snap *format.Snapshot, path string, mode Mode, size int) *Handle {
	h := &Handle{snap: snap, path: path, mode: mode, loadedAt: time.Now(), seq: m.seq + 1, size: int64(size), m: m}
	h.refs.Store(1)
	return h
}

// fromBytes validates in-memory snapshot bytes.
func (m *Manager) fromBytes(b []byte, mode Mode, path string) (*Handle, error) {
	snap, err := format.Open(b)
	if err != nil {
		return nil, &Error{Reason: formatReason(err), Path: path, Err: err}
	}
	return m.newHandle(snap, path, mode, len(b)), nil
}

// openFile reads path into private memory and validates it fully. The copy
// is what makes the file safe to rewrite in place while it is served: see
// readPrivate.
func (m *Manager) openFile(path string) (*Handle, *Error) {
	f, err := os.Open(path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, &Error{Reason: ReasonNotFound, Path: path, Err: fmt.Errorf("%w; compile one with routerc", err)}
		}
		return nil, &Error{Reason: ReasonIO, Path: path, Err: fmt.Errorf("%w; check the path and its permissions", err)}
	}
	defer func() { _ = f.Close() }() // the mapping does not need the descriptor
	st, err := f.Stat()
	if err != nil {
		return nil, &Error{Reason: ReasonIO, Path: path, Err: fmt.Errorf("%w; check the path and its permissions", err)}
	}
	if !st.Mode().IsRegular() {
		return nil, &Error{Reason: ReasonIO, Path: path, Err: fmt.Errorf("not a regular file (%s); point routerd at a snapshot compiled with routerc", st.Mode().Type())}
	}
	if st.Size() == 0 {
		return nil, &Error{Reason: ReasonCorrupt, Path: path, Err: errors.New("the file is empty; rebuild it with routerc")}
	}
	if st.Size() > maxFileSize {
		return nil, &Error{Reason: ReasonCorrupt, Path: path, Err: fmt.Errorf("the file is %d bytes, more than this platform can hold; rebuild it with routerc", st.Size())}
	}
	readStart := time.Now()
	mp, err := readPrivate(f, int(st.Size()))
	if err != nil {
		return nil, &Error{Reason: ReasonIO, Path: path, Err: fmt.Errorf("reading the file failed: %w; check the file and retry", err)}
	}
	m.phase(PhaseSnapshotRead, time.Since(readStart))
	validateStart := time.Now()
	snap, err := format.Open(mp)
	if err != nil {
		_ = mp.Unmap()
		return nil, &Error{Reason: formatReason(err), Path: path, Err: err}
	}
	m.phase(PhaseSnapshotValidate, time.Since(validateStart))
	h := m.newHandle(snap, path, ModeSnapshot, len(mp))
	h.mapping = mp
	return h, nil
}

// maxFileSize bounds the snapshot files openFile accepts (1 TiB), so that
// the size always fits in an int and a mapping length.
const maxFileSize = 1 << 40

// readPrivate reads the first n bytes of f into a new private anonymous
// mapping, made read-only once filled. The server never maps the file
// itself: a mapping of the file would show a rewrite in place (cp over the
// snapshot, an editor, >) to the requests being served, and end in SIGBUS
// once the file is truncated under it. A copy cannot change after
// format.Open has validated it. A file rewritten while it is being read
// gives a mix of old and new bytes, which format.Open refuses (checksums,
// sizes), so a torn read is a failed load or reload, never a wrong answer.
// The copy is an anonymous mapping rather than a heap slice so that it is
// page-aligned, outside the garbage collector's heap and returned to the
// system at once by Unmap when the last holder releases it.
func readPrivate(f *os.File, n int) (mmap.MMap, error) {
	mp, err := allocPrivate(n)
	if err != nil {
		return nil, fmt.Errorf("allocating %d bytes: %w", n, err)
	}
	if _, err := io.ReadFull(f, mp); err != nil {
		_ = mp.Unmap()
		if errors.Is(err, io.ErrUnexpectedEOF) {
			err = errors.New("the file became shorter while it was read (it is being rewritten)")
		}
		return nil, err
	}
	if err := protect(mp); err != nil {
		_ = mp.Unmap()
		return nil, fmt.Errorf("making the copy read-only: %w", err)
	}
	return mp, nil
}
