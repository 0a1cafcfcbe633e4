package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"smartrouter/fixtures/mockllm"
	"smartrouter/format"
)

// TestMain lets the test binary act as routerd's refresh child, so that
// the tests below start real child processes of their own binary, as
// routerd does.
func TestMain(m *testing.M) {
	if len(os.Args) > 1 && os.Args[1] == childArg {
		os.Exit(runChild(os.Args[2:], os.Stdout, os.Stderr))
	}
	os.Exit(m.Run())
}

// mockInstall is the small installation with every base URL on a mock
// whose model-list calls answer per rules, and the keys set.
func mockInstall(t *testing.T, rules []mockllm.Rule) (cfg, cache string) {
	t.Helper()
	m, err := mockllm.Start(mockllm.Config{Models: []string{"child-a", "child-b"}, Rules: rules})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = m.Close() })
	cfg, cache = install(t)
	ents, _ := filepath.Glob(filepath.Join(cfg, "*.yaml"))
	re := regexp.MustCompile(`base_url: "[^"]*"`)
	for _, p := range ents {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, re.ReplaceAll(b, []byte(`base_url: "`+m.URL()+`/v1"`)), 0o600); err != nil {
			t.Fatal(err)
		}
		for _, v := range regexp.MustCompile(`\$\{([A-Z0-9_]+)\}`).FindAllSubmatch(b, -1) {
			t.Setenv(string(v[1]), "sk-test-child-"+strings.ToLower(string(v[1])))
		}
	}
	return cfg, cache
}

// Discovery and the build run in real child processes of the test binary:
// the answers come back, the snapshot is read from the temporary file,
// which is removed.
func TestRefreshWorkerChildProcess(t *testing.T) {
	cfg, cache := mockInstall(t, nil)
	rw := refreshWorker{exe: os.Args[0]}
	t0 := time.Now()
	ans, err := rw.do(context.Background(), childRequest{Work: childDiscover, ConfigDir: cfg, CacheDir: cache})
	if err != nil || ans.OK == 0 {
		t.Fatalf("discover: %+v %v", ans, err)
	}
	if b, _ := os.ReadFile(filepath.Join(cache, "discovered_models.json")); !strings.Contains(string(b), "child-a") {
		t.Fatal("the child's discovery did not reach the cache")
	}
	t.Logf("first discovery %v: %+v", time.Since(t0), ans)
	// The same answers again: nothing changed.
	if ans, err := rw.do(context.Background(), childRequest{Work: childDiscover, ConfigDir: cfg, CacheDir: cache}); err != nil || ans.Changed {
		t.Fatalf("second discovery: %+v %v", ans, err)
	}
	dir := filepath.Dir(cfg)
	b, _, err := rw.build(context.Background(), cfg, cache, filepath.Join(dir, "router.snap"), 3)
	if err != nil {
		t.Fatal(err)
	}
	if s, err := format.Open(b); err != nil || s.Header().Generation != 3 {
		t.Fatalf("built snapshot: %v", err)
	}
	if ents, _ := filepath.Glob(filepath.Join(dir, ".router.snap.build-*")); len(ents) != 0 {
		t.Fatalf("temporary files left: %v", ents)
	}
	// A child's error comes back as the error.
	if _, err := rw.do(context.Background(), childRequest{Work: "nonsense", ConfigDir: cfg, CacheDir: cache}); err == nil || !strings.Contains(err.Error(), "unknown refresh work") {
		t.Fatalf("unknown work: %v", err)
	}
}

