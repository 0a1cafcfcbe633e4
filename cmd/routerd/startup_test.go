package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"smartrouter/compiler"
	"smartrouter/format/bundle"
	"smartrouter/runtime/server"
	"smartrouter/runtime/snapshot"
)

const smallDir = "../../fixtures/small"

// install copies the small installation into a temporary folder and returns
// its config and cache folders.
func install(t *testing.T) (cfg, cache string) {
	t.Helper()
	dir := t.TempDir()
	if err := os.CopyFS(dir, os.DirFS(smallDir)); err != nil {
		t.Fatal(err)
	}
	return filepath.Join(dir, "config"), filepath.Join(dir, "cache")
}

// serve starts a real server with so on 127.0.0.1 and returns its base URL;
// the server is shut down when the test ends.
func serve(t *testing.T, so snapshot.Options) (string, *server.Server) {
	t.Helper()
	srv, err := server.New(context.Background(), server.Options{Snapshot: so, Logger: slog.New(slog.DiscardHandler), ProbeTick: -1,
		LookupEnv: func(string) (string, bool) { return testToken, true }})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Shutdown(context.Background()) })
	return "http://" + ln.Addr().String(), srv
}

type health struct {
	Snapshot struct {
		Mode    string `json:"mode"`
		Stale   bool   `json:"stale"`
		Warning string `json:"warning"`
	} `json:"snapshot"`
	Models int `json:"models"`
}

func getHealth(t *testing.T, base string) health {
	t.Helper()
	resp, err := http.Get(base + "/health")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var h health
	if err := json.NewDecoder(resp.Body).Decode(&h); err != nil || resp.StatusCode != 200 {
		t.Fatalf("/health: %d %v", resp.StatusCode, err)
	}
	return h
}

// testToken is every ${ENV} secret of the served installations.
const testToken = "test-token-0123456789"

