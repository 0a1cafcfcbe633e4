package usage

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	_ "modernc.org/sqlite" // the pure-Go SQLite driver "sqlite"

	"smartrouter/format/vocab"
)

// Defaults of Options' zero fields.
const (
	DefaultQueueSize   = 4096
	DefaultBusyTimeout = 5 * time.Second
	DefaultPruneEvery  = time.Hour
	DefaultSpillRetry  = 10 * time.Second
	DefaultFlushDelay  = 100 * time.Millisecond
	batchMax           = 512
	syncWait           = 2 * time.Second
)

// Options configure a Ledger.
type Options struct {
	// Path is the SQLite database file (created with its folder when
	// missing). The journal is Path+".ackjournal", the spill file
	// Path+".spill". A postgres:// or postgresql:// URL selects the
	// PostgreSQL backend (pg.go) instead.
	Path string
	// LocalPath is, with a PostgreSQL Path, the local file name the
	// journal, the spill file and the replica id are named after
	// (LocalPath+".ackjournal", ".spill", ".replica"); unused with SQLite.
	LocalPath string
	// Replica is, with PostgreSQL, the id of this routerd among those that
	// write to the same database; "": the one kept in LocalPath+".replica"
	// (created at the first open).
	Replica string
	// RetentionDays deletes records older than this many days (checked at
	// open and every PruneEvery); 0 keeps them all.
	RetentionDays int
	// QueueSize is how many records may wait for the writer; 0:
	// DefaultQueueSize. A record that finds it full goes to the spill file.
	QueueSize int
	// JournalSize is the journal's size in bytes; 0: DefaultJournalSize;
	// < 0: no journal (a record is safe from a process kill only once
	// committed).
	JournalSize int64
	// BusyTimeout is how long a statement waits for a lock held by another
	// connection or process; 0: DefaultBusyTimeout.
	BusyTimeout time.Duration
	// PruneEvery is how often old records are deleted; 0:
	// DefaultPruneEvery.
	PruneEvery time.Duration
	// SpillRetry is how often spilled records are tried again while the
	// spill file is not empty; 0: DefaultSpillRetry.
	SpillRetry time.Duration
	// FlushDelay is how long the writer, woken by a record, waits for more
	// before it commits a batch that is not full (a Sync or Close cuts it
	// short): at a steady load it commits one transaction per FlushDelay
	// instead of one per record, whose fixed cost is far larger than an
	// insert's. Records waiting are journaled, so the wait loses nothing
	// on a crash. 0: DefaultFlushDelay; < 0: commit at once.
	FlushDelay time.Duration
	// Clock gives the time retention is measured against; nil: time.Now.
	Clock  func() time.Time
	Logger *slog.Logger // nil: slog.Default()
}

// Stats are the ledger's counters since it was opened.
type Stats struct {
	Written          uint64 // records committed to the database
	SpilledOverflow  uint64 // records that found the queue full and went to the spill file
	SpilledDBError   uint64 // records of failed transactions that went to the spill file
	SpillReplayed    uint64 // spilled records inserted later
	JournalReplayed  uint64 // records inserted from the journal at open
	JournalFull      uint64 // records not journaled: the journal was full
	Lost             uint64 // records neither written nor spilled (the spill file failed too)
	DBErrors         uint64 // failed transactions
	Pruned           uint64 // records deleted by retention
	Queued           int    // records waiting now
	SpillFilesQueued int    // spill files waiting for a replay now
}

// Ledger is the SQLite usage ledger: a bounded queue that Enqueue fills
// without allocating, and one writer goroutine that commits it in batched
// transactions. See the package documentation and docs/operations.md.
type Ledger struct {
	opts Options
	log  *slog.Logger
	now  func() time.Time
	db   *sql.DB
	pg   bool // PostgreSQL (pg.go), else SQLite
	// replica keeps the records of several routerd apart on PostgreSQL.
	replica string

	mu      sync.Mutex // guards the queue, the journal head, uids and closed
	q       []Entry
	jend    []uint64 // journal offset after each queued entry (0: not journaled)
	head    int
	count   int
	enq     uint64 // records accepted (queued or spilled) so far
	lastUID int64
	closed  bool
	jr      *journal

	wake     chan struct{}
	flush    chan struct{} // Sync asks the writer to stop waiting for a fuller batch
	stop     chan struct{}
	stopped  chan struct{}
	progMu   sync.Mutex
	progress chan struct{} // closed and replaced when handled grows
	handled  atomic.Uint64 // records committed or spilled by the writer (or spilled by Enqueue)

	sp        spill
	spillLeft atomic.Bool   // the spill file may hold records
	hold      chan struct{} // tests: the writer starts once it is closed

	written, spOver, spDB, spReplayed, jReplayed, jFull, lost, dbErrs, pruned atomic.Uint64

	// ins[k] is the prepared INSERT of k rows (SQLite), made on first use
	// and kept: parsing a multi-row INSERT per batch cost more than the
	// rows' binding.
	insMu sync.Mutex
	ins   [insertChunk + 1]*sql.Stmt
}

