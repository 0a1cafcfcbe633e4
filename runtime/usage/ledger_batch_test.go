package usage

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
)

// BenchmarkLedgerBatchSize is the writer's CPU time per record when the
// queue holds bs records at each wake-up: routerd at 1,000 req/s with the
// default FlushDelay of 100 ms commits batches of about 100.
func BenchmarkLedgerBatchSize(b *testing.B) {
	for _, bs := range []int{10, 100, 500} {
		b.Run(fmt.Sprint(bs), func(b *testing.B) {
			l, e := benchLedger(b, Options{Path: filepath.Join(b.TempDir(), "usage.db"), FlushDelay: -1})
			cpu0 := cpuTime()
			n := 0
			for b.Loop() {
				for range bs {
					l.Enqueue(&e)
				}
				n += bs
				if err := l.Sync(context.Background()); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(cpuTime()-cpu0)/float64(n)/1e3, "cpu-µs/record")
		})
	}
}
