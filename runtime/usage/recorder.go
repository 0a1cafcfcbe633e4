package usage

import (
	"sync"
	"sync/atomic"
)

// RingSize is how many recent records a Recorder keeps in memory: the most
// GET /v1/admin/requests returns.
const RingSize = 1000

// Recorder receives one Entry per request: it keeps the last RingSize of
// them in memory (the recent requests, and the usage answers when no ledger
// is attached) and hands each to the attached Ledger's queue. Add
// allocates nothing and is safe for concurrent use.
type Recorder struct {
	mu   sync.Mutex
	ring []Entry
	next int // where the next entry goes
	n    int // entries held

	led   atomic.Pointer[Ledger]
	early atomic.Pointer[Early] // holds entries until a ledger is attached
}

// NewRecorder returns a Recorder with an empty ring and no ledger.
func NewRecorder() *Recorder {
	return &Recorder{ring: make([]Entry, RingSize)}
}

// Attach makes l receive every entry added from now on (nil detaches the
// ledger and any Early).
// With an Early held (Hold), l first receives every entry the Early
// holds; the Early forwards to l from then on.
func (r *Recorder) Attach(l *Ledger) {
	if l == nil {
		r.led.Store(nil)
		r.early.Store(nil)
		return
	}
	// The Early first: once it forwards to l, every uid l gives is above
	// the ones it gave, whatever the wall clock does.
	if p := r.early.Load(); p != nil {
		p.handOver(l)
	}
	r.led.Store(l)
}

// Hold makes p keep every entry added until a ledger is attached: the
// server answers while its ledger is being opened (see Early).
func (r *Recorder) Hold(p *Early) { r.early.Store(p) }

// Ledger returns the attached ledger, or nil.
func (r *Recorder) Ledger() *Ledger { return r.led.Load() }

// Add records e (copied; e may be reused at once).
func (r *Recorder) Add(e *Entry) {
	r.mu.Lock()
	r.ring[r.next] = *e
	r.next++
	if r.next == len(r.ring) {
		r.next = 0
	}
	if r.n < len(r.ring) {
		r.n++
	}
	r.mu.Unlock()
	if l := r.led.Load(); l != nil {
		l.Enqueue(e)
	} else if p := r.early.Load(); p != nil {
		p.add(e) // forwards to the ledger when Attach ran meanwhile
	}
}

// recent returns up to n records of the ring, newest first.
func (r *Recorder) recent(n int) []Record {
	r.mu.Lock()
	defer r.mu.Unlock()
	n = min(n, r.n)
	out := make([]Record, 0, n)
	at := r.next
	for range n {
		at--
		if at < 0 {
			at = len(r.ring) - 1
		}
		out = append(out, r.ring[at].Record())
	}
	return out
}

// ledger returns the attached ledger for an answer of the usage API: while
// an Early holds the records (the ledger is being opened) it waits, at most
// syncWait, for the ledger, whose answers include what the Early held.
func (r *Recorder) ledger() *Ledger {
	if p := r.early.Load(); p != nil {
		p.wait(syncWait)
		if l := p.attached(); l != nil {
			return l
		}
	}
	return r.led.Load()
}

// Recent returns up to n of the latest records, newest first: from the
// ledger when one is attached (after writing what is queued), else from
// the in-memory ring (while a held Early waits for its ledger, after at
// most syncWait).
func (r *Recorder) Recent(n int) ([]Record, error) {
	if l := r.ledger(); l != nil {
		return l.Recent(n)
	}
	return r.recent(n), nil
}

// Usage answers q: from the ledger when one is attached (after writing
// what is queued), else from the records of the in-memory ring.
func (r *Recorder) Usage(q Query) (*Result, error) {
	if l := r.ledger(); l != nil {
		return l.Usage(q)
	}
	recs := r.recent(RingSize)
	return aggregate(recs, q)
}
