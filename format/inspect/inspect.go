package inspect

import (
	"bufio"
	"fmt"
	"io"
	"slices"
	"strings"

	"smartrouter/format"
	"smartrouter/format/sources"
)

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
// (judged by format/sources, as routerd judges them; a source whose
// directory is not given is unchecked), sections with their sizes, counts
// and the 20 most common tags.
func Inspect(out io.Writer, s *format.Snapshot, configDir, cacheDir string) error {
	w := bufio.NewWriter(out)
	h := s.Header()
	fmt.Fprintf(w, "format %d.%d, generation %d, built %s, fingerprint %016x, %d bytes\n",
		h.Major, h.Minor, h.Generation, formatTime(h.BuildTime), h.Fingerprint, h.FileSize)

	srcs := s.Sources()
	checks := sources.Check(srcs, configDir, cacheDir)
	stale := 0
	for _, c := range checks {
		if c.Status == sources.Stale {
			stale++
		}
	}
	fmt.Fprintf(w, "\nsources (%d, %d stale)\n", len(checks), stale)
	for i, c := range checks {
		size := "absent"
		if srcs[i].Size >= 0 {
			size = fmt.Sprintf("%d bytes", srcs[i].Size)
		}
		detail := c.Detail
		if detail == "" {
			detail = "same size and time"
		}
		fmt.Fprintf(w, "  %-9s %s (%s): %s\n", c.Status, srcs[i].Path, size, detail)
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

	if cks := s.ClientKeys(); len(cks) > 0 {
		fmt.Fprintf(w, "\nclient keys %d\n", len(cks))
		for i := range cks {
			fmt.Fprintf(w, "  %s\n", ClientKeyLine(&cks[i]))
		}
	}

	top := TopTags(s, 20)
	fmt.Fprintf(w, "\ntop %d tags by pairs\n", len(top))
	for _, t := range top {
		fmt.Fprintf(w, "  %-32s %d\n", t.Name, t.Pairs)
	}
	return w.Flush()
}
