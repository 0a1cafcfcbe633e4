// Package bundle is the layout of a routerd binary carrying a snapshot
// ("routerc bundle"): the executable, zero padding up to a page boundary, the
// snapshot bytes, and a fixed trailer at the very end of the file.
//
//	┌──────────────────────────┬─────────┬──────────────┬─────────────┐
//	│ routerd executable       │ zeroes  │ snapshot     │ trailer 64b │
//	│ (ExeSize bytes)          │ to 4096 │ (Length)     │             │
//	└──────────────────────────┴─────────┴──────────────┴─────────────┘
//	                                     ^ Offset, a multiple of Align
//
// Trailer (little-endian, 64 bytes):
//
//	@0  offset    u64  start of the snapshot, a multiple of Align
//	@8  length    u64  snapshot bytes
//	@16 exe size  u64  bytes of the executable before the padding
//	@24 crc       u32  CRC32C (Castagnoli) of the snapshot bytes
//	@28 version   u16  1
//	@30 flags     u16  0
//	@32 reserved  20 bytes, zero
//	@52 trailer crc u32  CRC32C of bytes [0,52) of the trailer
//	@56 magic     "SRBUNDLE"
//
// The executable loader ignores bytes after the program, so the bundled file
// runs like the original routerd. The trailer's magic is checked first: a
// file without it is not bundled (ErrNotBundled). A file with it must pass
// every other check, or it is refused with an error naming the damage; the
// snapshot bytes themselves are then validated by format.Open as usual.
// The package imports only the standard library.
package bundle

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
)

// Layout constants.
const (
	TrailerSize = 64
	Align       = 4096
	Magic       = "SRBUNDLE"
	Version     = 1

	offMagic      = 56
	offTrailerCRC = 52
)

var (
	le     = binary.LittleEndian
	crcTab = crc32.MakeTable(crc32.Castagnoli)
)

// ErrNotBundled says the file has no bundle trailer: it is a plain binary.
var ErrNotBundled = errors.New("bundle: no snapshot is bundled in this file")

// ErrCorrupt classifies every damaged-trailer and wrong-checksum error.
var ErrCorrupt = errors.New("bundle: corrupt")

// Trailer locates the bundled snapshot.
type Trailer struct {
	Offset  uint64 // start of the snapshot in the file
	Length  uint64 // snapshot bytes
	ExeSize uint64 // executable bytes before the padding
	CRC     uint32 // CRC32C of the snapshot bytes
}

func corrupt(format string, args ...any) error {
	return fmt.Errorf("%w: %s; the bundled binary is damaged: rebuild it with routerc bundle", ErrCorrupt, fmt.Sprintf(format, args...))
}

// ParseTrailer checks the last TrailerSize bytes of a file of fileSize bytes.
// It returns ErrNotBundled when the magic is absent, and an ErrCorrupt error
// when anything else is wrong. It never panics on any input.
func ParseTrailer(b []byte, fileSize int64) (Trailer, error) {
	if len(b) != TrailerSize || fileSize < TrailerSize || string(b[offMagic:]) != Magic {
		return Trailer{}, ErrNotBundled
	}
	if got, want := crc32.Checksum(b[:offTrailerCRC], crcTab), le.Uint32(b[offTrailerCRC:]); got != want {
		return Trailer{}, corrupt("trailer checksum %08x, expected %08x", got, want)
	}
	if v := le.Uint16(b[28:]); v != Version {
		return Trailer{}, corrupt("trailer version %d, this routerd reads version %d", v, Version)
	}
	if le.Uint16(b[30:]) != 0 {
		return Trailer{}, corrupt("unknown trailer flags %#x", le.Uint16(b[30:]))
	}
	for _, c := range b[32:offTrailerCRC] {
		if c != 0 {
			return Trailer{}, corrupt("reserved trailer bytes are not zero")
		}
	}
	t := Trailer{Offset: le.Uint64(b[0:]), Length: le.Uint64(b[8:]), ExeSize: le.Uint64(b[16:]), CRC: le.Uint32(b[24:])}
	body := uint64(fileSize) - TrailerSize
	switch {
	case t.Offset%Align != 0:
		return Trailer{}, corrupt("snapshot offset %d is not a multiple of %d", t.Offset, Align)
	case t.Length == 0:
		return Trailer{}, corrupt("the bundled snapshot is empty")
	case t.ExeSize == 0 || t.ExeSize > t.Offset || t.Offset-t.ExeSize >= Align:
		return Trailer{}, corrupt("executable size %d does not fit before the snapshot at %d", t.ExeSize, t.Offset)
	case t.Offset > body || t.Length != body-t.Offset:
		return Trailer{}, corrupt("snapshot at %d of %d bytes does not end at the trailer (file of %d bytes)", t.Offset, t.Length, fileSize)
	}
	return t, nil
}

