package format

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/RoaringBitmap/roaring/v2"
)

// FuzzOpen feeds arbitrary bytes to Open. It must never panic, every error
// must be a *FormatError, and when Open succeeds every accessor must work and
// agree with the others.
func FuzzOpen(f *testing.F) {
	seeds, _ := filepath.Glob(filepath.Join(corruptDir, "*"+corruptTail))
	seeds = append(seeds, goldenPath)
	for _, p := range seeds {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		openAndExercise(t, b)
		// Checksums stop almost every mutation at the frame; a copy with
		// recomputed checksums lets the fuzzer reach the semantic checks.
		if c := resum(b); c != nil {
			openAndExercise(t, c)
		}
	})
}

func openAndExercise(t *testing.T, b []byte) {
	_, herr := OpenHeader(b)
	s, err := Open(b)
	if err != nil {
		var fe *FormatError
		if !errors.As(err, &fe) {
			t.Fatalf("error %v is not a *FormatError", err)
		}
		return
	}
	if herr != nil {
		t.Fatalf("Open succeeded but OpenHeader failed: %v", herr)
	}
	exercise(t, s)
}

// resum returns a copy of b with every checksum recomputed, or nil when the
// header or table positions are unusable.
func resum(b []byte) []byte {
	if len(b) < HeaderSize+FooterSize {
		return nil
	}
	tableOff := le.Uint64(b[hOffTableOff:])
	n := uint64(le.Uint32(b[hOffSectCount:]))
	if n > maxSections || tableOff > uint64(len(b)) || n*TableEntrySize > uint64(len(b))-tableOff {
		return nil
	}
	c := append([]byte(nil), b...)
	for i := uint64(0); i < n; i++ {
		e := c[tableOff+i*TableEntrySize:]
		off, ln := le.Uint64(e[tOffOffset:]), le.Uint64(e[tOffLength:])
		if off <= uint64(len(c)) && ln <= uint64(len(c))-off {
			le.PutUint32(e[tOffCRC:], crc(c[off:off+ln]))
		}
	}
	tcrc := crc(c[tableOff : tableOff+n*TableEntrySize])
	le.PutUint32(c[hOffTableCRC:], tcrc)
	le.PutUint32(c[hOffHeaderCRC:], crc(c[:hOffHeaderCRC]))
	f := c[len(c)-FooterSize:]
	le.PutUint32(f[fOffTableCRC:], tcrc)
	le.PutUint32(f[fOffCRC:], crc(f[:fOffCRC]))
	return c
}

// exercise calls every accessor of s and checks that they agree.
func exercise(t *testing.T, s *Snapshot) {
	_ = s.Header()
	_ = s.Settings()
	_ = s.Sources()
	_ = s.Providers()
	_ = s.KeyStates()
	_ = s.Sections()
	for _, k := range s.ClientKeys() {
		if k.Name == "" || (k.KeyEnv == "") == (k.KeyHash == [32]byte{}) || k.DailyUSD < 0 || k.MonthlyUSD < 0 {
			t.Fatalf("client key %+v opened though invalid", k)
		}
	}
	nch := uint32(len(s.Channels()))
	for i := 0; i < s.NumModels(); i++ {
		m := s.Model(uint32(i))
		if o, ok := s.LookupModel(m.Name); !ok || o != uint32(i) {
			t.Fatalf("LookupModel(%q) = %d, %v; want %d", m.Name, o, ok, i)
		}
		first, n := s.ModelPairs(uint32(i))
		for j := first; j < first+n; j++ {
			if p := s.Pair(j); p.Model != uint32(i) || p.Channel >= nch {
				t.Fatalf("pair %d = %+v inside model %d", j, p, i)
			}
		}
	}
	s.LookupModel("no such model")
	for i := 0; i < s.NumPairs(); i++ {
		s.Pair(uint32(i))
		if i < 8 {
			s.PairTags(uint32(i))
		}
	}
	var bms []*roaring.Bitmap
	for i := 0; i < s.NumTags(); i++ {
		name, card := s.Tag(uint32(i))
		if j, ok := s.LookupTag(name); !ok || j != uint32(i) {
			t.Fatalf("LookupTag(%q) = %d, %v; want %d", name, j, ok, i)
		}
		bm := s.TagPairs(uint32(i))
		if bm.GetCardinality() != uint64(card) {
			t.Fatalf("tag %q: bitmap has %d pairs, dictionary says %d", name, bm.GetCardinality(), card)
		}
		it := bm.Iterator()
		for it.HasNext() {
			if o := it.Next(); int(o) >= s.NumPairs() {
				t.Fatalf("tag %q names pair %d of %d", name, o, s.NumPairs())
			}
		}
		bms = append(bms, bm)
	}
	if len(bms) >= 2 {
		roaring.And(bms[0], bms[1])
		roaring.FastAnd(bms...)
		roaring.FastOr(bms...)
	}
	for _, pw := range s.Prewarm() {
		for _, o := range pw.Pairs {
			if int(o) >= s.NumPairs() {
				t.Fatalf("prewarm %q names pair %d of %d", pw.Query, o, s.NumPairs())
			}
		}
	}
}
