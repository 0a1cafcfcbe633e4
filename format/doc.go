// Package format owns the snapshot file: the on-disk layout that the compiler
// (routerc) writes and the server (routerd) maps read-only.
//
// A snapshot is little-endian and built for mmap: a fixed 64-byte header, a
// section table, sections that start on 64-byte boundaries and a 32-byte
// footer. Every section carries a CRC32C. Open validates the whole file once
// (checksums, every cross reference, every roaring bitmap) and then answers
// from the mapped bytes without further parsing: strings are views into the
// buffer, pairs are fixed-size records decoded on access, model names are
// found through an open-addressing hash index and tag postings are roaring
// bitmaps read in place.
//
// The byte-level description lives in docs/format.md; spec.go holds the
// constants it refers to. The in-memory form of a snapshot is Model
// (model.go); Encode turns it into bytes and Open turns bytes into a Snapshot.
package format
