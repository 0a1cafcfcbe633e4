package e2e

import (
	"bytes"
	"encoding/binary"
	"errors"
	"path/filepath"
	"slices"
	"testing"

	"golang.org/x/sys/unix"

	"smartrouter/fixtures/mockllm"
)

// openWatch reports the files opened in some folders, through inotify: the
// kernel's own record, whatever the process does.
type openWatch struct {
	fd   int
	dirs map[int32]string
}

func watchOpens(t *testing.T, dirs ...string) *openWatch {
	t.Helper()
	fd, err := unix.InotifyInit1(unix.IN_NONBLOCK | unix.IN_CLOEXEC)
	if err != nil {
		t.Skipf("inotify is not available here: %v", err)
	}
	t.Cleanup(func() { unix.Close(fd) })
	w := &openWatch{fd: fd, dirs: map[int32]string{}}
	for _, d := range dirs {
		wd, err := unix.InotifyAddWatch(fd, d, unix.IN_OPEN|unix.IN_ACCESS)
		if err != nil {
			t.Fatalf("watch %s: %v", d, err)
		}
		w.dirs[int32(wd)] = d
	}
	return w
}

// opened returns the files (not folders) opened or read since the watch
// began, sorted and without repeats.
func (w *openWatch) opened(t *testing.T) []string {
	t.Helper()
	var files []string
	buf := make([]byte, 64<<10)
	for {
		n, err := unix.Read(w.fd, buf)
		if errors.Is(err, unix.EAGAIN) {
			break
		}
		if err != nil {
			t.Fatalf("read inotify events: %v", err)
		}
		for b := buf[:n]; len(b) >= unix.SizeofInotifyEvent; {
			wd := int32(binary.NativeEndian.Uint32(b[0:]))
			mask := binary.NativeEndian.Uint32(b[4:])
			l := int(binary.NativeEndian.Uint32(b[12:]))
			name := string(bytes.TrimRight(b[unix.SizeofInotifyEvent:unix.SizeofInotifyEvent+l], "\x00"))
			b = b[unix.SizeofInotifyEvent+l:]
			if mask&unix.IN_ISDIR == 0 && name != "" {
				files = append(files, filepath.Join(w.dirs[wd], name))
			}
		}
	}
	slices.Sort(files)
	return slices.Compact(files)
}

// A start with a fresh snapshot maps it and checks the sources by size and
// time only: no YAML or JSON file is opened, whatever their size. A stale
// snapshot, by contrast, is rebuilt from them (which also shows that the
// watch sees the opens it is there to catch).
func TestFreshStartReadsNoSources(t *testing.T) {
	mock := startMock(t, mockllm.Config{})
	dir := t.TempDir()
	cfg, cache := install(t, dir, mock.URL())
	snap := filepath.Join(dir, "router.snap")
	compile(t, cfg, cache, snap, 1)

	w := watchOpens(t, cfg, cache)
	p := startRouterd(t, "-snapshot", snap, "-config", cfg, "-cache", cache)
	if p.url == "" {
		t.Fatalf("routerd did not start:\n%s", p.logText())
	}
	if st, _, body := p.chat(hello); st != 200 {
		t.Fatalf("chat: %d %s", st, body)
	}
	if m := p.get("/v1/admin/snapshot"); m["mode"] != "snapshot" {
		t.Fatalf("mode %v, want snapshot", m["mode"])
	}
	if got := w.opened(t); len(got) != 0 {
		t.Fatalf("a start with a fresh snapshot opened its sources: %q", got)
	}

	touchConfig(t, cfg)
	w = watchOpens(t, cfg, cache)
	p = startRouterd(t, "-snapshot", snap, "-config", cfg, "-cache", cache)
	if p.url == "" {
		t.Fatalf("routerd did not start from a stale snapshot:\n%s", p.logText())
	}
	got := w.opened(t)
	if !slices.Contains(got, filepath.Join(cfg, "router_config.yaml")) {
		t.Fatalf("a stale start did not read the config; the watch saw only %q", got)
	}
}
