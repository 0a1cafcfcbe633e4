package usage

import (
	"bytes"
	"context"
	"database/sql"
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"smartrouter/format/vocab"
	"smartrouter/runtime/internal/pgtest"
)

// backend opens ledgers of one kind and can make their database fail and
// recover.
type backend struct {
	name string
	// path returns a fresh database: a SQLite file or a PostgreSQL URL.
	path func(t *testing.T) string
	// exec runs one statement on the database of path from outside the
	// ledger.
	exec func(t *testing.T, path, stmt string)
}

// backends are SQLite and a real PostgreSQL started for the test (skipped
// when PostgreSQL is not installed and CI is unset).
func backends(t *testing.T) []backend {
	sqlite := backend{
		name: "sqlite",
		path: func(t *testing.T) string { return filepath.Join(t.TempDir(), "usage.db") },
		exec: func(t *testing.T, path, stmt string) {
			t.Helper()
			if _, err := sqlExec(path, stmt); err != nil {
				t.Fatalf("%s: %v", stmt, err)
			}
		},
	}
	pg := pgtest.Start(t)
	return []backend{sqlite, {
		name: "postgres",
		path: func(t *testing.T) string { return pg.NewDatabase("ledger-pw") },
		exec: func(t *testing.T, path, stmt string) {
			t.Helper()
			db, err := sql.Open("pgx", path)
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			if _, err := db.Exec(stmt); err != nil {
				t.Fatalf("%s: %v", stmt, err)
			}
		},
	}}
}

// open opens a ledger on path (LocalPath in a folder of the test's own).
func (b backend) open(t *testing.T, path string, opts Options) *Ledger {
	t.Helper()
	opts.Path = path
	if vocab.IsPostgresURL(path) && opts.LocalPath == "" {
		opts.LocalPath = filepath.Join(t.TempDir(), "usage-postgres")
	}
	l, err := Open(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = l.Close(context.Background()) })
	return l
}

