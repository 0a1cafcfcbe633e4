package main

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// userHZ is the unit of the CPU times in /proc/PID/stat: the kernel exports
// them in USER_HZ, which is 100 on Linux whatever the kernel's own tick rate.
const userHZ = 100

// memKB holds the memory figures of /proc/PID/status, in KiB.
type memKB struct {
	HWM int64 // VmHWM: peak resident set
	RSS int64 // VmRSS: resident set now
}

// parseStatus reads VmHWM and VmRSS from the text of /proc/PID/status.
func parseStatus(text string) (memKB, error) {
	var m memKB
	var seen int
	sc := bufio.NewScanner(strings.NewReader(text))
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		var dst *int64
		switch k {
		case "VmHWM":
			dst = &m.HWM
		case "VmRSS":
			dst = &m.RSS
		default:
			continue
		}
		f := strings.Fields(v)
		if len(f) != 2 || f[1] != "kB" {
			return memKB{}, fmt.Errorf("unexpected %s line %q in /proc status", k, sc.Text())
		}
		n, err := strconv.ParseInt(f[0], 10, 64)
		if err != nil {
			return memKB{}, fmt.Errorf("parse %s in /proc status: %w", k, err)
		}
		*dst = n
		seen++
	}
	if seen != 2 {
		return memKB{}, fmt.Errorf("no VmHWM/VmRSS in /proc status (is this Linux?)")
	}
	return m, nil
}

// parseStatCPU returns utime+stime from the text of /proc/PID/stat. The
// command name (field 2) may contain spaces and parentheses, so fields are
// counted after its last ')'.
func parseStatCPU(text string) (time.Duration, error) {
	// utime is field 14, stime field 15.
	return statTicks(text, 14)
}

// statTicks adds fields field and field+1 of the text of /proc/PID/stat
// (1-based, as proc(5) numbers them), counted after the command name's
// last ')', as CPU time.
func statTicks(text string, field int) (time.Duration, error) {
	i := strings.LastIndexByte(text, ')')
	if i < 0 {
		return 0, fmt.Errorf("malformed /proc stat: no ')'")
	}
	f := strings.Fields(text[i+1:])
	// f[0] is field 3 (state).
	at := field - 3
	if len(f) < at+2 {
		return 0, fmt.Errorf("malformed /proc stat: %d fields after the name", len(f))
	}
	var ticks int64
	for _, s := range f[at : at+2] {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return 0, fmt.Errorf("parse CPU ticks in /proc stat: %w", err)
		}
		ticks += n
	}
	return time.Duration(ticks) * time.Second / userHZ, nil
}

// procMem reads the memory figures of process pid.
func procMem(pid int) (memKB, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return memKB{}, fmt.Errorf("read memory of process %d: %w", pid, err)
	}
	return parseStatus(string(b))
}

// procCPU reads the CPU time (user + system) process pid has used.
func procCPU(pid int) (time.Duration, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, fmt.Errorf("read CPU time of process %d: %w", pid, err)
	}
	return parseStatCPU(string(b))
}

// childPIDs lists the running children of process pid (forked by any of
// its threads), from /proc/PID/task/*/children.
func childPIDs(pid int) []int {
	tasks, err := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/children", pid))
	if err != nil {
		return nil
	}
	var out []int
	for _, t := range tasks {
		b, err := os.ReadFile(t)
		if err != nil {
			continue
		}
		for _, f := range strings.Fields(string(b)) {
			if n, err := strconv.Atoi(f); err == nil {
				out = append(out, n)
			}
		}
	}
	return out
}

// procChildCPU reads the CPU time (user + system) of the children process
// pid has waited for (cutime and cstime of /proc/PID/stat).
func procChildCPU(pid int) (time.Duration, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, fmt.Errorf("read CPU time of process %d: %w", pid, err)
	}
	// cutime is field 16, cstime field 17.
	return statTicks(string(b), 16)
}
