//go:build unix

package usage

import (
	"os"

	"golang.org/x/sys/unix"
)

// mapFile maps f's first n bytes shared and writable: stores reach the
// page cache, which outlives the process.
func mapFile(f *os.File, n int) ([]byte, error) {
	return unix.Mmap(int(f.Fd()), 0, n, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
}

func unmapFile(b []byte) error {
	if b == nil {
		return nil
	}
	return unix.Munmap(b)
}
