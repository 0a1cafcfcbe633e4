package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestVerify(t *testing.T) {
	dir := t.TempDir()
	files := []string{compileTo(t, smallDir, dir), demoDir + "/router.snap"}
	for _, gen := range []string{scaleDir, growDir} {
		if testing.Short() && gen == growDir {
			continue
		}
		if _, err := os.Stat(filepath.Join(gen, "config")); err != nil {
			t.Logf("%s missing (go run ./fixtures/gen writes it): not verified", gen)
			continue
		}
		files = append(files, compileTo(t, gen, dir))
	}
	for _, f := range files {
		o, e, code := routerc("verify", f)
		if code != 0 || !strings.Contains(o, "valid snapshot") {
			t.Errorf("verify %s: exit %d, %q %q", f, code, o, e)
		}
	}
}

func TestVerifyRejects(t *testing.T) {
	tests := []struct {
		file, want string
	}{
		{"../../fixtures/format/corrupt/flip-pairs.snap", "invalid (checksum)"},
		{"../../fixtures/format/corrupt/trunc-mid-pairs.snap", "invalid (truncated)"},
		{"../../fixtures/format/corrupt/bad-magic.snap", "invalid (bad magic)"},
		{"../../fixtures/format/corrupt/major-future.snap", "invalid (version too new)"},
		{"../../fixtures/format/corrupt/empty.snap", "routerc verify"},
		{"missing.snap", "no such file"},
		{".", "not a regular file"},
	}
	for _, tc := range tests {
		_, e, code := routerc("verify", tc.file)
		if code != 1 || !strings.Contains(e, tc.want) {
			t.Errorf("verify %s: exit %d, stderr %q; want 1 and %q", tc.file, code, e, tc.want)
		}
	}
}
