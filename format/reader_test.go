package format

import (
	"bytes"
	"errors"
	"reflect"
	"slices"
	"sync"
	"testing"
)

func TestNoAllocations(t *testing.T) {
	s, err := Open(synthSnapshot(t, 4500, 500).bytes)
	if err != nil {
		t.Fatal(err)
	}
	name := s.Model(17).Name
	tag, _ := s.Tag(3)
	for _, tc := range []struct {
		name string
		f    func()
	}{
		{"Pair", func() { _ = s.Pair(1234) }},
		{"Model", func() { _ = s.Model(17) }},
		{"ModelPairs", func() { s.ModelPairs(17) }},
		{"LookupModel hit", func() { s.LookupModel(name) }},
		{"LookupModel miss", func() { s.LookupModel("no/such-model") }},
		{"Tag", func() { s.Tag(3) }},
		{"LookupTag", func() { s.LookupTag(tag) }},
		{"TagPairs", func() { _ = s.TagPairs(3) }},
		{"Header", func() { _ = s.Header() }},
	} {
		if n := testing.AllocsPerRun(100, tc.f); n != 0 {
			t.Errorf("%s allocates %.1f times per call", tc.name, n)
		}
	}
}

func TestSynthetic(t *testing.T) {
	sy := synthSnapshot(t, 4500, 500)
	s, err := Open(sy.bytes)
	if err != nil {
		t.Fatal(err)
	}
	if s.NumPairs() != 4500 || s.NumTags() != 500 || s.NumModels() != len(sy.model.Models) {
		t.Fatalf("pairs %d tags %d models %d", s.NumPairs(), s.NumTags(), s.NumModels())
	}
	exercise(t, s)
	for i, p := range sy.model.Pairs {
		got := s.Pair(uint32(i))
		want := p
		want.Tags = nil
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("pair %d = %+v; want %+v", i, got, want)
		}
	}
	// Tag postings agree with Pair.Tags.
	for i, p := range sy.model.Pairs[:200] {
		got := s.PairTags(uint32(i))
		if len(got) != len(p.Tags) {
			t.Fatalf("pair %d tags %v; want %v", i, got, p.Tags)
		}
		for j := range got {
			if got[j] != p.Tags[j] {
				t.Fatalf("pair %d tags %v; want %v", i, got, p.Tags)
			}
		}
	}
}

// TestMinorVersion checks the forward-compatibility rules: a newer minor of
// the same major opens, and an unknown optional section is skipped.
func TestMinorVersion(t *testing.T) {
	golden := goldenBytes(t)

	newer := bytes.Clone(golden)
	le.PutUint16(newer[hOffMinor:], Minor+7)
	s, err := Open(fixChecksums(newer))
	if err != nil {
		t.Fatalf("newer minor: %v", err)
	}
	if s.Header().Minor != Minor+7 {
		t.Errorf("minor = %d", s.Header().Minor)
	}

	unknown := bytes.Clone(golden)
	e := entry(t, unknown, "prewarm")
	le.PutUint32(unknown[e.at+tOffID:], 77)
	s, err = Open(fixChecksums(unknown))
	if err != nil {
		t.Fatalf("unknown optional section: %v", err)
	}
	if s.Prewarm() != nil {
		t.Errorf("prewarm = %v; want none, its section was renamed", s.Prewarm())
	}
	if secs := s.Sections(); !slices.ContainsFunc(secs, func(x SectionInfo) bool { return x.Name == "section#77" }) {
		t.Errorf("sections = %+v", secs)
	}

	// A record grown by a later minor is read by its known prefix.
	b := goldenBytes(t)
	wider := widenPairs(t, b, 8)
	s, err = Open(wider)
	if err != nil {
		t.Fatalf("wider pair records: %v", err)
	}
	g, _ := Open(b)
	for i := 0; i < g.NumPairs(); i++ {
		if !reflect.DeepEqual(s.Pair(uint32(i)), g.Pair(uint32(i))) {
			t.Fatalf("pair %d differs with wider records", i)
		}
	}
}

