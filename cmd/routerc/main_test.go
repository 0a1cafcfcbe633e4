package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"smartrouter/compiler"
)

const (
	smallDir = "../../fixtures/small"
	nextDir  = "../../fixtures/small-next"
	demoDir  = "../../fixtures/demo"
	scaleDir = "../../fixtures/generated/scale"
	growDir  = "../../fixtures/generated/growth"
)

// routerc runs the command in-process.
func routerc(args ...string) (stdout, stderr string, code int) {
	var o, e bytes.Buffer
	code = run(args, &o, &e)
	return o.String(), e.String(), code
}

// compileTo compiles an installation reproducibly into dir and returns the
// file.
func compileTo(t *testing.T, inst, dir string) string {
	t.Helper()
	out := filepath.Join(dir, filepath.Base(inst)+".snap")
	if _, err := compiler.Compile(filepath.Join(inst, "config"), filepath.Join(inst, "cache"), out, compiler.Options{Reproducible: true}, nil); err != nil {
		t.Fatal(err)
	}
	return out
}

func TestUsage(t *testing.T) {
	tests := []struct {
		args []string
		code int
		out  string
	}{
		{nil, 2, "usage: routerc"},
		{[]string{"frobnicate"}, 2, `unknown command "frobnicate"`},
		{[]string{"help"}, 0, "compile"},
		{[]string{"verify"}, 2, "expected 1 argument"},
		{[]string{"diff", "a"}, 2, "expected 2 argument"},
		{[]string{"dump", "-h"}, 0, "usage: routerc dump"},
		{[]string{"compile", "-nope"}, 2, "flag provided but not defined"},
	}
	for _, tc := range tests {
		o, e, code := routerc(tc.args...)
		if code != tc.code || !strings.Contains(o+e, tc.out) {
			t.Errorf("routerc %q: code %d, output %q; want %d and %q", tc.args, code, o+e, tc.code, tc.out)
		}
	}
}

// TestNoKeyInAnyOutput runs every command on the demo snapshot, whose keys
// are literals, and checks that none prints one.
func TestNoKeyInAnyOutput(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "demo.snap")
	var all strings.Builder
	for _, args := range [][]string{
		{"compile", "-config", demoDir + "/config", "-cache", demoDir + "/cache", "-o", out, "-warnings", "0"},
		{"verify", out},
		{"inspect", out, "-config", demoDir + "/config", "-cache", demoDir + "/cache"},
		{"dump", out},
		{"diff", out, demoDir + "/router.snap"},
		{"route", out, "tag:demo"},
		{"route", out, "tag:demo", "-json"},
	} {
		o, e, _ := routerc(args...)
		all.WriteString(o + e)
	}
	for _, key := range []string{"demo-key-main", "demo-key-free", "demo-key-off", "key-fail-500", "key-fail-429"} {
		if strings.Contains(all.String(), key) {
			t.Errorf("some command printed the key %q", key)
		}
	}
	if _, err := os.Stat(out); err != nil {
		t.Fatal(err)
	}
}
