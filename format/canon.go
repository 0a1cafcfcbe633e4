package format

import (
	"cmp"
	"encoding/binary"
	"fmt"
	"slices"
	"strings"

	"github.com/cespare/xxhash/v2"
)

// Canonicalize puts m into the one order the writer accepts, so that the
// same content always gives the same bytes:
//
//   - Models sorted by Name (byte order); names must be non-empty and unique.
//   - Pairs sorted by (model name, channel ordinal); no two pairs may share
//     both. Pair.Model is remapped to the sorted Models.
//   - Every Pair.Tags lowercased, sorted and deduplicated; empty tags are an
//     error.
//   - Prewarm.Pairs remapped to the sorted Pairs (they index m.Pairs as it is
//     when Canonicalize is called), sorted and deduplicated; Prewarm sorted by
//     Query, which must be unique.
//   - KeyStates sorted by Channel, which must be unique.
//
// Providers, Channels, Sources and every list inside Settings keep their
// order: ordinals point into the first two, the fingerprint covers Sources in
// order, and quality rules match first-wins.
//
// Canonicalize also checks every ordinal (provider, channel, model, pair) and
// returns an error naming the first bad one. It is idempotent. It modifies m,
// including the Tags and Prewarm.Pairs slices it holds; Encode and Write call
// it on a copy and leave their argument alone.
func (m *Model) Canonicalize() error {
	if err := m.checkRefs(); err != nil {
		return err
	}

	// Models by name.
	mperm := make([]uint32, len(m.Models))
	for i := range mperm {
		mperm[i] = uint32(i)
	}
	slices.SortFunc(mperm, func(a, b uint32) int { return strings.Compare(m.Models[a].Name, m.Models[b].Name) })
	mnew := make([]uint32, len(m.Models)) // old ordinal -> new ordinal
	models := make([]ModelInfo, len(m.Models))
	for newi, old := range mperm {
		models[newi] = m.Models[old]
		mnew[old] = uint32(newi)
		if models[newi].Name == "" {
			return fmt.Errorf("format: model %d has an empty name; every model needs its id", old)
		}
		if newi > 0 && models[newi-1].Name == models[newi].Name {
			return fmt.Errorf("format: model %q listed twice; merge the entries before writing", models[newi].Name)
		}
	}
	m.Models = models

	// Pairs by (model, channel), tags normalised.
	for i := range m.Pairs {
		p := &m.Pairs[i]
		p.Model = mnew[p.Model]
		tags, err := normTags(p.Tags)
		if err != nil {
			return fmt.Errorf("format: pair %d: %w", i, err)
		}
		p.Tags = tags
	}
	pperm := make([]uint32, len(m.Pairs))
	for i := range pperm {
		pperm[i] = uint32(i)
	}
	slices.SortFunc(pperm, func(a, b uint32) int {
		pa, pb := &m.Pairs[a], &m.Pairs[b]
		if c := cmp.Compare(pa.Model, pb.Model); c != 0 {
			return c
		}
		return cmp.Compare(pa.Channel, pb.Channel)
	})
	pnew := make([]uint32, len(m.Pairs))
	pairs := make([]Pair, len(m.Pairs))
	for newi, old := range pperm {
		pairs[newi] = m.Pairs[old]
		pnew[old] = uint32(newi)
		if newi > 0 && pairs[newi-1].Model == pairs[newi].Model && pairs[newi-1].Channel == pairs[newi].Channel {
			return fmt.Errorf("format: model %q appears twice on channel %d; keep one pair per (channel, model)",
				m.Models[pairs[newi].Model].Name, pairs[newi].Channel)
		}
	}
	m.Pairs = pairs

	// Prewarm.
	for i := range m.Prewarm {
		pw := &m.Prewarm[i]
		for j, o := range pw.Pairs {
			pw.Pairs[j] = pnew[o]
		}
		slices.Sort(pw.Pairs)
		pw.Pairs = slices.Compact(pw.Pairs)
	}
	slices.SortFunc(m.Prewarm, func(a, b Prewarm) int { return strings.Compare(a.Query, b.Query) })
	for i := 1; i < len(m.Prewarm); i++ {
		if m.Prewarm[i-1].Query == m.Prewarm[i].Query {
			return fmt.Errorf("format: prewarm query %q listed twice; merge its candidate lists", m.Prewarm[i].Query)
		}
	}

	// Key states.
	slices.SortFunc(m.KeyStates, func(a, b KeyState) int { return cmp.Compare(a.Channel, b.Channel) })
	for i := 1; i < len(m.KeyStates); i++ {
		if m.KeyStates[i-1].Channel == m.KeyStates[i].Channel {
			return fmt.Errorf("format: two key states for channel %d; keep the newest", m.KeyStates[i].Channel)
		}
	}
	return nil
}