// Locate reads the trailer of the file r of size bytes.
func Locate(r io.ReaderAt, size int64) (Trailer, error) {
	if size < TrailerSize {
		return Trailer{}, ErrNotBundled
	}
	var b [TrailerSize]byte
	if _, err := r.ReadAt(b[:], size-TrailerSize); err != nil {
		return Trailer{}, fmt.Errorf("bundle: reading the trailer: %w", err)
	}
	return ParseTrailer(b[:], size)
}

// Check verifies the snapshot bytes against the trailer's length and CRC.
func (t Trailer) Check(snap []byte) error {
	if uint64(len(snap)) != t.Length {
		return corrupt("snapshot of %d bytes, the trailer says %d", len(snap), t.Length)
	}
	if got := crc32.Checksum(snap, crcTab); got != t.CRC {
		return corrupt("snapshot checksum %08x, the trailer says %08x", got, t.CRC)
	}
	return nil
}

// Write writes exe (exeSize bytes read from exe), the padding, snap and the
// trailer to w. When exe is itself a bundle, pass its Trailer.ExeSize as
// exeSize so that only the executable is copied.
func Write(w io.Writer, exe io.Reader, exeSize int64, snap []byte) error {
	if exeSize <= 0 {
		return errors.New("bundle: the routerd executable is empty")
	}
	if len(snap) == 0 {
		return errors.New("bundle: the snapshot is empty")
	}
	n, err := io.CopyN(w, exe, exeSize)
	if err != nil {
		return fmt.Errorf("bundle: copying the executable (%d of %d bytes): %w", n, exeSize, err)
	}
	off := (uint64(exeSize) + Align - 1) / Align * Align
	if _, err := w.Write(make([]byte, off-uint64(exeSize))); err != nil {
		return fmt.Errorf("bundle: writing the padding: %w", err)
	}
	if _, err := w.Write(snap); err != nil {
		return fmt.Errorf("bundle: writing the snapshot: %w", err)
	}
	t := Trailer{Offset: off, Length: uint64(len(snap)), ExeSize: uint64(exeSize), CRC: crc32.Checksum(snap, crcTab)}
	if _, err := w.Write(t.Encode()); err != nil {
		return fmt.Errorf("bundle: writing the trailer: %w", err)
	}
	return nil
}

// Encode returns the trailer bytes.
func (t Trailer) Encode() []byte {
	b := make([]byte, TrailerSize)
	le.PutUint64(b[0:], t.Offset)
	le.PutUint64(b[8:], t.Length)
	le.PutUint64(b[16:], t.ExeSize)
	le.PutUint32(b[24:], t.CRC)
	le.PutUint16(b[28:], Version)
	le.PutUint32(b[offTrailerCRC:], crc32.Checksum(b[:offTrailerCRC], crcTab))
	copy(b[offMagic:], Magic)
	return b
}

// Read locates and reads the bundled snapshot of the file r of size bytes
// into memory and checks it against the trailer. It returns ErrNotBundled
// for a plain binary.
func Read(r io.ReaderAt, size int64) ([]byte, Trailer, error) {
	t, err := Locate(r, size)
	if err != nil {
		return nil, Trailer{}, err
	}
	snap := make([]byte, t.Length)
	if _, err := r.ReadAt(snap, int64(t.Offset)); err != nil {
		return nil, Trailer{}, fmt.Errorf("bundle: reading the snapshot: %w", err)
	}
	if err := t.Check(snap); err != nil {
		return nil, Trailer{}, err
	}
	return snap, t, nil
}
