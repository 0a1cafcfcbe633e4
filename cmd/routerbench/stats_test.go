package main

import (
	"testing"
	"time"
)

func ds(v ...int) []time.Duration {
	out := make([]time.Duration, len(v))
	for i, x := range v {
		out[i] = time.Duration(x)
	}
	return out
}

func TestPercentile(t *testing.T) {
	hundred := make([]time.Duration, 100)
	for i := range hundred {
		hundred[i] = time.Duration(i + 1)
	}
	tests := []struct {
		name   string
		sorted []time.Duration
		p      float64
		want   time.Duration
	}{
		{"empty", nil, 50, 0},
		{"one value", ds(7), 99, 7},
		{"p0 is the minimum", ds(1, 2, 3), 0, 1},
		{"p100 is the maximum", ds(1, 2, 3), 100, 3},
		{"p50 of four is the second (nearest rank)", ds(10, 20, 30, 40), 50, 20},
		{"p51 of four is the third", ds(10, 20, 30, 40), 51, 30},
		{"p99 of 100 values", hundred, 99, 99},
		{"p90 of 100 values", hundred, 90, 90},
		{"p99.9 of 100 values rounds up", hundred, 99.9, 100},
		{"p above 100 clamps", ds(1, 2), 150, 2},
	}
	for _, tt := range tests {
		if got := percentile(tt.sorted, tt.p); got != tt.want {
			t.Errorf("%s: percentile(%v, %v) = %v, want %v", tt.name, tt.sorted, tt.p, got, tt.want)
		}
	}
}

func TestSummarize(t *testing.T) {
	tests := []struct {
		name string
		in   []time.Duration
		want dist
	}{
		{"empty", nil, dist{}},
		{"odd count, unsorted", ds(5, 1, 3), dist{N: 3, Min: 1, Max: 5, Median: 3, P50: 3, P90: 5, P99: 5, Mean: 3, Total: 9}},
		{"even count: median is the mean of the middle two", ds(4, 1, 3, 2), dist{N: 4, Min: 1, Max: 4, Median: 2, P50: 2, P90: 4, P99: 4, Mean: 2, Total: 10}},
		{"even count, middle two differ by more", ds(10, 30, 20, 40), dist{N: 4, Min: 10, Max: 40, Median: 25, P50: 20, P90: 40, P99: 40, Mean: 25, Total: 100}},
	}
	for _, tt := range tests {
		in := append([]time.Duration(nil), tt.in...)
		if got := summarize(tt.in); got != tt.want {
			t.Errorf("%s: summarize = %+v, want %+v", tt.name, got, tt.want)
		}
		for i := range in {
			if in[i] != tt.in[i] {
				t.Errorf("%s: summarize reordered its input", tt.name)
			}
		}
	}
}

func TestMedians(t *testing.T) {
	if got := medianInt64([]int64{9, 1, 5, 3}); got != 4 {
		t.Errorf("medianInt64 = %d, want 4", got)
	}
	if got := medianInt64(nil); got != 0 {
		t.Errorf("medianInt64(nil) = %d", got)
	}
	if got := medianFloat([]float64{3, 1, 2}); got != 2 {
		t.Errorf("medianFloat = %v, want 2", got)
	}
}

func TestVerdictAtMost(t *testing.T) {
	tests := []struct {
		measured, target float64
		want             string
	}{
		{10e6, 20e6, "met"},
		{20e6, 20e6, "met"},
		{25e6, 20e6, "**missed** by 5.00 ms (1.2× the target)"},
		{3e9, 1e9, "**missed** by 2.00 s (3.0× the target)"},
		{1500, 0, "**missed** by 1.50 µs"},
	}
	for _, tt := range tests {
		if got := verdictAtMost(tt.measured, tt.target, durFormat); got != tt.want {
			t.Errorf("verdictAtMost(%v, %v) = %q, want %q", tt.measured, tt.target, got, tt.want)
		}
	}
}

func TestFmtDur(t *testing.T) {
	tests := []struct {
		d    time.Duration
		want string
	}{
		{850, "850 ns"},
		{1500, "1.50 µs"},
		{12_340_000, "12.3 ms"},
		{123_400_000, "123 ms"},
		{2_500_000_000, "2.50 s"},
		{-1500, "-1.50 µs"},
	}
	for _, tt := range tests {
		if got := fmtDur(tt.d); got != tt.want {
			t.Errorf("fmtDur(%d) = %q, want %q", tt.d, got, tt.want)
		}
	}
	if got := fmtMs(250 * time.Microsecond); got != "0.250" {
		t.Errorf("fmtMs(250µs) = %q", got)
	}
	if got := fmtMs(-2 * time.Millisecond); got != "-2.00" {
		t.Errorf("fmtMs(-2ms) = %q", got)
	}
}
