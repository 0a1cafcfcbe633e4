package compiler

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/cespare/xxhash/v2"

	"smartrouter/format"
)

// Source states reported by CheckSources.
const (
	SourceFresh     = "fresh"     // unchanged since the compile (or still absent)
	SourceStale     = "stale"     // changed, deleted, or appeared since the compile
	SourceUnchecked = "unchecked" // no directory to check against
)

// SourceCheck is the state of one recorded source on disk now.
type SourceCheck struct {
	Source format.Source
	Status string
	Detail string
}

// CheckSources compares the recorded sources with the disk: "config/<rel>"
// against configDir, "cache/<rel>" against cacheDir (an empty directory
// leaves its sources unchecked). A file is fresh when size and modification
// time match, or when only the time differs and the content hash is the
// same; a file recorded as absent is stale once it exists.
func CheckSources(srcs []format.Source, configDir, cacheDir string) []SourceCheck {
	out := make([]SourceCheck, len(srcs))
	for i, s := range srcs {
		out[i] = checkSource(s, configDir, cacheDir)
	}
	return out
}

func checkSource(s format.Source, configDir, cacheDir string) SourceCheck {
	c := SourceCheck{Source: s, Status: SourceUnchecked}
	var dir, rel string
	switch {
	case strings.HasPrefix(s.Path, configPrefix):
		dir, rel = configDir, strings.TrimPrefix(s.Path, configPrefix)
	case strings.HasPrefix(s.Path, cachePrefix):
		dir, rel = cacheDir, strings.TrimPrefix(s.Path, cachePrefix)
	default:
		c.Detail = "path outside config/ and cache/"
		return c
	}
	if dir == "" {
		c.Detail = "no directory given"
		return c
	}
	if !filepath.IsLocal(filepath.FromSlash(rel)) {
		c.Detail = "path leaves its directory"
		return c
	}
	p := filepath.Join(dir, filepath.FromSlash(rel))
	fi, err := os.Stat(p)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		if s.Size < 0 {
			c.Status, c.Detail = SourceFresh, "absent, as at compile time"
		} else {
			c.Status, c.Detail = SourceStale, "deleted since the compile"
		}
		return c
	case err != nil:
		c.Detail = err.Error()
		return c
	case s.Size < 0:
		c.Status, c.Detail = SourceStale, "absent at compile time, exists now"
		return c
	case !fi.Mode().IsRegular():
		c.Status, c.Detail = SourceStale, "no longer a regular file"
		return c
	case fi.Size() != s.Size:
		c.Status, c.Detail = SourceStale, fmt.Sprintf("size %d -> %d", s.Size, fi.Size())
		return c
	case fi.ModTime().UnixNano() == s.ModTime:
		c.Status, c.Detail = SourceFresh, "same size and time"
		return c
	}
	h, err := hashFile(p)
	switch {
	case err != nil:
		c.Detail = err.Error()
	case h == s.Hash:
		c.Status, c.Detail = SourceFresh, "time changed, same content"
	default:
		c.Status, c.Detail = SourceStale, "content changed"
	}
	return c
}

func hashFile(p string) (uint64, error) {
	f, err := os.Open(p)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	d := xxhash.New()
	if _, err := io.Copy(d, f); err != nil {
		return 0, err
	}
	return d.Sum64(), nil
}

// TopTags returns up to n tags by cardinality (descending, then name).
func TopTags(s *format.Snapshot, n int) []TagCount {
	all := make([]TagCount, s.NumTags())
	for i := range all {
		all[i].Name, all[i].Pairs = s.Tag(uint32(i))
	}
	slices.SortStableFunc(all, func(a, b TagCount) int {
		if a.Pairs != b.Pairs {
			if a.Pairs > b.Pairs {
				return -1
			}
			return 1
		}
		return strings.Compare(a.Name, b.Name)
	})
	if len(all) > n {
		all = all[:n]
	}
	return all
}

// TagCount is a tag and the number of pairs carrying it.
type TagCount struct {
	Name  string
	Pairs uint32
}

// Inspect writes an overview of s: header, sources with their state on disk
// (when configDir or cacheDir is given), sections with their sizes, counts
// and the 20 most common tags.
func Inspect(out io.Writer, s *format.Snapshot, configDir, cacheDir string) error {
	w := bufio.NewWriter(out)
	h := s.Header()
	fmt.Fprintf(w, "format %d.%d, generation %d, built %s, fingerprint %016x, %d bytes\n",
		h.Major, h.Minor, h.Generation, formatTime(h.BuildTime), h.Fingerprint, h.FileSize)

	checks := CheckSources(s.Sources(), configDir, cacheDir)
	stale := 0
	for _, c := range checks {
		if c.Status == SourceStale {
			stale++
		}
	}
	fmt.Fprintf(w, "\nsources (%d, %d stale)\n", len(checks), stale)
	for _, c := range checks {
		size := "absent"
		if c.Source.Size >= 0 {
			size = fmt.Sprintf("%d bytes", c.Source.Size)
		}
		fmt.Fprintf(w, "  %-9s %s (%s): %s\n", c.Status, c.Source.Path, size, c.Detail)
	}

	fmt.Fprintf(w, "\nsections\n")
	for _, sec := range s.Sections() {
		fmt.Fprintf(w, "  %-12s offset %9d  length %9d  crc32c %08x\n", sec.Name, sec.Offset, sec.Length, sec.CRC)
	}

	fmt.Fprintf(w, "\ncounts\n")
	enabled := 0
	for _, c := range s.Channels() {
		if c.Enabled {
			enabled++
		}
	}
	free, local := 0, 0
	for i := 0; i < s.NumPairs(); i++ {
		p := s.Pair(uint32(i))
		if p.Flags&format.FlagFree != 0 {
			free++
		}
		if p.Flags&format.FlagLocal != 0 {
			local++
		}
	}
	fmt.Fprintf(w, "  providers %d\n  channels %d (%d enabled)\n  models %d\n  pairs %d (%d free, %d local)\n  tags %d\n  prewarm %d\n  key states %d\n",
		len(s.Providers()), len(s.Channels()), enabled, s.NumModels(), s.NumPairs(), free, local, s.NumTags(), len(s.Prewarm()), len(s.KeyStates()))

	top := TopTags(s, 20)
	fmt.Fprintf(w, "\ntop %d tags by pairs\n", len(top))
	for _, t := range top {
		fmt.Fprintf(w, "  %-32s %d\n", t.Name, t.Pairs)
	}
	return w.Flush()
}
