package usage

import (
	"context"
	"path/filepath"
	"testing"
)

// BenchmarkKeyLimitsAndEnqueue is the combined per-request work of a
// client key, its limits and the usage ledger (perrequest_test.go), with
// the ledger's writer running. The queue is drained (Sync) outside the
// timer every half queue, so no record overflows to the spill file: the
// figure is the request path's cost while the writer keeps up, as it does
// at the load the ledger sustains (BenchmarkLedgerThroughput).
func BenchmarkKeyLimitsAndEnqueue(b *testing.B) {
	l, err := Open(Options{Path: filepath.Join(b.TempDir(), "usage.db")})
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close(context.Background())
	p := newPerRequest(b, l)
	n := 0
	b.ReportAllocs()
	for b.Loop() {
		if !p.do() {
			b.Fatal("the key or a limit refused the request")
		}
		if n++; n%(DefaultQueueSize/2) == 0 {
			b.StopTimer()
			if err := l.Sync(context.Background()); err != nil {
				b.Fatal(err)
			}
			b.StartTimer()
		}
	}
	b.StopTimer()
	if err := l.Sync(context.Background()); err != nil {
		b.Fatal(err)
	}
	if st := l.Stats(); st.SpilledOverflow != 0 {
		b.Fatalf("%d records overflowed to the spill file", st.SpilledOverflow)
	}
}
