// Package usage keeps one record per request of every API surface: an
// in-memory ring of the latest ones (Recorder), and the ledger (Ledger) in
// SQLite or, for several replicas, PostgreSQL (pg.go: a postgres:// path),
// fed through a bounded queue off the request path, with its journal,
// spill file and retention; and the queries behind GET /v1/admin/usage and
// GET /v1/admin/requests (ParseQuery, Result), the same statements on both
// backends.
//
// A server may answer before its ledger is open: an Early (early.go),
// opened before the server listens, holds and journals the records until
// Recorder.Attach hands them to the ledger (docs/operations.md "Start-up:
// listening before the ledger is open").
//
// On the request path a surface fills an Entry, a fixed-size value whose
// strings are copied into its own array, and hands it to Recorder.Add: no
// allocation, whatever memory the strings came from. The ledger's writer
// commits the queue in batched transactions, waiting up to
// Options.FlushDelay for a batch to fill. BenchmarkKeyLimitsAndEnqueue
// times the whole per-request work of a client key and the ledger (key
// check, limits, record), which TestKeyLimitsAndEnqueueDoesNotAllocate
// keeps at 0 allocations.
package usage
