package main

import (
	_ "embed"
	"log/slog"
	"os"
	"runtime/debug"
	"strings"
)

// godebugSetting is routerd's runtime setting, which `make build` and the
// CI recipe (docs/ci/build-snapshot.sh) compile into the binary as its
// default GODEBUG (-ldflags -X=runtime.godebugDefault=...). It is
// schedtrace with the longest period the runtime accepts (about 24.8
// days): with any schedtrace, the runtime's monitor thread (sysmon) never
// enters its long sleep, so it is not woken from that sleep each time the
// idle process makes a system call, and it does not then poll every 20 µs.
// At 1,000 requests per second on 2 cores that halves routerd's context
// switches per request (6.0 → 2.7) and cuts its CPU per request by about a
// quarter (docs/benchmarks.md). The trace itself is one line on standard
// error every 24.8 days, and a scheduler summary if the runtime crashes.
//
//go:embed godebug.txt
var godebugSetting string

// godebugActive reports whether the setting reached the runtime: given in
// the environment's GODEBUG, or compiled in.
func godebugActive(env string, bi *debug.BuildInfo) bool {
	key, _, _ := strings.Cut(strings.TrimSpace(godebugSetting), "=")
	found, on := false, false
	for _, kv := range strings.Split(env, ",") {
		if k, v, ok := strings.Cut(kv, "="); ok && k == key {
			found, on = true, v != "" && v != "0" // the last one wins; 0 turns it off
		}
	}
	if found {
		return on
	}
	if bi == nil {
		return false
	}
	for _, s := range bi.Settings {
		if s.Key == "-ldflags" && strings.Contains(s.Value, "runtime.godebugDefault="+strings.TrimSpace(godebugSetting)) {
			return true
		}
	}
	return false
}

// noteGODEBUG logs, once at start, when routerd runs without its runtime
// setting (built with a plain `go build`, say).
func noteGODEBUG(log *slog.Logger) {
	bi, _ := debug.ReadBuildInfo()
	if godebugActive(os.Getenv("GODEBUG"), bi) {
		return
	}
	log.Info("routerd was built without its runtime setting, so each request costs more CPU; build it with `make build`, or set it in the environment",
		"GODEBUG", strings.TrimSpace(godebugSetting))
}
