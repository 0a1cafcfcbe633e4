//go:build !unix

package snapshot

import "github.com/edsrzf/mmap-go"

// protect is a no-op where mprotect is not available.
func protect([]byte) error { return nil }

// allocPrivate returns n bytes of private anonymous memory.
func allocPrivate(n int) (mmap.MMap, error) { return mmap.MapRegion(nil, n, mmap.RDWR, mmap.ANON, 0) }
