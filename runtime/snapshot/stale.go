package snapshot

import (
	"fmt"
	"time"

	"smartrouter/format"
	"smartrouter/format/sources"
)

// Freshness is the staleness verdict on one source; the rules are those of
// format/sources, shared with "routerc inspect".
type Freshness = sources.Status

// The verdicts.
const (
	Fresh     = sources.Fresh     // unchanged since the compile
	Stale     = sources.Stale     // changed, deleted, or appeared since the compile
	Unchecked = sources.Unchecked // could not be checked; counts as fresh
)

// SourceStatus is one input of the compile and what became of it.
type SourceStatus struct {
	Path    string    `json:"path"`              // as recorded: "config/<rel>" or "cache/<rel>"
	Size    int64     `json:"size"`              // bytes at compile time; -1 = absent at compile time
	ModTime time.Time `json:"mod_time,omitzero"` // at compile time
	Hash    string    `json:"hash,omitempty"`    // xxhash64 of the contents at compile time, 16 hex digits
	Status  Freshness `json:"status"`            // fresh, stale or unchecked
	Detail  string    `json:"detail,omitempty"`  // why, in words
	File    string    `json:"-"`                 // resolved file name, empty when unchecked for lack of a directory
}

// checkSources records the staleness of every source of h.
func (m *Manager) checkSources(h *Handle) {
	c := sources.NewChecker(m.opts.ConfigDir, m.opts.CacheDir)
	srcs := h.snap.Sources()
	h.sources = make([]SourceStatus, len(srcs))
	h.stale, h.unchecked = 0, 0
	for i, s := range srcs {
		v := c.Check(s)
		st := recorded(s)
		st.Status, st.Detail, st.File = v.Status, v.Detail, v.File
		h.sources[i] = st
		switch st.Status {
		case Stale:
			h.stale++
		case Unchecked:
			h.unchecked++
		}
	}
	if h.unchecked > 0 {
		m.log.Warn("snapshot: some sources could not be checked for staleness and count as fresh; set the config and cache directories to check them",
			"unchecked", h.unchecked, "of", len(srcs), "first", h.firstWith(Unchecked))
	}
}

// markUnchecked records every source of h as unchecked for one reason.
func (h *Handle) markUnchecked(detail string) {
	srcs := h.snap.Sources()
	h.sources = make([]SourceStatus, len(srcs))
	for i, s := range srcs {
		h.sources[i] = recorded(s)
		h.sources[i].Status = Unchecked
		h.sources[i].Detail = detail
	}
	h.stale, h.unchecked = 0, len(srcs)
}

func (h *Handle) firstStale() string { return h.firstWith(Stale) }

func (h *Handle) firstWith(f Freshness) string {
	for _, s := range h.sources {
		if s.Status == f {
			return s.Path + ": " + s.Detail
		}
	}
	return ""
}

func recorded(s format.Source) SourceStatus {
	st := SourceStatus{Path: s.Path, Size: s.Size}
	if s.Size >= 0 {
		st.ModTime = time.Unix(0, s.ModTime).UTC()
		st.Hash = fmt.Sprintf("%016x", s.Hash)
	}
	return st
}
