package format

import "strconv"

// Version of the format written by this package. A reader refuses a file
// whose major version is above Major (too new) or below MinMajor (too old);
// any minor version of a readable major is accepted, because minor versions
// only add optional sections or grow fixed records at their end.
const (
	Major    uint16 = 1
	Minor    uint16 = 2
	MinMajor uint16 = 1
)

// Magic opens every snapshot. Its first byte is non-ASCII and it holds a CR LF
// pair and a ^Z, like PNG's, so that text-mode transfers are caught at once.
// The magic and the two version fields keep their offsets in every version.
const Magic = "\x89SRT\r\n\x1a\n"

// FooterMagic opens the 32-byte footer at the end of the file.
const FooterMagic = "SRTFOOT\x00"

// Sizes and alignment, in bytes.
const (
	HeaderSize     = 128 // fixed header at offset 0
	TableEntrySize = 32  // one section table entry
	FooterSize     = 32  // fixed footer at FileSize-32
	SectionAlign   = 64  // the table, every section and the footer start on multiples of this
	PostingAlign   = 8   // each roaring bitmap starts on a multiple of this inside the postings section

	maxSections = 1024 // a reader refuses more table entries than this
)

// Header field offsets (see docs/format.md).
const (
	hOffMagic       = 0   // [8]byte
	hOffMajor       = 8   // u16
	hOffMinor       = 10  // u16
	hOffFlags       = 12  // u32, zero
	hOffFileSize    = 16  // u64 bytes
	hOffGeneration  = 24  // u64
	hOffBuildTime   = 32  // i64 Unix ns
	hOffFingerprint = 40  // u64
	hOffTableOff    = 48  // u64 bytes from file start
	hOffSectCount   = 56  // u32
	hOffTableCRC    = 60  // u32 CRC32C of the section table
	hOffReserved    = 64  // 60 bytes, zero
	hOffHeaderCRC   = 124 // u32 CRC32C of bytes [0,124)
)

// Section table entry field offsets.
const (
	tOffID     = 0  // u32
	tOffFlags  = 4  // u32
	tOffOffset = 8  // u64 bytes from file start
	tOffLength = 16 // u64 bytes, without padding
	tOffCRC    = 24 // u32 CRC32C of the section bytes
	tOffPad    = 28 // u32, zero
)

// Footer field offsets (relative to the footer start).
const (
	fOffMagic    = 0  // [8]byte
	fOffFileSize = 8  // u64
	fOffTableOff = 16 // u64
	fOffTableCRC = 24 // u32
	fOffCRC      = 28 // u32 CRC32C of footer bytes [0,28)
)

// SectionRequired is the section flag bit that tells a reader it must not
// skip the section when it does not know its id.
const SectionRequired uint32 = 1 << 0

// Section ids. Sections are written in id order; readers accept any order.
const (
	SecSettings   uint32 = 1
	SecSources    uint32 = 2
	SecStrings    uint32 = 3
	SecProviders  uint32 = 4
	SecChannels   uint32 = 5
	SecModels     uint32 = 6
	SecPairs      uint32 = 7
	SecModelIndex uint32 = 8
	SecTagDict    uint32 = 9
	SecPostings   uint32 = 10
	SecPrewarm    uint32 = 11
	SecKeyStates  uint32 = 12
	SecLimits     uint32 = 13 // since 1.1
	SecClients    uint32 = 14 // since 1.2: client keys
	SecUsage      uint32 = 15 // since 1.2: usage ledger settings
	SecState      uint32 = 16 // since 1.2: shared state settings
)

// sectionSpec describes a section this version knows.
type sectionSpec struct {
	id       uint32
	name     string
	required bool
}

// numKnown bounds the ids this version may know, for id-indexed arrays.
const numKnown uint32 = 32

// knownSections holds the sections of this version, indexed by id; an entry
// with a zero id is an id this version does not know.
var knownSections = [numKnown]sectionSpec{
	SecSettings:   {SecSettings, "settings", true},
	SecSources:    {SecSources, "sources", false},
	SecStrings:    {SecStrings, "strings", true},
	SecProviders:  {SecProviders, "providers", true},
	SecChannels:   {SecChannels, "channels", true},
	SecModels:     {SecModels, "models", true},
	SecPairs:      {SecPairs, "pairs", true},
	SecModelIndex: {SecModelIndex, "model_index", true},
	SecTagDict:    {SecTagDict, "tag_dict", true},
	SecPostings:   {SecPostings, "postings", true},
	SecPrewarm:    {SecPrewarm, "prewarm", false},
	SecKeyStates:  {SecKeyStates, "key_states", false},
	SecLimits:     {SecLimits, "limits", false},
	SecUsage:      {SecUsage, "usage", false},
}

// numSections counts the sections this version knows.
var numSections = func() int {
	n := 0
	for _, k := range knownSections {
		if k.id != 0 {
			n++
		}
	}
	return n
}()

// isKnown reports whether this version knows section id.
func isKnown(id uint32) bool { return id < numKnown && knownSections[id].id == id && id != 0 }

// SectionName returns the name of a section id ("section#N" when unknown).
func SectionName(id uint32) string {
	if isKnown(id) {
		return knownSections[id].name
	}
	return "section#" + strconv.FormatUint(uint64(id), 10)
}

// Fixed-record sections start with count u32 and record size u32. A reader
// needs at least the record size of its own version and reads only that
// prefix, so a minor version may append fields to a record.
const (
	recHeaderSize = 8
	strRefSize    = 8 // offset u32 + length u32 into the strings section

	sourceRecSize  = 32
	modelRecSize   = 32
	pairRecSize    = 88
	indexRecSize   = 8
	tagRecSize     = 24
	prewarmRecSize = 16
	keyRecSize     = 40
)

// Roaring portable-format facts the reader checks before handing bytes to
// the roaring package.
const (
	roaringNoRunCookie = 12346 // containers are arrays or bitmaps, never runs
	roaringArrayMax    = 4096  // a container above this cardinality is a bitmap
	roaringBitmapBytes = 8192  // size of a bitmap container
	roaringMaxKeys     = 1 << 16
)
