package discover

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"smartrouter/compiler/cache"
	"smartrouter/fixtures/mockllm"
)

// A channel that keeps failing the same way (no last good list, then with
// one) leaves the cache file byte for byte as it was: no new timestamp, so
// no new snapshot generation, and a different failure is recorded again.
func TestRunRepeatedFailureLeavesFile(t *testing.T) {
	m := startMock(t, mockllm.Config{Models: []string{"a", "b"},
		Rules: []mockllm.Rule{{Key: "sk-test-down-1", Status: 503}}})
	dir := install(t, m.URL(), channel("down", "openai", "sk-test-down-1")+channel("up", "openai", "sk-test-up-1"))
	clock := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	now := func() time.Time { return clock }
	if rep := run(t, dir, Options{Now: now}); !rep.Changed {
		t.Fatal("the first run did not write")
	}
	p := filepath.Join(dir, "cache", cache.DiscoveryFile)
	first, _ := os.ReadFile(p)
	clock = clock.Add(time.Hour)
	rep := run(t, dir, Options{Now: now})
	if r := result(t, rep, "down"); r.Status != StatusError {
		t.Fatalf("down: %+v", r)
	}
	if second, _ := os.ReadFile(p); rep.Changed || !bytes.Equal(first, second) {
		t.Fatalf("the same failure again changed the file (changed %v)", rep.Changed)
	}

	// A channel with a good list that starts failing records the failure
	// once; the same failure again changes nothing.
	if err := m.SetRules([]mockllm.Rule{{Key: "sk-test-up-1", Status: 500}}); err != nil {
		t.Fatal(err)
	}
	clock = clock.Add(time.Hour)
	if rep := run(t, dir, Options{Now: now}); !rep.Changed {
		t.Fatal("a new failure was not recorded")
	}
	third, _ := os.ReadFile(p)
	clock = clock.Add(time.Hour)
	if rep := run(t, dir, Options{Now: now}); rep.Changed {
		t.Fatal("the same failure of a channel with a good list changed the file")
	}
	if e := entries(t, dir)["up"]; e["last_error_at"] != "2026-01-02T05:04:05.000000" || e["status"] != "success" {
		t.Fatalf("up: last_error_at %v, status %v", e["last_error_at"], e["status"])
	}
	// Another failure is news.
	if err := m.SetRules([]mockllm.Rule{{Key: "sk-test-up-1", Status: 401}}); err != nil {
		t.Fatal(err)
	}
	if rep := run(t, dir, Options{Now: now}); !rep.Changed {
		t.Fatal("a different failure was not recorded")
	}
	if fourth, _ := os.ReadFile(p); bytes.Equal(third, fourth) {
		t.Fatal("the file did not change")
	}
}

// Allocation guard: a run that finds every list unchanged allocates about
// one copy of the cache file (it reads it whole) plus the answers, not two
// or three: the merged file is compared and written in pieces, never
// assembled in memory, and unchanged entries are compared as bytes, not
// decoded. The cache here is dominated by an entry of another channel
// (kept, never refreshed), as a real 50 MB cache is by its many lists.
func TestRunUnchangedAllocatesOneCopyOfTheCache(t *testing.T) {
	models := make([]string, 200)
	for i := range models {
		models[i] = fmt.Sprintf("model-%03d", i)
	}
	m := startMock(t, mockllm.Config{Models: models})
	var chans strings.Builder
	for i := range 4 {
		chans.WriteString(channel(fmt.Sprintf("ch%d", i), "openai", fmt.Sprintf("sk-test-alloc-%d", i)))
	}
	dir := install(t, m.URL(), chans.String())
	run(t, dir, Options{})
	// An entry of a channel the config no longer has: 8 MB kept as is.
	p := filepath.Join(dir, "cache", cache.DiscoveryFile)
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	pad := `{"channel_id": "gone", "note": "` + strings.Repeat("x", 8<<20) + `"}`
	b = append([]byte("{\n  \"gone\": "+pad+","), b[1:]...)
	if err := os.WriteFile(p, b, 0o600); err != nil {
		t.Fatal(err)
	}
	if rep := run(t, dir, Options{}); rep.Changed {
		t.Fatal("setup: the padded file was rewritten")
	}
	size := len(b)

	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	rep := run(t, dir, Options{})
	runtime.ReadMemStats(&after)
	if rep.Changed {
		t.Fatal("an unchanged run changed the file")
	}
	alloc := after.TotalAlloc - before.TotalAlloc
	t.Logf("cache %d bytes; an unchanged run allocated %d bytes (%.2f× the cache)", size, alloc, float64(alloc)/float64(size))
	if limit := uint64(size) * 3 / 2; alloc > limit {
		t.Fatalf("an unchanged run allocated %d bytes, more than 1.5× the %d-byte cache", alloc, size)
	}
}
