package snapshot

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

// benchFile writes a snapshot of about n pairs and returns its path.
func benchFile(b *testing.B, n int) string {
	path := filepath.Join(b.TempDir(), "snap.snap")
	writeSnap(b, path, encode(b, bigModel(1, n)))
	return path
}

// BenchmarkLoad measures Load (open, mmap, full validation, publish) and
// Close of a snapshot file in the page cache.
func BenchmarkLoad(b *testing.B) {
	for _, n := range []int{4500, 100000} {
		b.Run(fmt.Sprintf("pairs=%d", n), func(b *testing.B) {
			path := benchFile(b, n)
			fi, err := os.Stat(path)
			if err != nil {
				b.Fatal(err)
			}
			b.SetBytes(fi.Size())
			b.ReportMetric(float64(fi.Size()), "file-bytes")
			o := Options{Path: path, Logger: quietLogger()}
			b.ReportAllocs()
			for b.Loop() {
				m, err := Load(context.Background(), o)
				if err != nil {
					b.Fatal(err)
				}
				_ = m.Close()
			}
		})
	}
}

func BenchmarkAcquireRelease(b *testing.B) {
	m, err := Load(context.Background(), Options{Embedded: encode(b, testModel(1, nil)), Logger: quietLogger()})
	if err != nil {
		b.Fatal(err)
	}
	defer m.Close()
	b.Run("serial", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			m.Acquire().Release()
		}
	})
	b.Run("parallel", func(b *testing.B) {
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				m.Acquire().Release()
			}
		})
	})
}

// BenchmarkReload measures a full reload of the scale-sized file: map,
// validate, staleness check (no sources), publish and retire the old one.
func BenchmarkReload(b *testing.B) {
	path := benchFile(b, 4500)
	m, err := Load(context.Background(), Options{Path: path, Logger: quietLogger()})
	if err != nil {
		b.Fatal(err)
	}
	defer m.Close()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := m.Reload(context.Background()); err != nil {
			b.Fatal(err)
		}
	}
}
