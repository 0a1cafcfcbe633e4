//go:build unix

package snapshot

import (
	"github.com/edsrzf/mmap-go"
	"golang.org/x/sys/unix"
)

// protect makes a private copy read-only, so that a stray write faults
// instead of changing a validated snapshot.
func protect(b []byte) error { return unix.Mprotect(b, unix.PROT_READ) }

// allocPrivate returns n bytes of private anonymous memory, its pages
// populated at once where the system allows it (one system call instead of a
// page fault per 4 KiB while the file is copied in).
func allocPrivate(n int) (mmap.MMap, error) {
	b, err := unix.Mmap(-1, 0, n, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANON|mapPopulate)
	return mmap.MMap(b), err
}
