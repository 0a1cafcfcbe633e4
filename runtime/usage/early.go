package usage

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"time"

	"smartrouter/format/vocab"
)

// The start journal lets a server answer requests before its ledger is
// open (opening SQLite and creating its schema costs milliseconds that a
// cold start should not wait for): an Early, opened before the server
// listens, takes the records of the requests answered until the ledger is
// attached, and journals each like the ledger's own journal does (a copy
// into a memory-mapped file, which survives a kill of the process). When
// the ledger is attached (Recorder.Attach) the Early hands every record it
// holds to the ledger's queue, keeping each record's uid, and from then on
// forwards to the ledger; once the ledger has committed them (Finish) the
// start journal file is removed. A start that dies before that leaves the
// file behind: the next start's Early finds its records and hands them to
// the ledger with its own (a record already committed has the same uid and
// is not inserted twice).
//
// The start journal is the journal's frame format in a file of its own
// (EarlySuffix), written from its beginning and never wrapped: the frames
// of a file always start at logical offset 8, so no checkpoint is needed to
// read it. A full start journal (about 60,000 records at its default size)
// keeps further records in memory, up to earlyMemMax, then counts them lost
// with a warning.

// EarlySuffix is appended to the ledger's local file name (Options.Path,
// or LocalPath with PostgreSQL) to name the start journal.
const EarlySuffix = ".startjournal"

// earlyMemMax is how many records an Early keeps in memory once its file
// is full or could not be opened.
const earlyMemMax = DefaultQueueSize

// earlyStart is the logical offset of a start journal's first frame.
const earlyStart = 8

// Early holds the records answered before the ledger is open. Its methods
// are safe for concurrent use.
type Early struct {
	log  *slog.Logger
	path string

	mu       sync.Mutex
	jr       *journal // nil: the file could not be used (records in mem)
	mem      []Entry
	lastUID  int64
	held     int // records of this run held (journaled or in mem)
	left     int // records of an earlier start found in the file
	lost     int
	handedTo *Ledger // set by handOver: records go to it from then on
	closed   bool
	ready    chan struct{} // closed by handOver or Close
}

// EarlyStats are an Early's counters.
type EarlyStats struct {
	Leftover int // records of an earlier start found in the start journal
	Held     int // records of this run held before the ledger was attached
	Lost     int // records neither journaled nor kept in memory
	Attached bool
}

// earlyLocal returns the local file name the start journal is named after.
func earlyLocal(opts Options) (string, error) {
	if opts.Path == "" {
		return "", errors.New("usage ledger: no database path; set usage.path")
	}
	if vocab.IsPostgresURL(opts.Path) {
		if opts.LocalPath == "" {
			return "", errors.New("usage ledger: a PostgreSQL ledger needs a local file name for its journal and spill file (Options.LocalPath)")
		}
		return opts.LocalPath, nil
	}
	return opts.Path, nil
}

// OpenEarly opens (or creates, sparse) the start journal of the ledger
// opts describe, with the ledger's folder: cheap, no database is touched.
// An error means the folder or the file cannot be written (a bad path, a
// permission); when another process holds the start journal (a restart
// overlapping the old process), or with no journal (Options.JournalSize <
// 0), the Early keeps records in memory only.
func OpenEarly(opts Options) (*Early, error) {
	local, err := earlyLocal(opts)
	if err != nil {
		return nil, err
	}
	p := &Early{log: opts.Logger, path: local + EarlySuffix, ready: make(chan struct{})}
	if p.log == nil {
		p.log = slog.Default()
	}
	if err := os.MkdirAll(dirOf(local), 0o755); err != nil {
		return nil, fmt.Errorf("usage ledger: create the folder of %s: %w", local, err)
	}
	if opts.JournalSize < 0 {
		// No journal: records are safe from a kill once committed, and
		// those answered before the ledger opens are kept in memory.
		return p, nil
	}
	size := opts.JournalSize
	if size == 0 {
		size = DefaultJournalSize
	}
	size = max(size, minJournalSize)
	jr, err := openJournal(p.path, size)
	switch {
	case errors.Is(err, errJournalLocked):
		p.log.Warn("usage ledger: another process holds the start journal; records answered before this one's ledger is open are kept in memory only", "error", err)
		return p, nil
	case err != nil:
		return nil, fmt.Errorf("usage ledger: %w", err)
	}
	// The file is read once (leftovers) and written front to back a page
	// at a time, and this happens before the server listens and on the
	// first answers: no read-ahead (see adviseRandom).
	adviseRandom(jr.m)
	end, _ := jr.read(earlyStart, func([]byte) error { p.left++; return nil })
	jr.head = max(end, earlyStart)
	// durable stays 0: append refuses a frame past the file's end, so the
	// file is never wrapped and always reads from earlyStart.
	p.jr = jr
	return p, nil
}

