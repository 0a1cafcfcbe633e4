package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"smartrouter/format/bundle"
)

// TestBundle: routerc bundle writes an executable copy of the routerd binary
// with the snapshot, which reads back byte for byte; bundling a bundle
// replaces its snapshot; an invalid snapshot, a missing routerd and a
// damaged bundle are refused with what to do.
func TestBundle(t *testing.T) {
	dir := t.TempDir()
	snap := compileTo(t, smallDir, dir)
	routerd := filepath.Join(dir, "routerd")
	exe := bytes.Repeat([]byte("\x7fELF binary "), 700)
	if err := os.WriteFile(routerd, exe, 0o755); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "routerd-bundled")
	var stdout, stderr bytes.Buffer
	if code := run([]string{"bundle", "-snapshot", snap, "-routerd", routerd, "-o", out}, &stdout, &stderr); code != 0 {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	if !strings.Contains(stdout.String(), "wrote "+out) {
		t.Errorf("stdout %q", stdout.String())
	}
	st, err := os.Stat(out)
	if err != nil || st.Mode().Perm()&0o100 == 0 {
		t.Fatalf("output %v, mode %v: want an executable", err, st.Mode())
	}
	want, _ := os.ReadFile(snap)
	f, _ := os.Open(out)
	got, tr, err := bundle.Read(f, st.Size())
	f.Close()
	if err != nil || !bytes.Equal(got, want) || tr.ExeSize != uint64(len(exe)) {
		t.Fatalf("round trip: %v, %d bytes, trailer %+v", err, len(got), tr)
	}
	b, _ := os.ReadFile(out)
	if !bytes.Equal(b[:len(exe)], exe) {
		t.Error("the executable part differs from routerd")
	}

	// Bundle the bundle: the old snapshot is replaced, not stacked.
	out2 := filepath.Join(dir, "again")
	if code := run([]string{"bundle", "-snapshot", snap, "-routerd", out, "-o", out2}, &stdout, &stderr); code != 0 {
		t.Fatalf("rebundle: exit %d: %s", code, stderr.String())
	}
	if b2, _ := os.ReadFile(out2); !bytes.Equal(b2, b) {
		t.Error("bundling a bundled routerd does not give the same file")
	}

	damaged := filepath.Join(dir, "damaged")
	b3 := bytes.Clone(b)
	b3[len(b3)-bundle.TrailerSize] ^= 1
	os.WriteFile(damaged, b3, 0o755)
	notSnap := filepath.Join(dir, "not.snap")
	os.WriteFile(notSnap, []byte("hello"), 0o644)
	for _, tc := range []struct {
		args []string
		code int
		says string
	}{
		{[]string{"bundle", "-snapshot", notSnap, "-routerd", routerd, "-o", out}, 1, "not a valid snapshot"},
		{[]string{"bundle", "-snapshot", snap, "-routerd", filepath.Join(dir, "nope"), "-o", out}, 1, "-routerd BIN"},
		{[]string{"bundle", "-snapshot", snap, "-routerd", damaged, "-o", out}, 1, "trailer checksum"},
		{[]string{"bundle", "-snapshot", snap}, 2, "-o are required"},
	} {
		stderr.Reset()
		if code := run(tc.args, &stdout, &stderr); code != tc.code || !strings.Contains(stderr.String(), tc.says) {
			t.Errorf("%v: exit %d, %q; want %d and %q", tc.args[1:], code, stderr.String(), tc.code, tc.says)
		}
	}
}
