package usage

import (
	"errors"
	"fmt"
	"hash/crc32"
	"os"
	"sync/atomic"
)

// The journal makes a record survive a kill of the process from the moment
// its request's answer is handed to the client: Enqueue copies the encoded
// record into a memory-mapped file (a copy into the page cache, which the
// kernel writes out whether or not the process lives), and the writer
// stores in SQLite, in the same transaction as a batch of records, the
// journal offset up to which records are committed (the checkpoint). At
// open, the records after the checkpoint are inserted again; each carries
// its unique id, so a record already in the database is not inserted twice.
// A power loss can lose what the kernel had not written yet (the page
// cache): the journal bounds process crashes, not machine crashes.
//
// The file is a ring addressed by a logical offset that only grows; a frame
// is at logical offset o at byte o mod size:
//
//	u64 logical offset · u32 payload length · u32 CRC-32C of the payload · payload · padding to 8 bytes
//
// A frame never wraps: when fewer bytes than it needs are left before the
// end, a padding frame (length padLen) is written when its header fits, and
// the next frame starts at the beginning. Reading from the checkpoint stops
// at the first frame whose header does not name its own logical offset
// (data of an earlier lap, or never written) or whose checksum is wrong.

const (
	frameHead = 16
	padLen    = ^uint32(0)
	// DefaultJournalSize is the journal's size: room for about 60,000
	// records not yet committed to SQLite.
	DefaultJournalSize = 16 << 20
	minJournalSize     = 64 << 10
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// errJournalLocked: another process holds the journal.
var errJournalLocked = errors.New("the usage journal is in use by another process")

// journal is the memory-mapped ring. append is called under the ledger's
// lock; durable is advanced by the writer.
type journal struct {
	f       *os.File
	m       []byte
	size    uint64
	head    uint64        // logical offset of the next frame
	durable atomic.Uint64 // records before this offset are in SQLite or the spill file
}

func align8(n uint64) uint64 { return (n + 7) &^ 7 }

// openJournal maps the journal at path (created with size bytes when
// missing). A file of another size is mapped at its own size, so that its
// records can be read; resize it with recreate after replaying.
func openJournal(path string, size int64) (*journal, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("open the usage journal: %w", err)
	}
	if err := lockFile(f); err != nil {
		f.Close()
		return nil, fmt.Errorf("%w: %s (%w)", errJournalLocked, path, err)
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("stat the usage journal: %w", err)
	}
	if fi.Size() < minJournalSize {
		if err := f.Truncate(size); err != nil {
			f.Close()
			return nil, fmt.Errorf("size the usage journal %s: %w", path, err)
		}
	} else {
		size = fi.Size()
	}
	m, err := mapFile(f, int(size))
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("map the usage journal %s: %w", path, err)
	}
	return &journal{f: f, m: m, size: uint64(size)}, nil
}

func (j *journal) close() error {
	err := unmapFile(j.m)
	j.m = nil
	if cerr := j.f.Close(); err == nil {
		err = cerr
	}
	return err
}

// append writes e as the next frame and returns the logical offset after
// it; ok is false when the ring has no room (the writer is behind by a
// whole journal). e is encoded in place, in the mapping: no buffer of its
// own escapes.
func (j *journal) append(e *Entry) (end uint64, ok bool) {
	plen := e.encodedLen()
	need := align8(frameHead + uint64(plen))
	if need > j.size/2 {
		return 0, false
	}
	head := j.head
	phys := head % j.size
	skip := uint64(0)
	if j.size-phys < need {
		skip = j.size - phys
	}
	if head+skip+need-j.durable.Load() > j.size {
		return 0, false
	}
	if skip > 0 {
		if skip >= frameHead {
			le.PutUint32(j.m[phys+8:], padLen)
			le.PutUint32(j.m[phys+12:], 0)
			le.PutUint64(j.m[phys:], head)
		}
		head += skip
		phys = 0
	}
	start := phys + frameHead
	payload := e.AppendBinary(j.m[start : start : start+uint64(plen)])
	le.PutUint32(j.m[phys+8:], uint32(len(payload)))
	le.PutUint32(j.m[phys+12:], crc32.Checksum(payload, castagnoli))
	// The offset goes last: a frame whose header names its own offset
	// is complete (a kill between these stores leaves a header that
	// does not match, which ends the replay there).
	le.PutUint64(j.m[phys:], head)
	j.head = head + need
	return j.head, true
}

// read calls fn with each record's payload from logical offset from on,
// and returns the offset after the last whole frame.
func (j *journal) read(from uint64, fn func(payload []byte) error) (uint64, error) {
	off := from
	for off-from < j.size {
		phys := off % j.size
		if j.size-phys < frameHead {
			off += j.size - phys
			continue
		}
		if le.Uint64(j.m[phys:]) != off {
			break
		}
		n := le.Uint32(j.m[phys+8:])
		if n == padLen {
			off += j.size - phys
			continue
		}
		if n == 0 || uint64(n) > j.size-phys-frameHead {
			break
		}
		p := j.m[phys+frameHead : phys+frameHead+uint64(n)]
		if crc32.Checksum(p, castagnoli) != le.Uint32(j.m[phys+12:]) {
			break
		}
		if err := fn(p); err != nil {
			return off, err
		}
		off += align8(frameHead + uint64(n))
	}
	return off, nil
}
