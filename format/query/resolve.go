package query

import (
	"cmp"
	"slices"
	"sort"
	"strings"

	"github.com/RoaringBitmap/roaring/v2"

	"smartrouter/format"
	"smartrouter/format/vocab"
)

// Resolver resolves queries against one snapshot. Build one per snapshot
// with NewResolver; it is read-only afterwards and safe for concurrent use.
type Resolver struct {
	snap    *format.Snapshot
	nchans  int
	aliases map[string][]aliasTarget // lowercased, trimmed standard name
}

type aliasTarget struct {
	channel uint32
	target  string
}

// NewResolver prepares resolution over snap: it indexes the model_aliases of
// every channel by standard name.
func NewResolver(snap *format.Snapshot) *Resolver {
	chans := snap.Channels()
	r := &Resolver{snap: snap, nchans: len(chans), aliases: make(map[string][]aliasTarget)}
	for i := range chans {
		for _, a := range chans[i].Aliases {
			k := strings.ToLower(strings.TrimSpace(a.Standard))
			if k != "" && a.Target != "" {
				r.aliases[k] = append(r.aliases[k], aliasTarget{channel: uint32(i), target: a.Target})
			}
		}
	}
	return r
}

// Resolve parses a model string and returns its query and the pairs it
// matches before any live filter, in ascending ordinal order. The only error
// is a *ParseError.
func (r *Resolver) Resolve(model string) (Query, []uint32, error) {
	q, err := Parse(model)
	if err != nil {
		return Query{}, nil, err
	}
	list, bm := r.Match(&q)
	if bm != nil {
		list = bm.ToArray()
	}
	return q, list, nil
}

// Match returns the pairs q matches before any live filter: either an
// ascending list of pair ordinals (bm nil), or a bitmap (list nil) for the
// large sets of tag queries. Both nil means no pair matches. A tag query
// without positive tags (only negatives and/or sizes) starts from all pairs:
// its cost grows with the number of pairs. The caller owns the results.
func (r *Resolver) Match(q *Query) (list []uint32, bm *roaring.Bitmap) {
	if q.Kind == KindPhysical {
		return r.matchPhysical(q.Name), nil
	}
	return r.matchTags(q)
}

// smallSet is the size under which an intersection probes the other postings
// pair by pair instead of intersecting bitmaps.
const smallSet = 2048

// matchTags intersects the postings of the positive tags smallest first,
// subtracts the negative ones and applies the size filters.
func (r *Resolver) matchTags(q *Query) ([]uint32, *roaring.Bitmap) {
	type posting struct {
		bm   *roaring.Bitmap
		card uint32
	}
	pos := make([]posting, 0, len(q.Include))
	for _, t := range q.Include {
		i, ok := r.snap.LookupTag(t)
		if !ok {
			return nil, nil
		}
		_, card := r.snap.Tag(i)
		pos = append(pos, posting{r.snap.TagPairs(i), card})
	}
	slices.SortStableFunc(pos, func(a, b posting) int { return cmp.Compare(a.card, b.card) })
	var neg []*roaring.Bitmap
	for _, t := range q.Exclude {
		if i, ok := r.snap.LookupTag(t); ok {
			neg = append(neg, r.snap.TagPairs(i))
		}
	}
	keep := func(p uint32) bool {
		if len(q.Sizes) == 0 {
			return true
		}
		pr := r.snap.Pair(p)
		for _, f := range q.Sizes {
			if !f.Match(SizeOf(&pr, f.Dim)) {
				return false
			}
		}
		return true
	}

	if len(pos) > 0 && pos[0].card <= smallSet {
		base := pos[0].bm.ToArray()
		out := base[:0]
	next:
		for _, p := range base {
			for _, o := range pos[1:] {
				if !o.bm.Contains(p) {
					continue next
				}
			}
			for _, n := range neg {
				if n.Contains(p) {
					continue next
				}
			}
			if keep(p) {
				out = append(out, p)
			}
		}
		return out, nil
	}

	var acc *roaring.Bitmap
	if len(pos) > 0 {
		acc = pos[0].bm.Clone()
		for _, o := range pos[1:] {
			acc.And(o.bm)
		}
	} else {
		acc = roaring.New()
		acc.AddRange(0, uint64(r.snap.NumPairs()))
	}
	for _, n := range neg {
		acc.AndNot(n)
	}
	if len(q.Sizes) > 0 {
		kept := roaring.New()
		it := acc.Iterator()
		for it.HasNext() {
			if p := it.Next(); keep(p) {
				kept.Add(p)
			}
		}
		acc = kept
	}
	return nil, acc
}

// SizeOf returns the size of a pair that a size filter on d compares (zero:
// unknown).
func SizeOf(pr *format.Pair, d Dim) uint64 {
	switch d {
	case DimParams:
		return pr.ParamsM
	case DimContext:
		return pr.ContextLength
	case DimOutput:
		return pr.MaxOutputTokens
	}
	return 0
}

// matchPhysical finds the pairs of a physical name: exact ids; per channel
// without an exact match, the shortest id (then byte order) having the
// lowercased name as a complete segment (vocab.IsSegment); and the targets of
// model_aliases whose standard name is the name, when the channel has that
// model.
func (r *Resolver) matchPhysical(name string) []uint32 {
	var out []uint32
	hasExact := make([]bool, r.nchans)
	if m, ok := r.snap.LookupModel(name); ok {
		first, n := r.snap.ModelPairs(m)
		for p := first; p < first+n; p++ {
			out = append(out, p)
			hasExact[r.snap.Pair(p).Channel] = true
		}
	}
	lower := strings.ToLower(name)
	if ti, ok := r.snap.LookupTag(lower); ok {
		type best struct {
			pair uint32
			id   string
		}
		bests := make(map[uint32]best)
		it := r.snap.TagPairs(ti).Iterator()
		for it.HasNext() {
			p := it.Next()
			pr := r.snap.Pair(p)
			if hasExact[pr.Channel] {
				continue
			}
			id := r.snap.Model(pr.Model).Name
			if !vocab.IsSegment(id, lower) {
				continue
			}
			if b, ok := bests[pr.Channel]; !ok || len(id) < len(b.id) || (len(id) == len(b.id) && id < b.id) {
				bests[pr.Channel] = best{p, id}
			}
		}
		for _, b := range bests {
			out = append(out, b.pair)
		}
	}
	for _, a := range r.aliases[strings.TrimSpace(lower)] {
		if p, ok := FindPair(r.snap, a.channel, a.target); ok {
			out = append(out, p)
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// FindPair returns the ordinal of the pair (channel ci, model name).
func FindPair(snap *format.Snapshot, ci uint32, model string) (uint32, bool) {
	m, ok := snap.LookupModel(model)
	if !ok {
		return 0, false
	}
	first, n := snap.ModelPairs(m)
	// Pairs of one model are sorted by channel ordinal.
	j := sort.Search(int(n), func(k int) bool { return snap.Pair(first+uint32(k)).Channel >= ci })
	if j < int(n) && snap.Pair(first+uint32(j)).Channel == ci {
		return first + uint32(j), true
	}
	return 0, false
}
