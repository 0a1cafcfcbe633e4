package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestToggleTrailingNewline(t *testing.T) {
	p := filepath.Join(t.TempDir(), "discovered_models.json")
	orig := "{\"a\": 1}\n"
	if err := os.WriteFile(p, []byte(orig), 0o600); err != nil {
		t.Fatal(err)
	}
	for i, want := range []string{orig + "\n", orig, orig + "\n"} {
		if err := toggleTrailingNewline(p); err != nil {
			t.Fatal(err)
		}
		b, _ := os.ReadFile(p)
		if string(b) != want {
			t.Fatalf("toggle %d: %q, want %q", i, b, want)
		}
	}
}

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
