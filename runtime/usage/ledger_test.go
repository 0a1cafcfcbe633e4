package usage

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"syscall"
	"testing"
	"time"
)

var t0 = time.Date(2026, 12, 3, 10, 30, 0, 0, time.UTC)

// sample makes record i: three keys, two channels, three models, spread
// over two days; every seventh failed.
func sample(i int) Record {
	r := Record{
		Time:           t0.Add(time.Duration(i) * 7 * time.Minute),
		RequestID:      fmt.Sprintf("req-%d", i),
		Key:            []string{"", "team-a", "team-b"}[i%3],
		Surface:        []string{"chat", "messages", "gemini", "embeddings", "completions"}[i%5],
		ModelRequested: "tag:free",
		Channel:        []string{"groq", "openrouter"}[i%2],
		ModelUsed:      []string{"llama-3-8b", "qwen3-8b", "<script>x</script>"}[i%3],
		Attempts:       1 + i%2,
		Status:         200,
		InputTokens:    int64(10 + i),
		OutputTokens:   int64(20 + i),
		CostUSD:        float64(i) * 1e-6,
		UpstreamMs:     float64(100 + i),
		OverheadMs:     0.05,
		Stream:         i%4 == 0,
	}
	if i%7 == 0 {
		r.Status, r.ErrorCode, r.Channel, r.ModelUsed, r.Attempts, r.InputTokens, r.OutputTokens, r.CostUSD = 503, "all_channels_failed", "", "", 0, 0, 0, 0
	}
	return r
}

func openTest(t *testing.T, opts Options) *Ledger {
	t.Helper()
	if opts.Path == "" {
		opts.Path = filepath.Join(t.TempDir(), "usage.db")
	}
	l, err := Open(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = l.Close(context.Background()) })
	return l
}

func add(l *Ledger, recs []Record) {
	var e Entry
	for i := range recs {
		e.FromRecord(&recs[i])
		l.Enqueue(&e)
	}
}

