package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"smartrouter/format"
)

// The refresh child is started at the lowest priority: its nice value, read
// from /proc, is childNice, and routerd's own threads keep theirs (where
// the process may raise a thread's priority back, as root may; elsewhere
// the lowered thread is discarded).
func TestStartNicedLowersOnlyTheChild(t *testing.T) {
	sleep, err := exec.LookPath("sleep")
	if err != nil {
		t.Skip("no sleep binary to start")
	}
	cmd := exec.Command(sleep, "5")
	if err := startNiced(cmd); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
	if n := niceOf(t, "/proc/"+strconv.Itoa(cmd.Process.Pid)+"/stat"); n != childNice {
		t.Fatalf("child nice %d, want %d", n, childNice)
	}
	if os.Geteuid() != 0 {
		return
	}
	tasks, err := os.ReadDir("/proc/self/task")
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range tasks {
		tid, _ := strconv.Atoi(e.Name())
		if n := niceOf(t, "/proc/self/task/"+e.Name()+"/stat"); n == childNice {
			t.Fatalf("thread %d of routerd runs at nice %d", tid, n)
		}
	}
}

// niceOf reads the nice value (field 19) of a /proc stat file.
func niceOf(t *testing.T, stat string) int {
	t.Helper()
	b, err := os.ReadFile(stat)
	if err != nil {
		t.Skipf("no /proc: %v", err)
	}
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+2:]) // fields from 3 on
	n, err := strconv.Atoi(f[19-3])
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// runChild build compiles the installation into the -out file and answers
// with JSON; an unknown piece of work is an error in the answer.
func TestRunChildBuild(t *testing.T) {
	dir := t.TempDir()
	cfg, cache := install(t)
	out := filepath.Join(dir, "built.snap")
	var stdout, stderr bytes.Buffer
	code := runChild([]string{childBuild, "-config", cfg, "-cache", cache, "-generation", "9", "-out", out}, &stdout, &stderr)
	if code != 0 {
		t.Fatalf("exit %d: %s %s", code, stdout.String(), stderr.String())
	}
	var ans childAnswer
	if err := json.Unmarshal(stdout.Bytes(), &ans); err != nil || !ans.Changed || ans.Error != "" {
		t.Fatalf("answer %q: %v", stdout.String(), err)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	s, err := format.Open(b)
	if err != nil || s.Header().Generation != 9 {
		t.Fatalf("built snapshot: %v", err)
	}

	stdout.Reset()
	if code := runChild([]string{"nonsense", "-config", cfg, "-cache", cache}, &stdout, &stderr); code != 1 || !strings.Contains(stdout.String(), "unknown refresh work") {
		t.Fatalf("unknown work: exit %d, %s", code, stdout.String())
	}
}

// The worker runs the build in a child of the given binary and falls back
// to the same work in process when it has none.
func TestRefreshWorkerInProcessFallback(t *testing.T) {
	dir := t.TempDir()
	cfg, cache := install(t)
	b, _, err := refreshWorker{}.build(context.Background(), cfg, cache, filepath.Join(dir, "router.snap"), 4)
	if err != nil {
		t.Fatal(err)
	}
	if s, err := format.Open(b); err != nil || s.Header().Generation != 4 {
		t.Fatalf("built snapshot: %v", err)
	}
	if ents, _ := filepath.Glob(filepath.Join(dir, ".router.snap.build-*")); len(ents) != 0 {
		t.Fatalf("temporary files left: %v", ents)
	}
}
