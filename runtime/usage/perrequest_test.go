package usage

import (
	"context"
	"crypto/sha256"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"smartrouter/format"
	"smartrouter/runtime/tenant"
)

// The per-request work a client key and the ledger add to a proxied
// request, as runtime/server does it: the key check (SHA-256 of the
// presented token, lookup, expiry, model allowance), the limit check
// (admit against every limit, charge the real usage, release the in-flight
// slot) and the usage record (fill an Entry, Recorder.Add, which copies it
// into the in-memory ring and enqueues it for the SQLite ledger, journal
// included). BenchmarkKeyLimitsAndEnqueue times it (target ≤ 2 µs);
// TestKeyLimitsAndEnqueueDoesNotAllocate guards its 0 allocations.

// perRequest is one request's worth of that work, ready to run.
type perRequest struct {
	keys *tenant.Keys
	cnt  *tenant.Local
	rec  *Recorder
	tok  []byte
	rid  []byte
	lim  *tenant.Limits
	now  time.Time
}

// newPerRequest builds a key with every limit set high (none is reached),
// counters, and a recorder attached to l.
func newPerRequest(tb testing.TB, l *Ledger) *perRequest {
	tb.Helper()
	tok := []byte("bench-client-key-0123456789abcdef")
	ks := tenant.NewKeys([]format.ClientKey{{
		Name: "team-bench", KeyHash: sha256.Sum256(tok), Models: []string{"gpt-4o-mini", "tag:free"},
		RPM: 1 << 30, TPM: 1 << 60, Concurrent: 1 << 20, DailyUSD: 1e12, MonthlyUSD: 1e12,
	}}, func(string) (string, bool) { return "", false }, slog.New(slog.DiscardHandler))
	k := ks.Lookup(func() *[32]byte { h := sha256.Sum256(tok); return &h }())
	if k == nil {
		tb.Fatal("the benchmark's client key was not loaded")
	}
	r := NewRecorder()
	r.Attach(l)
	return &perRequest{keys: ks, cnt: tenant.NewLocal(), rec: r, tok: tok,
		rid: []byte("req-0123456789abcdef"), lim: &k.Limits, now: time.Date(2026, 12, 3, 10, 0, 0, 0, time.UTC)}
}

// do runs the work of one request; it reports false when a check refused
// it (which the benchmark's generous key never should).
func (p *perRequest) do() bool {
	sum := sha256.Sum256(p.tok)
	k := p.keys.Lookup(&sum)
	if k == nil || k.Expired(p.now) || !k.Allows("gpt-4o-mini") {
		return false
	}
	if v := p.cnt.Admit(k.Name, &k.Limits, p.now, 120); v.Denial != tenant.Admitted {
		return false
	}
	p.cnt.Charge(k.Name, &k.Limits, p.now, 120, 150, 0.00002)
	p.cnt.Release(k.Name)
	var e Entry
	e.Time = p.now.UnixNano()
	e.SetBytes(FieldRequestID, p.rid)
	e.Set(FieldKey, k.Name)
	e.Set(FieldSurface, "chat")
	e.Set(FieldModelRequested, "gpt-4o-mini")
	e.Set(FieldChannel, "openrouter_main")
	e.Set(FieldModelUsed, "openai/gpt-4o-mini")
	e.Attempts, e.Status = 1, 200
	e.InputTokens, e.OutputTokens, e.CostUSD = 120, 30, 0.00002
	e.UpstreamMs, e.OverheadMs = 180, 0.12
	p.rec.Add(&e)
	return true
}

// TestKeyLimitsAndEnqueueDoesNotAllocate guards the combined per-request
// work: 0 allocations. The ledger's writer is held (AllocsPerRun counts
// every goroutine's allocations, and the writer's are off the request
// path); the queue is large enough for every run.
func TestKeyLimitsAndEnqueueDoesNotAllocate(t *testing.T) {
	hold := make(chan struct{})
	l, err := open(Options{Path: filepath.Join(t.TempDir(), "usage.db"), QueueSize: 1 << 14}, hold)
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		close(hold)
		if err := l.Close(context.Background()); err != nil {
			t.Error(err)
		}
	}()
	p := newPerRequest(t, l)
	if !p.do() {
		t.Fatal("the key or a limit refused the request")
	}
	if n := testing.AllocsPerRun(1000, func() {
		if !p.do() {
			t.Fatal("the key or a limit refused the request")
		}
	}); n != 0 {
		t.Errorf("key check + limit check + ledger enqueue: %v allocations per request; want 0", n)
	}
	if st := l.Stats(); st.SpilledOverflow != 0 || st.Queued != 1002 {
		t.Errorf("ledger stats %+v; want the 1,002 records queued and none spilled", st)
	}
}
