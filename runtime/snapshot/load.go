package snapshot

import (
	"context"
	"errors"
	"fmt"
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
			h, err := m.fromBytes(o.Embedded, ModeEmbedded, "")
			if err != nil {
				return nil, err
			}
			h.markUnchecked("embedded snapshot; its sources are not checked")
			return m.finish(h, nil)
		case o.Fallback != nil:
			return m.fallback(ctx, ReasonUnconfigured, errors.New("no snapshot path and no embedded snapshot are configured"))
		default:
			return nil, &Error{Reason: ReasonUnconfigured, Err: errors.New(
				"no snapshot path, no embedded snapshot and no fallback build are configured; " +
					"pass the path of a snapshot compiled with routerc")}
		}
	}

	h, err := m.openFile(o.Path)
	if err != nil {
		if o.Fallback != nil && fallbackOnFileError {
			return m.fallback(ctx, ReasonOf(err), err)
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
			h.Release()
			return m.fallback(ctx, ReasonStale, staleErr)
		case !o.AllowStale:
			h.Release()
			return nil, staleErr
		default:
			m.log.Warn("snapshot: serving a stale snapshot because no fallback build is configured",
				"path", o.Path, "error", staleErr)
		}
	}
	return m.finish(h, nil)
}

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

// openFile maps path read-only and validates it fully.
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
	mp, err := mmap.Map(f, mmap.RDONLY, 0)
	if err != nil {
		return nil, &Error{Reason: ReasonIO, Path: path, Err: fmt.Errorf("mapping the file failed: %w", err)}
	}
	snap, err := format.Open(mp)
	if err != nil {
		_ = mp.Unmap()
		return nil, &Error{Reason: formatReason(err), Path: path, Err: err}
	}
	h := m.newHandle(snap, path, ModeSnapshot, len(mp))
	h.mapping = mp
	return h, nil
}
