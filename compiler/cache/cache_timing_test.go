package cache

import (
	"bytes"
	"os"
	"path/filepath"
	"runtime"
	"testing"

	"smartrouter/compiler/diag"
)

// The fixtures are written by `go run ./fixtures/gen` from the module root.
const fixtureDir = "../../fixtures/generated"

func fixturePath(b testing.TB, name, rel string) string {
	b.Helper()
	p := filepath.Join(fixtureDir, name, rel)
	if _, err := os.Stat(p); err != nil {
		b.Skipf("%s missing: run `go run ./fixtures/gen` from the module root", p)
	}
	return p
}

// heapPeak samples the live heap; the benchmarks report its maximum above
// the heap in use before the loop (which holds in-memory inputs).
type heapPeak struct {
	ms   runtime.MemStats
	base uint64
	peak uint64
	n    int
}

func (h *heapPeak) start() {
	runtime.GC()
	runtime.ReadMemStats(&h.ms)
	h.base = h.ms.HeapAlloc
}

func (h *heapPeak) report(b *testing.B) {
	b.ReportMetric(float64(h.peak-min(h.peak, h.base))/(1<<20), "peak-heap-MiB")
}

func (h *heapPeak) sample() {
	h.n++
	if h.n%8 != 1 { // ReadMemStats stops the world; sample every 8th entry
		return
	}
	runtime.ReadMemStats(&h.ms)
	h.peak = max(h.peak, h.ms.HeapAlloc)
}

func benchDiscoveryFile(b *testing.B, name string) {
	p := fixturePath(b, name, "cache/"+DiscoveryFile)
	st, err := os.Stat(p)
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(st.Size())
	b.ReportAllocs()
	var h heapPeak
	h.start()
	for b.Loop() {
		_, err := ReadDiscovery(p, &diag.Warnings{}, func(string, *DiscoveryEntry) error {
			h.sample()
			return nil
		})
		if err != nil {
			b.Fatal(err)
		}
	}
	h.report(b)
}

// BenchmarkDiscoveryScale reads the ~50 MB discovery cache of the scale fixture.
func BenchmarkDiscoveryScale(b *testing.B) { benchDiscoveryFile(b, "scale") }

// BenchmarkDiscoveryGrowth reads the discovery cache of the growth fixture
// (about 100,000 pairs).
func BenchmarkDiscoveryGrowth(b *testing.B) { benchDiscoveryFile(b, "growth") }

// BenchmarkDiscoverySynthetic reads an in-memory cache of about 50 MB whose
// bulk is one response_data.
func BenchmarkDiscoverySynthetic(b *testing.B) {
	doc := bigResponseData(50 << 20)
	b.SetBytes(int64(len(doc)))
	b.ReportAllocs()
	var h heapPeak
	h.start()
	for b.Loop() {
		err := DecodeDiscovery(bytes.NewReader(doc), "synthetic", nil, func(string, *DiscoveryEntry) error {
			h.sample()
			return nil
		})
		if err != nil {
			b.Fatal(err)
		}
	}
	h.report(b)
}

// BenchmarkAllCachesScale reads every JSON input of the scale fixture, as a
// compile does: discovery, the four pricing files, the pricing cache and the
// key-validation cache.
func BenchmarkAllCachesScale(b *testing.B) {
	disc := fixturePath(b, "scale", "cache/"+DiscoveryFile)
	root := filepath.Join(fixtureDir, "scale")
	pf, err := FindPricing(filepath.Join(root, "config", "pricing"), filepath.Join(root, "cache"))
	if err != nil {
		b.Fatal(err)
	}
	kvPath, err := FindKeyValidation(filepath.Join(root, "cache"), nil)
	if err != nil || kvPath == "" {
		b.Fatalf("key validation: %q %v", kvPath, err)
	}
	var total int64
	for _, p := range append(append([]string{disc, pf.Base, kvPath}, pf.Caches...), providerPaths(pf)...) {
		st, err := os.Stat(p)
		if err != nil {
			b.Fatal(err)
		}
		total += st.Size()
	}
	b.SetBytes(total)
	b.ReportAllocs()
	for b.Loop() {
		w := &diag.Warnings{}
		if _, err := ReadDiscovery(disc, w, func(string, *DiscoveryEntry) error { return nil }); err != nil {
			b.Fatal(err)
		}
		for _, p := range append(providerPaths(pf), pf.Base) {
			if _, err := ReadUnifiedPricing(p, PricingOptions{}, w); err != nil {
				b.Fatal(err)
			}
		}
		for _, p := range pf.Caches {
			if _, err := ReadPricingCache(p, w); err != nil {
				b.Fatal(err)
			}
		}
		if _, err := ReadKeyValidation(kvPath, w); err != nil {
			b.Fatal(err)
		}
	}
}

func providerPaths(pf PricingFiles) []string {
	var out []string
	for _, p := range pf.Providers {
		out = append(out, p.Path)
	}
	return out
}

// BenchmarkSkipValue measures the raw skipping speed on the synthetic bulk.
func BenchmarkSkipValue(b *testing.B) {
	doc := bigResponseData(16 << 20)
	b.SetBytes(int64(len(doc)))
	b.ReportAllocs()
	for b.Loop() {
		if err := skipDoc(bytes.NewReader(doc)); err != nil {
			b.Fatal(err)
		}
	}
}
