package format

import (
	"bytes"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"testing"
)

var update = flag.Bool("update", false, "rewrite fixtures/format/golden.snap and fixtures/format/corrupt/*.snap")

const (
	fixtureDir  = "../fixtures/format"
	goldenPath  = fixtureDir + "/golden.snap"
	corruptDir  = fixtureDir + "/corrupt"
	corruptTail = ".snap"
)

func writeFixture(t *testing.T, path string, b []byte) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

func readFixture(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run `go test ./format -update` to create the fixtures)", err)
	}
	return b
}

func goldenBytes(t *testing.T) []byte {
	t.Helper()
	b, err := Encode(handModel())
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestGolden(t *testing.T) {
	b := goldenBytes(t)
	if *update {
		writeFixture(t, goldenPath, b)
	}
	want := readFixture(t, goldenPath)
	if !bytes.Equal(b, want) {
		i := 0
		for i < len(b) && i < len(want) && b[i] == want[i] {
			i++
		}
		t.Fatalf("Encode(handModel()) differs from %s at byte %d (len %d vs %d); if the format changed on purpose, bump the version and run `go test ./format -update`",
			goldenPath, i, len(b), len(want))
	}
	if _, err := Open(want); err != nil {
		t.Fatalf("golden file does not open: %v", err)
	}
}

// Test-side view of the section table of b, read without validation.
type rawEntry struct {
	at       int // file offset of the table entry
	id       uint32
	off, len int
}

func rawTable(b []byte) []rawEntry {
	tableOff := int(le.Uint64(b[hOffTableOff:]))
	n := int(le.Uint32(b[hOffSectCount:]))
	out := make([]rawEntry, n)
	for i := range out {
		at := tableOff + i*TableEntrySize
		out[i] = rawEntry{at: at, id: le.Uint32(b[at+tOffID:]), off: int(le.Uint64(b[at+tOffOffset:])), len: int(le.Uint64(b[at+tOffLength:]))}
	}
	return out
}

func entry(t testing.TB, b []byte, name string) rawEntry {
	t.Helper()
	for _, e := range rawTable(b) {
		if SectionName(e.id) == name {
			return e
		}
	}
	t.Fatalf("no section %q", name)
	return rawEntry{}
}

// fixChecksums recomputes every checksum of b from its table: section CRCs,
// the table CRC in header and footer, and the header and footer CRCs. A
// mutation followed by fixChecksums is caught by a semantic check rather than
// by a checksum.
func fixChecksums(b []byte) []byte {
	for _, e := range rawTable(b) {
		if e.off >= 0 && e.len >= 0 && e.off+e.len <= len(b) {
			le.PutUint32(b[e.at+tOffCRC:], crc(b[e.off:e.off+e.len]))
		}
	}
	tableOff := int(le.Uint64(b[hOffTableOff:]))
	n := int(le.Uint32(b[hOffSectCount:]))
	tcrc := crc(b[tableOff : tableOff+n*TableEntrySize])
	le.PutUint32(b[hOffTableCRC:], tcrc)
	le.PutUint32(b[hOffHeaderCRC:], crc(b[:hOffHeaderCRC]))
	f := b[len(b)-FooterSize:]
	le.PutUint32(f[fOffTableCRC:], tcrc)
	le.PutUint32(f[fOffCRC:], crc(f[:fOffCRC]))
	return b
}

type corruptCase struct {
	name    string
	mutate  func(t testing.TB, b []byte) []byte // b is a private copy of the golden bytes
	err     error
	section string
	frame   bool // OpenHeader detects it too
}

func corruptCases() []corruptCase {
	trunc := func(n func(b []byte) int) func(testing.TB, []byte) []byte {
		return func(_ testing.TB, b []byte) []byte { return b[:n(b)] }
	}
	// inSection mutates the bytes of a section and fixes all checksums.
	inSection := func(name string, f func(t testing.TB, sec []byte)) func(testing.TB, []byte) []byte {
		return func(t testing.TB, b []byte) []byte {
			e := entry(t, b, name)
			f(t, b[e.off:e.off+e.len])
			return fixChecksums(b)
		}
	}
	// inEntry mutates a table entry and fixes all checksums.
	inEntry := func(name string, f func(e []byte, b []byte)) func(testing.TB, []byte) []byte {
		return func(t testing.TB, b []byte) []byte {
			e := entry(t, b, name)
			f(b[e.at:e.at+TableEntrySize], b)
			return fixChecksums(b)
		}
	}
	cs := []corruptCase{
		{"empty", trunc(func([]byte) int { return 0 }), ErrTruncated, "header", true},
		{"trunc-magic", trunc(func([]byte) int { return 5 }), ErrTruncated, "header", true},
		{"trunc-header", trunc(func([]byte) int { return HeaderSize - 28 }), ErrTruncated, "header", true},
		{"trunc-table", trunc(func([]byte) int { return HeaderSize + TableEntrySize + 7 }), ErrTruncated, "table", true},
		{"trunc-mid-pairs", func(t testing.TB, b []byte) []byte {
			e := entry(t, b, "pairs")
			return b[:e.off+e.len/2]
		}, ErrTruncated, "pairs", true},
		{"trunc-mid-postings", func(t testing.TB, b []byte) []byte {
			e := entry(t, b, "postings")
			return b[:e.off+e.len/2]
		}, ErrTruncated, "postings", true},
		{"trunc-no-footer", trunc(func(b []byte) int { return len(b) - FooterSize }), ErrTruncated, "footer", true},
		{"trunc-mid-footer", trunc(func(b []byte) int { return len(b) - 10 }), ErrTruncated, "footer", true},
		{"trailing-bytes", func(_ testing.TB, b []byte) []byte { return append(b, make([]byte, 64)...) }, ErrCorrupt, "file", true},
		{"bad-magic", func(_ testing.TB, b []byte) []byte { b[1] = 'X'; return b }, ErrBadMagic, "header", true},
		{"text-file", func(_ testing.TB, b []byte) []byte { return []byte("models:\n  - gpt-4o\n") }, ErrBadMagic, "header", true},
		{"major-future", func(_ testing.TB, b []byte) []byte {
			le.PutUint16(b[hOffMajor:], Major+1)
			return fixChecksums(b)
		}, ErrVersionTooNew, "header", true},
		{"major-too-old", func(_ testing.TB, b []byte) []byte {
			le.PutUint16(b[hOffMajor:], MinMajor-1)
			return fixChecksums(b)
		}, ErrVersionTooOld, "header", true},
		{"flip-header", func(_ testing.TB, b []byte) []byte { b[hOffGeneration] ^= 0x04; return b }, ErrChecksum, "header", true},
		{"flip-table", func(_ testing.TB, b []byte) []byte { b[HeaderSize+TableEntrySize+tOffLength] ^= 0x01; return b }, ErrChecksum, "table", true},
		{"flip-footer", func(_ testing.TB, b []byte) []byte { b[len(b)-FooterSize+fOffFileSize+1] ^= 0x80; return b }, ErrChecksum, "footer", true},
		{"footer-magic", func(_ testing.TB, b []byte) []byte { b[len(b)-FooterSize] = 'X'; return fixChecksums(b) }, ErrCorrupt, "footer", true},
		{"header-flags", func(_ testing.TB, b []byte) []byte { b[hOffFlags] = 1; return fixChecksums(b) }, ErrCorrupt, "header", true},
		{"overlap", func(t testing.TB, b []byte) []byte {
			// Move model_index to start 64 bytes into pairs, which is longer than that.
			p := entry(t, b, "pairs")
			if p.len <= SectionAlign {
				t.Fatal("pairs section too short for the overlap fixture")
			}
			e := entry(t, b, "model_index")
			le.PutUint64(b[e.at+tOffOffset:], uint64(p.off+SectionAlign))
			return fixChecksums(b)
		}, ErrOverlap, "model_index", true},
		{"misaligned", inEntry("models", func(e, _ []byte) { le.PutUint64(e[tOffOffset:], le.Uint64(e[tOffOffset:])+8) }), ErrCorrupt, "models", true},
		{"section-outside", inEntry("key_states", func(e, _ []byte) { le.PutUint64(e[tOffLength:], 1<<40) }), ErrOutOfBounds, "key_states", true},
		{"duplicate-section", inEntry("models", func(e, _ []byte) { le.PutUint32(e[tOffID:], SecPairs) }), ErrCorrupt, "pairs", true},
		{"unknown-required", inEntry("prewarm", func(e, _ []byte) {
			le.PutUint32(e[tOffID:], 99)
			le.PutUint32(e[tOffFlags:], SectionRequired)
		}), ErrUnknownSection, "section#99", false},
		{"missing-required", inEntry("pairs", func(e, _ []byte) {
			le.PutUint32(e[tOffID:], 98)
			le.PutUint32(e[tOffFlags:], 0)
		}), ErrCorrupt, "pairs", false},
		{"ref-channel-provider", inSection("channels", func(_ testing.TB, s []byte) {
			le.PutUint32(s[4+2*strRefSize:], 99) // count, id, name, then provider
		}), ErrOutOfBounds, "channels", false},
		{"ref-model-string", inSection("models", func(_ testing.TB, s []byte) {
			le.PutUint32(s[recHeaderSize:], 0xffffff00)
		}), ErrOutOfBounds, "models", false},
		{"ref-pair-channel", inSection("pairs", func(_ testing.TB, s []byte) {
			le.PutUint32(s[recHeaderSize:], 99)
		}), ErrOutOfBounds, "pairs", false},
		{"model-range", inSection("models", func(_ testing.TB, s []byte) {
			c := s[recHeaderSize+28:]
			le.PutUint32(c, le.Uint32(c)+1)
		}), ErrCorrupt, "pairs", false},
		{"models-unsorted", inSection("models", func(_ testing.TB, s []byte) {
			copy(s[recHeaderSize+modelRecSize:recHeaderSize+modelRecSize+strRefSize], s[recHeaderSize:recHeaderSize+strRefSize])
		}), ErrCorrupt, "models", false},
		{"ref-index-model", inSection("model_index", func(t testing.TB, s []byte) {
			for i := recHeaderSize; i < len(s); i += indexRecSize {
				if le.Uint32(s[i:]) != 0 {
					le.PutUint32(s[i:], 100)
					return
				}
			}
			t.Fatal("empty model index")
		}), ErrOutOfBounds, "model_index", false},
		{"index-tag", inSection("model_index", func(t testing.TB, s []byte) {
			for i := recHeaderSize; i < len(s); i += indexRecSize {
				if le.Uint32(s[i:]) != 0 {
					s[i+4] ^= 1
					return
				}
			}
			t.Fatal("empty model index")
		}), ErrCorrupt, "model_index", false},
		{"tags-unsorted", inSection("tag_dict", func(_ testing.TB, s []byte) {
			copy(s[recHeaderSize+tagRecSize:recHeaderSize+tagRecSize+strRefSize], s[recHeaderSize:recHeaderSize+strRefSize])
		}), ErrCorrupt, "tag_dict", false},
		{"ref-tag-postings", inSection("tag_dict", func(_ testing.TB, s []byte) {
			le.PutUint32(s[recHeaderSize+16:], 1<<20)
		}), ErrOutOfBounds, "tag_dict", false},
		{"tag-postings-overlap", inSection("tag_dict", func(_ testing.TB, s []byte) {
			le.PutUint32(s[recHeaderSize+tagRecSize+12:], 0) // second tag's postings start where the first's do
		}), ErrOverlap, "tag_dict", false},
		{"tag-cardinality", inSection("tag_dict", func(_ testing.TB, s []byte) {
			c := s[recHeaderSize+8:]
			le.PutUint32(c, le.Uint32(c)+1)
		}), ErrCorrupt, "postings", false},
		{"bitmap-max", inSection("postings", func(_ testing.TB, s []byte) {
			// First bitmap: cookie, one container (key, card-1, offset), then the values.
			card := int(le.Uint16(s[10:])) + 1
			le.PutUint16(s[16+2*(card-1):], 1000)
		}), ErrOutOfBounds, "postings", false},
		{"bitmap-unsorted", func(t testing.TB, b []byte) []byte {
			// A bitmap with at least two values: swap the first two.
			bm := postingWithCard(t, b, 2)
			bm[16], bm[17], bm[18], bm[19] = bm[18], bm[19], bm[16], bm[17]
			return fixChecksums(b)
		}, ErrCorrupt, "postings", false},
		{"bitmap-run-cookie", inSection("postings", func(_ testing.TB, s []byte) {
			le.PutUint32(s, 12347)
		}), ErrCorrupt, "postings", false},
		{"ref-prewarm-pair", inSection("prewarm", func(_ testing.TB, s []byte) {
			n := int(le.Uint32(s))
			le.PutUint32(s[recHeaderSize+n*prewarmRecSize:], 99)
		}), ErrOutOfBounds, "prewarm", false},
		{"ref-keystate-channel", inSection("key_states", func(_ testing.TB, s []byte) {
			le.PutUint32(s[recHeaderSize:], 99)
		}), ErrOutOfBounds, "key_states", false},
		{"settings-bool", inSection("settings", func(_ testing.TB, s []byte) {
			s[strRefSize+2] = 7 // host, port, then debug
		}), ErrCorrupt, "settings", false},
		{"settings-list-count", inSection("settings", func(_ testing.TB, s []byte) {
			le.PutUint32(s[strRefSize+3:], 1<<30) // CORS origins count
		}), ErrOutOfBounds, "settings", false},
		{"record-size", inSection("pairs", func(_ testing.TB, s []byte) {
			le.PutUint32(s[4:], pairRecSize-8)
		}), ErrCorrupt, "pairs", false},
	}
	for _, k := range knownSections {
		if k.id == 0 {
			continue
		}
		name := k.name
		cs = append(cs, corruptCase{"flip-" + name, func(t testing.TB, b []byte) []byte {
			e := entry(t, b, name)
			if e.len == 0 {
				t.Fatalf("section %s is empty in the golden model", name)
			}
			b[e.off+e.len/2] ^= 0x10
			return b
		}, ErrChecksum, name, false})
	}
	return cs
}

// postingWithCard returns the serialised bitmap of the first tag with at
// least min pairs.
func postingWithCard(t testing.TB, b []byte, min uint32) []byte {
	t.Helper()
	d, p := entry(t, b, "tag_dict"), entry(t, b, "postings")
	n := int(le.Uint32(b[d.off:]))
	for i := 0; i < n; i++ {
		r := b[d.off+recHeaderSize+i*tagRecSize:]
		if le.Uint32(r[8:]) >= min {
			off, ln := p.off+int(le.Uint32(r[12:])), int(le.Uint32(r[16:]))
			return b[off : off+ln]
		}
	}
	t.Fatalf("no tag with %d pairs", min)
	return nil
}

func TestCorrupt(t *testing.T) {
	golden := goldenBytes(t)
	for _, tc := range corruptCases() {
		t.Run(tc.name, func(t *testing.T) {
			b := tc.mutate(t, bytes.Clone(golden))
			path := filepath.Join(corruptDir, tc.name+corruptTail)
			if *update {
				writeFixture(t, path, b)
			}
			if disk := readFixture(t, path); !bytes.Equal(disk, b) {
				t.Fatalf("%s is stale; run `go test ./format -update`", path)
			}
			s, err := Open(b)
			if err == nil {
				t.Fatalf("Open succeeded (%d pairs); want %v", s.NumPairs(), tc.err)
			}
			checkFormatError(t, err, tc.err, tc.section)
			_, herr := OpenHeader(b)
			if tc.frame {
				checkFormatError(t, herr, tc.err, tc.section)
			} else if herr != nil {
				t.Errorf("OpenHeader: %v; want success, the frame is intact", herr)
			}
		})
	}
}

func checkFormatError(t *testing.T, err, want error, section string) {
	t.Helper()
	if !errors.Is(err, want) {
		t.Fatalf("error = %v; want %v", err, want)
	}
	var fe *FormatError
	if !errors.As(err, &fe) {
		t.Fatalf("error %v is not a *FormatError", err)
	}
	if fe.Section != section {
		t.Errorf("section = %q; want %q (error: %v)", fe.Section, section, err)
	}
	if fe.Off < 0 {
		t.Errorf("negative offset in %v", err)
	}
}

// TestCorruptFixturesKnown makes sure no stale file lingers in the corrupt
// directory: each must belong to a case.
func TestCorruptFixturesKnown(t *testing.T) {
	known := map[string]bool{}
	for _, tc := range corruptCases() {
		known[tc.name+corruptTail] = true
	}
	ents, err := os.ReadDir(corruptDir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		if !known[e.Name()] {
			t.Errorf("%s/%s belongs to no corrupt case; delete it", corruptDir, e.Name())
		}
	}
}
