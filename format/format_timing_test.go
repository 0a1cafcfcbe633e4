package format

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"

	"github.com/RoaringBitmap/roaring/v2"
)

// synthModel builds a deterministic model of npairs pairs and ntags tags:
// four pairs per model on average, 100 channels over 10 providers, and tags
// drawn from a Zipf distribution (a few tags on many pairs, most on few) plus
// one round-robin tag per pair so that every one of the ntags tags is used.
func synthModel(npairs, ntags int) *Model {
	r := rand.New(rand.NewPCG(uint64(npairs), uint64(ntags)))
	zipf := rand.NewZipf(r, 1.1, 1, uint64(ntags-1))
	m := &Model{Generation: 1, BuildTime: 1700000000000000000, Fingerprint: 42}
	m.Settings.DefaultStrategy = "balanced"
	for p := 0; p < 10; p++ {
		m.Providers = append(m.Providers, Provider{Key: fmt.Sprintf("prov%d", p), Name: fmt.Sprintf("Provider %d", p),
			Adapter: "openai", BaseURL: fmt.Sprintf("https://p%d.example/v1", p)})
	}
	const nch = 100
	for c := 0; c < nch; c++ {
		m.Channels = append(m.Channels, Channel{ID: fmt.Sprintf("ch%03d", c), Name: fmt.Sprintf("Channel %d", c),
			Provider: uint32(c % 10), ModelName: "auto", APIKey: Secret{Env: fmt.Sprintf("KEY_%d", c)},
			BaseURLs: []string{fmt.Sprintf("https://c%d.example/v1", c)}, Enabled: true, Weight: 1})
		m.KeyStates = append(m.KeyStates, KeyState{Channel: uint32(c), Valid: c%7 != 0, StatusCode: 200, HealthScore: 0.9})
	}
	nmodels := (npairs + 3) / 4
	for i := 0; i < nmodels; i++ {
		m.Models = append(m.Models, ModelInfo{Name: fmt.Sprintf("vendor%02d/model-%06d-instruct", i%37, i), OwnedBy: fmt.Sprintf("vendor%02d", i%37), Created: int64(1600000000 + i)})
	}
	tagName := func(t int) string { return fmt.Sprintf("tag-%04d", t) }
	for i := 0; len(m.Pairs) < npairs; i++ {
		model := uint32(i % nmodels)
		ch := uint32((i/nmodels)*13+int(model)*7) % nch
		p := Pair{
			Channel: ch, Model: model,
			InputPrice: uint64(r.IntN(20_000_000)), OutputPrice: uint64(r.IntN(80_000_000)), RequestPrice: 0,
			ContextLength: uint64(4096 << r.IntN(7)), MaxOutputTokens: 4096, ParamsM: uint64(r.IntN(400_000)),
			Caps: uint32(r.IntN(16)), Flags: uint32(r.IntN(16)),
			ParameterScore: r.Float32(), ContextScore: r.Float32(), QualityScore: r.Float32(), FreeScore: r.Float32(), LocalScore: r.Float32(),
		}
		p.Tags = append(p.Tags, tagName(len(m.Pairs)%ntags))
		for k := 0; k < 8; k++ {
			p.Tags = append(p.Tags, tagName(int(zipf.Uint64())))
		}
		m.Pairs = append(m.Pairs, p)
	}
	for q := 0; q < 50; q++ {
		pw := Prewarm{Query: fmt.Sprintf("query-%02d", q)}
		for k := 0; k < 20; k++ {
			pw.Pairs = append(pw.Pairs, uint32(r.IntN(npairs)))
		}
		m.Prewarm = append(m.Prewarm, pw)
	}
	return m
}

type synth struct {
	model *Model // canonical
	bytes []byte
	err   error
}

var synthCache sync.Map // "npairs/ntags" -> func() synth

// synthSnapshot returns the encoded synthetic snapshot, built once per size.
func synthSnapshot(tb testing.TB, npairs, ntags int) synth {
	tb.Helper()
	f, _ := synthCache.LoadOrStore(fmt.Sprint(npairs, "/", ntags), sync.OnceValue(func() synth {
		m := synthModel(npairs, ntags)
		if err := m.Canonicalize(); err != nil {
			return synth{err: err}
		}
		b, err := Encode(m)
		return synth{model: m, bytes: b, err: err}
	}))
	s := f.(func() synth)()
	if s.err != nil {
		tb.Fatal(s.err)
	}
	return s
}

var benchSizes = []int{4500, 100000}

const benchTags = 2000