// schema is the list of migrations: migration i+1 is schema[i]. Never
// change a released entry; append a new one.
var schema = [][]string{
	{
		`CREATE TABLE requests (
			id              INTEGER PRIMARY KEY,
			uid             INTEGER NOT NULL UNIQUE,
			ts              INTEGER NOT NULL,
			request_id      TEXT    NOT NULL,
			key             TEXT    NOT NULL,
			surface         TEXT    NOT NULL,
			model_requested TEXT    NOT NULL,
			channel         TEXT    NOT NULL,
			model_used      TEXT    NOT NULL,
			attempts        INTEGER NOT NULL,
			status          INTEGER NOT NULL,
			error_code      TEXT    NOT NULL,
			input_tokens    INTEGER NOT NULL,
			output_tokens   INTEGER NOT NULL,
			cost_usd        REAL    NOT NULL,
			upstream_ms     REAL    NOT NULL,
			overhead_ms     REAL    NOT NULL,
			stream          INTEGER NOT NULL
		)`,
		`CREATE INDEX requests_ts ON requests (ts)`,
		`CREATE INDEX requests_key_ts ON requests (key, ts)`,
		`CREATE INDEX requests_channel_ts ON requests (channel, ts)`,
		`CREATE INDEX requests_model_ts ON requests (model_used, ts)`,
		`CREATE TABLE ledger_state (name TEXT PRIMARY KEY, value INTEGER NOT NULL)`,
	},
	// 2: the record's uid becomes the rowid (id), which drops the UNIQUE
	// index on uid and makes every insert an append to the table's b-tree
	// (uids grow with time); only the ts index stays: every query filters
	// on a time range (or reads the latest records), and the key, channel
	// and model indexes cost an insert each per record without serving a
	// query better than the ts range does.
	{
		`CREATE TABLE requests_v2 (
			id              INTEGER PRIMARY KEY,
			ts              INTEGER NOT NULL,
			request_id      TEXT    NOT NULL,
			key             TEXT    NOT NULL,
			surface         TEXT    NOT NULL,
			model_requested TEXT    NOT NULL,
			channel         TEXT    NOT NULL,
			model_used      TEXT    NOT NULL,
			attempts        INTEGER NOT NULL,
			status          INTEGER NOT NULL,
			error_code      TEXT    NOT NULL,
			input_tokens    INTEGER NOT NULL,
			output_tokens   INTEGER NOT NULL,
			cost_usd        REAL    NOT NULL,
			upstream_ms     REAL    NOT NULL,
			overhead_ms     REAL    NOT NULL,
			stream          INTEGER NOT NULL
		)`,
		`INSERT INTO requests_v2 (id, ts, request_id, key, surface, model_requested, channel, model_used,
			attempts, status, error_code, input_tokens, output_tokens, cost_usd, upstream_ms, overhead_ms, stream)
			SELECT uid, ts, request_id, key, surface, model_requested, channel, model_used,
			attempts, status, error_code, input_tokens, output_tokens, cost_usd, upstream_ms, overhead_ms, stream
			FROM requests ORDER BY uid`,
		`DROP TABLE requests`,
		`ALTER TABLE requests_v2 RENAME TO requests`,
		`CREATE INDEX requests_ts ON requests (ts)`,
	},
}

// SchemaVersion is the schema this build writes.
var SchemaVersion = len(schema)

// Open opens (or creates) the ledger at opts.Path, migrates its schema,
// inserts what the journal and the spill files hold, deletes records past
// the retention, and starts the writer.
func Open(opts Options) (*Ledger, error) { return open(opts, nil) }

