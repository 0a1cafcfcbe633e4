package usage

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"
)

// dayRecord is record i of a day of dayN records: 50 keys, 10 channels,
// 20 models, one request id each, spread evenly over the day after t0.
func dayRecord(i, dayN int) Record {
	return Record{
		Time:           t0.Add(time.Duration(i) * (24 * time.Hour / time.Duration(dayN))),
		RequestID:      fmt.Sprintf("req-%08x-%d", i*2654435761, i),
		Key:            fmt.Sprintf("team-%02d", i*7%50),
		Surface:        []string{"chat", "messages", "gemini"}[i%3],
		ModelRequested: fmt.Sprintf("model-%02d", i*3%20),
		Channel:        fmt.Sprintf("channel-%d", i*11%10),
		ModelUsed:      fmt.Sprintf("model-%02d", i*3%20),
		Attempts:       1 + i%2,
		Status:         []int{200, 200, 200, 200, 200, 200, 429}[i%7],
		InputTokens:    int64(100 + i%900),
		OutputTokens:   int64(20 + i%300),
		CostUSD:        float64(i%1000) * 1e-6,
		UpstreamMs:     float64(200 + i%800),
		OverheadMs:     0.2,
	}
}

// dayLedger opens a ledger holding a day of dayN varied records, inserted
// in batches outside any timing.
func dayLedger(b *testing.B, dayN int) *Ledger {
	l, err := Open(Options{Path: filepath.Join(b.TempDir(), "usage.db")})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = l.Close(context.Background()) })
	batch := make([]Entry, 0, batchMax)
	for i := range dayN {
		r := dayRecord(i, dayN)
		var e Entry
		e.FromRecord(&r)
		e.uid = int64(i + 1)
		if batch = append(batch, e); len(batch) == batchMax || i == dayN-1 {
			if _, err := l.insert(batch, 0); err != nil {
				b.Fatal(err)
			}
			batch = batch[:0]
		}
	}
	return l
}

const benchDay = 200_000

// BenchmarkLedgerThroughputDay is BenchmarkLedgerThroughput with varied
// records (keys, channels, models, request ids) written after a day of
// them, so that every b-tree is as deep as in production.
func BenchmarkLedgerThroughputDay(b *testing.B) {
	l := dayLedger(b, benchDay)
	es := make([]Entry, 4096)
	for i := range es {
		r := dayRecord(benchDay+i, benchDay)
		es[i].FromRecord(&r)
	}
	start, cpu0 := time.Now(), cpuTime()
	n := 0
	for b.Loop() {
		l.Enqueue(&es[n%len(es)])
		if n++; n%(DefaultQueueSize/2) == 0 {
			if err := l.Sync(context.Background()); err != nil {
				b.Fatal(err)
			}
		}
	}
	if err := l.Sync(context.Background()); err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(n)/time.Since(start).Seconds(), "records/s")
	b.ReportMetric(float64(cpuTime()-cpu0)/float64(n)/1e3, "cpu-µs/record")
}

// BenchmarkLedgerQueryDay times each query of the usage API over a day of
// records.
func BenchmarkLedgerQueryDay(b *testing.B) {
	l := dayLedger(b, benchDay)
	from, to := t0.Format(time.RFC3339), t0.Add(24*time.Hour).Format(time.RFC3339)
	for _, gb := range []string{"key", "channel", "model", "day", "hour", "hour,channel", "key,model"} {
		q, err := ParseQuery(from, to, gb, "", t0)
		if err != nil {
			b.Fatal(err)
		}
		b.Run("usage-"+gb, func(b *testing.B) {
			for b.Loop() {
				res, err := l.Usage(q)
				if err != nil {
					b.Fatal(err)
				}
				if res.Totals.Requests != benchDay {
					b.Fatalf("%d requests, want %d", res.Totals.Requests, benchDay)
				}
			}
		})
	}
	b.Run("requests-100", func(b *testing.B) {
		for b.Loop() {
			if recs, err := l.Recent(100); err != nil || len(recs) != 100 {
				b.Fatal(len(recs), err)
			}
		}
	})
	b.Run("spend-by-key", func(b *testing.B) {
		for b.Loop() {
			if m, err := l.SpendByKey(t0); err != nil || len(m) != 50 {
				b.Fatal(len(m), err)
			}
		}
	})
	b.Run("requests-by-channel", func(b *testing.B) {
		for b.Loop() {
			if m, err := l.RequestsByChannel(t0); err != nil || len(m) != 10 {
				b.Fatal(len(m), err)
			}
		}
	})
}