// The same ledger tests on both backends; their usage answers (JSON and
// CSV, every grouping) and recent lists are byte for byte the same.
func TestLedgerBackends(t *testing.T) {
	bs := backends(t)
	recs := make([]Record, 0, 400)
	for i := range 400 {
		recs = append(recs, sample(i))
	}
	q0, err := ParseQuery("2026-12-01T00:00:00Z", "2026-12-06T00:00:00Z", "", "", t0)
	if err != nil {
		t.Fatal(err)
	}
	groupings := [][]string{{"key"}, {"channel"}, {"model"}, {"day"}, {"hour"}, {"hour", "channel"}, {"day", "model"}, {"key", "channel"}}
	answers := map[string][]string{}

	for _, b := range bs {
		t.Run(b.name+"/queries", func(t *testing.T) {
			l := b.open(t, b.path(t), Options{})
			add(l, recs)
			for _, gb := range groupings {
				q := q0
				q.GroupBy = gb
				got, err := l.Usage(q)
				if err != nil {
					t.Fatal(err)
				}
				want, _ := aggregate(recs, q)
				if len(got.Rows) != len(want.Rows) || got.Totals.Requests != 400 || got.Totals.Errors != want.Totals.Errors ||
					got.Totals.InputTokens != want.Totals.InputTokens || got.Totals.OutputTokens != want.Totals.OutputTokens {
					t.Fatalf("%v: got %+v\nwant %+v", gb, got.Totals, want.Totals)
				}
				for i := range got.Rows {
					g, w := got.Rows[i], want.Rows[i]
					if !reflect.DeepEqual(g.Group, w.Group) || g.Requests != w.Requests || g.Errors != w.Errors ||
						g.InputTokens != w.InputTokens || !near(g.CostUSD, w.CostUSD) || !near(g.UpstreamMsAvg, w.UpstreamMsAvg) {
						t.Errorf("%v row %d: got %+v want %+v", gb, i, g, w)
					}
				}
				answers[b.name] = append(answers[b.name], string(got.AppendJSON(nil)), string(got.AppendCSV(nil)))
			}
			got, err := l.Recent(50)
			if err != nil || len(got) != 50 {
				t.Fatalf("recent: %d, %v", len(got), err)
			}
			for i := range got {
				if want := recs[len(recs)-1-i]; !reflect.DeepEqual(got[i], want) {
					t.Errorf("recent %d = %+v\nwant %+v", i, got[i], want)
				}
			}
			answers[b.name] = append(answers[b.name], string(AppendRecordsJSON(nil, got)))
			spend, err := l.SpendByKey(t0)
			if err != nil || len(spend) != 2 {
				t.Errorf("spend %v: %v", spend, err)
			}
			perCh, err := l.RequestsByChannel(t0)
			if err != nil || perCh["groq"]+perCh["openrouter"] != 400-58 {
				t.Errorf("requests per channel %v: %v", perCh, err)
			}
		})
	}
	if a, b := answers["sqlite"], answers["postgres"]; len(a) > 0 && len(b) > 0 {
		if len(a) != len(b) {
			t.Fatalf("%d answers from sqlite, %d from postgres", len(a), len(b))
		}
		for i := range a {
			if a[i] != b[i] {
				t.Errorf("answer %d differs:\nsqlite:   %s\npostgres: %s", i, a[i], b[i])
			}
		}
	}

	for _, b := range bs {
		t.Run(b.name+"/retention", func(t *testing.T) {
			now := t0
			l := b.open(t, b.path(t), Options{RetentionDays: 7, Clock: func() time.Time { return now }})
			var rs []Record
			for _, age := range []time.Duration{10 * 24 * time.Hour, 8 * 24 * time.Hour, 6 * 24 * time.Hour, time.Hour} {
				r := sample(1)
				r.Time = t0.Add(-age)
				rs = append(rs, r)
			}
			add(l, rs)
			if err := l.Sync(context.Background()); err != nil {
				t.Fatal(err)
			}
			if n, err := l.Prune(); err != nil || n != 2 {
				t.Fatalf("pruned %d: %v", n, err)
			}
			now = now.Add(6 * 24 * time.Hour)
			if n, err := l.Prune(); err != nil || n != 1 {
				t.Fatalf("pruned %d a week later: %v", n, err)
			}
			if got, _ := l.Recent(10); len(got) != 1 || !got[0].Time.Equal(t0.Add(-time.Hour)) {
				t.Fatalf("left %v", got)
			}
			if st := l.Stats(); st.Pruned != 3 {
				t.Fatalf("stats %+v", st)
			}
		})

		t.Run(b.name+"/spill-on-database-error", func(t *testing.T) {
			path := b.path(t)
			local := filepath.Join(t.TempDir(), "usage-local")
			opts := Options{BusyTimeout: 20 * time.Millisecond, SpillRetry: time.Hour, LocalPath: local}
			l := b.open(t, path, opts)
			spill := path + ".spill"
			if vocab.IsPostgresURL(path) {
				spill = local + ".spill"
			}
			b.exec(t, path, "ALTER TABLE requests RENAME TO requests_away")
			add(l, recs[:20])
			if err := l.Sync(context.Background()); err != nil {
				t.Fatal(err)
			}
			if st := l.Stats(); st.SpilledDBError != 20 || st.DBErrors == 0 || st.Written != 0 {
				t.Fatalf("stats with the table gone: %+v", st)
			}
			if _, err := os.Stat(spill); err != nil {
				t.Fatalf("no spill file: %v", err)
			}
			if err := l.ReplaySpill(); err == nil {
				t.Fatal("replay succeeded with the table gone")
			}
			b.exec(t, path, "ALTER TABLE requests_away RENAME TO requests")
			if err := l.ReplaySpill(); err != nil {
				t.Fatal(err)
			}
			// A second replay of the same records (a crash between the
			// insert and the removal of the file) inserts nothing twice.
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
		})

		t.Run(b.name+"/journal-replay-after-crash", func(t *testing.T) {
			path := b.path(t)
			local := filepath.Join(t.TempDir(), "usage-local")
			// On PostgreSQL, another replica (its own journal and
			// checkpoint) writes to the same database meanwhile; a SQLite
			// file has one writer.
			want := 100
			var other *Ledger
			if vocab.IsPostgresURL(path) {
				other, want = b.open(t, path, Options{LocalPath: filepath.Join(t.TempDir(), "other")}), 110
			}
			hold := make(chan struct{})
			opts := Options{Path: path, LocalPath: local, JournalSize: minJournalSize}
			l, err := open(opts, hold)
			if err != nil {
				t.Fatal(err)
			}
			add(l, recs[:100])
			if other != nil {
				add(other, recs[300:310])
				if err := other.Sync(context.Background()); err != nil {
					t.Fatal(err)
				}
			}
			// The crash: no drain; the mapping goes away as at exit.
			if err := l.jr.close(); err != nil {
				t.Fatal(err)
			}
			l.db.Close()
			for range 2 { // a second open replays nothing more
				l2, err := Open(opts)
				if err != nil {
					t.Fatal(err)
				}
				got, err := l2.Recent(1000)
				if err != nil {
					t.Fatal(err)
				}
				if len(got) != want {
					t.Fatalf("%d records after the replay, want %d", len(got), want)
				}
				if err := l2.Close(context.Background()); err != nil {
					t.Fatal(err)
				}
			}
		})

		t.Run(b.name+"/close-and-reopen", func(t *testing.T) {
			path := b.path(t)
			local := filepath.Join(t.TempDir(), "usage-local")
			l := b.open(t, path, Options{LocalPath: local})
			add(l, recs[:100])
			if err := l.Close(context.Background()); err != nil {
				t.Fatal(err)
			}
			add(l, recs[100:110]) // after Close: spilled, inserted at the next open
			l2 := b.open(t, path, Options{LocalPath: local})
			got, err := l2.Recent(1000)
			if err != nil || len(got) != 110 {
				t.Fatalf("%d records after reopening: %v", len(got), err)
			}
			if l.Replica() != l2.Replica() {
				t.Errorf("replica id changed across a restart: %q then %q", l.Replica(), l2.Replica())
			}
		})
	}
}