func open(opts Options, hold chan struct{}) (*Ledger, error) {
	if opts.Path == "" {
		return nil, errors.New("usage ledger: no database path; set usage.path")
	}
	pg := vocab.IsPostgresURL(opts.Path)
	local := opts.Path
	if pg {
		if opts.LocalPath == "" {
			return nil, errors.New("usage ledger: a PostgreSQL ledger needs a local file name for its journal and spill file (Options.LocalPath)")
		}
		local = opts.LocalPath
	} else if strings.ContainsAny(opts.Path, "?#") {
		return nil, fmt.Errorf("usage ledger: the database path %q contains ? or #; choose a plain file name", opts.Path)
	}
	l := &Ledger{opts: opts, log: opts.Logger, now: opts.Clock, hold: hold, pg: pg}
	if l.log == nil {
		l.log = slog.Default()
	}
	if l.now == nil {
		l.now = time.Now
	}
	qs := opts.QueueSize
	if qs <= 0 {
		qs = DefaultQueueSize
	}
	l.q, l.jend = make([]Entry, qs), make([]uint64, qs)
	l.sp.path = local + ".spill"
	if err := os.MkdirAll(dirOf(local), 0o755); err != nil {
		return nil, fmt.Errorf("usage ledger: create the folder of %s: %w", local, err)
	}
	var db *sql.DB
	var err error
	if pg {
		if l.replica, err = replicaID(opts, local+".replica"); err != nil {
			return nil, err
		}
		db, err = openPG(opts)
	} else {
		db, err = openSQLite(opts)
	}
	if err != nil {
		return nil, err
	}
	l.db = db
	if err := l.migrate(); err != nil {
		db.Close()
		return nil, err
	}
	if opts.JournalSize >= 0 {
		size := opts.JournalSize
		if size == 0 {
			size = DefaultJournalSize
		}
		size = max(size, minJournalSize)
		l.jr, err = openJournal(local+".ackjournal", size)
		switch {
		case errors.Is(err, errJournalLocked):
			// Another routerd (a restart overlapping the old process)
			// owns the journal: share the database, without a journal.
			l.log.Warn("usage ledger: another process holds the journal; this one writes the same database without it (its records are safe from a crash once committed)", "error", err)
		case err != nil:
			db.Close()
			return nil, fmt.Errorf("usage ledger: %w", err)
		}
	}
	if l.jr != nil {
		size := opts.JournalSize
		if size == 0 {
			size = DefaultJournalSize
		}
		size = max(size, minJournalSize)
		if err := l.replayJournal(size); err != nil {
			l.jr.close()
			db.Close()
			return nil, err
		}
	}
	l.lastUID = time.Now().UnixNano()
	if err := l.replaySpill(); err != nil {
		l.log.Warn("usage ledger: spilled records could not be inserted yet; they stay in their file and are retried", "error", err)
	}
	if _, err := l.prune(); err != nil {
		l.log.Warn("usage ledger: deleting old records failed; retried later", "error", err)
	}
	l.wake = make(chan struct{}, 1)
	l.flush = make(chan struct{}, 1)
	l.stop = make(chan struct{})
	l.stopped = make(chan struct{})
	l.progress = make(chan struct{})
	go l.run()
	return l, nil
}

// openSQLite opens the SQLite database file of opts.Path.
func openSQLite(opts Options) (*sql.DB, error) {
	bt := opts.BusyTimeout
	if bt <= 0 {
		bt = DefaultBusyTimeout
	}
	dsn := opts.Path + "?_pragma=busy_timeout(" + fmt.Sprint(bt.Milliseconds()) + ")&_pragma=journal_mode(WAL)&_pragma=synchronous(NORMAL)&_txlock=immediate"
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, fmt.Errorf("usage ledger: open %s: %w", opts.Path, err)
	}
	db.SetMaxOpenConns(4)
	return db, nil
}

func dirOf(p string) string {
	if i := strings.LastIndexByte(p, os.PathSeparator); i > 0 {
		return p[:i]
	}
	return "."
}

