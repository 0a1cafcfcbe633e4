package snapshot

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/cespare/xxhash/v2"

	"smartrouter/format"
)

// Freshness is the staleness verdict on one source.
type Freshness string

// The verdicts.
const (
	Fresh     Freshness = "fresh"     // unchanged since the compile
	Stale     Freshness = "stale"     // changed, deleted, or appeared since the compile
	Unchecked Freshness = "unchecked" // could not be checked; counts as fresh
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
	c := dirChecker{dirs: map[string]string{"config": m.opts.ConfigDir, "cache": m.opts.CacheDir}}
	srcs := h.snap.Sources()
	h.sources = make([]SourceStatus, len(srcs))
	h.stale, h.unchecked = 0, 0
	for i, s := range srcs {
		st := c.check(s)
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

// dirChecker resolves recorded paths and remembers which directories exist.
type dirChecker struct {
	dirs    map[string]string // prefix -> directory
	missing map[string]string // prefix -> why it cannot be used ("" = usable)
}

// dir returns the directory for a prefix, or why it cannot be used.
func (c *dirChecker) dir(prefix string) (string, string) {
	if c.missing == nil {
		c.missing = make(map[string]string, 2)
	}
	d := c.dirs[prefix]
	why, seen := c.missing[prefix]
	if !seen {
		switch fi, err := os.Stat(d); {
		case d == "":
			why = "the " + prefix + " directory is not set"
		case err != nil:
			why = "the " + prefix + " directory " + d + " cannot be read: " + err.Error()
		case !fi.IsDir():
			why = "the " + prefix + " directory " + d + " is not a directory"
		}
		c.missing[prefix] = why
	}
	return d, why
}

// check compares one source with the file now on disk.
func (c *dirChecker) check(s format.Source) SourceStatus {
	st := recorded(s)
	verdict := func(f Freshness, detail string) SourceStatus {
		st.Status, st.Detail = f, detail
		return st
	}
	prefix, rel, ok := strings.Cut(s.Path, "/")
	if !ok || (prefix != "config" && prefix != "cache") {
		return verdict(Unchecked, "the path is neither under config/ nor under cache/")
	}
	if !filepath.IsLocal(filepath.FromSlash(rel)) {
		return verdict(Unchecked, "the path leaves its directory")
	}
	d, why := c.dir(prefix)
	if why != "" {
		return verdict(Unchecked, why)
	}
	st.File = filepath.Join(d, filepath.FromSlash(rel))

	fi, err := os.Stat(st.File)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		if s.Size < 0 {
			return verdict(Fresh, "absent, as at compile time")
		}
		return verdict(Stale, "deleted since the compile")
	case err != nil:
		return verdict(Unchecked, "cannot stat: "+err.Error())
	case s.Size < 0:
		return verdict(Stale, "appeared since the compile")
	case !fi.Mode().IsRegular():
		return verdict(Stale, "no longer a regular file")
	case fi.Size() != s.Size:
		return verdict(Stale, fmt.Sprintf("size changed from %d to %d bytes", s.Size, fi.Size()))
	case fi.ModTime().UnixNano() == s.ModTime:
		return verdict(Fresh, "")
	}
	h, err := hashFile(st.File)
	switch {
	case err != nil:
		return verdict(Unchecked, "modification time changed and the file cannot be read: "+err.Error())
	case h != s.Hash:
		return verdict(Stale, "content changed")
	default:
		return verdict(Fresh, "modification time changed, content unchanged")
	}
}

func hashFile(path string) (uint64, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, err
	}
	defer func() { _ = f.Close() }()
	d := xxhash.New()
	if _, err := io.Copy(d, f); err != nil {
		return 0, err
	}
	return d.Sum64(), nil
}
