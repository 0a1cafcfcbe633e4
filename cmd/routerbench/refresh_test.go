package main

import (
	"strings"
	"testing"
	"time"
)

func TestRefreshRows(t *testing.T) {
	res := &results{}
	if rows := refreshRows(res); len(rows) != 1 || rows[0].Verdict != notMeasured {
		t.Fatalf("unmeasured: %+v", rows)
	}
	res.Refresh = refreshResult{Requests: 1000, Refreshes: 3,
		Base: dist{N: 900, P99: 2 * time.Millisecond}, During: dist{N: 100, P99: 2500 * time.Microsecond},
		IdleKB: 30_000, PeakKB: 150_000}
	rows := refreshRows(res)
	if len(rows) != 3 || rows[0].Verdict != "met" || rows[1].Verdict != "met" || !strings.Contains(rows[2].Verdict, "missed") {
		t.Fatalf("rows %+v", rows)
	}
	res.Refresh.Errors = 2
	if rows := refreshRows(res); !strings.Contains(rows[0].Verdict, "2 failed") {
		t.Fatalf("failed requests: %+v", rows[0])
	}
}