// Leftover reports how many records of an earlier start the start journal
// held when it was opened.
func (p *Early) Leftover() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.left
}

// Stats returns the counters.
func (p *Early) Stats() EarlyStats {
	p.mu.Lock()
	defer p.mu.Unlock()
	return EarlyStats{Leftover: p.left, Held: p.held, Lost: p.lost, Attached: p.handedTo != nil}
}

// add holds a copy of e, or forwards it to the ledger it was handed over
// to. It allocates nothing while the start journal has room.
func (p *Early) add(e *Entry) {
	p.mu.Lock()
	if l := p.handedTo; l != nil {
		p.mu.Unlock()
		l.Enqueue(e)
		return
	}
	uid := time.Now().UnixNano()
	if uid <= p.lastUID {
		uid = p.lastUID + 1
	}
	p.lastUID = uid
	saved := e.uid
	e.uid = uid
	ok := false
	if p.jr != nil && !p.closed {
		_, ok = p.jr.append(e)
	}
	switch {
	case ok:
		p.held++
	case len(p.mem) < earlyMemMax:
		p.mem = append(p.mem, *e)
		p.held++
	default:
		p.lost++
		if p.lost == 1 {
			p.log.Error("usage ledger: records are lost: the ledger is not open yet and the start journal and its memory are full")
		}
	}
	e.uid = saved
	p.mu.Unlock()
}

// handOver queues every record held (an earlier start's and this run's)
// on l, keeping their uids, and makes later records go to l. It returns
// how many were handed over.
func (p *Early) handOver(l *Ledger) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.handedTo != nil {
		return 0
	}
	n := 0
	if p.jr != nil && !p.closed {
		var e Entry
		_, _ = p.jr.read(earlyStart, func(b []byte) error {
			if e.DecodeBinary(b) == nil {
				l.enqueue(&e, e.uid)
				n++
			}
			return nil
		})
	}
	for i := range p.mem {
		l.enqueue(&p.mem[i], p.mem[i].uid)
		n++
	}
	p.mem = nil
	l.mu.Lock()
	l.lastUID = max(l.lastUID, p.lastUID)
	l.mu.Unlock()
	p.handedTo = l
	p.markReady()
	return n
}

// attached returns the ledger the Early was handed to, or nil.
func (p *Early) attached() *Ledger {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.handedTo
}

// markReady closes ready once (under p.mu).
func (p *Early) markReady() {
	select {
	case <-p.ready:
	default:
		close(p.ready)
	}
}

// wait waits at most d until the Early was handed over or closed.
func (p *Early) wait(d time.Duration) {
	select {
	case <-p.ready:
		return
	default:
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-p.ready:
	case <-t.C:
	}
}

// Finish waits until the ledger the records were handed to has committed
// (or spilled) them, then removes the start journal file. It is an error
// before the Early was handed over (Recorder.Attach).
func (p *Early) Finish(ctx context.Context) error {
	p.mu.Lock()
	l := p.handedTo
	p.mu.Unlock()
	if l == nil {
		return errors.New("usage ledger: the start journal was not handed to a ledger")
	}
	if err := l.Sync(ctx); err != nil {
		return fmt.Errorf("usage ledger: the records answered before the ledger opened are not committed yet (%w); the start journal keeps them for the next start", err)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.jr == nil || p.closed {
		return nil
	}
	p.closed = true
	err := p.jr.close()
	if rerr := os.Remove(p.path); rerr != nil && err == nil {
		err = rerr
	}
	if err != nil {
		return fmt.Errorf("usage ledger: remove the start journal: %w", err)
	}
	return nil
}

// Close closes the start journal and keeps its file: the records it holds
// are handed to the ledger by the next start (used when the ledger could
// not be opened).
func (p *Early) Close() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.markReady()
	if p.jr == nil || p.closed {
		return nil
	}
	p.closed = true
	if p.held > 0 {
		p.log.Warn("usage ledger: records answered before the ledger opened stay in the start journal for the next start", "records", p.held, "file", p.path)
	}
	return p.jr.close()
}

// Fresh reports whether the SQLite ledger of opts has nothing recorded:
// no database file, no journal, no spill file (so counters seeded from it
// would all start at zero). A PostgreSQL ledger is never known to be
// fresh.
func Fresh(opts Options) bool {
	if vocab.IsPostgresURL(opts.Path) || opts.Path == "" {
		return false
	}
	for _, p := range []string{opts.Path, opts.Path + ".ackjournal", opts.Path + ".spill"} {
		if _, err := os.Stat(p); !errors.Is(err, os.ErrNotExist) {
			return false
		}
	}
	s := spill{path: opts.Path + ".spill"}
	return len(s.pending()) == 0
}
