package compiler

import (
	"io"
	"math/rand/v2"
	"time"
)

// Options tune a compile. The zero value is ready to use.
type Options struct {
	// ForbidLiteralSecrets turns every literal (non-${ENV}) secret of the
	// config into an error instead of a warning.
	ForbidLiteralSecrets bool
	// Reproducible makes the output depend on the input contents only: build
	// time 0, source modification times 0 and generation 1. Used for the
	// committed demo snapshot and the determinism tests.
	Reproducible bool
	// BuildTime is recorded in the header (zero: the current time). Ignored
	// with Reproducible.
	BuildTime time.Time
	// Generation is recorded in the header (0: automatic, which is 1 for
	// Build and BuildBytes and the previous output's generation + 1 for
	// Compile). Ignored with Reproducible.
	Generation uint64
	// CNYToUSD converts pricing files whose currency is CNY (0: the cache
	// package's default, 0.14).
	CNYToUSD float64
	// Progress, when set, receives one line per long input (the discovery
	// cache of real installations reaches 50 MB) and one when the build is
	// done.
	Progress io.Writer

	// shuffle, set by tests only, visits channels and their model lists in
	// a random order to prove that the output does not depend on it.
	shuffle *rand.Rand
}

// Summary describes a finished compile.
type Summary struct {
	Path        string // the output file (Compile only)
	Providers   int
	Channels    int
	Models      int
	Pairs       int
	Tags        int
	Prewarm     int
	KeyStates   int
	Sources     int
	Bytes       int
	Generation  uint64
	Fingerprint uint64
	Warnings    int
	Elapsed     time.Duration
}
