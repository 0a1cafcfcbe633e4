package compiler

import (
	"os"
	"path/filepath"
	"runtime"
	"runtime/metrics"
	"sync"
	"testing"
	"time"
)

// peakHeap samples the live heap every millisecond until stop is called and
// returns the highest value seen, in bytes. runtime/metrics reads do not stop
// the world, so the sampling barely disturbs the measurement.
func peakHeap() (stop func() uint64) {
	s := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	var peak uint64
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := time.NewTicker(time.Millisecond)
		defer t.Stop()
		for {
			metrics.Read(s)
			if v := s[0].Value.Uint64(); v > peak {
				peak = v
			}
			select {
			case <-done:
				return
			case <-t.C:
			}
		}
	}()
	return func() uint64 {
		close(done)
		wg.Wait()
		return peak
	}
}

func inputBytes(b *testing.B, dir string) int64 {
	var n int64
	_ = filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			if fi, err := d.Info(); err == nil {
				n += fi.Size()
			}
		}
		return nil
	})
	return n
}

func benchCompile(b *testing.B, dir string) {
	if _, err := os.Stat(filepath.Join(dir, "config", "router_config.yaml")); err != nil {
		b.Skipf("%s is missing; generate it with: go run ./fixtures/gen", dir)
	}
	out := filepath.Join(b.TempDir(), "router.snap")
	b.SetBytes(inputBytes(b, dir))
	b.ReportAllocs()
	runtime.GC()
	stop := peakHeap()
	var sum Summary
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		var err error
		sum, err = Compile(filepath.Join(dir, "config"), filepath.Join(dir, "cache"), out, Options{}, nil)
		if err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(stop())/(1<<20), "peak-heap-MiB")
	b.ReportMetric(float64(sum.Pairs), "pairs")
}

// BenchmarkCompileScale compiles the scale fixture (38 channels, about 4,500
// pairs, a 50 MB discovery cache) to a file: the target is 1.5 s.
func BenchmarkCompileScale(b *testing.B) { benchCompile(b, scaleDir) }

// BenchmarkCompileGrowth compiles the growth fixture (about 100,000 pairs).
func BenchmarkCompileGrowth(b *testing.B) { benchCompile(b, growthDir) }

// BenchmarkCompileSmall compiles the hand-written small fixture.
func BenchmarkCompileSmall(b *testing.B) { benchCompile(b, smallDir) }
