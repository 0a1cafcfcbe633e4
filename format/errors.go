package format

import (
	"errors"
	"strconv"
)

// Error classes. Every error returned by Open and OpenHeader is a
// *FormatError whose Err is one of these, so errors.Is works on the result.
var (
	ErrBadMagic       = errors.New("not a snapshot file (bad magic)")
	ErrVersionTooNew  = errors.New("snapshot format version too new")
	ErrVersionTooOld  = errors.New("snapshot format version too old")
	ErrChecksum       = errors.New("checksum mismatch")
	ErrTruncated      = errors.New("file truncated")
	ErrOutOfBounds    = errors.New("reference out of bounds")
	ErrOverlap        = errors.New("sections overlap")
	ErrUnknownSection = errors.New("unknown required section")
	ErrCorrupt        = errors.New("corrupt snapshot")
)

// FormatError reports a problem in a snapshot file: which section, at which
// byte offset from the start of the file, and what kind (Err).
type FormatError struct {
	Section string // "header", "table", "footer", a section name or "file"
	Off     int64  // byte offset from the start of the file
	Err     error  // one of the Err* values above
	Msg     string // detail
}

func (e *FormatError) Error() string {
	s := "snapshot: " + e.Section + " at byte " + strconv.FormatInt(e.Off, 10) + ": " + e.Err.Error()
	if e.Msg != "" {
		s += ": " + e.Msg
	}
	return s + " (" + hint(e.Err) + ")"
}

// Unwrap returns the error class, for errors.Is.
func (e *FormatError) Unwrap() error { return e.Err }

func hint(err error) string {
	switch err {
	case ErrVersionTooNew:
		return "upgrade routerd, or rebuild the snapshot with the routerc that matches it"
	case ErrUnknownSection:
		return "the file needs a newer routerd; upgrade it, or rebuild the snapshot with the routerc that matches this routerd"
	case ErrVersionTooOld:
		return "rebuild the snapshot with the current routerc"
	case ErrBadMagic:
		return "check the path: this is not a routerc snapshot"
	default:
		return "the file is damaged or incomplete; rebuild it with routerc"
	}
}

func ferr(section string, off int64, err error, msg string) *FormatError {
	return &FormatError{Section: section, Off: off, Err: err, Msg: msg}
}
