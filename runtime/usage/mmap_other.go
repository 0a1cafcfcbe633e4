//go:build !unix

package usage

import (
	"errors"
	"os"
)

func mapFile(f *os.File, n int) ([]byte, error) {
	return nil, errors.New("the usage journal needs a Unix system; set usage.journal_size to -1 to run without it")
}

func unmapFile(b []byte) error { return nil }

func lockFile(f *os.File) error { return nil }

func adviseRandom([]byte) {}
