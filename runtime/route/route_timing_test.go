package route

import (
	"slices"
	"sync"
	"testing"
	"time"
)

// The growth snapshot (100,000 pairs) is built once per test binary.
var (
	growthMu   sync.Mutex
	growth100k *growth
)

func growthSnapshot(b *testing.B) *growth {
	growthMu.Lock()
	defer growthMu.Unlock()
	if growth100k == nil {
		growth100k = buildGrowth(b, 100_000)
	}
	return growth100k
}

// benchRoute measures one kind of decision: ns/op and allocs over b.N calls,
// then p50/p99 of individually timed calls.
func benchRoute(b *testing.B, opts Options, req Request) {
	g := growthSnapshot(b)
	opts.Logger = quiet
	r := New(g.snap, NewLive(nil), opts)
	var d Decision
	if err := r.Route(req, &d); err != nil {
		b.Fatalf("%q: %v", req.Model, err)
	}
	matched, routed := d.Matched, len(d.Pairs)
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if err := r.Route(req, &d); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	samples := 2000
	if per := b.Elapsed() / time.Duration(max(b.N, 1)); per > 100*time.Microsecond {
		samples = 200 // slow decisions: keep the sampling pass short
	}
	lat := make([]time.Duration, samples)
	for i := range lat {
		t0 := time.Now()
		_ = r.Route(req, &d)
		lat[i] = time.Since(t0)
	}
	slices.Sort(lat)
	b.ReportMetric(float64(lat[samples/2].Nanoseconds()), "p50-ns")
	b.ReportMetric(float64(lat[samples*99/100].Nanoseconds()), "p99-ns")
	b.ReportMetric(float64(matched), "matched")
	b.ReportMetric(float64(routed), "routed")
}

func BenchmarkRoute(b *testing.B) {
	uncached := Options{CacheEntries: -1}
	cases := []struct {
		name string
		opts Options
		req  Request
	}{
		{"tags3", Options{}, Request{Model: "tag:qwen3,8b,instruct", InputTokens: 500, MaxTokens: 256}},
		{"physical", Options{}, Request{Model: "qwen3-8b-instruct", InputTokens: 500, MaxTokens: 256}},
		{"negatives-only", Options{}, Request{Model: "tag:!free", InputTokens: 500}},
		{"negatives-only-limit3", Options{}, Request{Model: "tag:!free", InputTokens: 500, Limit: 3}},
		{"tags3-uncached", uncached, Request{Model: "tag:qwen3,8b,instruct", InputTokens: 500, MaxTokens: 256}},
		{"physical-uncached", uncached, Request{Model: "qwen3-8b-instruct", InputTokens: 500, MaxTokens: 256}},
		{"explain-tags3", Options{}, Request{Model: "tag:qwen3,8b,instruct", InputTokens: 500, Explain: true}},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) { benchRoute(b, c.opts, c.req) })
	}
}
