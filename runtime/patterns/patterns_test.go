package patterns

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"smartrouter/format/reqpatterns"
)

func TestSketchFindsHeavyHittersWithinK(t *testing.T) {
	s := New(16)
	// Three heavy strings among 1,000 distinct one-off strings. Space-Saving
	// keeps every string counted more than total/K times (1,550/16 < 100).
	for i := range 1000 {
		s.Record(fmt.Sprintf("noise-%d", i))
		if i%4 == 0 {
			s.Record("gpt-4o")
		}
		if i%5 == 0 {
			s.Record("claude-sonnet")
		}
		if i%10 == 0 {
			s.Record("llama3:70b")
		}
	}
	st := s.Stats()
	if st.Tracked != 16 || st.K != 16 || st.Total != 1000+250+200+100 {
		t.Fatalf("stats %+v", st)
	}
	top := s.Entries(2)
	if top[0].Model != "gpt-4o" || top[1].Model != "claude-sonnet" {
		t.Fatalf("top %v", top)
	}
	found := false
	for _, e := range s.Entries(0) {
		found = found || e.Model == "llama3:70b"
		if e.Count < e.Error {
			t.Fatalf("entry %+v: count below its error bound", e)
		}
	}
	if !found {
		t.Fatal("llama3:70b (100 of 1,550) was evicted")
	}
	if len(s.Entries(0)) != 16 {
		t.Fatal("more entries than slots")
	}
}

func TestSketchSkipsEmptyAndLongStrings(t *testing.T) {
	s := New(0)
	s.Record("")
	s.Record(strings.Repeat("x", MaxKey+1))
	s.Record(strings.Repeat("y", MaxKey))
	if st := s.Stats(); st.Untracked != 2 || st.Tracked != 1 || st.K != DefaultK {
		t.Fatalf("stats %+v", st)
	}
	var nilSketch *Sketch
	nilSketch.Record("x") // a server without patterns records nothing
}

func TestRecordDoesNotAllocate(t *testing.T) {
	s := New(64)
	models := make([]string, 200)
	for i := range models {
		models[i] = fmt.Sprintf("model-%d", i)
	}
	i := 0
	if n := testing.AllocsPerRun(1000, func() {
		s.Record(models[i%len(models)])
		i++
	}); n != 0 {
		t.Fatalf("Record allocates %v times", n)
	}
}

func TestSaveLoadRoundTripAndRewriteOnlyOnNewRanking(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, FileName)
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	s := New(4)
	for range 3 {
		s.Record("a")
	}
	s.Record("b")
	if wrote, err := s.Save(p, now); err != nil || !wrote {
		t.Fatalf("first save: wrote %v, %v", wrote, err)
	}
	s.Record("a") // same ranking: no rewrite
	if wrote, err := s.Save(p, now); err != nil || wrote {
		t.Fatalf("save with the same ranking: wrote %v, %v", wrote, err)
	}
	for range 5 {
		s.Record("b")
	}
	if wrote, err := s.Save(p, now); err != nil || !wrote {
		t.Fatalf("save with a new ranking: wrote %v, %v", wrote, err)
	}
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	f, err := reqpatterns.Parse(b)
	if err != nil {
		t.Fatal(err)
	}
	if len(f.Models) != 2 || f.Models[0].Model != "b" || f.Models[0].Count != 6 || !f.UpdatedAt.Equal(now) {
		t.Fatalf("file %+v", f)
	}
	s2 := New(4)
	if err := s2.Load(p); err != nil {
		t.Fatal(err)
	}
	if e := s2.Entries(1); e[0].Model != "b" || e[0].Count != 6 {
		t.Fatalf("loaded %+v", e)
	}
	if err := New(4).Load(filepath.Join(dir, "missing.json")); err != nil {
		t.Fatalf("a missing file: %v", err)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 1 {
		t.Fatalf("temporary files left: %v", entries)
	}
}

func TestMergeSaturates(t *testing.T) {
	f, err := reqpatterns.Parse([]byte(`{"version":1,"models":[{"model":"","count":3},{"model":"ok","count":18446744073709551615}]}`))
	if err != nil || len(f.Models) != 1 {
		t.Fatalf("%+v %v", f, err)
	}
	s := New(2)
	s.Merge(f.Models)
	s.Merge(f.Models)
	if e := s.Entries(1); e[0].Count != ^uint64(0) {
		t.Fatalf("count did not saturate: %+v", e)
	}
}

func TestLoadRefusesBadFile(t *testing.T) {
	p := filepath.Join(t.TempDir(), FileName)
	os.WriteFile(p, []byte("{"), 0o600)
	if err := New(4).Load(p); err == nil || !strings.Contains(err.Error(), "delete it") {
		t.Fatalf("bad file: %v", err)
	}
}

func TestPersistSavesOnTickAndAtShutdown(t *testing.T) {
	p := filepath.Join(t.TempDir(), FileName)
	s := New(4)
	tick := make(chan time.Time)
	ctx, cancel := context.WithCancel(context.Background())
	now := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	done := s.Persist(ctx, p, tick, func() time.Time { return now }, func(err error) { t.Error(err) })
	s.Record("first")
	tick <- now // the send returns when the loop took it; the save follows
	tick <- now // so after a second send the first save is done
	b, err := os.ReadFile(p)
	if err != nil || !strings.Contains(string(b), `"first"`) {
		t.Fatalf("after a tick: %q %v", b, err)
	}
	s.Record("second")
	s.Record("second")
	cancel()
	<-done
	b, _ = os.ReadFile(p)
	f, err := reqpatterns.Parse(b)
	if err != nil || f.Models[0].Model != "second" {
		t.Fatalf("after shutdown: %+v %v", f, err)
	}
}