// migrate brings the schema to SchemaVersion, one transaction per
// migration, recorded in schema_migrations.
func (l *Ledger) migrate() error {
	if l.pg {
		return l.migratePG()
	}
	if _, err := l.db.Exec(`CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, applied_at INTEGER NOT NULL)`); err != nil {
		return fmt.Errorf("usage ledger: %s is not a usable SQLite database (%w); move it aside or fix usage.path", l.opts.Path, err)
	}
	var cur int
	if err := l.db.QueryRow(`SELECT COALESCE(MAX(version), 0) FROM schema_migrations`).Scan(&cur); err != nil {
		return fmt.Errorf("usage ledger: read the schema version: %w", err)
	}
	if cur > len(schema) {
		return fmt.Errorf("usage ledger: %s has schema version %d, newer than this routerd knows (%d); run the newer routerd or move the file aside", l.opts.Path, cur, len(schema))
	}
	for v := cur + 1; v <= len(schema); v++ {
		tx, err := l.db.Begin()
		if err != nil {
			return fmt.Errorf("usage ledger: migrate to schema %d: %w", v, err)
		}
		for _, stmt := range schema[v-1] {
			if _, err := tx.Exec(stmt); err != nil {
				tx.Rollback()
				return fmt.Errorf("usage ledger: migrate to schema %d: %w", v, err)
			}
		}
		if _, err := tx.Exec(`INSERT INTO schema_migrations (version, applied_at) VALUES (?, ?)`, v, time.Now().Unix()); err != nil {
			tx.Rollback()
			return fmt.Errorf("usage ledger: migrate to schema %d: %w", v, err)
		}
		if err := tx.Commit(); err != nil {
			return fmt.Errorf("usage ledger: migrate to schema %d: %w", v, err)
		}
	}
	return nil
}

// insertCols are the columns of an insert, id being the record's uid (a
// replayed record is ignored); insertChunk is how many rows one INSERT
// statement carries (a batch is chunks of it plus one shorter statement).
const (
	insertCols = `INSERT OR IGNORE INTO requests (id, ts, request_id, key, surface, model_requested, channel, model_used,
	attempts, status, error_code, input_tokens, output_tokens, cost_usd, upstream_ms, overhead_ms, stream) VALUES `
	insertRow   = "(?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)"
	insertArgs  = 17
	insertChunk = 32
)

// insertSQL returns the INSERT of n rows.
func insertSQL(n int) string {
	var b strings.Builder
	b.Grow(len(insertCols) + n*(len(insertRow)+1))
	b.WriteString(insertCols)
	for i := range n {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(insertRow)
	}
	return b.String()
}

// insertStmt returns the prepared INSERT of k rows (1 ≤ k ≤ insertChunk),
// preparing it on first use.
func (l *Ledger) insertStmt(k int) (*sql.Stmt, error) {
	l.insMu.Lock()
	defer l.insMu.Unlock()
	if st := l.ins[k]; st != nil {
		return st, nil
	}
	st, err := l.db.Prepare(insertSQL(k))
	if err != nil {
		return nil, err
	}
	l.ins[k] = st
	return st, nil
}

const checkpointSQL = `INSERT INTO ledger_state (name, value) VALUES ('journal_checkpoint', ?)
	ON CONFLICT (name) DO UPDATE SET value = excluded.value`

// insert writes entries in one transaction, with the journal checkpoint
// when ckpt > 0. It returns how many rows were new.
func (l *Ledger) insert(entries []Entry, ckpt uint64) (int64, error) {
	if l.pg {
		return l.insertPG(entries, ckpt)
	}
	tx, err := l.db.Begin()
	if err != nil {
		return 0, err
	}
	var n int64
	args := make([]any, 0, insertChunk*insertArgs)
	for len(entries) > 0 {
		k := min(len(entries), insertChunk)
		args = args[:0]
		for i := range k {
			e := &entries[i]
			args = append(args, e.uid, e.Time, e.Str(FieldRequestID), e.Str(FieldKey), e.Str(FieldSurface),
				e.Str(FieldModelRequested), e.Str(FieldChannel), e.Str(FieldModelUsed), e.Attempts, e.Status,
				e.Str(FieldErrorCode), e.InputTokens, e.OutputTokens, e.CostUSD, e.UpstreamMs, e.OverheadMs, e.Stream)
		}
		entries = entries[k:]
		st, err := l.insertStmt(k)
		if err != nil {
			tx.Rollback()
			return 0, err
		}
		// tx.Stmt reuses the statement prepared on the transaction's
		// connection (the pool keeps one per connection).
		res, err := tx.Stmt(st).Exec(args...)
		if err != nil {
			tx.Rollback()
			return 0, err
		}
		a, _ := res.RowsAffected()
		n += a
	}
	if ckpt > 0 {
		if _, err := tx.Exec(checkpointSQL, int64(ckpt)); err != nil {
			tx.Rollback()
			return 0, err
		}
	}
	if err := tx.Commit(); err != nil {
		return 0, err
	}
	return n, nil
}