func BenchmarkOpen(b *testing.B) {
	for _, n := range benchSizes {
		b.Run(fmt.Sprintf("pairs=%d", n), func(b *testing.B) {
			buf := synthSnapshot(b, n, benchTags).bytes
			b.SetBytes(int64(len(buf)))
			b.ReportAllocs()
			b.ReportMetric(float64(len(buf)), "file-bytes")
			for b.Loop() {
				if _, err := Open(buf); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkOpenHeader(b *testing.B) {
	buf := synthSnapshot(b, 100000, benchTags).bytes
	b.ReportAllocs()
	for b.Loop() {
		if _, err := OpenHeader(buf); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkEncode(b *testing.B) {
	for _, n := range benchSizes {
		b.Run(fmt.Sprintf("pairs=%d", n), func(b *testing.B) {
			m := synthSnapshot(b, n, benchTags).model
			b.ReportAllocs()
			for b.Loop() {
				if _, err := Encode(m); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func openSynth(b *testing.B, n int) *Snapshot {
	s, err := Open(synthSnapshot(b, n, benchTags).bytes)
	if err != nil {
		b.Fatal(err)
	}
	return s
}

func BenchmarkLookupModel(b *testing.B) {
	s := openSynth(b, 100000)
	names := make([]string, 1024)
	for i := range names {
		names[i] = s.Model(uint32(i * 24 % s.NumModels())).Name
	}
	b.Run("hit", func(b *testing.B) {
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			if _, ok := s.LookupModel(names[i&1023]); !ok {
				b.Fatal("miss")
			}
			i++
		}
	})
	b.Run("miss", func(b *testing.B) {
		miss := make([]string, len(names))
		for i, n := range names {
			miss[i] = n + "-x"
		}
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			if _, ok := s.LookupModel(miss[i&1023]); ok {
				b.Fatal("hit")
			}
			i++
		}
	})
}

func BenchmarkPair(b *testing.B) {
	s := openSynth(b, 100000)
	n := uint32(s.NumPairs())
	// seq walks the records in order, as a scan of a model's pair range
	// does; random jumps across the 8.8 MB pairs section, so it mostly
	// measures cache misses.
	for _, v := range []struct {
		name string
		step uint32
	}{{"seq", 1}, {"random", 7919}} {
		b.Run(v.name, func(b *testing.B) {
			b.ReportAllocs()
			var sink uint64
			i := uint32(0)
			for b.Loop() {
				sink += s.Pair(i % n).InputPrice
				i += v.step
			}
			_ = sink
		})
	}
}

func BenchmarkLookupTag(b *testing.B) {
	s := openSynth(b, 100000)
	name, _ := s.Tag(uint32(s.NumTags() / 3))
	b.ReportAllocs()
	for b.Loop() {
		if _, ok := s.LookupTag(name); !ok {
			b.Fatal("miss")
		}
	}
}

// intersectionSets picks three tags by cardinality rank: the three most
// common ("popular"), and a spread of ranks ("mixed"). Each set is returned
// smallest first.
func intersectionSets(s *Snapshot) map[string][]*roaring.Bitmap {
	order := make([]uint32, s.NumTags())
	for i := range order {
		order[i] = uint32(i)
	}
	card := func(i uint32) uint32 { _, c := s.Tag(i); return c }
	slices.SortFunc(order, func(a, b uint32) int { return int(card(b)) - int(card(a)) })
	pick := func(ranks ...int) []*roaring.Bitmap {
		var bms []*roaring.Bitmap
		for _, r := range ranks {
			bms = append(bms, s.TagPairs(order[r]))
		}
		slices.SortFunc(bms, func(a, b *roaring.Bitmap) int { return int(a.GetCardinality()) - int(b.GetCardinality()) })
		return bms
	}
	return map[string][]*roaring.Bitmap{
		"popular": pick(0, 1, 2),
		"mixed":   pick(1, 10, 100),
	}
}

// andSmallestFirst intersects bitmaps sorted by cardinality: a new bitmap
// from the two smallest, then the rest in place on that new bitmap.
func andSmallestFirst(bms []*roaring.Bitmap) *roaring.Bitmap {
	r := roaring.And(bms[0], bms[1])
	for _, bm := range bms[2:] {
		r.And(bm)
	}
	return r
}

func BenchmarkIntersect3(b *testing.B) {
	for _, n := range benchSizes {
		s := openSynth(b, n)
		sets := intersectionSets(s)
		for _, name := range []string{"popular", "mixed"} {
			bms := sets[name]
			b.Run(fmt.Sprintf("pairs=%d/%s/And+AndInPlace", n, name), func(b *testing.B) {
				b.ReportAllocs()
				for b.Loop() {
					andSmallestFirst(bms)
				}
			})
			b.Run(fmt.Sprintf("pairs=%d/%s/FastAnd", n, name), func(b *testing.B) {
				b.ReportAllocs()
				for b.Loop() {
					roaring.FastAnd(bms[0], bms[1], bms[2])
				}
			})
		}
	}
}
