package format

import (
	"bytes"
	"math/rand/v2"
	"strings"
	"testing"
)

// shuffled returns a copy of m with every order-insensitive list permuted,
// tags in mixed case with duplicates, and all ordinals remapped so that the
// content is unchanged.
func shuffled(m *Model, seed uint64) *Model {
	r := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	c := m.clone()

	mperm := r.Perm(len(c.Models)) // new position -> old
	mnew := make([]uint32, len(c.Models))
	models := make([]ModelInfo, len(c.Models))
	for to, from := range mperm {
		models[to] = c.Models[from]
		mnew[from] = uint32(to)
	}
	c.Models = models

	pperm := r.Perm(len(c.Pairs))
	pnew := make([]uint32, len(c.Pairs))
	pairs := make([]Pair, len(c.Pairs))
	for to, from := range pperm {
		p := c.Pairs[from]
		p.Model = mnew[p.Model]
		tags := append([]string(nil), p.Tags...)
		if len(tags) > 0 {
			tags = append(tags, strings.ToUpper(tags[0]))
		}
		r.Shuffle(len(tags), func(i, j int) { tags[i], tags[j] = tags[j], tags[i] })
		p.Tags = tags
		pairs[to] = p
		pnew[from] = uint32(to)
	}
	c.Pairs = pairs

	for i := range c.Prewarm {
		ps := c.Prewarm[i].Pairs
		for j := range ps {
			ps[j] = pnew[ps[j]]
		}
		if len(ps) > 0 {
			ps = append(ps, ps[0])
		}
		r.Shuffle(len(ps), func(a, b int) { ps[a], ps[b] = ps[b], ps[a] })
		c.Prewarm[i].Pairs = ps
	}
	r.Shuffle(len(c.Prewarm), func(i, j int) { c.Prewarm[i], c.Prewarm[j] = c.Prewarm[j], c.Prewarm[i] })
	r.Shuffle(len(c.KeyStates), func(i, j int) { c.KeyStates[i], c.KeyStates[j] = c.KeyStates[j], c.KeyStates[i] })
	return c
}

func TestDeterminism(t *testing.T) {
	for _, tc := range []struct {
		name string
		m    *Model
	}{
		{"hand", handModel()},
		{"synthetic", synthModel(3000, 300)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a, err := Encode(tc.m)
			if err != nil {
				t.Fatal(err)
			}
			b, err := Encode(tc.m)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(a, b) {
				t.Fatal("two encodings of the same model differ")
			}
			for seed := uint64(1); seed <= 5; seed++ {
				sh := shuffled(tc.m, seed)
				c, err := Encode(sh)
				if err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(a, c) {
					t.Fatalf("seed %d: encoding of a shuffled model differs", seed)
				}
				if err := sh.Canonicalize(); err != nil {
					t.Fatal(err)
				}
				d, err := Encode(sh)
				if err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(a, d) {
					t.Fatalf("seed %d: encoding after Canonicalize differs", seed)
				}
			}
		})
	}
}

func TestCanonicalizeIdempotent(t *testing.T) {
	m := shuffled(handModel(), 9)
	if err := m.Canonicalize(); err != nil {
		t.Fatal(err)
	}
	once := normalise(m)
	if err := m.Canonicalize(); err != nil {
		t.Fatal(err)
	}
	if !modelsEqual(normalise(m), once) {
		t.Fatal("second Canonicalize changed the model")
	}
	want := handModel()
	if err := want.Canonicalize(); err != nil {
		t.Fatal(err)
	}
	if !modelsEqual(once, normalise(want)) {
		t.Fatal("Canonicalize of a shuffled model differs from Canonicalize of the original")
	}
}

func TestCanonicalizeErrors(t *testing.T) {
	for _, tc := range []struct {
		name   string
		mutate func(m *Model)
		want   string
	}{
		{"empty model name", func(m *Model) { m.Models[1].Name = "" }, "empty name"},
		{"duplicate model", func(m *Model) { m.Models[2].Name = m.Models[1].Name }, "listed twice"},
		{"duplicate pair", func(m *Model) { m.Pairs[2].Channel = m.Pairs[1].Channel }, "appears twice"},
		{"pair channel", func(m *Model) { m.Pairs[0].Channel = 9 }, "names channel 9"},
		{"pair model", func(m *Model) { m.Pairs[0].Model = 9 }, "names model 9"},
		{"channel provider", func(m *Model) { m.Channels[0].Provider = 5 }, "names provider 5"},
		{"prewarm pair", func(m *Model) { m.Prewarm[0].Pairs = []uint32{40} }, "names pair 40"},
		{"duplicate prewarm", func(m *Model) { m.Prewarm[1].Query = m.Prewarm[0].Query }, "listed twice"},
		{"key state channel", func(m *Model) { m.KeyStates[0].Channel = 7 }, "names channel 7"},
		{"duplicate key state", func(m *Model) { m.KeyStates[1].Channel = 0 }, "two key states"},
		{"empty tag", func(m *Model) { m.Pairs[0].Tags = append(m.Pairs[0].Tags, "") }, "empty tag"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := handModel()
			tc.mutate(m)
			_, err := Encode(m)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Encode error = %v; want one containing %q", err, tc.want)
			}
		})
	}
}

func TestSourcesFingerprint(t *testing.T) {
	src := handModel().Sources
	base := SourcesFingerprint(src)
	if base == SourcesFingerprint(nil) {
		t.Fatal("fingerprint ignores the sources")
	}
	for _, tc := range []struct {
		name    string
		mutate  func(s []Source)
		changes bool
	}{
		{"mtime only", func(s []Source) { s[0].ModTime++ }, false},
		{"size", func(s []Source) { s[0].Size++ }, true},
		{"hash", func(s []Source) { s[1].Hash ^= 1 }, true},
		{"path", func(s []Source) { s[1].Path += "x" }, true},
		{"order", func(s []Source) { s[0], s[1] = s[1], s[0] }, true},
		{"path boundary", func(s []Source) { s[0].Path, s[1].Path = s[0].Path+"c", s[1].Path[1:] }, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := append([]Source(nil), src...)
			tc.mutate(s)
			if got := SourcesFingerprint(s) != base; got != tc.changes {
				t.Fatalf("fingerprint changed = %v; want %v", got, tc.changes)
			}
		})
	}
}
