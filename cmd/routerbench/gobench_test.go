package main

import (
	"strings"
	"testing"
)

func TestParseBenchLine(t *testing.T) {
	tests := []struct {
		line string
		ok   bool
		want benchLine
	}{
		{"BenchmarkRoute/tags3-2   \t   20000\t      1870 ns/op\t      1860 p50-ns\t      2020 p99-ns\t        21.00 matched\t       0 B/op\t       0 allocs/op", true,
			benchLine{Name: "Route/tags3", Procs: 2, N: 20000, Metrics: map[string]float64{"ns/op": 1870, "p50-ns": 1860, "p99-ns": 2020, "matched": 21, "B/op": 0, "allocs/op": 0}}},
		{"BenchmarkOpen/pairs=4500-8 1000 670000 ns/op 1056.50 MB/s 10115 allocs/op", true,
			benchLine{Name: "Open/pairs=4500", Procs: 8, N: 1000, Metrics: map[string]float64{"ns/op": 670000, "MB/s": 1056.5, "allocs/op": 10115}}},
		{"BenchmarkParse 5000000 338 ns/op", true, benchLine{Name: "Parse", Procs: 1, N: 5000000, Metrics: map[string]float64{"ns/op": 338}}},
		{"BenchmarkName-with-dash-x 10 5 ns/op", true, benchLine{Name: "Name-with-dash-x", Procs: 1, N: 10, Metrics: map[string]float64{"ns/op": 5}}},
		{"BenchmarkRoute/tags3-2", false, benchLine{}},
		{"goos: linux", false, benchLine{}},
		{"PASS", false, benchLine{}},
		{"ok  \tsmartrouter/format\t12.3s", false, benchLine{}},
		{"BenchmarkX-2 notanumber 5 ns/op", false, benchLine{}},
		{"BenchmarkX-2 10 5 ns/op 7", false, benchLine{}},
		{"BenchmarkX-2 10 five ns/op", false, benchLine{}},
		{"    bench_test.go:12: BenchmarkX 10 5 ns/op", false, benchLine{}},
	}
	for _, tt := range tests {
		got, ok := parseBenchLine(tt.line)
		if ok != tt.ok {
			t.Errorf("parseBenchLine(%q) ok = %v, want %v", tt.line, ok, tt.ok)
			continue
		}
		if !ok {
			continue
		}
		if got.Name != tt.want.Name || got.Procs != tt.want.Procs || got.N != tt.want.N || len(got.Metrics) != len(tt.want.Metrics) {
			t.Errorf("parseBenchLine(%q) = %+v, want %+v", tt.line, got, tt.want)
			continue
		}
		for k, v := range tt.want.Metrics {
			if got.Metrics[k] != v {
				t.Errorf("parseBenchLine(%q) %s = %v, want %v", tt.line, k, got.Metrics[k], v)
			}
		}
	}
}

func TestParseBenchOutputAndMetric(t *testing.T) {
	out := `goos: linux
goarch: amd64
pkg: smartrouter/runtime/route
cpu: AMD EPYC
BenchmarkRoute/tags3-2         	   20000	      1900 ns/op	      1800 p50-ns	      2100 p99-ns	0 B/op	       0 allocs/op
BenchmarkRoute/tags3-2         	   20000	      1500 ns/op	      1700 p50-ns	      2500 p99-ns	0 B/op	       0 allocs/op
BenchmarkRoute/tags3-2         	   20000	      2500 ns/op	      1750 p50-ns	      2000 p99-ns	0 B/op	       1 allocs/op
BenchmarkRoute/physical-2      	   20000	      1600 ns/op	0 B/op	       0 allocs/op
PASS
ok  	smartrouter/runtime/route	3.1s
`
	lines, err := parseBenchOutput(strings.NewReader(out))
	if err != nil {
		t.Fatal(err)
	}
	if len(lines) != 4 {
		t.Fatalf("got %d lines, want 4", len(lines))
	}
	if names := benchNames(lines); len(names) != 2 || names[0] != "Route/tags3" || names[1] != "Route/physical" {
		t.Errorf("benchNames = %v", names)
	}
	tests := []struct {
		name, unit string
		ok         bool
		want       benchStat
	}{
		{"Route/tags3", "ns/op", true, benchStat{Median: 1900, Best: 1500, Runs: 3}},
		{"Route/tags3", "p99-ns", true, benchStat{Median: 2100, Best: 2000, Runs: 3}},
		{"Route/tags3", "allocs/op", true, benchStat{Median: 0, Best: 0, Runs: 3}},
		{"Route/physical", "ns/op", true, benchStat{Median: 1600, Best: 1600, Runs: 1}},
		{"Route/physical", "p50-ns", false, benchStat{}},
		{"Route/none", "ns/op", false, benchStat{}},
	}
	for _, tt := range tests {
		got, ok := metric(lines, tt.name, tt.unit)
		if ok != tt.ok || got != tt.want {
			t.Errorf("metric(%s, %s) = %+v, %v; want %+v, %v", tt.name, tt.unit, got, ok, tt.want, tt.ok)
		}
	}
}

func TestQuoteArgs(t *testing.T) {
	got := strings.Join(quoteArgs([]string{"test", "-run", "^$", "-bench", "^BenchmarkRoute$/^(tags3|physical)$", "./format"}), " ")
	want := "test -run '^$' -bench '^BenchmarkRoute$/^(tags3|physical)$' ./format"
	if got != want {
		t.Errorf("quoteArgs = %q, want %q", got, want)
	}
}