// widenPairs rebuilds b with every pair record extended by extra zero bytes,
// as a later minor version might write it. The pairs section is the last
// thing moved; the sections after it shift by a multiple of 64.
func widenPairs(t *testing.T, b []byte, extra int) []byte {
	t.Helper()
	p := entry(t, b, "pairs")
	sec := b[p.off : p.off+p.len]
	n := int(le.Uint32(sec))
	nsec := le.AppendUint32(nil, uint32(n))
	nsec = le.AppendUint32(nsec, pairRecSize+uint32(extra))
	for i := 0; i < n; i++ {
		nsec = append(nsec, sec[recHeaderSize+i*pairRecSize:recHeaderSize+(i+1)*pairRecSize]...)
		nsec = append(nsec, make([]byte, extra)...)
	}
	oldEnd := int(alignUp(uint64(p.off+p.len), SectionAlign))
	newEnd := int(alignUp(uint64(p.off+len(nsec)), SectionAlign))
	shift := newEnd - oldEnd
	out := append([]byte(nil), b[:p.off]...)
	out = append(out, nsec...)
	out = append(out, make([]byte, newEnd-len(out))...)
	out = append(out, b[oldEnd:]...)
	for _, e := range rawTable(out) {
		switch {
		case e.id == SecPairs:
			le.PutUint64(out[e.at+tOffLength:], uint64(len(nsec)))
		case e.off > p.off:
			le.PutUint64(out[e.at+tOffOffset:], uint64(e.off+shift))
		}
	}
	le.PutUint64(out[hOffFileSize:], uint64(len(out)))
	le.PutUint64(out[len(out)-FooterSize+fOffFileSize:], uint64(len(out)))
	return fixChecksums(out)
}

func TestOpenHeader(t *testing.T) {
	b := goldenBytes(t)
	h, err := OpenHeader(b)
	if err != nil {
		t.Fatal(err)
	}
	m := handModel()
	if h.Generation != m.Generation || h.BuildTime != m.BuildTime || h.Fingerprint != m.Fingerprint || h.FileSize != uint64(len(b)) {
		t.Fatalf("header = %+v", h)
	}
	// OpenHeader does not read the sections, so a damaged section passes.
	e := entry(t, b, "pairs")
	b[e.off+e.len/2] ^= 1
	if _, err := OpenHeader(b); err != nil {
		t.Fatalf("OpenHeader looked inside a section: %v", err)
	}
	if _, err := Open(b); !errors.Is(err, ErrChecksum) {
		t.Fatalf("Open = %v; want a checksum error", err)
	}
}

// TestConcurrentReaders runs every accessor from several goroutines; with
// -race it shows that reading a Snapshot, including the shared bitmaps, does
// not write.
func TestConcurrentReaders(t *testing.T) {
	s, err := Open(synthSnapshot(t, 4500, 500).bytes)
	if err != nil {
		t.Fatal(err)
	}
	before := make([]uint64, s.NumTags())
	for i := range before {
		before[i] = s.TagPairs(uint32(i)).GetCardinality()
	}
	var wg sync.WaitGroup
	for g := 0; g < 4; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			exercise(t, s)
			sets := intersectionSets(s)
			for _, bms := range sets {
				r := andSmallestFirst(bms)
				_ = r.GetCardinality()
			}
		}()
	}
	wg.Wait()
	for i := range before {
		if got := s.TagPairs(uint32(i)).GetCardinality(); got != before[i] {
			t.Fatalf("tag %d changed from %d to %d pairs", i, before[i], got)
		}
	}
}

// TestLimitsSection checks the limits section of format 1.1: its values
// round-trip, a 1.0 file (no such section) reads as all limits unset, and a
// task-limit list that does not match the tasks in settings is refused.
func TestLimitsSection(t *testing.T) {
	golden := goldenBytes(t)
	s, err := Open(golden)
	if err != nil {
		t.Fatal(err)
	}
	st := s.Settings()
	if st.MemoryLimitBytes != 500<<20 || st.ConfigLoadTimeoutMs != 15000 || st.CacheLoadTimeoutMs != 30000 {
		t.Errorf("limits = %d %d %d", st.MemoryLimitBytes, st.ConfigLoadTimeoutMs, st.CacheLoadTimeoutMs)
	}
	if st.Tasks[0].MaxConcurrent != 4 || st.Tasks[1].MaxConcurrent != 0 {
		t.Errorf("task limits = %+v", st.Tasks)
	}

	// A 1.0 reader's view: the section is skipped as unknown and optional;
	// this reader with the section absent leaves the limits at zero.
	old := bytes.Clone(golden)
	e := entry(t, old, "limits")
	le.PutUint32(old[e.at+tOffID:], 78)
	s, err = Open(fixChecksums(old))
	if err != nil {
		t.Fatalf("without limits: %v", err)
	}
	st = s.Settings()
	if st.MemoryLimitBytes != 0 || st.ConfigLoadTimeoutMs != 0 || st.CacheLoadTimeoutMs != 0 || st.Tasks[0].MaxConcurrent != 0 {
		t.Errorf("without limits: %+v", st)
	}

	bad := bytes.Clone(golden)
	e = entry(t, bad, "limits")
	le.PutUint32(bad[e.off+16:], 1) // task count after u64 + 2×u32; 1 fits but differs from 2
	_, err = Open(fixChecksums(bad))
	checkFormatError(t, err, ErrCorrupt, "limits")
}
