package main

import (
	"os"
	"os/exec"
	"slices"
	"testing"
	"time"
)

func TestParseStatus(t *testing.T) {
	status := "Name:\trouterd\nUmask:\t0022\nState:\tS (sleeping)\nVmPeak:\t 1263968 kB\nVmSize:\t 1263968 kB\nVmHWM:\t   21440 kB\nVmRSS:\t   19876 kB\nThreads:\t7\n"
	got, err := parseStatus(status)
	if err != nil {
		t.Fatal(err)
	}
	if got != (memKB{HWM: 21440, RSS: 19876}) {
		t.Errorf("parseStatus = %+v", got)
	}
	for _, bad := range []string{
		"Name:\tx\n",                       // neither line
		"VmHWM:\t 10 kB\n",                 // no VmRSS
		"VmHWM:\t 10 MB\nVmRSS:\t 9 kB\n",  // wrong unit
		"VmHWM:\t ten kB\nVmRSS:\t 9 kB\n", // not a number
	} {
		if _, err := parseStatus(bad); err == nil {
			t.Errorf("parseStatus(%q): no error", bad)
		}
	}
}

func TestParseStatCPU(t *testing.T) {
	tests := []struct {
		name string
		stat string
		want time.Duration
		ok   bool
	}{
		{"plain", "4242 (routerd) S 1 4242 4242 0 -1 4194560 1234 0 0 0 150 25 0 0 20 0 7 0 1000 123456 789 18446744073709551615", 1750 * time.Millisecond, true},
		{"name with spaces and parentheses", "77 (a) b (c) R 1 77 77 0 -1 0 0 0 0 0 3 4 0 0 20 0 1 0 5 6 7", 70 * time.Millisecond, true},
		{"no closing parenthesis", "77 (abc R 1 2", 0, false},
		{"too few fields", "77 (x) R 1 2 3", 0, false},
		{"not a number", "77 (x) R 1 2 3 4 5 6 7 8 9 10 x 4 0 0", 0, false},
	}
	for _, tt := range tests {
		got, err := parseStatCPU(tt.stat)
		if (err == nil) != tt.ok || got != tt.want {
			t.Errorf("%s: parseStatCPU = %v, %v; want %v, ok %v", tt.name, got, err, tt.want, tt.ok)
		}
	}
}

// childPIDs finds a real child process of this one.
func TestChildPIDs(t *testing.T) {
	cmd := exec.Command("sleep", "5")
	if err := cmd.Start(); err != nil {
		t.Skipf("cannot start sleep: %v", err)
	}
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
	if !slices.Contains(childPIDs(os.Getpid()), cmd.Process.Pid) {
		t.Fatalf("child %d not among %v", cmd.Process.Pid, childPIDs(os.Getpid()))
	}
}

// procChildCPU counts the CPU of a child this process waited for.
func TestProcChildCPU(t *testing.T) {
	before, err := procChildCPU(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	sh, err := exec.LookPath("sh")
	if err != nil {
		t.Skip("no sh")
	}
	// A child that burns some CPU (a bounded loop), then is waited for.
	if err := exec.Command(sh, "-c", "i=0; while [ $i -lt 300000 ]; do i=$((i+1)); done").Run(); err != nil {
		t.Fatal(err)
	}
	after, err := procChildCPU(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	if after <= before {
		t.Fatalf("children's CPU %v, then %v: the waited-for child's CPU is not counted", before, after)
	}
}
