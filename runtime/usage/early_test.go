package usage

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
)

func addRecs(r *Recorder, from, to int) {
	var e Entry
	for i := from; i < to; i++ {
		rec := sample(i)
		e.FromRecord(&rec)
		r.Add(&e)
	}
}

// Records answered before the ledger is open are held by the Early, handed
// to the ledger at Attach, committed, and the start journal is removed.
func TestEarlyRecordsReachTheLedger(t *testing.T) {
	path := filepath.Join(t.TempDir(), "data", "usage.db")
	opts := Options{Path: path}
	if !Fresh(opts) {
		t.Fatal("Fresh: false for a ledger that does not exist yet")
	}
	p, err := OpenEarly(opts)
	if err != nil {
		t.Fatal(err)
	}
	if p.Leftover() != 0 {
		t.Fatalf("Leftover = %d in a new start journal", p.Leftover())
	}
	r := NewRecorder()
	r.Hold(p)
	addRecs(r, 0, 5)
	if st := p.Stats(); st.Held != 5 || st.Lost != 0 || st.Attached {
		t.Fatalf("before attach: %+v", st)
	}
	l := openTest(t, opts)
	r.Attach(l)
	addRecs(r, 5, 8) // forwarded to the ledger
	if err := p.Finish(context.Background()); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(path + EarlySuffix); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("start journal still there after Finish: %v", err)
	}
	if err := l.Sync(context.Background()); err != nil {
		t.Fatal(err)
	}
	if n := countRows(t, path); n != 8 {
		t.Errorf("%d rows, want 8", n)
	}
	if Fresh(opts) {
		t.Error("Fresh: true for a ledger with records")
	}
}

// A start that dies before its ledger is attached leaves its records in
// the start journal; the next start hands them to the ledger with its own,
// and a record already committed (a death between the commit and the
// removal of the file) is not inserted twice.
func TestEarlyLeftoversOfADeadStart(t *testing.T) {
	path := filepath.Join(t.TempDir(), "usage.db")
	opts := Options{Path: path}

	// Start 1: 3 records, the ledger never opens (the file stays, as
	// after a kill).
	p1, err := OpenEarly(opts)
	if err != nil {
		t.Fatal(err)
	}
	r1 := NewRecorder()
	r1.Hold(p1)
	addRecs(r1, 0, 3)
	if err := p1.Close(); err != nil {
		t.Fatal(err)
	}

	// Start 2: finds them, holds 2 more, its ledger commits all five, and
	// it dies before removing the start journal.
	p2, err := OpenEarly(opts)
	if err != nil {
		t.Fatal(err)
	}
	if p2.Leftover() != 3 {
		t.Fatalf("Leftover = %d, want 3", p2.Leftover())
	}
	r2 := NewRecorder()
	r2.Hold(p2)
	addRecs(r2, 3, 5)
	l2, err := Open(opts)
	if err != nil {
		t.Fatal(err)
	}
	r2.Attach(l2)
	if err := l2.Sync(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := l2.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := p2.Close(); err != nil {
		t.Fatal(err)
	}
	if n := countRows(t, path); n != 5 {
		t.Fatalf("after start 2: %d rows, want 5", n)
	}

	// Start 3: the five are leftovers again; handing them over inserts
	// none twice.
	p3, err := OpenEarly(opts)
	if err != nil {
		t.Fatal(err)
	}
	if p3.Leftover() != 5 {
		t.Fatalf("Leftover = %d, want 5", p3.Leftover())
	}
	r3 := NewRecorder()
	r3.Hold(p3)
	l3 := openTest(t, opts)
	r3.Attach(l3)
	if err := p3.Finish(context.Background()); err != nil {
		t.Fatal(err)
	}
	if n := countRows(t, path); n != 5 {
		t.Errorf("after start 3: %d rows, want 5 (no record twice)", n)
	}
}

// A second process's Early (a restart overlapping the old process) keeps
// its records in memory and still hands them over.
func TestEarlyWithoutItsFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "usage.db")
	opts := Options{Path: path}
	p1, err := OpenEarly(opts)
	if err != nil {
		t.Fatal(err)
	}
	defer p1.Close()
	p2, err := OpenEarly(opts)
	if err != nil {
		t.Fatal(err)
	}
	r := NewRecorder()
	r.Hold(p2)
	addRecs(r, 0, 4)
	l := openTest(t, Options{Path: path, JournalSize: -1})
	r.Attach(l)
	if err := p2.Finish(context.Background()); err != nil {
		t.Fatal(err)
	}
	if n := countRows(t, path); n != 4 {
		t.Errorf("%d rows, want 4", n)
	}
}

// An Early cannot be opened where its folder cannot be created.
func TestEarlyBadPath(t *testing.T) {
	file := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := OpenEarly(Options{Path: filepath.Join(file, "usage.db")}); err == nil {
		t.Error("OpenEarly under a regular file: no error")
	}
}

// Holding a record before the ledger opens allocates nothing.
func TestEarlyAddDoesNotAllocate(t *testing.T) {
	p, err := OpenEarly(Options{Path: filepath.Join(t.TempDir(), "usage.db")})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	r := NewRecorder()
	r.Hold(p)
	rec := sample(3)
	var e Entry
	e.FromRecord(&rec)
	if n := testing.AllocsPerRun(1000, func() { r.Add(&e) }); n != 0 {
		t.Errorf("Recorder.Add with an Early: %v allocations", n)
	}
}

// Records added from several goroutines while the ledger is attached all
// reach it, once each.
func TestEarlyHandOverUnderConcurrentAdds(t *testing.T) {
	path := filepath.Join(t.TempDir(), "usage.db")
	opts := Options{Path: path, QueueSize: 1 << 14}
	p, err := OpenEarly(opts)
	if err != nil {
		t.Fatal(err)
	}
	r := NewRecorder()
	r.Hold(p)
	l := openTest(t, opts)
	const workers, each = 4, 500
	started := make(chan struct{}, workers)
	done := make(chan struct{}, workers)
	for w := range workers {
		go func() {
			defer func() { done <- struct{}{} }()
			started <- struct{}{}
			addRecs(r, w*each, (w+1)*each)
		}()
	}
	for range workers {
		<-started
	}
	r.Attach(l)
	for range workers {
		<-done
	}
	if err := p.Finish(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := l.Sync(context.Background()); err != nil {
		t.Fatal(err)
	}
	if n := countRows(t, path); n != workers*each {
		t.Errorf("%d rows, want %d", n, workers*each)
	}
}
