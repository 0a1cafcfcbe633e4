package e2e

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"smartrouter/fixtures/mockllm"
	"smartrouter/format/bundle"
)

// bundleRouterd writes routerd with the snapshot at snapPath appended, the
// way routerc bundle does, and returns the new binary.
func bundleRouterd(t *testing.T, snapPath string) string {
	t.Helper()
	snap, err := os.ReadFile(snapPath)
	if err != nil {
		t.Fatal(err)
	}
	exe, err := os.Open(routerd)
	if err != nil {
		t.Fatal(err)
	}
	defer exe.Close()
	st, _ := exe.Stat()
	out := filepath.Join(t.TempDir(), "routerd-bundled")
	f, err := os.OpenFile(out, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o755)
	if err != nil {
		t.Fatal(err)
	}
	if err := bundle.Write(f, exe, st.Size(), snap); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	return out
}

// A bundled routerd serves its snapshot with no flag (mode bundled), before
// -config; one whose trailer is damaged does not start and says why.
func TestBundledBinary(t *testing.T) {
	mock := startMock(t, mockllm.Config{})
	dir := t.TempDir()
	cfg, cache := install(t, dir, mock.URL())
	snap := filepath.Join(dir, "router.snap")
	compile(t, cfg, cache, snap, 9)
	bin := bundleRouterd(t, snap)

	for _, args := range [][]string{nil, {"-config", cfg}} {
		p := startBinary(t, bin, args...)
		if p.url == "" {
			t.Fatalf("%v: did not start:\n%s", args, p.logText())
		}
		root := p.get("/")
		if root["mode"] != "bundled" || root["generation"] != 9.0 {
			t.Errorf("%v: serving %v generation %v, want bundled 9", args, root["mode"], root["generation"])
		}
		if st, h, b := p.chat(hello); st != 200 || h.Get("X-Router-Channel") != "mock_main" {
			t.Errorf("%v: %d via %q: %s", args, st, h.Get("X-Router-Channel"), b)
		}
		p.signal(syscall.SIGTERM)
		<-p.done
	}

	b, _ := os.ReadFile(bin)
	b[len(b)-bundle.TrailerSize+9] ^= 0x01 // the length field
	broken := filepath.Join(t.TempDir(), "routerd-broken")
	os.WriteFile(broken, b, 0o755)
	p := startBinary(t, broken, "-config", cfg)
	<-p.done
	var ee *exec.ExitError
	if p.url != "" || !errors.As(p.err, &ee) || ee.ExitCode() != 1 {
		t.Fatalf("a damaged bundle started or exited wrongly (%v)\n%s", p.err, p.logText())
	}
	if l := p.logText(); !strings.Contains(l, "trailer checksum") || !strings.Contains(l, "routerc bundle") {
		t.Errorf("log does not say what is wrong and what to do:\n%s", l)
	}
}

// routerd -config X without -snapshot, from a folder with no router.snap,
// serves X (built from the JSON caches), never the demo; with no flag at all
// it serves the demo and says so in /health.
func TestConfigAloneNeverServesDemo(t *testing.T) {
	mock := startMock(t, mockllm.Config{})
	cfg, _ := install(t, t.TempDir(), mock.URL())
	p := startRouterd(t, "-config", cfg)
	if p.url == "" {
		t.Fatalf("did not start:\n%s", p.logText())
	}
	if root := p.get("/"); root["mode"] != "json-fallback" {
		t.Errorf("mode %v, want json-fallback", root["mode"])
	}
	if st, h, b := p.chat(hello); st != 200 || h.Get("X-Router-Channel") != "mock_main" {
		t.Errorf("%d via %q: %s (the demo's channels point elsewhere)", st, h.Get("X-Router-Channel"), b)
	}
	p.signal(syscall.SIGTERM)
	<-p.done

	p = startRouterd(t)
	if p.url == "" {
		t.Fatalf("demo did not start:\n%s", p.logText())
	}
	h := p.get("/health")
	snap, _ := h["snapshot"].(map[string]any)
	if snap["mode"] != "demo" || !strings.Contains(snap["warning"].(string), "demo") {
		t.Errorf("health snapshot %v", snap)
	}
	if !strings.Contains(p.logText(), "BUILT-IN DEMO") {
		t.Errorf("log does not flag the demo:\n%s", p.logText())
	}
	p.signal(syscall.SIGTERM)
	<-p.done
}