// A canceled refresh stops its child with SIGTERM: discovery stops without
// changing the cache or leaving a temporary file beside it. While it runs,
// the child is at nice 19 and routerd is not.
func TestRefreshWorkerCancelStopsChild(t *testing.T) {
	cfg, cache := mockInstall(t, []mockllm.Rule{{Fault: mockllm.FaultHang}})
	before, _ := os.ReadFile(filepath.Join(cache, "discovered_models.json"))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		_, err := refreshWorker{exe: os.Args[0]}.do(ctx, childRequest{Work: childDiscover, ConfigDir: cfg, CacheDir: cache})
		done <- err
	}()
	// Cancel once the child is asking the hanging mock.
	seen := false
	for range 1000 {
		if seen = len(childPIDs(os.Getpid())) > 0; seen {
			break
		}
		runtime.Gosched()
		time.Sleep(10 * time.Millisecond)
	}
	if !seen {
		t.Fatal("no child process started")
	}
	// The child runs at the lowest priority, every thread of it, once it
	// has lowered itself; routerd's threads keep theirs.
	pid := childPIDs(os.Getpid())[0]
	lowered := false
	for range 500 {
		ths, _ := filepath.Glob("/proc/" + pid + "/task/*/stat")
		lowered = len(ths) > 0
		for _, th := range ths {
			if b, err := os.ReadFile(th); err != nil || niceField(t, string(b)) != childNice {
				lowered = false
			}
		}
		if lowered {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	if !lowered {
		t.Error("the refresh child did not lower all its threads to nice 19")
	}
	ths, _ := filepath.Glob("/proc/self/task/*/stat")
	for _, th := range ths {
		if b, err := os.ReadFile(th); err == nil && niceField(t, string(b)) == childNice {
			t.Errorf("a thread of routerd runs at nice %d", childNice)
		}
	}
	cancel()
	err := <-done
	if err == nil {
		t.Fatal("a canceled discovery succeeded")
	}
	after, _ := os.ReadFile(filepath.Join(cache, "discovered_models.json"))
	if !bytes.Equal(before, after) {
		t.Fatal("a canceled discovery changed the cache")
	}
	if ents, _ := filepath.Glob(filepath.Join(cache, ".*tmp*")); len(ents) != 0 {
		t.Fatalf("temporary files left: %v", ents)
	}
}

// childPIDs lists the children of process pid.
func childPIDs(pid int) []string {
	tasks, _ := filepath.Glob("/proc/" + strconv.Itoa(pid) + "/task/*/children")
	var out []string
	for _, p := range tasks {
		b, _ := os.ReadFile(p)
		out = append(out, strings.Fields(string(b))...)
	}
	return out
}

// niceField reads the nice value (field 19) of a /proc stat line.
func niceField(t *testing.T, s string) int {
	t.Helper()
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+2:]) // fields from 3 on
	n, err := strconv.Atoi(f[19-3])
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// routerd __refresh-child build (the test binary standing in for routerd)
// compiles the installation into the -out file and answers with JSON; an
// unknown piece of work is an error in the answer and exit status 1. (A
// real process: the child lowers its own priority.)
func TestRunChildBuild(t *testing.T) {
	cfg, cache := install(t)
	out := filepath.Join(t.TempDir(), "built.snap")
	var stdout, stderr bytes.Buffer
	cmd := exec.Command(os.Args[0], childArg, childBuild, "-config", cfg, "-cache", cache, "-generation", "9", "-out", out)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("%v: %s %s", err, stdout.String(), stderr.String())
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
	cmd = exec.Command(os.Args[0], childArg, "nonsense", "-config", cfg, "-cache", cache)
	cmd.Stdout = &stdout
	err = cmd.Run()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 1 || !strings.Contains(stdout.String(), "unknown refresh work") {
		t.Fatalf("unknown work: %v, %s", err, stdout.String())
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

// A child that ends without an answer is an error naming the work and how
// it ended, without the rest of what it printed (a panic's stack).
func TestRefreshWorkerChildWithoutAnswer(t *testing.T) {
	sh, err := exec.LookPath("sh")
	if err != nil {
		t.Skip("no sh to stand in for a crashing child")
	}
	dir := t.TempDir()
	exe := filepath.Join(dir, "crash")
	script := "#!" + sh + "\necho 'panic: boom' >&2\necho 'goroutine 1 [running]:' >&2\nexit 2\n"
	if err := os.WriteFile(exe, []byte(script), 0o700); err != nil {
		t.Fatal(err)
	}
	_, err = refreshWorker{exe: exe}.do(context.Background(), childRequest{Work: childDiscover, ConfigDir: dir, CacheDir: dir})
	if err == nil || !strings.Contains(err.Error(), "panic: boom") || !strings.Contains(err.Error(), "exit status 2") || strings.Contains(err.Error(), "goroutine") {
		t.Fatalf("error %v", err)
	}
}

// The worker starts the running binary itself: /proc/self/exe where there
// is one.
func TestNewRefreshWorkerUsesRunningBinary(t *testing.T) {
	rw := newRefreshWorker()
	if _, err := os.Stat("/proc/self/exe"); err == nil && rw.exe != "/proc/self/exe" {
		t.Fatalf("exe %q, want /proc/self/exe", rw.exe)
	}
	if rw.exe == "" {
		t.Fatal("no executable found; the refresh would run in process")
	}
	// A real child through it: the test binary answers as routerd does.
	cfg, cache := install(t)
	b, _, err := rw.build(context.Background(), cfg, cache, filepath.Join(t.TempDir(), "router.snap"), 2)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := format.Open(b); err != nil {
		t.Fatal(err)
	}
}
