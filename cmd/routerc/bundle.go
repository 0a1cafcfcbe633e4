package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"smartrouter/compiler"
	"smartrouter/format/bundle"
)

// runBundle implements "routerc bundle": a copy of routerd with a snapshot
// appended (format/bundle), which routerd serves without -snapshot.
func runBundle(args []string, stdout, stderr io.Writer) int {
	fs := newFlags("bundle", "-snapshot FILE [-routerd BIN] -o OUT", stderr)
	snapPath := fs.String("snapshot", "", "snapshot `file` to bundle (compiled by routerc compile)")
	routerd := fs.String("routerd", "", "routerd `binary` to copy (default: the routerd next to routerc)")
	out := fs.String("o", "", "output `file`: the bundled routerd")
	if _, code, ok := parse(fs, args, 0, stderr); !ok {
		return code
	}
	if *snapPath == "" || *out == "" {
		fmt.Fprintln(stderr, "routerc bundle: -snapshot and -o are required")
		fs.Usage()
		return 2
	}
	if err := bundleFiles(*snapPath, *routerd, *out, stdout); err != nil {
		fmt.Fprintln(stderr, "routerc bundle:", err)
		return 1
	}
	return 0
}

// defaultRouterd is the routerd binary beside the running routerc.
func defaultRouterd() (string, error) {
	self, err := os.Executable()
	if err != nil {
		return "", fmt.Errorf("cannot find routerc's own path (%w); pass -routerd BIN", err)
	}
	p := filepath.Join(filepath.Dir(self), "routerd")
	if st, err := os.Stat(p); err != nil || !st.Mode().IsRegular() {
		return "", fmt.Errorf("no routerd binary next to routerc (%s); build it or pass -routerd BIN", p)
	}
	return p, nil
}

func bundleFiles(snapPath, routerd, out string, stdout io.Writer) error {
	s, err := openSnapshot(snapPath)
	if err != nil {
		return fmt.Errorf("%s is not a valid snapshot: %w; compile one with routerc compile", snapPath, err)
	}
	snap, err := os.ReadFile(snapPath)
	if err != nil {
		return err
	}
	if routerd == "" {
		if routerd, err = defaultRouterd(); err != nil {
			return err
		}
	}
	exe, err := os.Open(routerd)
	if err != nil {
		return fmt.Errorf("%w; pass the routerd binary with -routerd BIN", err)
	}
	defer func() { _ = exe.Close() }()
	st, err := exe.Stat()
	if err != nil {
		return err
	}
	if !st.Mode().IsRegular() || st.Size() == 0 {
		return fmt.Errorf("%s is not a routerd binary (not a regular, non-empty file)", routerd)
	}
	size := st.Size()
	switch t, err := bundle.Locate(exe, size); {
	case err == nil:
		size = int64(t.ExeSize) // already bundled: replace its snapshot
	case !errors.Is(err, bundle.ErrNotBundled):
		return fmt.Errorf("%s: %w", routerd, err)
	}
	var buf bytes.Buffer
	buf.Grow(int(size) + bundle.Align + len(snap) + bundle.TrailerSize)
	if err := bundle.Write(&buf, io.NewSectionReader(exe, 0, size), size, snap); err != nil {
		return err
	}
	if err := compiler.WriteFileAtomic(out, buf.Bytes()); err != nil {
		return err
	}
	if err := os.Chmod(out, 0o755); err != nil {
		return fmt.Errorf("making %s executable: %w", out, err)
	}
	h := s.Header()
	fmt.Fprintf(stdout, "wrote %s: routerd %s (%d bytes) + snapshot %s (generation %d, %d pairs, %d bytes), %d bytes\n",
		out, routerd, size, snapPath, h.Generation, s.NumPairs(), len(snap), buf.Len())
	return nil
}
