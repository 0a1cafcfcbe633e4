package main

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"smartrouter/format/bundle"
	"smartrouter/runtime/server"
	"smartrouter/runtime/snapshot"
)

// executable returns the path of the running binary; tests replace it.
var executable = os.Executable

// snapshotOptions turns the flags into the snapshot manager's options. The
// snapshot served is chosen in this order (docs/operations.md, "Start-up"):
//
//  1. -snapshot FILE (with -config: staleness check and JSON fallback);
//  2. the snapshot bundled into this binary by routerc bundle;
//  3. router.snap in the working directory (as if given with -snapshot);
//  4. -config DIR alone: built in memory from the YAML and JSON caches;
//  5. the built-in demo, only with neither -snapshot nor -config, or -demo.
//
// A bundled binary whose trailer is damaged is refused, never skipped. The
// second result is how long reading the bundle took (0 when none).
func snapshotOptions(f *flags, log *slog.Logger) (snapshot.Options, time.Duration, error) {
	cacheDir := f.cacheDir
	if cacheDir == "" && f.configDir != "" {
		// An installation keeps config/ and cache/ side by side.
		if d := filepath.Join(filepath.Dir(filepath.Clean(f.configDir)), "cache"); isDir(d) {
			cacheDir = d
		}
	}
	so := snapshot.Options{
		ConfigDir: f.configDir,
		CacheDir:  cacheDir,
		WriteBack: f.writeBack,
		Logger:    log,
		Fallback:  newFallback(f.configDir, cacheDir, log),
	}
	if f.demo {
		if f.snapshot != "" || f.configDir != "" {
			return so, 0, errors.New("-demo serves the built-in demo snapshot; drop -snapshot and -config, or drop -demo to serve them")
		}
		return demoOptions(so)
	}
	if f.snapshot != "" {
		so.Path = f.snapshot
		return so, 0, nil
	}
	start := time.Now()
	b, exe, err := bundledSnapshot()
	if err != nil {
		return so, 0, err
	}
	if b != nil {
		so.Embedded, so.EmbeddedMode = b, snapshot.ModeBundled
		log.Info("serving the snapshot bundled into this binary", "binary", exe, "bytes", len(b))
		return so, time.Since(start), nil
	}
	if st, err := os.Stat(defaultSnapshot); err == nil && st.Mode().IsRegular() {
		so.Path = defaultSnapshot
		return so, 0, nil
	}
	if f.configDir != "" {
		// JSON mode: no file, the fallback builds from -config. Never the demo.
		return so, 0, nil
	}
	return demoOptions(so)
}

// demoOptions serves the built-in demo, if this build has one.
func demoOptions(so snapshot.Options) (snapshot.Options, time.Duration, error) {
	so.Fallback = nil
	so.Embedded, so.EmbeddedMode = demoSnapshot(), snapshot.ModeDemo
	if len(so.Embedded) == 0 {
		return so, 0, errors.New("no snapshot: pass -snapshot FILE (compile one with routerc), -config DIR, or run from a folder holding " + defaultSnapshot)
	}
	return so, 0, nil
}

// bundledSnapshot reads the snapshot appended to the running binary by
// routerc bundle: nil when there is none, an error when the bundle is
// damaged. The bytes are copied into memory, like a snapshot file, so an
// upgrade that rewrites the binary in place cannot change them.
func bundledSnapshot() ([]byte, string, error) {
	exe, err := executable()
	if err != nil {
		return nil, "", nil // cannot find ourselves: not bundled
	}
	f, err := os.Open(exe)
	if err != nil {
		return nil, exe, nil
	}
	defer func() { _ = f.Close() }()
	st, err := f.Stat()
	if err != nil {
		return nil, exe, nil
	}
	b, _, err := bundle.Read(f, st.Size())
	switch {
	case errors.Is(err, bundle.ErrNotBundled):
		return nil, exe, nil
	case err != nil:
		return nil, exe, fmt.Errorf("%s: %w", exe, err)
	}
	return b, exe, nil
}

// recordStart records the start phases in the manager and the metrics, arms
// the first-request phase and exports the snapshot mode; procStart is when
// run began, bundleRead how long reading a bundled snapshot took.
func recordStart(srv *server.Server, procStart time.Time, bundleRead time.Duration, log *slog.Logger) {
	mgr, met := srv.Manager(), srv.Metrics()
	if bundleRead > 0 {
		mgr.RecordStartPhase(snapshot.PhaseSnapshotRead, bundleRead)
	}
	mgr.RecordStartPhase(snapshot.PhaseStartTotal, time.Since(procStart))
	for _, p := range mgr.StartPhases() {
		met.StartPhase(p.Name, p.Seconds)
	}
	met.SnapshotMode(func() string { return string(mgr.Mode()) })
	met.TrackFirstRequest(procStart, func(d time.Duration) { mgr.RecordStartPhase(snapshot.PhaseFirstRequest, d) })
	in := mgr.Info()
	if in.Mode == snapshot.ModeDemo || in.Mode == snapshot.ModeStale {
		log.Warn("routerd is NOT serving an up-to-date snapshot of your configuration", "mode", in.Mode, "warning", in.Warning)
	}
}

func isDir(p string) bool {
	st, err := os.Stat(p)
	return err == nil && st.IsDir()
}
