// Package sources decides whether the inputs a snapshot was compiled from
// have changed since: it compares every format.Source recorded in the file
// with the file on disk now. routerd (runtime/snapshot) and "routerc
// inspect" (format/inspect) both ask this package, so they cannot disagree.
//
// The rules, in order, for one recorded source:
//
//   - its path must be "config/<rel>" or "cache/<rel>", with rel staying
//     inside its directory; otherwise it is unchecked;
//   - the directory for its prefix must be set, readable and a directory;
//     otherwise it is unchecked (the reason names the directory);
//   - a file that does not exist is fresh when it was absent at compile time
//     (recorded size -1) and stale (deleted) otherwise; a file that cannot be
//     stat'ed for another reason is unchecked;
//   - a file that exists now but was absent at compile time is stale;
//   - a file that is no longer a regular file, or whose size differs, is
//     stale;
//   - same size and same modification time: fresh, without reading it;
//   - same size, different time: the content is hashed (xxhash64) and
//     compared with the recorded hash; equal is fresh, different is stale,
//     unreadable is unchecked.
//
// Unchecked means "could not tell"; callers count it as fresh.
package sources

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/cespare/xxhash/v2"

	"smartrouter/format"
)

// Status is the verdict on one source.
type Status string

// The verdicts.
const (
	Fresh     Status = "fresh"     // unchanged since the compile (or still absent)
	Stale     Status = "stale"     // changed, deleted, or appeared since the compile
	Unchecked Status = "unchecked" // could not be checked; counts as fresh
)

// The prefixes of recorded paths: "config/<rel>" is resolved against the
// config directory, "cache/<rel>" against the cache directory.
const (
	ConfigPrefix = "config"
	CachePrefix  = "cache"
)

// Verdict is the state of one recorded source on disk now.
type Verdict struct {
	Status Status
	Detail string // why, in words; empty for a file with the same size and time
	File   string // the resolved file name; empty when the path or its directory could not be used
}

// Checker checks sources against one config and one cache directory. It
// looks at each directory once, on first use. A Checker is not safe for
// concurrent use.
type Checker struct {
	dirs    map[string]string // prefix -> directory
	missing map[string]string // prefix -> why it cannot be used ("" = usable)
}

// NewChecker returns a checker resolving "config/..." against configDir and
// "cache/..." against cacheDir; an empty directory leaves its sources
// unchecked.
func NewChecker(configDir, cacheDir string) *Checker {
	return &Checker{dirs: map[string]string{ConfigPrefix: configDir, CachePrefix: cacheDir}}
}

// Check returns the verdict on every source, in order.
func Check(srcs []format.Source, configDir, cacheDir string) []Verdict {
	c := NewChecker(configDir, cacheDir)
	out := make([]Verdict, len(srcs))
	for i, s := range srcs {
		out[i] = c.Check(s)
	}
	return out
}

// dir returns the directory for a prefix, or why it cannot be used.
func (c *Checker) dir(prefix string) (string, string) {
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

// Check compares one source with the file now on disk.
func (c *Checker) Check(s format.Source) Verdict {
	var v Verdict
	verdict := func(st Status, detail string) Verdict {
		v.Status, v.Detail = st, detail
		return v
	}
	prefix, rel, ok := strings.Cut(s.Path, "/")
	if !ok || (prefix != ConfigPrefix && prefix != CachePrefix) {
		return verdict(Unchecked, "the path is neither under config/ nor under cache/")
	}
	if !filepath.IsLocal(filepath.FromSlash(rel)) {
		return verdict(Unchecked, "the path leaves its directory")
	}
	d, why := c.dir(prefix)
	if why != "" {
		return verdict(Unchecked, why)
	}
	v.File = filepath.Join(d, filepath.FromSlash(rel))

	fi, err := os.Stat(v.File)
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
	h, err := HashFile(v.File)
	switch {
	case err != nil:
		return verdict(Unchecked, "modification time changed and the file cannot be read: "+err.Error())
	case h != s.Hash:
		return verdict(Stale, "content changed")
	default:
		return verdict(Fresh, "modification time changed, content unchanged")
	}
}

// HashFile returns the xxhash64 of a file's contents, the hash recorded in
// format.Source.
func HashFile(path string) (uint64, error) {
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