// replayJournal inserts the journaled records after the checkpoint, then
// starts the journal after them (recreating it at size when its size
// differs).
func (l *Ledger) replayJournal(size int64) error {
	var ckpt int64
	err := l.db.QueryRow(l.rebind(`SELECT value FROM ledger_state WHERE name = ?`), l.ckptName()).Scan(&ckpt)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("usage ledger: read the journal checkpoint: %w", err)
	}
	var batch []Entry
	var e Entry
	end, err := l.jr.read(uint64(ckpt), func(p []byte) error {
		if err := e.DecodeBinary(p); err != nil {
			return nil // cannot happen for a frame with a good checksum; skip it
		}
		batch = append(batch, e)
		return nil
	})
	if err != nil {
		return fmt.Errorf("usage ledger: read the journal: %w", err)
	}
	n, err := l.insert(batch, max(end, 8))
	if err != nil {
		return fmt.Errorf("usage ledger: insert the journaled records: %w", err)
	}
	l.jReplayed.Add(uint64(n))
	if n > 0 {
		l.log.Info("usage ledger: records of the last run inserted from the journal", "records", n)
	}
	if int64(l.jr.size) != size {
		path := l.jr.f.Name()
		if err := l.jr.close(); err != nil {
			return fmt.Errorf("usage ledger: %w", err)
		}
		if err := os.Remove(path); err != nil {
			return fmt.Errorf("usage ledger: resize the journal: %w", err)
		}
		if l.jr, err = openJournal(path, size); err != nil {
			return fmt.Errorf("usage ledger: %w", err)
		}
	}
	l.jr.head = max(end, 8)
	l.jr.durable.Store(l.jr.head)
	return nil
}

// replaySpill sets the spill file aside and inserts the records of every
// file set aside, removing each once committed.
func (l *Ledger) replaySpill() error {
	if err := l.sp.rotate(); err != nil {
		return fmt.Errorf("set the spill file aside: %w", err)
	}
	l.spillLeft.Store(false)
	for _, path := range l.sp.pending() {
		var batch []Entry
		var e Entry
		flush := func() error {
			n, err := l.insert(batch, 0)
			if err != nil {
				return err
			}
			l.spReplayed.Add(uint64(n))
			batch = batch[:0]
			return nil
		}
		_, cut, err := readSpill(path, func(p []byte) error {
			if e.DecodeBinary(p) != nil {
				return nil
			}
			batch = append(batch, e)
			if len(batch) == batchMax {
				return flush()
			}
			return nil
		})
		if err == nil {
			err = flush()
		}
		if err != nil {
			l.spillLeft.Store(true)
			return fmt.Errorf("replay %s: %w", path, err)
		}
		if cut {
			l.log.Warn("usage ledger: a spill file ends with a damaged record (a crash while it was written); the records before it were inserted", "file", path)
		}
		if err := os.Remove(path); err != nil {
			return fmt.Errorf("remove the replayed %s: %w", path, err)
		}
	}
	return nil
}

// Enqueue queues a copy of e for the database, journaling it first; a
// full queue sends it to the spill file instead. It allocates nothing.
func (l *Ledger) Enqueue(e *Entry) { l.enqueue(e, 0) }

// enqueue is Enqueue with the record's uid: 0 gives it a new one; another
// keeps it (a record held by an Early before the ledger opened), and later
// uids are above it.
func (l *Ledger) enqueue(e *Entry, uid int64) {
	l.mu.Lock()
	if uid == 0 {
		uid = time.Now().UnixNano()
		if uid <= l.lastUID {
			uid = l.lastUID + 1
		}
	}
	l.lastUID = max(l.lastUID, uid)
	if l.closed || l.count == len(l.q) {
		l.enq++
		closed := l.closed
		l.mu.Unlock()
		l.spillOne(e, uid, closed)
		return
	}
	at := l.head + l.count
	if at >= len(l.q) {
		at -= len(l.q)
	}
	q := &l.q[at]
	*q = *e
	q.uid = uid
	l.jend[at] = 0
	if l.jr != nil {
		if end, ok := l.jr.append(q); ok {
			l.jend[at] = end
		} else {
			l.jFull.Add(1)
		}
	}
	// Only the first record of an empty queue wakes the writer (it drains
	// the queue before it waits again), and only a full batch cuts its
	// FlushDelay short: a wake-up per record would cost the writer a
	// goroutine switch per record.
	first := l.count == 0
	l.count++
	full := l.count == batchMax
	l.enq++
	l.mu.Unlock()
	if first {
		select {
		case l.wake <- struct{}{}:
		default:
		}
	}
	if full {
		select {
		case l.flush <- struct{}{}:
		default:
		}
	}
}