// checkRefs checks every ordinal of m against the list it points into.
func (m *Model) checkRefs() error {
	if uint64(len(m.Pairs)) > 1<<32-1 || uint64(len(m.Models)) > 1<<32-1 || uint64(len(m.Channels)) > 1<<32-1 {
		return fmt.Errorf("format: too many pairs, models or channels for a snapshot (limit 2^32-1)")
	}
	for i, c := range m.Channels {
		if int64(c.Provider) >= int64(len(m.Providers)) {
			return fmt.Errorf("format: channel %d (%q) names provider %d of %d; fix the provider ordinal", i, c.ID, c.Provider, len(m.Providers))
		}
	}
	for i, p := range m.Pairs {
		if int64(p.Channel) >= int64(len(m.Channels)) {
			return fmt.Errorf("format: pair %d names channel %d of %d; fix the channel ordinal", i, p.Channel, len(m.Channels))
		}
		if int64(p.Model) >= int64(len(m.Models)) {
			return fmt.Errorf("format: pair %d names model %d of %d; fix the model ordinal", i, p.Model, len(m.Models))
		}
	}
	for i, pw := range m.Prewarm {
		for _, o := range pw.Pairs {
			if int64(o) >= int64(len(m.Pairs)) {
				return fmt.Errorf("format: prewarm %d (%q) names pair %d of %d; fix the pair ordinal", i, pw.Query, o, len(m.Pairs))
			}
		}
	}
	for i, k := range m.KeyStates {
		if int64(k.Channel) >= int64(len(m.Channels)) {
			return fmt.Errorf("format: key state %d names channel %d of %d; fix the channel ordinal", i, k.Channel, len(m.Channels))
		}
	}
	return nil
}

// normTags lowercases, sorts and deduplicates tags, reusing the slice.
func normTags(tags []string) ([]string, error) {
	if len(tags) == 0 {
		return nil, nil
	}
	for i, t := range tags {
		if t == "" {
			return nil, fmt.Errorf("empty tag; drop it before writing")
		}
		tags[i] = strings.ToLower(t)
	}
	slices.Sort(tags)
	return slices.Compact(tags), nil
}

// clone copies every slice of m that Canonicalize reorders or rewrites, so
// that Encode can canonicalise without touching its argument.
func (m *Model) clone() *Model {
	c := *m
	c.Models = slices.Clone(m.Models)
	c.Pairs = slices.Clone(m.Pairs)
	for i := range c.Pairs {
		c.Pairs[i].Tags = slices.Clone(c.Pairs[i].Tags)
	}
	c.Prewarm = slices.Clone(m.Prewarm)
	for i := range c.Prewarm {
		c.Prewarm[i].Pairs = slices.Clone(c.Prewarm[i].Pairs)
	}
	c.KeyStates = slices.Clone(m.KeyStates)
	c.ClientKeys = slices.Clone(m.ClientKeys)
	return &c
}

// SourcesFingerprint is the xxhash64 of the sources in order: for each, the
// path length (u32 LE), the path bytes, the size (u64 LE) and the content
// hash (u64 LE). Modification times are left out so that touching a file
// without changing it keeps the fingerprint.
func SourcesFingerprint(src []Source) uint64 {
	d := xxhash.New()
	var buf [8]byte
	for _, s := range src {
		binary.LittleEndian.PutUint32(buf[:4], uint32(len(s.Path)))
		_, _ = d.Write(buf[:4])
		_, _ = d.WriteString(s.Path)
		binary.LittleEndian.PutUint64(buf[:], uint64(s.Size))
		_, _ = d.Write(buf[:])
		binary.LittleEndian.PutUint64(buf[:], s.Hash)
		_, _ = d.Write(buf[:])
	}
	return d.Sum64()
}