func countRows(t *testing.T, path string) int {
	t.Helper()
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var n int
	if err := db.QueryRow(`SELECT COUNT(*) FROM requests`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// The ledger's SQL answers equal the in-memory aggregation of the same
// records, for every grouping, and the recent list is the records newest
// first.
func TestLedgerQueriesAgreeWithRecords(t *testing.T) {
	l := openTest(t, Options{})
	var recs []Record
	for i := range 400 {
		recs = append(recs, sample(i))
	}
	add(l, recs)
	q0, err := ParseQuery("2026-12-01T00:00:00Z", "2026-12-06T00:00:00Z", "", "", t0)
	if err != nil {
		t.Fatal(err)
	}
	for _, gb := range [][]string{{"key"}, {"channel"}, {"model"}, {"day"}, {"hour"}, {"hour", "channel"}, {"day", "model"}, {"key", "channel"}} {
		q := q0
		q.GroupBy = gb
		got, err := l.Usage(q)
		if err != nil {
			t.Fatal(err)
		}
		want, err := aggregate(recs, q)
		if err != nil {
			t.Fatal(err)
		}
		if len(got.Rows) != len(want.Rows) || got.Totals.Requests != 400 || got.Totals.Requests != want.Totals.Requests ||
			got.Totals.Errors != want.Totals.Errors || got.Totals.InputTokens != want.Totals.InputTokens {
			t.Fatalf("%v: got %+v\nwant %+v", gb, got.Totals, want.Totals)
		}
		for i := range got.Rows {
			g, w := got.Rows[i], want.Rows[i]
			if !reflect.DeepEqual(g.Group, w.Group) || g.Requests != w.Requests || g.Errors != w.Errors ||
				g.InputTokens != w.InputTokens || g.OutputTokens != w.OutputTokens ||
				!near(g.CostUSD, w.CostUSD) || !near(g.UpstreamMsAvg, w.UpstreamMsAvg) {
				t.Errorf("%v row %d: got %+v want %+v", gb, i, g, w)
			}
		}
	}
	// A narrower range counts only its records.
	q, _ := ParseQuery(t0.Format(time.RFC3339), t0.Add(70*time.Minute).Format(time.RFC3339), "channel", "", t0)
	if res, _ := l.Usage(q); res.Totals.Requests != 10 {
		t.Errorf("70 minutes hold %d records, want 10", res.Totals.Requests)
	}
	got, err := l.Recent(5)
	if err != nil {
		t.Fatal(err)
	}
	for i := range got {
		if want := recs[len(recs)-1-i]; !reflect.DeepEqual(got[i], want) {
			t.Errorf("recent %d = %+v\nwant %+v", i, got[i], want)
		}
	}
	spend, err := l.SpendByKey(t0.Add(24 * time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	var want float64
	for _, r := range recs {
		if r.Key == "team-a" && !r.Time.Before(t0.Add(24*time.Hour)) {
			want += r.CostUSD
		}
	}
	if !near(spend["team-a"], want) || len(spend) != 2 {
		t.Errorf("spend %v, team-a want %v", spend, want)
	}
	perCh, err := l.RequestsByChannel(t0)
	if err != nil {
		t.Fatal(err)
	}
	if perCh["groq"]+perCh["openrouter"] != 400-58 {
		t.Errorf("requests per channel %v", perCh)
	}
}

func near(a, b float64) bool { d := a - b; return d < 1e-9 && d > -1e-9 }

// A clean Close commits everything queued; what arrives after it is
// spilled and inserted at the next open.
func TestLedgerCloseLosesNothing(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sub", "usage.db")
	l, err := Open(Options{Path: path, QueueSize: 64})
	if err != nil {
		t.Fatal(err)
	}
	var recs []Record
	for i := range 3000 {
		recs = append(recs, sample(i))
	}
	add(l, recs)
	if err := l.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	add(l, recs[:5]) // after Close: to the spill file
	st := l.Stats()
	if n := countRows(t, path); uint64(n)+st.SpilledOverflow-5 != 3000 {
		t.Fatalf("%d rows and %d spilled after close, want 3000 in all (%+v)", n, st.SpilledOverflow, st)
	}
	l2, err := Open(Options{Path: path})
	if err != nil {
		t.Fatal(err)
	}
	if err := l2.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if n := countRows(t, path); n != 3005 {
		t.Fatalf("%d rows after reopening, want 3005", n)
	}
}

// A process that dies with records queued but not committed loses none:
// the journal (page cache) has them and the next open inserts them, once.
func TestLedgerJournalReplayAfterCrash(t *testing.T) {
	path := filepath.Join(t.TempDir(), "usage.db")
	hold := make(chan struct{})
	l, err := open(Options{Path: path, JournalSize: minJournalSize}, hold)
	if err != nil {
		t.Fatal(err)
	}
	var recs []Record
	for i := range 100 {
		recs = append(recs, sample(i))
	}
	add(l, recs)
	if st := l.Stats(); st.Queued != 100 || st.JournalFull != 0 {
		t.Fatalf("stats %+v", st)
	}
	// The crash: no drain; the mapping goes away as at exit.
	if err := l.jr.close(); err != nil {
		t.Fatal(err)
	}
	l.db.Close()
	if n := countRows(t, path); n != 0 {
		t.Fatalf("%d rows before replay", n)
	}
	for range 2 { // a second open replays nothing more
		l2, err := Open(Options{Path: path, JournalSize: minJournalSize})
		if err != nil {
			t.Fatal(err)
		}
		got, err := l2.Recent(1000)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != 100 || !reflect.DeepEqual(got[0], recs[99]) || !reflect.DeepEqual(got[99], recs[0]) {
			t.Fatalf("%d records after replay", len(got))
		}
		add(l2, recs[:1])
		if err := l2.Close(context.Background()); err != nil {
			t.Fatal(err)
		}
		recs = append(recs[:100], recs[0])
		if n := countRows(t, path); n != len(recs) {
			t.Fatalf("%d rows, want %d", n, len(recs))
		}
		recs = recs[:100]
		if _, err := sqlExec(path, `DELETE FROM requests WHERE id = (SELECT MAX(id) FROM requests)`); err != nil {
			t.Fatal(err)
		}
	}
}

func sqlExec(path, stmt string) (int64, error) {
	db, err := sql.Open("sqlite", path)
	if err != nil {
		return 0, err
	}
	defer db.Close()
	res, err := db.Exec(stmt)
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}

// The journal ring wraps around many times; what is not committed yet is
// always read back whole, and a full ring refuses new frames.
func TestJournalWraps(t *testing.T) {
	j, err := openJournal(filepath.Join(t.TempDir(), "j"), minJournalSize)
	if err != nil {
		t.Fatal(err)
	}
	defer j.close()
	j.head = 8
	j.durable.Store(8)
	var e Entry
	var buf [MaxEncoded]byte
	for i := range 5000 {
		r := sample(i)
		e.FromRecord(&r)
		from := j.head
		end, ok := j.append(&e)
		if !ok {
			t.Fatalf("append %d refused with the ring empty", i)
		}
		var got Entry
		n := 0
		stop, err := j.read(from, func(p []byte) error { n++; return got.DecodeBinary(p) })
		if err != nil || n != 1 || stop != end || got.Record() != r {
			t.Fatalf("frame %d: read %d frames to %d (want %d): %v", i, n, stop, end, err)
		}
		j.durable.Store(end)
	}
	// Full: nothing committed since.
	n := 0
	for {
		if _, ok := j.append(&e); !ok {
			break
		}
		n++
	}
	if n == 0 || uint64(n)*uint64(len(e.AppendBinary(buf[:0]))) > j.size {
		t.Fatalf("%d frames fit in a %d-byte ring", n, j.size)
	}
	got := 0
	if _, err := j.read(j.durable.Load(), func([]byte) error { got++; return nil }); err != nil || got != n {
		t.Fatalf("read %d of %d frames: %v", got, n, err)
	}
}

// A record that finds the queue full goes to the spill file and a counter
// says so; it is in the database after the replay.
func TestLedgerOverflowSpills(t *testing.T) {
	path := filepath.Join(t.TempDir(), "usage.db")
	hold := make(chan struct{})
	l, err := open(Options{Path: path, QueueSize: 4, SpillRetry: time.Hour}, hold)
	if err != nil {
		t.Fatal(err)
	}
	var recs []Record
	for i := range 10 {
		recs = append(recs, sample(i))
	}
	add(l, recs)
	if st := l.Stats(); st.SpilledOverflow != 6 || st.Queued != 4 {
		t.Fatalf("stats %+v", st)
	}
	close(hold)
	if err := l.ReplaySpill(); err != nil {
		t.Fatal(err)
	}
	got, err := l.Recent(100)
	if err != nil || len(got) != 10 {
		t.Fatalf("%d records: %v", len(got), err)
	}
	if st := l.Stats(); st.SpillReplayed != 6 || st.SpillFilesQueued != 0 {
		t.Fatalf("stats %+v", st)
	}
	if err := l.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
}

// A transaction that fails (the database is locked by another process for
// longer than the busy timeout) sends its records to the spill file; they
// are inserted once the database is writable again.
func TestLedgerSpillsOnDatabaseError(t *testing.T) {
	path := filepath.Join(t.TempDir(), "usage.db")
	l := openTest(t, Options{Path: path, BusyTimeout: 20 * time.Millisecond, SpillRetry: time.Hour})
	other, err := sql.Open("sqlite", path+"?_pragma=busy_timeout(5000)")
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	conn, err := other.Conn(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := conn.ExecContext(context.Background(), "BEGIN EXCLUSIVE"); err != nil {
		t.Fatal(err)
	}
	var recs []Record
	for i := range 20 {
		recs = append(recs, sample(i))
	}
	add(l, recs)
	if err := l.Sync(context.Background()); err != nil {
		t.Fatal(err)
	}
	st := l.Stats()
	if st.SpilledDBError != 20 || st.DBErrors == 0 || st.Written != 0 {
		t.Fatalf("stats with the database locked: %+v", st)
	}
	if _, err := os.Stat(path + ".spill"); err != nil {
		t.Fatalf("no spill file: %v", err)
	}
	if err := l.ReplaySpill(); err == nil {
		t.Fatal("replay succeeded with the database locked")
	}
	if _, err := conn.ExecContext(context.Background(), "ROLLBACK"); err != nil {
		t.Fatal(err)
	}
	conn.Close()
	if err := l.ReplaySpill(); err != nil {
		t.Fatal(err)
	}
	got, err := l.Recent(100)
	if err != nil || len(got) != 20 {
		t.Fatalf("%d records after the replay: %v", len(got), err)
	}
	if st := l.Stats(); st.SpillReplayed != 20 || st.SpillFilesQueued != 0 {
		t.Fatalf("stats %+v", st)
	}
}

// A database written by a newer schema is refused with a clear error.
func TestLedgerRefusesNewerSchema(t *testing.T) {
	path := filepath.Join(t.TempDir(), "usage.db")
	l := openTest(t, Options{Path: path})
	if err := l.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if _, err := sqlExec(path, `INSERT INTO schema_migrations VALUES (99, 0)`); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(Options{Path: path}); err == nil {
		t.Fatal("opened a database of schema 99")
	}
}

// Enqueue allocates nothing, journal included, and neither does
// Recorder.Add.
func TestEnqueueDoesNotAllocate(t *testing.T) {
	// The writer is held: AllocsPerRun counts every goroutine's
	// allocations, and the writer's (off the request path) would count.
	hold := make(chan struct{})
	l, err := open(Options{Path: filepath.Join(t.TempDir(), "usage.db"), QueueSize: 1 << 16}, hold)
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		close(hold)
		_ = l.Close(context.Background())
	}()
	r := NewRecorder()
	r.Attach(l)
	rec := sample(3)
	var e Entry
	e.FromRecord(&rec)
	if n := testing.AllocsPerRun(1000, func() { r.Add(&e) }); n != 0 {
		t.Errorf("Recorder.Add with a ledger: %v allocations", n)
	}
	if n := testing.AllocsPerRun(1000, func() { l.Enqueue(&e) }); n != 0 {
		t.Errorf("Enqueue: %v allocations", n)
	}
}

// BenchmarkEnqueue is the request path's cost: copy, journal, queue (and
// without the journal, to measure what the journal costs). The writer is
// held: what is measured is the request path alone.
func BenchmarkEnqueue(b *testing.B) {
	b.Run("journal", func(b *testing.B) { benchEnqueue(b, 0) })
	b.Run("no-journal", func(b *testing.B) { benchEnqueue(b, -1) })
}

func benchEnqueue(b *testing.B, journal int64) {
	hold := make(chan struct{})
	const qs = 1 << 14
	l, err := open(Options{Path: filepath.Join(b.TempDir(), "usage.db"), QueueSize: qs, JournalSize: journal}, hold)
	if err != nil {
		b.Fatal(err)
	}
	defer func() {
		close(hold)
		_ = l.Close(context.Background())
	}()
	// drop empties the queue and the journal as if the writer had
	// committed them, outside the timing.
	drop := func() {
		b.StopTimer()
		l.mu.Lock()
		l.head, l.count = 0, 0
		if l.jr != nil {
			l.jr.durable.Store(l.jr.head)
		}
		l.mu.Unlock()
		b.StartTimer()
	}
	rec := sample(3)
	var e Entry
	e.FromRecord(&rec)
	b.ReportAllocs()
	n := 0
	for b.Loop() {
		if n++; n%qs == 0 {
			drop()
		}
		l.Enqueue(&e)
	}
	if st := l.Stats(); st.SpilledOverflow != 0 || st.JournalFull != 0 {
		b.Fatalf("the queue or journal overflowed: %+v", st)
	}
}

// BenchmarkLedgerThroughput measures records committed per second: the
// queue is filled by half-queue chunks (so none overflows) and synced.
func BenchmarkLedgerThroughput(b *testing.B) {
	l, e := benchLedger(b, Options{Path: filepath.Join(b.TempDir(), "usage.db")})
	start, cpu0 := time.Now(), cpuTime()
	n := 0
	for b.Loop() {
		l.Enqueue(&e)
		if n++; n%(DefaultQueueSize/2) == 0 {
			if err := l.Sync(context.Background()); err != nil {
				b.Fatal(err)
			}
		}
	}
	if err := l.Sync(context.Background()); err != nil {
		b.Fatal(err)
	}
	if st := l.Stats(); st.Written != uint64(n) {
		b.Fatalf("%d of %d records written: %+v", st.Written, n, st)
	}
	b.ReportMetric(float64(n)/time.Since(start).Seconds(), "records/s")
	b.ReportMetric(float64(cpuTime()-cpu0)/float64(n)/1e3, "cpu-µs/record")
}

// benchLedger opens a ledger with opts, closed at the end of the
// benchmark, and returns it with a sample record to enqueue.
func benchLedger(b *testing.B, opts Options) (*Ledger, Entry) {
	l, err := Open(opts)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { l.Close(context.Background()) })
	rec := sample(3)
	var e Entry
	e.FromRecord(&rec)
	return l, e
}

// cpuTime is the process's user and system CPU time in nanoseconds.
func cpuTime() int64 {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return ru.Utime.Nano() + ru.Stime.Nano()
}

// A second ledger on the same files (a restart overlapping the old
// process) shares the database but not the journal, which the first holds.
func TestLedgerJournalIsExclusive(t *testing.T) {
	path := filepath.Join(t.TempDir(), "usage.db")
	l := openTest(t, Options{Path: path})
	l2, err := Open(Options{Path: path})
	if err != nil {
		t.Fatal(err)
	}
	if l.jr == nil || l2.jr != nil {
		t.Fatalf("journals: first %v, second %v", l.jr != nil, l2.jr != nil)
	}
	recs := []Record{sample(1), sample(2)}
	add(l, recs[:1])
	add(l2, recs[1:])
	if err := l2.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got, err := l.Recent(10); err != nil || len(got) != 2 {
		t.Fatalf("%d records: %v", len(got), err)
	}
}

// The writer waits up to FlushDelay for a fuller batch; Sync and Close cut
// the wait short, so neither waits for the delay (an hour here: the test
// would time out if they did).
func TestFlushDelayCutBySyncAndClose(t *testing.T) {
	path := filepath.Join(t.TempDir(), "usage.db")
	l, err := Open(Options{Path: path, FlushDelay: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	rec := sample(1)
	var e Entry
	e.FromRecord(&rec)
	l.Enqueue(&e)
	if err := l.Sync(context.Background()); err != nil {
		t.Fatal(err)
	}
	if st := l.Stats(); st.Written != 1 {
		t.Fatalf("after Sync: %+v", st)
	}
	for range 3 {
		l.Enqueue(&e)
	}
	if err := l.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if st := l.Stats(); st.Written != 4 || st.SpilledOverflow != 0 {
		t.Fatalf("after Close: %+v", st)
	}
}

// A database of schema 1 (uid column, four indexes) upgrades to the
// current one: its records keep their uids as ids, so a record replayed
// after the upgrade is still inserted once; the queries answer as before;
// only the ts index is left.
func TestLedgerMigratesSchema1(t *testing.T) {
	path := filepath.Join(t.TempDir(), "usage.db")
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	for _, stmt := range append([]string{`CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, applied_at INTEGER NOT NULL)`,
		`INSERT INTO schema_migrations VALUES (1, 0)`}, schema[0]...) {
		if _, err := db.Exec(stmt); err != nil {
			t.Fatal(err)
		}
	}
	var recs []Record
	for i := range 300 {
		r := sample(i)
		recs = append(recs, r)
		if _, err := db.Exec(`INSERT INTO requests (uid, ts, request_id, key, surface, model_requested, channel, model_used,
			attempts, status, error_code, input_tokens, output_tokens, cost_usd, upstream_ms, overhead_ms, stream)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`, 1000+i, r.Time.UnixNano(), r.RequestID, r.Key, r.Surface,
			r.ModelRequested, r.Channel, r.ModelUsed, r.Attempts, r.Status, r.ErrorCode, r.InputTokens, r.OutputTokens,
			r.CostUSD, r.UpstreamMs, r.OverheadMs, r.Stream); err != nil {
			t.Fatal(err)
		}
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	l := openTest(t, Options{Path: path})
	// A replay of record 7 (its uid kept) is ignored; a new record is not.
	var e Entry
	e.FromRecord(&recs[7])
	e.uid = 1007
	if n, err := l.insert([]Entry{e}, 0); err != nil || n != 0 {
		t.Fatalf("replayed record: %d rows, %v", n, err)
	}
	recs = append(recs, sample(300))
	add(l, recs[300:])
	q, err := ParseQuery("2026-12-01T00:00:00Z", "2026-12-06T00:00:00Z", "", "", t0)
	if err != nil {
		t.Fatal(err)
	}
	for _, gb := range [][]string{{"key"}, {"day", "model"}} {
		q.GroupBy = gb
		got, err := l.Usage(q)
		if err != nil {
			t.Fatal(err)
		}
		want, err := aggregate(recs, q)
		if err != nil {
			t.Fatal(err)
		}
		if got.Totals.Requests != int64(len(recs)) || len(got.Rows) != len(want.Rows) || !reflect.DeepEqual(got.Rows[0].Group, want.Rows[0].Group) ||
			got.Rows[0].Requests != want.Rows[0].Requests || got.Totals.InputTokens != want.Totals.InputTokens {
			t.Fatalf("%v: got %+v\nwant %+v", gb, got, want)
		}
	}
	got, err := l.Recent(2)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, []Record{recs[300], recs[299]}) {
		t.Fatalf("recent %+v", got)
	}
	rows, err := l.db.Query(`SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'requests'`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var idx []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			t.Fatal(err)
		}
		idx = append(idx, s)
	}
	if !reflect.DeepEqual(idx, []string{"requests_ts"}) {
		t.Fatalf("indexes %v, want [requests_ts]", idx)
	}
}
