package usage

import (
	"bufio"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"sync"
)

// The spill file takes the records the database could not: those that
// found the queue full (on the request path) and the batches whose
// transaction failed (on the writer). It is append-only, one frame per
// record:
//
//	u32 payload length · u32 CRC-32C of the payload · payload
//
// To replay it, the writer renames it to <spill>.replay-<n> (new spills
// start a new file), inserts its records (their unique ids make a repeated
// replay harmless) and removes it. A frame cut by a crash ends the replay
// of its file.

const spillHead = 8

// spill is the append-only spill file, opened on first use.
type spill struct {
	mu   sync.Mutex
	path string
	f    *os.File
	seq  int
}

// write appends one frame with payload (buf has room for the header
// before it: buf[:spillHead] is overwritten).
func (s *spill) write(frame []byte) error {
	payload := frame[spillHead:]
	le.PutUint32(frame, uint32(len(payload)))
	le.PutUint32(frame[4:], crc32.Checksum(payload, castagnoli))
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.f == nil {
		f, err := os.OpenFile(s.path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
		if err != nil {
			return fmt.Errorf("open the usage spill file: %w", err)
		}
		s.f = f
	}
	if _, err := s.f.Write(frame); err != nil {
		return fmt.Errorf("write the usage spill file %s: %w", s.path, err)
	}
	return nil
}

// rotate moves the spill file aside for a replay; new spills go to a new
// file.
func (s *spill) rotate() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.f != nil {
		s.f.Close()
		s.f = nil
	}
	if _, err := os.Stat(s.path); errors.Is(err, os.ErrNotExist) {
		return nil
	}
	s.seq++
	to := s.path + ".replay-" + strconv.FormatInt(int64(os.Getpid()), 10) + "-" + strconv.Itoa(s.seq)
	for i := 0; ; i++ {
		if _, err := os.Stat(to); errors.Is(err, os.ErrNotExist) {
			break
		}
		to = s.path + ".replay-" + strconv.FormatInt(int64(os.Getpid()), 10) + "-" + strconv.Itoa(s.seq) + "-" + strconv.Itoa(i)
	}
	return os.Rename(s.path, to)
}

func (s *spill) close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.f == nil {
		return nil
	}
	err := s.f.Close()
	s.f = nil
	return err
}

// pending lists the files waiting for a replay, oldest first.
func (s *spill) pending() []string {
	m, _ := filepath.Glob(s.path + ".replay-*")
	sort.Strings(m)
	return m
}

// readSpill calls fn with each whole record of the spill file at path;
// cut reports a frame cut short or damaged (the rest of the file is not
// read).
func readSpill(path string, fn func(payload []byte) error) (n int, cut bool, err error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, false, err
	}
	defer f.Close()
	r := bufio.NewReaderSize(f, 64<<10)
	var head [spillHead]byte
	buf := make([]byte, MaxEncoded)
	for {
		if _, err := io.ReadFull(r, head[:]); err != nil {
			if err == io.EOF {
				return n, false, nil
			}
			return n, true, nil
		}
		ln := le.Uint32(head[:])
		if ln == 0 || ln > uint32(len(buf)) {
			return n, true, nil
		}
		p := buf[:ln]
		if _, err := io.ReadFull(r, p); err != nil {
			return n, true, nil
		}
		if crc32.Checksum(p, castagnoli) != le.Uint32(head[4:]) {
			return n, true, nil
		}
		if err := fn(p); err != nil {
			return n, false, err
		}
		n++
	}
}
