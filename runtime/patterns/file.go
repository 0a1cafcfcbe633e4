package patterns

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"time"

	"smartrouter/format/reqpatterns"
)

// Encode returns the file for the sketch's entries.
func (s *Sketch) Encode(now time.Time) ([]byte, error) {
	return reqpatterns.Encode(&reqpatterns.File{Version: reqpatterns.Version, UpdatedAt: now.UTC(),
		Total: s.Stats().Total, Models: s.Entries(0)})
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
	b, err := io.ReadAll(io.LimitReader(fh, reqpatterns.MaxFileSize+1))
	if err != nil {
		return err
	}
	f, err := reqpatterns.Parse(b)
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
// do not rewrite the file: only a new ranking can change the prewarm list
// the compiler derives from it.
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
