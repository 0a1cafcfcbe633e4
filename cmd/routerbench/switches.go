package main

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// procSwitches is the number of context switches (voluntary and not) of
// every thread of pid: each is a thread put to sleep or taken off a core,
// and the Go runtime's share of a proxied request's CPU time is mostly
// these (threads parked and woken around every network wait, and sysmon's
// polling). A thread that exited since is not counted.
func procSwitches(pid int) (int64, error) {
	tasks, err := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/status", pid))
	if err != nil || len(tasks) == 0 {
		return 0, fmt.Errorf("no threads of process %d", pid)
	}
	var n int64
	for _, t := range tasks {
		c, err := statusSwitches(t)
		if err != nil {
			continue // the thread exited
		}
		n += c
	}
	return n, nil
}

// statusSwitches adds the two ctxt_switches lines of a status file.
func statusSwitches(path string) (int64, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	var n int64
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasSuffix(strings.SplitN(line, ":", 2)[0], "ctxt_switches") {
			continue
		}
		v, err := strconv.ParseInt(strings.TrimSpace(line[strings.IndexByte(line, ':')+1:]), 10, 64)
		if err != nil {
			return 0, fmt.Errorf("%s: %q: %w", path, line, err)
		}
		n += v
	}
	return n, sc.Err()
}

// procTreeSwitches is procSwitches of pid and its children (nginx's
// workers).
func procTreeSwitches(pid int) (int64, error) { return overTree(pid, procSwitches) }