// Several ledgers (replicas) write the same records concurrently into one
// PostgreSQL database: none collides with another, every one is counted,
// and each replica keeps its own journal checkpoint.
func TestPostgresReplicasShareOneDatabase(t *testing.T) {
	pg := pgtest.Start(t)
	url := pg.NewDatabase("")
	pgb := backend{name: "postgres"}
	const replicas, per = 3, 300
	ls := make([]*Ledger, replicas)
	for i := range ls {
		ls[i] = pgb.open(t, url, Options{}) // concurrent first opens race on the migration
	}
	done := make(chan struct{})
	for _, l := range ls {
		go func() {
			defer func() { done <- struct{}{} }()
			for i := range per {
				r := sample(i)
				var e Entry
				e.FromRecord(&r)
				l.Enqueue(&e)
			}
		}()
	}
	for range ls {
		<-done
	}
	for _, l := range ls {
		if err := l.Sync(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	q, _ := ParseQuery("2026-12-01T00:00:00Z", "2026-12-06T00:00:00Z", "channel", "", t0)
	for i, l := range ls {
		res, err := l.Usage(q)
		if err != nil {
			t.Fatal(err)
		}
		if res.Totals.Requests != replicas*per {
			t.Errorf("replica %d counts %d requests, want %d", i, res.Totals.Requests, replicas*per)
		}
	}
	db, err := sql.Open("pgx", url)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var ids, ckpts int
	if err := db.QueryRow(`SELECT COUNT(DISTINCT replica) FROM requests`).Scan(&ids); err != nil || ids != replicas {
		t.Errorf("%d replica ids (%v), want %d", ids, err, replicas)
	}
	if err := db.QueryRow(`SELECT COUNT(*) FROM ledger_state WHERE name LIKE 'journal_checkpoint:%'`).Scan(&ckpts); err != nil || ckpts != replicas {
		t.Errorf("%d journal checkpoints (%v), want %d", ckpts, err, replicas)
	}
}

// The PostgreSQL server stopped under a ledger: the records spill to the
// local file, and once the server is back the retry inserts them.
func TestPostgresServerDownSpillsAndReplays(t *testing.T) {
	pg := pgtest.Start(t)
	url := pg.NewDatabase("")
	l := backend{}.open(t, url, Options{SpillRetry: time.Hour})
	var recs []Record
	for i := range 50 {
		recs = append(recs, sample(i))
	}
	add(l, recs[:10])
	if err := l.Sync(context.Background()); err != nil {
		t.Fatal(err)
	}
	pg.Stop()
	add(l, recs[10:])
	if err := l.Sync(context.Background()); err != nil {
		t.Fatal(err)
	}
	if st := l.Stats(); st.SpilledDBError != 40 || st.Written != 10 || st.Lost != 0 {
		t.Fatalf("stats with the server down: %+v", st)
	}
	pg.Restart()
	if err := l.ReplaySpill(); err != nil {
		t.Fatal(err)
	}
	got, err := l.Recent(100)
	if err != nil || len(got) != 50 {
		t.Fatalf("%d records after the server came back: %v", len(got), err)
	}
	if st := l.Stats(); st.SpillReplayed != 40 {
		t.Fatalf("stats %+v", st)
	}
}

// No error of the PostgreSQL backend shows the password of its URL.
func TestPostgresErrorsHideThePassword(t *testing.T) {
	const pw = "n0t-sh0wn-pw"
	for _, url := range []string{
		"postgres://u:" + pw + "@127.0.0.1:1/db?sslmode=disable&connect_timeout=1", // nothing listens on port 1
		"postgres://u:" + pw + "@[::1/db",                                          // not a URL
	} {
		_, err := Open(Options{Path: url, LocalPath: filepath.Join(t.TempDir(), "u")})
		if err == nil {
			t.Fatalf("%s opened", url)
		}
		if bytes.Contains([]byte(err.Error()), []byte(pw)) {
			t.Errorf("the error shows the password: %v", err)
		}
	}
}

// BenchmarkPostgresLedgerThroughput is BenchmarkLedgerThroughput against a
// real PostgreSQL started for it (fsync off, as every test server: it
// measures the ledger and the protocol, not the disk).
func BenchmarkPostgresLedgerThroughput(b *testing.B) {
	pg := pgtest.Start(b)
	l, e := benchLedger(b, Options{Path: pg.NewDatabase(""), LocalPath: filepath.Join(b.TempDir(), "usage-postgres")})
	start := time.Now()
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
}
