package main

import (
	"bytes"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"smartrouter/runtime/snapshot"
)

func TestFlags(t *testing.T) {
	cases := []struct {
		args []string
		code int
		out  string
	}{
		{[]string{"-version"}, 0, "routerd " + version},
		{[]string{"-h"}, 0, ""},
		{[]string{"-nope"}, 2, "flag provided but not defined"},
		{[]string{"extra"}, 2, "unexpected argument"},
		{[]string{"-log-level", "loud"}, 2, "-log-level"},
		{[]string{"-log-format", "xml"}, 2, "-log-format"},
		{[]string{"-snapshot", filepath.Join(t.TempDir(), "missing.snap")}, 1, "not_found"},
	}
	for _, tc := range cases {
		var out, errb bytes.Buffer
		code := run(tc.args, &out, &errb)
		if code != tc.code {
			t.Errorf("%v: exit %d, want %d\n%s%s", tc.args, code, tc.code, out.String(), errb.String())
		}
		if !strings.Contains(out.String()+errb.String(), tc.out) {
			t.Errorf("%v: output lacks %q:\n%s%s", tc.args, tc.out, out.String(), errb.String())
		}
	}
}

func TestSnapshotOptions(t *testing.T) {
	log := slog.New(slog.DiscardHandler)
	dir := t.TempDir()
	wd, _ := os.Getwd()
	defer os.Chdir(wd)
	if err := os.Chdir(dir); err != nil {
		t.Fatal(err)
	}
	// No router.snap here and no flag: the built-in demo, flagged as such.
	so, _, err := snapshotOptions(&flags{}, log)
	if err != nil || so.Path != "" || len(so.Embedded) == 0 || so.EmbeddedMode != snapshot.ModeDemo || so.Fallback != nil {
		t.Errorf("demo: %+v %v", so, err)
	}
	// router.snap in the working directory is the default.
	os.WriteFile(defaultSnapshot, []byte("x"), 0o600)
	so, _, err = snapshotOptions(&flags{writeBack: true, configDir: "cfg", cacheDir: "cache"}, log)
	if err != nil || so.Path != defaultSnapshot || !so.WriteBack || so.ConfigDir != "cfg" || so.CacheDir != "cache" || so.Embedded != nil {
		t.Errorf("default file: %+v %v", so, err)
	}
	// -snapshot wins.
	so, _, _ = snapshotOptions(&flags{snapshot: "/x/y.snap"}, log)
	if so.Path != "/x/y.snap" || so.Fallback != nil {
		t.Errorf("flag: %q, fallback without -config", so.Path)
	}
	os.Remove(defaultSnapshot)
	// -config alone: the cache folder beside it, a fallback build, never the demo.
	os.MkdirAll(filepath.Join(dir, "inst", "config"), 0o755)
	os.MkdirAll(filepath.Join(dir, "inst", "cache"), 0o755)
	so, _, _ = snapshotOptions(&flags{configDir: filepath.Join(dir, "inst", "config")}, log)
	if so.CacheDir != filepath.Join(dir, "inst", "cache") || so.Fallback == nil || so.Embedded != nil || so.Path != "" {
		t.Errorf("-config alone: cache %q, fallback %v, embedded %d bytes, path %q", so.CacheDir, so.Fallback != nil, len(so.Embedded), so.Path)
	}
	// No cache folder beside it: none.
	so, _, _ = snapshotOptions(&flags{configDir: filepath.Join(dir, "elsewhere")}, log)
	if so.CacheDir != "" {
		t.Errorf("cache %q", so.CacheDir)
	}
	// -demo, alone or refused with the others.
	so, _, err = snapshotOptions(&flags{demo: true}, log)
	if err != nil || so.EmbeddedMode != snapshot.ModeDemo {
		t.Errorf("-demo: %+v %v", so.EmbeddedMode, err)
	}
	if _, _, err := snapshotOptions(&flags{demo: true, configDir: "cfg"}, log); err == nil || !strings.Contains(err.Error(), "-demo") {
		t.Errorf("-demo with -config: %v", err)
	}
}