// spillOne writes one record that found the queue full (or the ledger
// closed) to the spill file.
func (l *Ledger) spillOne(e *Entry, uid int64, closed bool) {
	var buf [spillHead + MaxEncoded]byte
	saved := e.uid
	e.uid = uid
	frame := e.AppendBinary(buf[:spillHead])
	e.uid = saved
	if err := l.sp.write(frame); err != nil {
		l.lost.Add(1)
		l.log.Error("usage ledger: a record was lost: the queue was full and the spill file failed", "error", err)
	} else {
		l.spOver.Add(1)
		l.spillLeft.Store(true)
	}
	if closed {
		l.sp.close()
	}
	l.advance(1)
}

// advance counts n more records handled and wakes Sync.
func (l *Ledger) advance(n int) {
	l.handled.Add(uint64(n))
	l.progMu.Lock()
	close(l.progress)
	l.progress = make(chan struct{})
	l.progMu.Unlock()
}

// run is the writer: it commits the queue in batches, spills a batch whose
// transaction fails, replays the spill file while it is not empty, and
// deletes old records.
func (l *Ledger) run() {
	defer close(l.stopped)
	if l.hold != nil {
		<-l.hold
	}
	batch := make([]Entry, batchMax)
	pruneEvery := l.opts.PruneEvery
	if pruneEvery <= 0 {
		pruneEvery = DefaultPruneEvery
	}
	retry := l.opts.SpillRetry
	if retry <= 0 {
		retry = DefaultSpillRetry
	}
	delay := l.opts.FlushDelay
	if delay == 0 {
		delay = DefaultFlushDelay
	}
	prune := time.NewTicker(pruneEvery)
	defer prune.Stop()
	spillT := time.NewTicker(retry)
	defer spillT.Stop()
	for {
		stopping := false
		select {
		case <-l.wake:
			l.linger(delay)
		case <-prune.C:
			if _, err := l.prune(); err != nil {
				l.log.Warn("usage ledger: deleting old records failed; retried later", "error", err)
			}
		case <-spillT.C:
			if l.spillLeft.Load() || len(l.sp.pending()) > 0 {
				if err := l.replaySpill(); err != nil {
					l.log.Warn("usage ledger: spilled records could not be inserted yet; retried later", "error", err)
				}
			}
		case <-l.stop:
			stopping = true
		}
		for l.writeBatch(batch) > 0 {
		}
		if stopping {
			return
		}
	}
}

// linger waits up to d for the queue to fill a batch, returning early when
// it does, on a Sync or on Close.
func (l *Ledger) linger(d time.Duration) {
	if d <= 0 {
		return
	}
	l.mu.Lock()
	full := l.count >= batchMax
	l.mu.Unlock()
	if full {
		return
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-l.flush: // a Sync, or Enqueue filled a batch
	case <-l.stop:
	}
}

// writeBatch takes up to a batch from the queue and commits it (or spills
// it); it returns how many records it took.
func (l *Ledger) writeBatch(batch []Entry) int {
	l.mu.Lock()
	n := min(l.count, len(batch))
	var ckpt uint64
	for i := range n {
		at := l.head + i
		if at >= len(l.q) {
			at -= len(l.q)
		}
		batch[i] = l.q[at]
		if l.jend[at] > 0 {
			ckpt = l.jend[at]
		}
	}
	l.mu.Unlock()
	if n == 0 {
		return 0
	}
	if _, err := l.insert(batch[:n], ckpt); err != nil {
		l.dbErrs.Add(1)
		l.spillBatch(batch[:n], err)
	} else {
		l.written.Add(uint64(n))
	}
	if ckpt > 0 {
		l.jr.durable.Store(ckpt)
	}
	l.mu.Lock()
	l.head += n
	if l.head >= len(l.q) {
		l.head -= len(l.q)
	}
	l.count -= n
	l.mu.Unlock()
	l.advance(n)
	return n
}

