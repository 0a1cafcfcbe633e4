package patterns

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"time"
)

// MaxFileSize bounds the patterns file read back at start.
const MaxFileSize = 1 << 20

// FileVersion is the version of the patterns file.
const FileVersion = 1

// File is the persisted form: the top entries, most counted first.
type File struct {
	Version   int       `json:"version"`
	UpdatedAt time.Time `json:"updated_at"`
	Total     uint64    `json:"total"`
	Models    []Entry   `json:"models"`
}

// Encode returns the file for the sketch's entries.
func (s *Sketch) Encode(now time.Time) ([]byte, error) {
	st := s.Stats()
	f := File{Version: FileVersion, UpdatedAt: now.UTC(), Total: st.Total, Models: s.Entries(0)}
	b, err := json.MarshalIndent(f, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(b, '\n'), nil
}

// Parse reads a patterns file. The file is untrusted: it is bounded in size
// and entries, and entries with an empty or too long model are dropped.
func Parse(b []byte) (*File, error) {
	if len(b) > MaxFileSize {
		return nil, fmt.Errorf("the patterns file is %d bytes, more than the %d allowed; delete it (routerd writes a new one)", len(b), MaxFileSize)
	}
	var f File
	d := json.NewDecoder(bytes.NewReader(b))
	if err := d.Decode(&f); err != nil {
		return nil, fmt.Errorf("the patterns file is not valid JSON (%v); delete it (routerd writes a new one)", err)
	}
	if f.Version != FileVersion {
		return nil, fmt.Errorf("the patterns file has version %d, this build reads %d; delete it (routerd writes a new one)", f.Version, FileVersion)
	}
	keep := f.Models[:0]
	for _, e := range f.Models {
		if e.Model != "" && len(e.Model) <= MaxKey && len(keep) < MaxK {
			keep = append(keep, e)
		}
	}
	f.Models = keep
	return &f, nil
}

// Load reads the patterns file at path into the sketch. A missing file is
// not an error.
func (s *Sketch) Load(path string) error {
	fh, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	defer fh.Close()
	b, err := io.ReadAll(io.LimitReader(fh, MaxFileSize+1))
	if err != nil {
		return err
	}
	f, err := Parse(b)
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	s.Merge(f.Models)
	s.saveMu.Lock()
	s.saved = s.ranking()
	s.saveMu.Unlock()
	return nil
}

func (s *Sketch) ranking() []string {
	es := s.Entries(0)
	names := make([]string, len(es))
	for i, e := range es {
		names[i] = e.Model
	}
	return names
}

// Persist saves the sketch to path at every tick and once more when ctx
// ends (shutdown); done is closed after that last save. Failures are
// passed to onErr (nil: ignored).
func (s *Sketch) Persist(ctx context.Context, path string, tick <-chan time.Time, now func() time.Time, onErr func(error)) (done <-chan struct{}) {
	d := make(chan struct{})
	save := func() {
		if _, err := s.Save(path, now()); err != nil && onErr != nil {
			onErr(err)
		}
	}
	go func() {
		defer close(d)
		for {
			select {
			case <-ctx.Done():
				save()
				return
			case <-tick:
				save()
			}
		}
	}()
	return d
}

// Save writes the sketch to path atomically (temporary file, fsync,
// rename) when the ranking of the model strings changed since the last
// Save (or the file is missing), and reports whether it wrote. Counts alone
// do not rewrite the file: the compiler records it as a source of the
// snapshot, and only a new ranking can change the prewarm list it derives.
func (s *Sketch) Save(path string, now time.Time) (bool, error) {
	s.saveMu.Lock()
	defer s.saveMu.Unlock()
	names := s.ranking()
	if s.saved != nil && slices.Equal(names, s.saved) {
		if _, err := os.Stat(path); err == nil {
			return false, nil
		}
	}
	b, err := s.Encode(now)
	if err != nil {
		return false, err
	}
	if err := writeAtomic(path, b); err != nil {
		return false, err
	}
	s.saved = names
	return true, nil
}

func writeAtomic(path string, b []byte) (err error) {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return fmt.Errorf("create a temporary file in %s (is the cache folder writable?): %w", dir, err)
	}
	tmp := f.Name()
	defer func() {
		if err != nil {
			_ = f.Close()
			_ = os.Remove(tmp)
		}
	}()
	if _, err = f.Write(b); err != nil {
		return err
	}
	if err = f.Sync(); err != nil {
		return err
	}
	if err = f.Close(); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}
