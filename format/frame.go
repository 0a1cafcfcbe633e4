package format

import (
	"slices"
	"strconv"
)

// Header is the decoded fixed header of a snapshot.
type Header struct {
	Major, Minor uint16
	FileSize     uint64 // bytes
	Generation   uint64
	BuildTime    int64 // Unix ns
	Fingerprint  uint64
	SectionCount uint32
}

// SectionInfo describes one entry of the section table.
type SectionInfo struct {
	ID       uint32
	Name     string // "section#N" for an id this version does not know
	Offset   uint64 // bytes from the start of the file
	Length   uint64 // bytes, without alignment padding
	CRC      uint32 // CRC32C (Castagnoli) of the section bytes
	Required bool   // the SectionRequired flag
}

// OpenHeader checks the header, the section table and the footer of b, but
// not the sections: magic, version, header and table checksums, file size,
// footer, and that the sections lie inside the file, aligned and without
// overlap. It is cheap and does not keep b.
func OpenHeader(b []byte) (Header, error) {
	h, _, err := openFrame(b)
	return h, err
}

// openFrame validates everything except the section contents and returns the
// header and the section table in table order.
func openFrame(b []byte) (Header, []SectionInfo, error) {
	var h Header
	n := uint64(len(b))
	if n < uint64(len(Magic)) {
		if string(b) == Magic[:len(b)] {
			return h, nil, ferr("header", int64(n), ErrTruncated, "file ends inside the magic")
		}
		return h, nil, ferr("header", 0, ErrBadMagic, "")
	}
	if string(b[:len(Magic)]) != Magic {
		return h, nil, ferr("header", 0, ErrBadMagic, "")
	}
	if n < hOffMinor+2 {
		return h, nil, ferr("header", int64(n), ErrTruncated, "file ends inside the version")
	}
	h.Major = le.Uint16(b[hOffMajor:])
	h.Minor = le.Uint16(b[hOffMinor:])
	if h.Major > Major {
		return h, nil, ferr("header", hOffMajor, ErrVersionTooNew,
			"file is format "+strconv.Itoa(int(h.Major))+"."+strconv.Itoa(int(h.Minor))+", this build reads up to major "+strconv.Itoa(int(Major)))
	}
	if h.Major < MinMajor {
		return h, nil, ferr("header", hOffMajor, ErrVersionTooOld,
			"file is format "+strconv.Itoa(int(h.Major))+"."+strconv.Itoa(int(h.Minor))+", this build reads majors "+strconv.Itoa(int(MinMajor))+" to "+strconv.Itoa(int(Major)))
	}
	if n < HeaderSize {
		return h, nil, ferr("header", int64(n), ErrTruncated, "file ends inside the header")
	}
	hb := b[:HeaderSize]
	if crc(hb[:hOffHeaderCRC]) != le.Uint32(hb[hOffHeaderCRC:]) {
		return h, nil, ferr("header", hOffHeaderCRC, ErrChecksum, "header CRC32C does not match")
	}
	if le.Uint32(hb[hOffFlags:]) != 0 {
		return h, nil, ferr("header", hOffFlags, ErrCorrupt, "unknown header flags")
	}
	for i := hOffReserved; i < hOffHeaderCRC; i++ {
		if hb[i] != 0 {
			return h, nil, ferr("header", int64(i), ErrCorrupt, "reserved header bytes are not zero")
		}
	}
	h.FileSize = le.Uint64(hb[hOffFileSize:])
	h.Generation = le.Uint64(hb[hOffGeneration:])
	h.BuildTime = int64(le.Uint64(hb[hOffBuildTime:]))
	h.Fingerprint = le.Uint64(hb[hOffFingerprint:])
	h.SectionCount = le.Uint32(hb[hOffSectCount:])
	tableOff := le.Uint64(hb[hOffTableOff:])
	tableCRC := le.Uint32(hb[hOffTableCRC:])

	size := h.FileSize
	if size < HeaderSize+FooterSize || (size-FooterSize)%SectionAlign != 0 {
		return h, nil, ferr("header", hOffFileSize, ErrOutOfBounds, "impossible file size "+strconv.FormatUint(size, 10))
	}
	footerOff := size - FooterSize
	if h.SectionCount > maxSections {
		return h, nil, ferr("header", hOffSectCount, ErrOutOfBounds, "too many sections")
	}
	tableLen := uint64(h.SectionCount) * TableEntrySize
	if tableOff < HeaderSize || tableOff%SectionAlign != 0 || tableOff > footerOff || tableLen > footerOff-tableOff {
		return h, nil, ferr("header", hOffTableOff, ErrOutOfBounds, "section table outside the file")
	}
	tableEnd := tableOff + tableLen

	if n < size {
		return h, nil, ferr(truncatedIn(b, tableOff, tableEnd, tableCRC, footerOff), int64(n), ErrTruncated,
			"file has "+strconv.FormatUint(n, 10)+" of "+strconv.FormatUint(size, 10)+" bytes")
	}
	if n > size {
		return h, nil, ferr("file", int64(size), ErrCorrupt, "bytes after the footer")
	}

	table := b[tableOff:tableEnd]
	if crc(table) != tableCRC {
		return h, nil, ferr("table", int64(tableOff), ErrChecksum, "section table CRC32C does not match")
	}

	f := b[footerOff:]
	if crc(f[:fOffCRC]) != le.Uint32(f[fOffCRC:]) {
		return h, nil, ferr("footer", int64(footerOff+fOffCRC), ErrChecksum, "footer CRC32C does not match")
	}
	if string(f[:len(FooterMagic)]) != FooterMagic {
		return h, nil, ferr("footer", int64(footerOff), ErrCorrupt, "bad footer magic")
	}
	if le.Uint64(f[fOffFileSize:]) != size || le.Uint64(f[fOffTableOff:]) != tableOff || le.Uint32(f[fOffTableCRC:]) != tableCRC {
		return h, nil, ferr("footer", int64(footerOff), ErrCorrupt, "footer disagrees with the header")
	}

	secs := make([]SectionInfo, h.SectionCount)
	for i := range secs {
		e := table[i*TableEntrySize : (i+1)*TableEntrySize]
		at := int64(tableOff) + int64(i*TableEntrySize)
		si := SectionInfo{
			ID:       le.Uint32(e[tOffID:]),
			Offset:   le.Uint64(e[tOffOffset:]),
			Length:   le.Uint64(e[tOffLength:]),
			CRC:      le.Uint32(e[tOffCRC:]),
			Required: le.Uint32(e[tOffFlags:])&SectionRequired != 0,
		}
		si.Name = SectionName(si.ID)
		if si.Offset%SectionAlign != 0 {
			return h, nil, ferr(si.Name, at+tOffOffset, ErrCorrupt, "section offset "+strconv.FormatUint(si.Offset, 10)+" is not 64-byte aligned")
		}
		if si.Offset < tableEnd || si.Offset > footerOff || si.Length > footerOff-si.Offset {
			return h, nil, ferr(si.Name, at+tOffOffset, ErrOutOfBounds, "section lies outside the data area of the file")
		}
		for _, prev := range secs[:i] {
			if prev.ID == si.ID {
				return h, nil, ferr(si.Name, at, ErrCorrupt, "section listed twice")
			}
		}
		secs[i] = si
	}

	// Overlap and padding: walk the sections in file order.
	order := make([]int, len(secs))
	for i := range order {
		order[i] = i
	}
	slices.SortFunc(order, func(x, y int) int {
		if secs[x].Offset < secs[y].Offset {
			return -1
		}
		if secs[x].Offset > secs[y].Offset {
			return 1
		}
		return 0
	})
	end := tableEnd
	prevName := "table"
	for _, i := range order {
		s := secs[i]
		if s.Offset < end {
			return h, nil, ferr(s.Name, int64(s.Offset), ErrOverlap, "starts inside "+prevName)
		}
		if !zero(b[end:s.Offset]) {
			return h, nil, ferr(prevName, int64(end), ErrCorrupt, "padding after "+prevName+" is not zero")
		}
		end = s.Offset + s.Length
		prevName = s.Name
	}
	if !zero(b[end:footerOff]) {
		return h, nil, ferr(prevName, int64(end), ErrCorrupt, "padding after "+prevName+" is not zero")
	}
	return h, secs, nil
}

func zero(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}

// truncatedIn names the part of the file in which a truncated b ends, using
// the section table when it survived intact.
func truncatedIn(b []byte, tableOff, tableEnd uint64, tableCRC uint32, footerOff uint64) string {
	n := uint64(len(b))
	if n < tableEnd {
		return "table"
	}
	if n >= footerOff {
		return "footer"
	}
	table := b[tableOff:tableEnd]
	if crc(table) != tableCRC {
		return "file"
	}
	name, best := "table", tableOff
	for i := 0; i+TableEntrySize <= len(table); i += TableEntrySize {
		off := le.Uint64(table[i+tOffOffset:])
		if off <= n && off >= best {
			name, best = SectionName(le.Uint32(table[i+tOffID:])), off
		}
	}
	return name
}
