package usage

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// FuzzParseQuery: any query parameters give a valid query or a
// *QueryError, never a panic; a valid one keeps the bounds.
func FuzzParseQuery(f *testing.F) {
	for _, s := range [][4]string{
		{"", "", "", ""},
		{"2026-12-01T00:00:00Z", "2026-12-03T00:00:00Z", "hour,channel", "csv"},
		{"1764547200", "1764720000", "key", "json"},
		{"0", "99999999999", "day,day", "xml"},
		{"2026-12-03T00:00:00+05:00", "", "model, hour", ""},
		{"yesterday", "-1", ",", "CSV"},
	} {
		f.Add(s[0], s[1], s[2], s[3])
	}
	now := time.Date(2026, 12, 3, 13, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, from, to, groupBy, format string) {
		q, err := ParseQuery(from, to, groupBy, format, now)
		if err != nil {
			if _, ok := err.(*QueryError); !ok {
				t.Fatalf("error of type %T: %v", err, err)
			}
			return
		}
		if q.From.After(q.To) || q.To.Sub(q.From) > MaxRange || len(q.GroupBy) < 1 || len(q.GroupBy) > MaxGroups {
			t.Fatalf("query out of bounds: %+v", q)
		}
		for _, g := range q.GroupBy {
			if _, ok := groupSQL[g]; !ok {
				t.Fatalf("group %q has no SQL", g)
			}
		}
		if _, err := aggregate([]Record{{Time: q.From, Key: from}}, q); err != nil {
			t.Fatal(err)
		}
	})
}

// FuzzDecodeEntry: bytes read back from a journal or spill file decode
// into an entry or fail cleanly; what decodes encodes to the same bytes.
func FuzzDecodeEntry(f *testing.F) {
	for i := range 3 {
		r := sample(i)
		var e Entry
		e.FromRecord(&r)
		f.Add(e.AppendBinary(nil))
	}
	f.Add([]byte{1})
	f.Fuzz(func(t *testing.T, b []byte) {
		var e Entry
		if e.DecodeBinary(b) != nil {
			return
		}
		if got := e.AppendBinary(nil); !bytes.Equal(got, b) {
			t.Fatalf("re-encoded %x, read %x", got, b)
		}
	})
}

// FuzzJournalRead: a journal file of any content is read without a panic,
// and reading stops within one lap.
func FuzzJournalRead(f *testing.F) {
	f.Add(uint64(0), []byte{})
	f.Add(uint64(8), []byte{8, 0, 0, 0, 0, 0, 0, 0, 3, 0, 0, 0, 0, 0, 0, 0, 1, 2, 3})
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, from uint64, content []byte) {
		path := filepath.Join(dir, "j")
		os.Remove(path)
		if len(content) > minJournalSize {
			content = content[:minJournalSize]
		}
		if err := os.WriteFile(path, content, 0o600); err != nil {
			t.Fatal(err)
		}
		j, err := openJournal(path, minJournalSize)
		if err != nil {
			t.Fatal(err)
		}
		defer j.close()
		var e Entry
		end, err := j.read(from, func(p []byte) error { _ = e.DecodeBinary(p); return nil })
		if err != nil || end-from > j.size {
			t.Fatalf("read from %d ended at %d: %v", from, end, err)
		}
	})
}

// FuzzReadSpill: a spill file of any content (a crash may cut its last
// frame) is read without a panic, whole frames only.
func FuzzReadSpill(f *testing.F) {
	r := sample(1)
	var e Entry
	e.FromRecord(&r)
	var sp spill
	dir := f.TempDir()
	sp.path = filepath.Join(dir, "seed")
	var buf [spillHead + MaxEncoded]byte
	frame := e.AppendBinary(buf[:spillHead])
	if err := sp.write(frame); err != nil {
		f.Fatal(err)
	}
	sp.close()
	seed, _ := os.ReadFile(sp.path)
	f.Add(seed)
	f.Add(seed[:len(seed)-3])
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, content []byte) {
		path := filepath.Join(dir, "spill")
		if err := os.WriteFile(path, content, 0o600); err != nil {
			t.Fatal(err)
		}
		total := 0
		n, _, err := readSpill(path, func(p []byte) error {
			total += spillHead + len(p)
			var e Entry
			_ = e.DecodeBinary(p)
			return nil
		})
		if err != nil || total > len(content) || n < 0 {
			t.Fatalf("read %d frames of %d bytes from %d: %v", n, total, len(content), err)
		}
	})
}
