package compiler

import (
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"strconv"
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
	// with Reproducible and when SourceDate is set.
	BuildTime time.Time
	// SourceDate, when not the zero time, follows the reproducible-builds
	// SOURCE_DATE_EPOCH convention: it is the build time recorded in the
	// header (also with Reproducible, which otherwise records 0), and every
	// recorded source modification time later than it is clamped to it
	// (with Reproducible source times stay 0). routerc sets it from the
	// SOURCE_DATE_EPOCH environment variable (ParseSourceDateEpoch).
	SourceDate time.Time
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
	// Phase, when set, is called as the build enters each of its phases:
	// PhaseConfig (the YAML files, pricing and capability files),
	// PhaseCaches (the discovery, pricing and key-validation caches),
	// PhaseBuild (joining them into the model) and PhaseEncode (encoding,
	// resolving the prewarm lists on the encoded bytes, final encoding).
	// routerd uses it to bound and time its JSON fallback build.
	Phase func(name string)
	// Workers bounds the goroutines that build the pairs (0: GOMAXPROCS).
	// routerd's in-process refresh uses 1, so that a build beside the
	// requests never takes more than one core from them.
	Workers int

	// shuffle, set by tests only, visits channels and their model lists in
	// a random order to prove that the output does not depend on it.
	shuffle *rand.Rand
}

// The phases reported to Options.Phase, in order.
const (
	PhaseConfig = "config"
	PhaseCaches = "caches"
	PhaseBuild  = "build"
	PhaseEncode = "encode"
)

// phase reports the start of a phase to opts.Phase, when set.
func (o *Options) phase(name string) {
	if o.Phase != nil {
		o.Phase(name)
	}
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

// MaxSourceDateEpoch is the largest SOURCE_DATE_EPOCH accepted: the last
// second whose nanoseconds fit the header's signed 64-bit build time
// (2262-04-11T23:47:16Z).
const MaxSourceDateEpoch = math.MaxInt64 / int64(time.Second)

// ParseSourceDateEpoch reads a SOURCE_DATE_EPOCH value as the
// reproducible-builds convention defines it: seconds since 1970-01-01 UTC
// written as ASCII decimal digits only, like `date +%s` prints (no sign, no
// space, no fraction), from 0 to MaxSourceDateEpoch. The error says what is
// wrong and how to fix it; it quotes at most the first 32 bytes of v.
func ParseSourceDateEpoch(v string) (time.Time, error) {
	shown := v
	if len(shown) > 32 {
		shown = shown[:32] + "..."
	}
	bad := func(why string) (time.Time, error) {
		return time.Time{}, fmt.Errorf("SOURCE_DATE_EPOCH=%q is not valid: %s; set it to whole seconds since 1970-01-01 UTC (e.g. `git log -1 --format=%%ct`) or unset it", shown, why)
	}
	if v == "" {
		return bad("it is empty")
	}
	for i := 0; i < len(v); i++ {
		if v[i] < '0' || v[i] > '9' {
			return bad("only the digits 0-9 are allowed")
		}
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n > MaxSourceDateEpoch {
		return bad(fmt.Sprintf("it is later than %d (2262-04-11)", MaxSourceDateEpoch))
	}
	return time.Unix(n, 0).UTC(), nil
}
