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

// lockFile takes an exclusive lock on f without waiting: one process at a
// time writes a journal.
func lockFile(f *os.File) error {
	return unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB)
}

func unmapFile(b []byte) error {
	if b == nil {
		return nil
	}
	return unix.Munmap(b)
}

// adviseRandom turns the kernel's read-ahead off for b: the first fault on
// a new sparse file then maps one page instead of zero-filling megabytes
// around it (about 3 ms for 16 MiB, paid by the first record otherwise).
func adviseRandom(b []byte) { _ = unix.Madvise(b, unix.MADV_RANDOM) }
