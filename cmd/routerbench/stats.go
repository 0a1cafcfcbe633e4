package main

import (
	"fmt"
	"math"
	"slices"
	"time"
)

// dist summarises a set of durations.
type dist struct {
	N                int
	Min, Max, Median time.Duration
	P50, P90, P99    time.Duration
	Mean             time.Duration
	Total            time.Duration
}

// percentile returns the nearest-rank p-th percentile (0 < p <= 100) of
// sorted: the smallest value with at least p % of the values at or below it.
// p <= 0 gives the minimum; an empty slice gives 0.
func percentile(sorted []time.Duration, p float64) time.Duration {
	n := len(sorted)
	if n == 0 {
		return 0
	}
	if p <= 0 {
		return sorted[0]
	}
	rank := int(math.Ceil(p / 100 * float64(n)))
	rank = min(max(rank, 1), n)
	return sorted[rank-1]
}

// median is the middle value, or the mean of the two middle values for an
// even count.
func median(sorted []time.Duration) time.Duration {
	n := len(sorted)
	switch {
	case n == 0:
		return 0
	case n%2 == 1:
		return sorted[n/2]
	default:
		return (sorted[n/2-1] + sorted[n/2]) / 2
	}
}

// summarize sorts a copy of d and computes its summary.
func summarize(d []time.Duration) dist {
	s := slices.Clone(d)
	slices.Sort(s)
	out := dist{N: len(s)}
	if len(s) == 0 {
		return out
	}
	for _, v := range s {
		out.Total += v
	}
	out.Min, out.Max = s[0], s[len(s)-1]
	out.Median = median(s)
	out.P50 = percentile(s, 50)
	out.P90 = percentile(s, 90)
	out.P99 = percentile(s, 99)
	out.Mean = out.Total / time.Duration(len(s))
	return out
}

// medianInt64 returns the median of v (mean of the middle two for an even
// count), 0 for none.
func medianInt64(v []int64) int64 {
	s := slices.Clone(v)
	slices.Sort(s)
	n := len(s)
	switch {
	case n == 0:
		return 0
	case n%2 == 1:
		return s[n/2]
	default:
		return (s[n/2-1] + s[n/2]) / 2
	}
}

// medianFloat returns the median of v, NaN for none.
func medianFloat(v []float64) float64 {
	s := slices.Clone(v)
	slices.Sort(s)
	n := len(s)
	switch {
	case n == 0:
		return math.NaN()
	case n%2 == 1:
		return s[n/2]
	default:
		return (s[n/2-1] + s[n/2]) / 2
	}
}

// fmtDur prints a duration with three significant digits in the unit that
// suits it (µs, ms or s).
func fmtDur(d time.Duration) string {
	switch {
	case d < 0:
		return "-" + fmtDur(-d)
	case d < time.Microsecond:
		return fmt.Sprintf("%d ns", d.Nanoseconds())
	case d < time.Millisecond:
		return sig3(float64(d)/float64(time.Microsecond)) + " µs"
	case d < time.Second:
		return sig3(float64(d)/float64(time.Millisecond)) + " ms"
	default:
		return sig3(d.Seconds()) + " s"
	}
}

// fmtMs prints a duration in milliseconds with three significant digits
// (at most three decimals), for columns that share one unit.
func fmtMs(d time.Duration) string {
	ms := float64(d) / float64(time.Millisecond)
	if ms < 0 {
		return "-" + fmtMs(-d)
	}
	if ms < 1 {
		return fmt.Sprintf("%.3f", ms)
	}
	return sig3(ms)
}

// sig3 formats v with three significant digits and no exponent.
func sig3(v float64) string {
	a := math.Abs(v)
	switch {
	case a >= 100:
		return fmt.Sprintf("%.0f", v)
	case a >= 10:
		return fmt.Sprintf("%.1f", v)
	default:
		return fmt.Sprintf("%.2f", v)
	}
}

// verdictAtMost compares a measured value with a "≤ target" limit: "met",
// or how far over it is (absolute, in the given formatter, and as a factor).
func verdictAtMost(measured, target float64, format func(float64) string) string {
	if measured <= target {
		return "met"
	}
	over := measured - target
	if target > 0 {
		return fmt.Sprintf("**missed** by %s (%.1f× the target)", format(over), measured/target)
	}
	return fmt.Sprintf("**missed** by %s", format(over))
}

// durFormat adapts fmtDur to verdictAtMost's float64 nanoseconds.
func durFormat(ns float64) string { return fmtDur(time.Duration(ns)) }
