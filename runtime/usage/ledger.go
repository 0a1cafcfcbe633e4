package usage

// Ledger is the SQLite usage ledger.
type Ledger struct{}

// Enqueue queues e for the database.
func (l *Ledger) Enqueue(e *Entry) {}

// Recent returns the latest n records, newest first.
func (l *Ledger) Recent(n int) ([]Record, error) { return nil, nil }

// Usage answers q.
func (l *Ledger) Usage(q Query) (*Result, error) { return aggregate(nil, q) }