func getText(t *testing.T, url string) string {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	req.Header.Set("Authorization", "Bearer "+testToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

// TestConfigNeverServesDemo: routerd -config X, without -snapshot, from a
// folder with no router.snap, serves X built in memory, not the demo; with a
// broken X it refuses to start with the cause, still not the demo.
func TestConfigNeverServesDemo(t *testing.T) {
	cfg, _ := install(t)
	wd, _ := os.Getwd()
	defer os.Chdir(wd)
	if err := os.Chdir(t.TempDir()); err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.DiscardHandler)
	so, _, err := snapshotOptions(&flags{configDir: cfg}, log)
	if err != nil {
		t.Fatal(err)
	}
	base, srv := serve(t, so)
	h := getHealth(t, base)
	if h.Snapshot.Mode != string(snapshot.ModeFallback) || h.Models == 0 {
		t.Fatalf("health %+v, want json-fallback of the small installation", h)
	}
	if m := getText(t, base+"/v1/models"); !strings.Contains(m, "deepseek-chat") || strings.Contains(m, "mock") {
		t.Errorf("models are not the small installation's:\n%s", m)
	}
	recordStart(srv, time.Now().Add(-time.Second), 0, log)
	if in := srv.Manager().Info(); phaseSeconds(in.StartPhases, snapshot.PhaseFallbackCaches) < 0 || phaseSeconds(in.StartPhases, snapshot.PhaseStartTotal) < 1 {
		t.Errorf("start phases %+v", in.StartPhases)
	}
	if m := getText(t, base+"/metrics"); !strings.Contains(m, `smartrouter_start_phase_seconds{phase="fallback_config"}`) ||
		!strings.Contains(m, `smartrouter_snapshot_mode{mode="json-fallback"} 1`) {
		t.Errorf("metrics lack the start phases or the mode")
	}

	// A broken config and no snapshot: refused, with the cause.
	if err := os.WriteFile(filepath.Join(cfg, "router_config.yaml"), []byte("channels: [\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	so, _, _ = snapshotOptions(&flags{configDir: cfg}, log)
	_, err = server.New(context.Background(), server.Options{Snapshot: so, Logger: log, ProbeTick: -1})
	if err == nil || !strings.Contains(err.Error(), "router_config.yaml") {
		t.Fatalf("broken config without snapshot: %v", err)
	}
}

func phaseSeconds(ps []snapshot.Phase, name string) float64 {
	for _, p := range ps {
		if p.Name == name {
			return p.Seconds
		}
	}
	return -1
}

// TestStaleSnapshotWithCorruptCache: a valid snapshot, a discovery cache
// corrupted since, and -config: the fallback build fails and the snapshot
// keeps serving as stale-snapshot, with the warning in /health and the mode
// in /metrics.
func TestStaleSnapshotWithCorruptCache(t *testing.T) {
	cfg, cache := install(t)
	snap := filepath.Join(t.TempDir(), "router.snap")
	if _, err := compiler.Compile(cfg, cache, snap, compiler.Options{}, nil); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(cache, "discovered_models.json"), []byte(`{"groq_fast": {"models": [`), 0o644); err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.DiscardHandler)
	so, _, err := snapshotOptions(&flags{snapshot: snap, configDir: cfg}, log)
	if err != nil {
		t.Fatal(err)
	}
	base, srv := serve(t, so)
	recordStart(srv, time.Now(), 0, log)
	h := getHealth(t, base)
	if h.Snapshot.Mode != "stale-snapshot" || !h.Snapshot.Stale || !strings.Contains(h.Snapshot.Warning, "discovered_models.json") {
		t.Fatalf("health %+v", h.Snapshot)
	}
	if m := getText(t, base+"/metrics"); !strings.Contains(m, `smartrouter_snapshot_mode{mode="stale-snapshot"} 1`) {
		t.Error("metrics lack the stale-snapshot mode")
	}
	if m := getText(t, base+"/v1/models"); !strings.Contains(m, "deepseek-chat") {
		t.Errorf("the stale snapshot does not serve its models:\n%s", m)
	}
	// The first answered chat request lands in /v1/admin/snapshot's start
	// phases (its upstreams are not reachable here, so it is counted directly).
	srv.Metrics().Request(200, "")
	if phaseSeconds(srv.Manager().Info().StartPhases, snapshot.PhaseFirstRequest) < 0 {
		t.Errorf("first_request missing from %+v", srv.Manager().Info().StartPhases)
	}
}

// TestBundlePrecedence: a bundled binary serves its snapshot before
// router.snap and -config; -snapshot still wins; a damaged trailer refuses to
// start with an error that says what to do.
func TestBundlePrecedence(t *testing.T) {
	cfg, cache := install(t)
	snapPath := filepath.Join(t.TempDir(), "router.snap")
	if _, err := compiler.Compile(cfg, cache, snapPath, compiler.Options{}, nil); err != nil {
		t.Fatal(err)
	}
	snap, _ := os.ReadFile(snapPath)
	exe := bytes.Repeat([]byte("\x7fELF"), 3000)
	var b bytes.Buffer
	if err := bundle.Write(&b, bytes.NewReader(exe), int64(len(exe)), snap); err != nil {
		t.Fatal(err)
	}
	bundled := filepath.Join(t.TempDir(), "routerd")
	if err := os.WriteFile(bundled, b.Bytes(), 0o755); err != nil {
		t.Fatal(err)
	}
	old := executable
	defer func() { executable = old }()
	executable = func() (string, error) { return bundled, nil }
	wd, _ := os.Getwd()
	defer os.Chdir(wd)
	dir := t.TempDir()
	os.Chdir(dir)
	os.WriteFile(defaultSnapshot, []byte("x"), 0o600)

	log := slog.New(slog.DiscardHandler)
	so, took, err := snapshotOptions(&flags{configDir: cfg}, log)
	if err != nil || so.EmbeddedMode != snapshot.ModeBundled || !bytes.Equal(so.Embedded, snap) || so.Path != "" || took <= 0 {
		t.Fatalf("bundled: mode %q path %q %d bytes took %v err %v", so.EmbeddedMode, so.Path, len(so.Embedded), took, err)
	}
	base, _ := serve(t, so)
	if h := getHealth(t, base); h.Snapshot.Mode != "bundled" || h.Models == 0 {
		t.Fatalf("health %+v", h)
	}
	so, _, _ = snapshotOptions(&flags{snapshot: snapPath}, log)
	if so.Path != snapPath || so.Embedded != nil {
		t.Errorf("-snapshot must win over the bundle: %+v", so)
	}

	// Damage the trailer: refused, never skipped for -config or the demo.
	raw := b.Bytes()
	raw[len(raw)-bundle.TrailerSize+3] ^= 0xff
	os.WriteFile(bundled, raw, 0o755)
	_, _, err = snapshotOptions(&flags{configDir: cfg}, log)
	if !errors.Is(err, bundle.ErrCorrupt) || !strings.Contains(err.Error(), "routerc bundle") {
		t.Fatalf("damaged trailer: %v", err)
	}
	var stderr bytes.Buffer
	if code := run(nil, io.Discard, &stderr); code != 1 || !strings.Contains(stderr.String(), "trailer checksum") {
		t.Fatalf("run with a damaged bundle: exit %d\n%s", code, stderr.String())
	}
}

func writeFile(p, s string) error { return os.WriteFile(p, []byte(s), 0o644) }

func quiet() *slog.Logger { return slog.New(slog.DiscardHandler) }
