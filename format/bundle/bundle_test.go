package bundle

import (
	"bytes"
	"errors"
	"strings"
	"testing"
)

func build(t testing.TB, exe, snap []byte) []byte {
	t.Helper()
	var out bytes.Buffer
	if err := Write(&out, bytes.NewReader(exe), int64(len(exe)), snap); err != nil {
		t.Fatal(err)
	}
	return out.Bytes()
}

func TestRoundTrip(t *testing.T) {
	exe := bytes.Repeat([]byte("ELF!"), 1234) // 4936 bytes: padding needed
	snap := []byte("\x89SRT snapshot bytes")
	b := build(t, exe, snap)
	got, tr, err := Read(bytes.NewReader(b), int64(len(b)))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, snap) || tr.Offset != 8192 || tr.ExeSize != uint64(len(exe)) || !bytes.Equal(b[:len(exe)], exe) {
		t.Fatalf("trailer %+v, snapshot %q", tr, got)
	}
	// Re-bundling a bundle copies only the executable.
	b2 := build(t, b[:tr.ExeSize], []byte("other"))
	got, _, err = Read(bytes.NewReader(b2), int64(len(b2)))
	if err != nil || string(got) != "other" || len(b2) != 8192+5+TrailerSize {
		t.Fatalf("rebundle: %q %v len %d", got, err, len(b2))
	}
	// An exe that is already page-sized needs no padding.
	b3 := build(t, make([]byte, Align), snap)
	if _, tr, err := Read(bytes.NewReader(b3), int64(len(b3))); err != nil || tr.Offset != Align {
		t.Fatalf("aligned exe: %+v %v", tr, err)
	}
}

func TestNotBundled(t *testing.T) {
	for _, b := range [][]byte{nil, []byte("short"), bytes.Repeat([]byte{0x7f}, 5000)} {
		if _, _, err := Read(bytes.NewReader(b), int64(len(b))); !errors.Is(err, ErrNotBundled) {
			t.Errorf("%d bytes: %v", len(b), err)
		}
	}
}

func TestCorruptTrailer(t *testing.T) {
	good := build(t, bytes.Repeat([]byte{1}, 5000), []byte("snapshot"))
	n := len(good)
	cases := []struct {
		name string
		at   int // byte of the file to flip
		says string
	}{
		{"offset", n - TrailerSize, "trailer checksum"},
		{"length", n - TrailerSize + 8, "trailer checksum"},
		{"exe size", n - TrailerSize + 16, "trailer checksum"},
		{"version", n - TrailerSize + 28, "trailer checksum"},
		{"reserved", n - TrailerSize + 40, "trailer checksum"},
		{"trailer crc", n - TrailerSize + 52, "trailer checksum"},
		{"snapshot byte", 8192, "snapshot checksum"},
	}
	for _, tc := range cases {
		b := bytes.Clone(good)
		b[tc.at] ^= 0x40
		_, _, err := Read(bytes.NewReader(b), int64(len(b)))
		if !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), tc.says) || !strings.Contains(err.Error(), "routerc bundle") {
			t.Errorf("%s: %v", tc.name, err)
		}
	}
	// Fields that are wrong but carry a valid trailer checksum.
	fields := []struct {
		name string
		set  func(*Trailer)
		says string
	}{
		{"misaligned", func(t *Trailer) { t.Offset += 8 }, "not a multiple"},
		{"empty", func(t *Trailer) { t.Length = 0 }, "empty"},
		{"too long", func(t *Trailer) { t.Length++ }, "does not end at the trailer"},
		{"exe too big", func(t *Trailer) { t.ExeSize = t.Offset + 1 }, "executable size"},
		{"exe zero", func(t *Trailer) { t.ExeSize = 0 }, "executable size"},
		{"crc", func(t *Trailer) { t.CRC++ }, "snapshot checksum"},
	}
	tr, err := Locate(bytes.NewReader(good), int64(n))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range fields {
		bad := tr
		tc.set(&bad)
		b := append(bytes.Clone(good[:n-TrailerSize]), bad.Encode()...)
		_, _, err := Read(bytes.NewReader(b), int64(len(b)))
		if !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), tc.says) {
			t.Errorf("%s: %v", tc.name, err)
		}
	}
}

func FuzzParseTrailer(f *testing.F) {
	good := build(f, bytes.Repeat([]byte{1}, 5000), []byte("snapshot"))
	f.Add(good[len(good)-TrailerSize:], int64(len(good)))
	f.Add(make([]byte, TrailerSize), int64(TrailerSize))
	f.Fuzz(func(t *testing.T, b []byte, size int64) {
		tr, err := ParseTrailer(b, size)
		if err != nil {
			if !errors.Is(err, ErrNotBundled) && !errors.Is(err, ErrCorrupt) {
				t.Fatalf("unclassified error %v", err)
			}
			return
		}
		// An accepted trailer describes a region inside the file, before the
		// trailer, aligned, and encodes back to the same bytes.
		if tr.Offset%Align != 0 || tr.Length == 0 || tr.Offset+tr.Length != uint64(size)-TrailerSize {
			t.Fatalf("accepted %+v for a file of %d bytes", tr, size)
		}
		if !bytes.Equal(tr.Encode(), b) {
			t.Fatalf("re-encoding differs")
		}
	})
}
