package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"os/exec"
	"strconv"
	"strings"
)

// benchLine is one result line of `go test -bench`:
//
//	BenchmarkRoute/tags3-2   20000   1870 ns/op   1860 p50-ns   0 B/op   0 allocs/op
type benchLine struct {
	Name    string             // without the "Benchmark" prefix and the -GOMAXPROCS suffix
	Procs   int                // the -N suffix (1 when absent)
	N       int64              // iterations
	Metrics map[string]float64 // unit -> value ("ns/op", "allocs/op", "p50-ns", ...)
}

// parseBenchLine parses one line of Go's benchmark output format. It
// reports false for every other line (goos:, PASS, ok, log output, a
// benchmark name printed alone before its result).
func parseBenchLine(line string) (benchLine, bool) {
	f := strings.Fields(line)
	if len(f) < 4 || !strings.HasPrefix(f[0], "Benchmark") || len(f)%2 != 0 {
		return benchLine{}, false
	}
	n, err := strconv.ParseInt(f[1], 10, 64)
	if err != nil || n <= 0 {
		return benchLine{}, false
	}
	bl := benchLine{Name: strings.TrimPrefix(f[0], "Benchmark"), Procs: 1, N: n, Metrics: make(map[string]float64, (len(f)-2)/2)}
	if i := strings.LastIndexByte(bl.Name, '-'); i > 0 {
		if p, err := strconv.Atoi(bl.Name[i+1:]); err == nil && p > 0 {
			bl.Name, bl.Procs = bl.Name[:i], p
		}
	}
	for i := 2; i+1 < len(f); i += 2 {
		v, err := strconv.ParseFloat(f[i], 64)
		if err != nil {
			return benchLine{}, false
		}
		bl.Metrics[f[i+1]] = v
	}
	return bl, true
}

// parseBenchOutput collects every result line of r.
func parseBenchOutput(r io.Reader) ([]benchLine, error) {
	var out []benchLine
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for sc.Scan() {
		if bl, ok := parseBenchLine(sc.Text()); ok {
			out = append(out, bl)
		}
	}
	return out, sc.Err()
}

// benchStat is the median and best (smallest) of one metric over the runs
// (-count) of one benchmark.
type benchStat struct {
	Median, Best float64
	Runs         int
}

// metric aggregates unit over every line named name.
func metric(lines []benchLine, name, unit string) (benchStat, bool) {
	var v []float64
	for _, l := range lines {
		if l.Name != name {
			continue
		}
		if x, ok := l.Metrics[unit]; ok {
			v = append(v, x)
		}
	}
	if len(v) == 0 {
		return benchStat{}, false
	}
	best := v[0]
	for _, x := range v {
		best = min(best, x)
	}
	return benchStat{Median: medianFloat(v), Best: best, Runs: len(v)}, true
}

// benchNames lists the distinct benchmark names of lines in first-seen
// order.
func benchNames(lines []benchLine) []string {
	seen := map[string]bool{}
	var out []string
	for _, l := range lines {
		if !seen[l.Name] {
			seen[l.Name] = true
			out = append(out, l.Name)
		}
	}
	return out
}

// goBench runs `go test -run ^$ -bench pattern` on pkg in dir and parses its
// output. The command line is returned for the report.
func goBench(ctx context.Context, dir, pkg, pattern, benchtime string, count int) ([]benchLine, string, error) {
	args := []string{"test", "-run", "^$", "-bench", pattern, "-benchtime", benchtime, "-count", strconv.Itoa(count), pkg}
	cmdline := "go " + strings.Join(quoteArgs(args), " ")
	cmd := exec.CommandContext(ctx, "go", args...)
	cmd.Dir = dir
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return nil, cmdline, fmt.Errorf("%s: %w\n%s%s", cmdline, err, tail(stdout.String(), 1500), tail(stderr.String(), 1500))
	}
	lines, err := parseBenchOutput(&stdout)
	if err != nil {
		return nil, cmdline, fmt.Errorf("read the output of %s: %w", cmdline, err)
	}
	if len(lines) == 0 {
		return nil, cmdline, fmt.Errorf("%s printed no benchmark result; does the pattern %q match a benchmark?", cmdline, pattern)
	}
	return lines, cmdline, nil
}

// quoteArgs single-quotes the arguments a shell would otherwise expand.
func quoteArgs(args []string) []string {
	out := make([]string, len(args))
	for i, a := range args {
		if strings.ContainsAny(a, "^$|()*?[] ") {
			out[i] = "'" + a + "'"
		} else {
			out[i] = a
		}
	}
	return out
}

// tail returns at most the last n bytes of s.
func tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return "…" + s[len(s)-n:]
}
