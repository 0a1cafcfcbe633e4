package compiler

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"smartrouter/compiler/diag"
	"smartrouter/format"
)

// Compile builds the installation (see Build) and writes the snapshot to
// outPath atomically: a temporary file in the same directory, written,
// fsynced, made mode 0600 and renamed over outPath, then the directory is
// fsynced. On any error outPath is left as it was and no temporary file
// remains. The generation is the previous file's + 1 when outPath holds a
// readable snapshot, else 1 (Options.Generation and Reproducible override
// it).
func Compile(configDir, cacheDir, outPath string, opts Options, w *diag.Warnings) (Summary, error) {
	start := time.Now()
	if w == nil {
		w = new(diag.Warnings)
	}
	if outPath == "" {
		return Summary{}, errors.New("compiler: no output path; give the snapshot file to write (e.g. router.snap)")
	}
	if fi, err := os.Stat(outPath); err == nil && !fi.Mode().IsRegular() {
		return Summary{}, fmt.Errorf("compiler: output %s exists and is not a regular file (%s); choose a file path", outPath, fi.Mode().Type())
	}
	if fi, err := os.Stat(filepath.Dir(outPath)); err != nil || !fi.IsDir() {
		if err == nil {
			err = fmt.Errorf("%s is not a directory", filepath.Dir(outPath))
		}
		return Summary{}, fmt.Errorf("compiler: output directory: %w; create it first", err)
	}
	res, err := build(configDir, cacheDir, opts, w, previousGeneration(outPath)+1)
	if err != nil {
		return Summary{}, err
	}
	if err := WriteFileAtomic(outPath, res.data); err != nil {
		return Summary{}, err
	}
	m := res.model
	return Summary{
		Path:        outPath,
		Providers:   len(m.Providers),
		Channels:    len(m.Channels),
		Models:      len(m.Models),
		Pairs:       len(m.Pairs),
		Tags:        res.tags,
		Prewarm:     len(m.Prewarm),
		KeyStates:   len(m.KeyStates),
		Sources:     len(m.Sources),
		Bytes:       len(res.data),
		Generation:  m.Generation,
		Fingerprint: m.Fingerprint,
		Warnings:    w.Len(),
		Elapsed:     time.Since(start),
	}, nil
}

// previousGeneration returns the generation of the snapshot at p, or 0 when
// there is none or it cannot be read.
func previousGeneration(p string) uint64 {
	b, err := os.ReadFile(p)
	if err != nil {
		return 0
	}
	h, err := format.OpenHeader(b)
	if err != nil {
		return 0
	}
	return h.Generation
}

// WriteFileAtomic replaces p with data so that a reader sees either the old
// file or the whole new one: temporary file in p's directory, write, fsync,
// chmod 0600, rename, fsync of the directory. On error the temporary file is
// removed and p is untouched.
func WriteFileAtomic(p string, data []byte) error {
	return WriteFileAtomicFunc(p, func(w io.Writer) error {
		_, err := w.Write(data)
		return err
	})
}

// WriteFileAtomicFunc is WriteFileAtomic for content that fill writes to
// the temporary file, so that a large file is never held whole in memory
// (the discovery cache of a real installation reaches 50 MB). An error of
// fill leaves p untouched.
func WriteFileAtomicFunc(p string, fill func(w io.Writer) error) (err error) {
	dir := filepath.Dir(p)
	f, err := os.CreateTemp(dir, "."+filepath.Base(p)+".tmp-*")
	if err != nil {
		return fmt.Errorf("compiler: create a temporary file next to %s: %w; check that the directory is writable", p, err)
	}
	tmp := f.Name()
	defer func() {
		if err != nil {
			_ = f.Close()
			_ = os.Remove(tmp)
		}
	}()
	if err = fill(f); err != nil {
		return fmt.Errorf("compiler: write %s: %w", tmp, err)
	}
	if err = f.Sync(); err != nil {
		return fmt.Errorf("compiler: fsync %s: %w", tmp, err)
	}
	if err = f.Chmod(0o600); err != nil {
		return fmt.Errorf("compiler: chmod %s: %w", tmp, err)
	}
	if err = f.Close(); err != nil {
		return fmt.Errorf("compiler: close %s: %w", tmp, err)
	}
	if err = os.Rename(tmp, p); err != nil {
		return fmt.Errorf("compiler: rename %s to %s: %w", tmp, p, err)
	}
	if d, derr := os.Open(dir); derr == nil {
		serr := d.Sync()
		_ = d.Close()
		if serr != nil && !errors.Is(serr, fs.ErrInvalid) {
			return fmt.Errorf("compiler: fsync directory %s: %w", dir, serr)
		}
	}
	return nil
}
