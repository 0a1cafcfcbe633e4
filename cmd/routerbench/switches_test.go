package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestStatusSwitches(t *testing.T) {
	p := filepath.Join(t.TempDir(), "status")
	body := "Name:\trouterd\nState:\tS (sleeping)\nvoluntary_ctxt_switches:\t1200\nnonvoluntary_ctxt_switches:\t34\n"
	if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	if n, err := statusSwitches(p); err != nil || n != 1234 {
		t.Fatalf("statusSwitches = %d, %v; want 1234", n, err)
	}
	if err := os.WriteFile(p, []byte("voluntary_ctxt_switches:\tmany\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := statusSwitches(p); err == nil {
		t.Fatal("a value that is not a number was accepted")
	}
}

// The test process's own threads have been switched out at least once
// (every thread that ever blocked was); a process that does not exist is
// an error, not zero.
func TestProcSwitches(t *testing.T) {
	if _, err := os.Stat("/proc/self/task"); err != nil {
		t.Skip("no /proc on this system")
	}
	n, err := procSwitches(os.Getpid())
	if err != nil || n <= 0 {
		t.Fatalf("procSwitches(self) = %d, %v", n, err)
	}
	if _, err := procSwitches(-1); err == nil {
		t.Fatal("no error for a process that does not exist")
	}
}

// The harness builds routerd with the setting of cmd/routerd/godebug.txt
// and refuses a file that is not a GODEBUG value.
func TestReadGODEBUG(t *testing.T) {
	v, err := readGODEBUG(filepath.Join("..", ".."))
	if err != nil || !strings.HasPrefix(v, "schedtrace=") {
		t.Fatalf("readGODEBUG(module root) = %q, %v", v, err)
	}
	root := t.TempDir()
	if err := os.MkdirAll(filepath.Join(root, "cmd", "routerd"), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, bad := range []string{"", "schedtrace", "schedtrace=1 gctrace=1", "=1", "a=1,'b=2'"} {
		if err := os.WriteFile(filepath.Join(root, godebugFile), []byte(bad+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		if v, err := readGODEBUG(root); err == nil {
			t.Errorf("readGODEBUG accepted %q as %q", bad, v)
		}
	}
}
