package main

import (
	"fmt"
	"log/slog"
	"math"
	"os"
	"runtime/debug"
	"smartrouter/runtime/server"
	"strconv"
	"strings"
	"syscall"
)

// defaultMemoryLimit is performance.yaml's memory_usage_limit default.
const defaultMemoryLimit = 500 << 20

// raiseFileLimit raises the soft limit on open files to the hard limit (Go
// already does so at start on Linux; this makes it explicit everywhere and
// logged) and returns the soft limit now in force.
func raiseFileLimit(log *slog.Logger) uint64 {
	var rl syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil {
		log.Warn("cannot read the open-file limit; the connection cap keeps its flag value", "error", err)
		return 0
	}
	if rl.Cur < rl.Max {
		want := rl
		want.Cur = rl.Max
		if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &want); err != nil {
			log.Warn("cannot raise the open-file limit to the hard limit", "soft", rl.Cur, "hard", rl.Max, "error", err)
			return rl.Cur
		}
		return rl.Max
	}
	return rl.Cur
}

// applyMemoryLimit sets the Go runtime's memory limit and returns the limit
// requests are shed against (0: none). An explicit -memory-limit wins; else
// a GOMEMLIMIT from the environment is kept; else the default applies.
func applyMemoryLimit(f *flags, log *slog.Logger) int64 {
	if !f.memorySet {
		if v := os.Getenv("GOMEMLIMIT"); v != "" && v != "off" {
			// The runtime parsed it at start; read back what it holds.
			if n := debug.SetMemoryLimit(-1); n > 0 && n != math.MaxInt64 {
				return n
			}
		}
	}
	n := int64(f.memoryLimit)
	if n <= 0 {
		return 0
	}
	debug.SetMemoryLimit(n)
	log.Debug("memory limit set", "bytes", n)
	return n
}

// settingsMemoryLimit applies performance.yaml's memory_usage_limit (the
// snapshot's MemoryLimitBytes) when neither -memory-limit nor GOMEMLIMIT set
// a limit: the flag wins, then the environment, then the configuration, then
// the default. It returns the limit in force. The setting is read once, at
// start.
func settingsMemoryLimit(f *flags, srv *server.Server, current int64, log *slog.Logger) int64 {
	if f.memorySet {
		return current
	}
	if v := os.Getenv("GOMEMLIMIT"); v != "" && v != "off" {
		return current
	}
	h := srv.Manager().Acquire()
	if h == nil {
		return current
	}
	n := int64(h.Snapshot().Settings().MemoryLimitBytes)
	h.Release()
	if n <= 0 || n == current {
		return current
	}
	debug.SetMemoryLimit(n)
	srv.SetMemoryLimit(n)
	log.Debug("memory limit set from memory_usage_limit", "bytes", n)
	return n
}

// byteSize is a flag holding a size in bytes: a plain number, or one with a
// unit B, KB, MB, GB (powers of 1000), KiB, MiB, GiB (powers of 1024).
type byteSize int64

var sizeUnits = []struct {
	suffix string
	mult   int64
}{
	{"KIB", 1 << 10}, {"MIB", 1 << 20}, {"GIB", 1 << 30}, {"TIB", 1 << 40},
	{"KB", 1e3}, {"MB", 1e6}, {"GB", 1e9}, {"TB", 1e12}, {"B", 1},
}

func (b *byteSize) Set(s string) error {
	t := strings.ToUpper(strings.TrimSpace(s))
	mult := int64(1)
	for _, u := range sizeUnits {
		if strings.HasSuffix(t, u.suffix) {
			t, mult = strings.TrimSpace(strings.TrimSuffix(t, u.suffix)), u.mult
			break
		}
	}
	v, err := strconv.ParseFloat(t, 64)
	if err != nil || v < 0 || math.IsNaN(v) || v*float64(mult) > math.MaxInt64/2 {
		return fmt.Errorf("%q is not a size: write a number of bytes with an optional unit, e.g. 500MB or 1GiB (0: no limit)", s)
	}
	*b = byteSize(v * float64(mult))
	return nil
}

func (b byteSize) String() string {
	switch {
	case b == 0:
		return "0"
	case b%(1<<30) == 0:
		return strconv.FormatInt(int64(b)>>30, 10) + "GiB"
	case b%(1<<20) == 0:
		return strconv.FormatInt(int64(b)>>20, 10) + "MiB"
	}
	return strconv.FormatInt(int64(b), 10) + "B"
}
