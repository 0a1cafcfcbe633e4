package main

import (
	"io"
	"log/slog"
	"runtime/debug"
	"syscall"
	"testing"
)

func TestByteSize(t *testing.T) {
	for in, want := range map[string]int64{
		"0": 0, "1024": 1024, "500MB": 500e6, "500MiB": 500 << 20, "1.5GiB": 3 << 29, "64kb": 64e3, " 2 GB ": 2e9, "10B": 10,
	} {
		var b byteSize
		if err := b.Set(in); err != nil || int64(b) != want {
			t.Errorf("Set(%q) = %d, %v; want %d", in, b, err, want)
		}
	}
	for _, in := range []string{"", "MB", "-1MB", "lots", "1e30GB", "NaN"} {
		var b byteSize
		if err := b.Set(in); err == nil {
			t.Errorf("Set(%q) accepted: %d", in, b)
		}
	}
	if s := byteSize(500 << 20).String(); s != "500MiB" {
		t.Errorf("String() = %q", s)
	}
}

func TestLimitFlags(t *testing.T) {
	f, err := parseFlags([]string{"-max-conns", "10", "-max-conns-per-ip", "3", "-write-timeout", "5s", "-idle-timeout", "7s", "-memory-limit", "1GiB"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if f.maxConns != 10 || f.maxConnsPerIP != 3 || f.writeTimeout.Seconds() != 5 || f.idleTimeout.Seconds() != 7 ||
		int64(f.memoryLimit) != 1<<30 || !f.memorySet {
		t.Errorf("flags: %+v", f)
	}
	f, _ = parseFlags(nil, io.Discard)
	if int64(f.memoryLimit) != defaultMemoryLimit || f.memorySet {
		t.Errorf("default memory limit: %+v", f)
	}
	if _, err := parseFlags([]string{"-memory-limit", "much"}, io.Discard); err == nil {
		t.Error("-memory-limit much accepted")
	}
}

// -memory-limit sets the Go runtime's limit (GOMEMLIMIT) and is what
// requests are shed against; 0 sets nothing.
func TestApplyMemoryLimit(t *testing.T) {
	t.Setenv("GOMEMLIMIT", "")
	old := debug.SetMemoryLimit(-1)
	defer debug.SetMemoryLimit(old)
	log := slog.New(slog.DiscardHandler)
	if n := applyMemoryLimit(&flags{memoryLimit: 300 << 20, memorySet: true}, log); n != 300<<20 || debug.SetMemoryLimit(-1) != 300<<20 {
		t.Errorf("limit %d, runtime %d", n, debug.SetMemoryLimit(-1))
	}
	debug.SetMemoryLimit(old)
	if n := applyMemoryLimit(&flags{memoryLimit: 0, memorySet: true}, log); n != 0 || debug.SetMemoryLimit(-1) != old {
		t.Errorf("-memory-limit 0: %d, runtime %d", n, debug.SetMemoryLimit(-1))
	}
}

func TestRaiseFileLimit(t *testing.T) {
	var rl syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil {
		t.Skip(err)
	}
	if got := raiseFileLimit(slog.New(slog.DiscardHandler)); got != rl.Max {
		t.Errorf("soft limit %d after raising, hard limit %d", got, rl.Max)
	}
}