// spillBatch writes the records of a failed transaction to the spill file.
func (l *Ledger) spillBatch(batch []Entry, cause error) {
	var buf [spillHead + MaxEncoded]byte
	lost := 0
	for i := range batch {
		if err := l.sp.write(batch[i].AppendBinary(buf[:spillHead])); err != nil {
			lost++
		}
	}
	l.spDB.Add(uint64(len(batch) - lost))
	l.spillLeft.Store(true)
	if lost > 0 {
		l.lost.Add(uint64(lost))
		l.log.Error("usage ledger: records were lost: the database and the spill file both failed", "records", lost, "error", cause)
		return
	}
	l.log.Warn("usage ledger: a write failed; the records went to the spill file and are inserted later", "records", len(batch), "error", cause)
}

// prune deletes the records older than the retention.
func (l *Ledger) prune() (int64, error) {
	if l.opts.RetentionDays <= 0 {
		return 0, nil
	}
	cut := l.now().Add(-time.Duration(l.opts.RetentionDays) * 24 * time.Hour).UnixNano()
	var total int64
	for {
		res, err := l.db.Exec(l.rebind(`DELETE FROM requests WHERE id IN (SELECT id FROM requests WHERE ts < ? LIMIT 10000)`), cut)
		if err != nil {
			return total, err
		}
		n, _ := res.RowsAffected()
		total += n
		if n < 10000 {
			break
		}
	}
	l.pruned.Add(uint64(total))
	return total, nil
}

// ReplaySpill inserts the spilled records now (the writer also tries every
// SpillRetry while there are some).
func (l *Ledger) ReplaySpill() error { return l.replaySpill() }

// Prune deletes the records older than the retention now (the writer also
// does every PruneEvery) and returns how many.
func (l *Ledger) Prune() (int64, error) { return l.prune() }

// Sync waits until every record enqueued before the call is committed or
// spilled, or ctx ends.
func (l *Ledger) Sync(ctx context.Context) error {
	l.mu.Lock()
	target := l.enq
	l.mu.Unlock()
	if l.handled.Load() < target {
		select {
		case l.flush <- struct{}{}:
		default:
		}
	}
	for l.handled.Load() < target {
		l.progMu.Lock()
		ch := l.progress
		l.progMu.Unlock()
		if l.handled.Load() >= target {
			break
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return nil
}

// sync is Sync with the API's bound: an answer waits at most syncWait for
// the queue, then reads what is committed.
func (l *Ledger) sync() {
	ctx, cancel := context.WithTimeout(context.Background(), syncWait)
	defer cancel()
	_ = l.Sync(ctx)
}

// Close stops taking records (later ones go to the spill file), commits
// everything queued, and closes the files. When ctx ends first, the queue
// is left to the journal (replayed at the next open).
func (l *Ledger) Close(ctx context.Context) error {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return nil
	}
	l.closed = true
	l.mu.Unlock()
	close(l.stop)
	var err error
	select {
	case <-l.stopped:
	case <-ctx.Done():
		err = fmt.Errorf("usage ledger: the queue was not written in time (%w); the journal keeps it for the next start", ctx.Err())
	}
	if err == nil && l.jr != nil {
		if cerr := l.jr.close(); cerr != nil {
			err = fmt.Errorf("usage ledger: close the journal: %w", cerr)
		}
	}
	if cerr := l.sp.close(); cerr != nil && err == nil {
		err = cerr
	}
	if err == nil {
		l.insMu.Lock()
		for _, st := range l.ins {
			if st != nil {
				st.Close()
			}
		}
		l.insMu.Unlock()
		if cerr := l.db.Close(); cerr != nil {
			err = fmt.Errorf("usage ledger: close the database: %w", cerr)
		}
	}
	return err
}

// Stats returns the counters.
func (l *Ledger) Stats() Stats {
	l.mu.Lock()
	queued := l.count
	l.mu.Unlock()
	return Stats{
		Written: l.written.Load(), SpilledOverflow: l.spOver.Load(), SpilledDBError: l.spDB.Load(),
		SpillReplayed: l.spReplayed.Load(), JournalReplayed: l.jReplayed.Load(), JournalFull: l.jFull.Load(),
		Lost: l.lost.Load(), DBErrors: l.dbErrs.Load(), Pruned: l.pruned.Load(),
		Queued: queued, SpillFilesQueued: len(l.sp.pending()),
	}
}
