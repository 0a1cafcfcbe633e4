package snapshot

import (
	"errors"

	"smartrouter/format"
)

// Reason classifies why a load or reload failed, or why the fallback build is
// being served. Its values are short, stable and usable as a metrics label.
type Reason string

// The reasons. Every error returned by Load and Reload is an *Error carrying
// one of them.
const (
	ReasonNotFound       Reason = "not_found"       // the snapshot file does not exist
	ReasonIO             Reason = "io"              // the file exists but cannot be read or mapped
	ReasonCorrupt        Reason = "corrupt"         // the file fails validation (magic, checksum, truncation, references)
	ReasonVersion        Reason = "version"         // the file's format version is not readable by this build
	ReasonStale          Reason = "stale"           // a source changed since the compile and no fallback is configured
	ReasonFallbackFailed Reason = "fallback_failed" // the in-memory build failed or returned an invalid snapshot
	ReasonPublish        Reason = "publish_failed"  // Options.OnPublish refused the snapshot
	ReasonUnconfigured   Reason = "unconfigured"    // no path, no embedded snapshot and no fallback
	ReasonClosed         Reason = "closed"          // the Manager was closed
)

// Reasons lists every Reason, for example to pre-register metric label values.
func Reasons() []Reason {
	return []Reason{ReasonNotFound, ReasonIO, ReasonCorrupt, ReasonVersion, ReasonStale,
		ReasonFallbackFailed, ReasonPublish, ReasonUnconfigured, ReasonClosed}
}

// Error is the error type of Load and Reload.
type Error struct {
	Reason Reason
	Path   string // the snapshot file, empty when none was involved
	Err    error  // the cause, with advice for the operator
}

func (e *Error) Error() string {
	s := "snapshot"
	if e.Path != "" {
		s += " " + e.Path
	}
	return s + ": " + string(e.Reason) + ": " + e.Err.Error()
}

// Unwrap returns the cause, so errors.Is(err, format.ErrChecksum) and
// errors.Is(err, fs.ErrNotExist) work on the result.
func (e *Error) Unwrap() error { return e.Err }

// ReasonOf returns the Reason of err: "" for nil, the Reason of the first
// *Error in its chain, or ReasonIO for any other error.
func ReasonOf(err error) Reason {
	if err == nil {
		return ""
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Reason
	}
	return ReasonIO
}

// formatReason maps an error of format.Open to a Reason.
func formatReason(err error) Reason {
	switch {
	case errors.Is(err, format.ErrVersionTooNew), errors.Is(err, format.ErrVersionTooOld),
		errors.Is(err, format.ErrUnknownSection):
		return ReasonVersion
	default:
		return ReasonCorrupt
	}
}
