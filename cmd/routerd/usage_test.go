package main

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"smartrouter/format"
	"smartrouter/runtime/usage"
)

func TestUsageLedgerPath(t *testing.T) {
	on := format.UsageSettings{Configured: true, Enabled: true}
	cases := []struct {
		flag     string
		set      format.UsageSettings
		snap     string
		cache    string
		want     string
		disabled bool
	}{
		{"", format.UsageSettings{}, "/srv/r/router.snap", "/srv/cache", "/srv/r/usage.db", false},
		{"", format.UsageSettings{}, "", "/srv/cache", "/srv/cache/usage.db", false},
		{"", format.UsageSettings{}, "", "", "", true},
		{"", format.UsageSettings{Configured: true}, "/srv/r/router.snap", "", "", true},
		{"", format.UsageSettings{Configured: true, Enabled: true, Path: "data/u.db"}, "/srv/r/router.snap", "", "/srv/r/data/u.db", false},
		{"", format.UsageSettings{Configured: true, Enabled: true, Path: "/var/lib/u.db"}, "", "", "/var/lib/u.db", false},
		{"/tmp/x.db", format.UsageSettings{Configured: true}, "", "", "/tmp/x.db", false},
		{"off", on, "/srv/r/router.snap", "", "", true},
	}
	for _, tc := range cases {
		got, why := usageLedgerPath(tc.flag, tc.set, tc.snap, tc.cache)
		if got != tc.want || (why != "") != tc.disabled {
			t.Errorf("%+v: %q (%q), want %q", tc, got, why, tc.want)
		}
	}
}

// The seeds for budgets and channel limits: spend per key since the UTC
// day and month, requests per channel since the UTC day.
func TestUsageSeeds(t *testing.T) {
	l, err := usage.Open(usage.Options{Path: filepath.Join(t.TempDir(), "usage.db")})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close(context.Background())
	now := time.Date(2026, 12, 3, 15, 0, 0, 0, time.UTC)
	var e usage.Entry
	for _, r := range []usage.Record{
		{Time: now.Add(-time.Hour), Key: "team-a", Channel: "groq", CostUSD: 1},
		{Time: now.Add(-20 * time.Hour), Key: "team-a", Channel: "groq", CostUSD: 2},   // yesterday
		{Time: now.Add(-2 * 24 * time.Hour), Key: "team-b", Channel: "or", CostUSD: 4}, // this month
		{Time: now.Add(-40 * 24 * time.Hour), Key: "team-b", CostUSD: 8},               // last month
		{Time: now.Add(-time.Minute), Channel: "or"},
	} {
		e.FromRecord(&r)
		l.Enqueue(&e)
	}
	day, month, ch, err := usageSeeds(l, now)
	if err != nil {
		t.Fatal(err)
	}
	if len(day) != 1 || day["team-a"] != 1 || month["team-a"] != 3 || month["team-b"] != 4 || len(ch) != 2 || ch["groq"] != 1 || ch["or"] != 1 {
		t.Errorf("day %v month %v channels %v", day, month, ch)
	}
}
