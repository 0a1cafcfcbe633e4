package tenant

import (
	"bytes"
	"crypto/sha256"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"smartrouter/format"
)

// clock is a fake clock the tests move by hand.
type clock struct{ t time.Time }

func (c *clock) now() time.Time      { return c.t }
func (c *clock) add(d time.Duration) { c.t = c.t.Add(d) }
func newClock(s string) *clock       { t, _ := time.Parse(time.RFC3339, s); return &clock{t} }
func sum(tok string) *[32]byte       { h := sha256.Sum256([]byte(tok)); return &h }
func env(m map[string]string) func(string) (string, bool) {
	return func(n string) (string, bool) { v, ok := m[n]; return v, ok }
}

func testKeys(t *testing.T, log *bytes.Buffer) *Keys {
	t.Helper()
	lg := slog.New(slog.NewTextHandler(log, nil))
	return NewKeys([]format.ClientKey{
		{Name: "env", KeyEnv: "TEAM_KEY", Models: []string{"gpt-4o", "tag:free,!vision", "qwen->8b"}, RPM: 2},
		{Name: "hashed", KeyHash: *sum("hashed-secret")},
		{Name: "missing", KeyEnv: "NOT_SET"},
		{Name: "empty", KeyEnv: "EMPTY"},
		{Name: "placeholder", KeyEnv: "PLACEHOLDER"},
		{Name: "expiring", KeyHash: *sum("exp"), Expires: 1800000000},
	}, env(map[string]string{"TEAM_KEY": "team-secret", "EMPTY": "", "PLACEHOLDER": "YOUR_API_KEY_HERE"}), lg)
}

func TestLookup(t *testing.T) {
	var log bytes.Buffer
	ks := testKeys(t, &log)
	if ks.Configured() != 6 || ks.Len() != 3 {
		t.Fatalf("configured %d, usable %d", ks.Configured(), ks.Len())
	}
	if k := ks.Lookup(sum("team-secret")); k == nil || k.Name != "env" {
		t.Errorf("env key: %+v", k)
	}
	if k := ks.Lookup(sum("hashed-secret")); k == nil || k.Name != "hashed" {
		t.Errorf("hashed key: %+v", k)
	}
	// A refused key never opens the door, with any token: the empty
	// string is what an unset variable would have hashed to.
	for _, tok := range []string{"", "NOT_SET", "${NOT_SET}", "wrong", "YOUR_API_KEY_HERE"} {
		if k := ks.Lookup(sum(tok)); k != nil {
			t.Errorf("token %q opened key %s", tok, k.Name)
		}
	}
	out := log.String()
	for _, want := range []string{"client key refused", "key=missing", "variable=NOT_SET", "key=empty"} {
		if !strings.Contains(out, want) {
			t.Errorf("log lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "team-secret") {
		t.Errorf("log shows a key:\n%s", out)
	}
	if n := strings.Count(out, "client key refused"); n != 3 || !strings.Contains(out, "key=placeholder") {
		t.Errorf("%d refusal lines; want one per refused key", n)
	}
	k := ks.ByName("expiring")
	if k.Expired(time.Unix(1800000000-1, 0)) || !k.Expired(time.Unix(1800000000, 0)) {
		t.Errorf("expiry is not at the second it names")
	}
	var nilKeys *Keys
	if nilKeys.Lookup(sum("x")) != nil || nilKeys.Configured() != 0 {
		t.Error("nil Keys is not empty")
	}
}

// TestDuplicateKeyValue: two entries with the same key value would make
// the name a token stands for ambiguous; the second is refused.
func TestDuplicateKeyValue(t *testing.T) {
	var log bytes.Buffer
	ks := NewKeys([]format.ClientKey{
		{Name: "first", KeyEnv: "A"},
		{Name: "second", KeyHash: *sum("dup-token-xyz")},
	}, env(map[string]string{"A": "dup-token-xyz"}), slog.New(slog.NewTextHandler(&log, nil)))
	if k := ks.Lookup(sum("dup-token-xyz")); k == nil || k.Name != "first" || ks.ByName("second") != nil || ks.Len() != 1 {
		t.Fatalf("lookup %+v, len %d", k, ks.Len())
	}
	if !strings.Contains(log.String(), "key=second") || strings.Contains(log.String(), "dup-token") {
		t.Errorf("log:\n%s", log.String())
	}
}

// TestConcurrentAdmit runs admissions from many goroutines: the number
// in flight never passes the limit, and every slot comes back.
func TestConcurrentAdmit(t *testing.T) {
	l := NewLocal()
	lim := &Limits{Concurrent: 3}
	now := time.Date(2026, 12, 3, 10, 0, 0, 0, time.UTC)
	var admitted, over atomic.Int64
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 500 {
				if l.Admit("k", lim, now, 1).Denial != Admitted {
					continue
				}
				admitted.Add(1)
				if _, _, n := l.Spend("k", now); n > 3 {
					over.Add(1)
				}
				l.Charge("k", lim, now, 1, 2, 0.0001)
				l.Release("k")
			}
		}()
	}
	wg.Wait()
	n := admitted.Load()
	if _, _, fl := l.Spend("k", now); fl != 0 || over.Load() != 0 || n == 0 {
		t.Errorf("in flight at the end %d, seen above the limit %d times, admitted %d", fl, over.Load(), n)
	}
	if d, _, _ := l.Spend("k", now); d < float64(n)*0.0001*0.999 || d > float64(n)*0.0001*1.001 {
		t.Errorf("spend %v for %d admitted requests", d, n)
	}
}

func TestAllows(t *testing.T) {
	var log bytes.Buffer
	k := testKeys(t, &log).ByName("env")
	for model, want := range map[string]bool{
		"gpt-4o":                 true,
		"GPT-4O":                 false, // model ids are case-sensitive, as in routing
		"gpt-4o-mini":            false,
		"tag:free,!vision":       true,
		"TAG:!vision, FREE":      true,
		"tag:free,!vision,qwen3": true,
		"free,!vision,>8b":       true,  // implicit tag query
		"tag:free":               false, // wider than the allowance
		"tag:qwen3":              false,
		"qwen/qwen3-8b:free":     false, // a model id needs listing
		"qwen->8b":               true,
		"qwen->=8b":              false,
	} {
		if got := k.Allows(model); got != want {
			t.Errorf("Allows(%q) = %v; want %v", model, got, want)
		}
	}
	if !testKeys(t, &log).ByName("hashed").Allows("anything,at:all") {
		t.Error("a key without models refuses a model")
	}
}

func TestRequestsPerMinute(t *testing.T) {
	c, l := newClock("2026-12-03T10:00:00Z"), NewLocal()
	lim := &Limits{RPM: 3}
	for i := range 3 {
		if v := l.Admit("k", lim, c.now(), 0); v.Denial != Admitted {
			t.Fatalf("request %d: %+v", i, v)
		}
		l.Release("k")
	}
	v := l.Admit("k", lim, c.now(), 0)
	if v.Denial != RequestRate || v.RetryAfter != 20*time.Second {
		t.Fatalf("4th request: %+v; want requests_per_minute after 20s", v)
	}
	c.add(19 * time.Second)
	if v := l.Admit("k", lim, c.now(), 0); v.Denial != RequestRate || v.RetryAfterSeconds() != 1 {
		t.Fatalf("after 19s: %+v", v)
	}
	c.add(time.Second)
	if v := l.Admit("k", lim, c.now(), 0); v.Denial != Admitted {
		t.Fatalf("after 20s: %+v", v)
	}
	// A quiet minute refills the whole allowance, and no more.
	c.add(10 * time.Minute)
	for i := range 3 {
		if v := l.Admit("k", lim, c.now(), 0); v.Denial != Admitted {
			t.Fatalf("after a quiet minute, request %d: %+v", i, v)
		}
	}
	if v := l.Admit("k", lim, c.now(), 0); v.Denial != RequestRate {
		t.Fatalf("burst above the limit admitted: %+v", v)
	}
	// Another key has its own counters.
	if v := l.Admit("other", lim, c.now(), 0); v.Denial != Admitted {
		t.Fatalf("other key: %+v", v)
	}
}

func TestTokensPerMinute(t *testing.T) {
	c, l := newClock("2026-12-03T10:00:00Z"), NewLocal()
	lim := &Limits{TPM: 1000}
	if v := l.Admit("k", lim, c.now(), 600); v.Denial != Admitted {
		t.Fatal(v)
	}
	// 600 estimated, 900 real: 100 left.
	l.Charge("k", lim, c.now(), 600, 900, 0)
	if v := l.Admit("k", lim, c.now(), 200); v.Denial != TokenRate || v.RetryAfter != 6*time.Second {
		t.Fatalf("%+v; want tokens_per_minute after 6s (100 tokens at 1000/min)", v)
	}
	// The real usage was lower than estimated: the rest comes back.
	c.add(6 * time.Second) // 200 available
	if v := l.Admit("k", lim, c.now(), 200); v.Denial != Admitted {
		t.Fatal(v)
	}
	l.Charge("k", lim, c.now(), 200, 50, 0) // 150 back
	if v := l.Admit("k", lim, c.now(), 150); v.Denial != Admitted {
		t.Fatalf("refund not applied: %+v", v)
	}
	// A request above the whole allowance passes on a full bucket only,
	// and leaves it in debt.
	c.add(time.Minute)
	if v := l.Admit("k", lim, c.now(), 5000); v.Denial != Admitted {
		t.Fatalf("large request on a full bucket: %+v", v)
	}
	if v := l.Admit("k", lim, c.now(), 1); v.Denial != TokenRate || v.RetryAfterSeconds() != 241 {
		t.Fatalf("after a large request: %+v", v)
	}
}

func TestConcurrent(t *testing.T) {
	c, l := newClock("2026-12-03T10:00:00Z"), NewLocal()
	lim := &Limits{Concurrent: 2}
	for range 2 {
		if v := l.Admit("k", lim, c.now(), 0); v.Denial != Admitted {
			t.Fatal(v)
		}
	}
	if v := l.Admit("k", lim, c.now(), 0); v.Denial != Concurrency || v.RetryAfter != time.Second {
		t.Fatalf("third in flight: %+v", v)
	}
	l.Release("k")
	if v := l.Admit("k", lim, c.now(), 0); v.Denial != Admitted {
		t.Fatalf("after a release: %+v", v)
	}
	if _, _, n := l.Spend("k", c.now()); n != 2 {
		t.Errorf("in flight %d", n)
	}
	l.Release("k")
	l.Release("k")
	l.Release("k") // one too many never goes below zero
	if _, _, n := l.Spend("k", c.now()); n != 0 {
		t.Errorf("in flight %d", n)
	}
}

func TestBudgets(t *testing.T) {
	c, l := newClock("2026-12-31T23:00:00Z"), NewLocal()
	lim := &Limits{DailyUSD: 1, MonthlyUSD: 1.5}
	if v := l.Admit("k", lim, c.now(), 0); v.Denial != Admitted {
		t.Fatal(v)
	}
	l.Charge("k", lim, c.now(), 0, 0, 1.0)
	l.Release("k")
	v := l.Admit("k", lim, c.now(), 0)
	if v.Denial != DailyBudget || v.RetryAfter != time.Hour || !v.Denial.Budget() {
		t.Fatalf("%+v; want daily_budget until midnight UTC", v)
	}
	// A new UTC day (and month) starts both budgets again.
	c.add(time.Hour)
	if v := l.Admit("k", lim, c.now(), 0); v.Denial != Admitted {
		t.Fatalf("new day: %+v", v)
	}
	l.Charge("k", lim, c.now(), 0, 0, 0.9)
	c.add(24 * time.Hour) // 2027-01-02
	l.Charge("k", lim, c.now(), 0, 0, 0.6)
	v = l.Admit("k", lim, c.now(), 0)
	if v.Denial != MonthlyBudget || v.RetryAfter != 30*24*time.Hour {
		t.Fatalf("%+v; want monthly_budget until February", v)
	}
	if d, m, _ := l.Spend("k", c.now()); d != 0.6 || m != 1.5 {
		t.Errorf("spend day %v month %v", d, m)
	}
	c.add(30 * 24 * time.Hour) // 2027-02-01
	if v := l.Admit("k", lim, c.now(), 0); v.Denial != Admitted {
		t.Fatalf("new month: %+v", v)
	}
}

func TestSeedSpend(t *testing.T) {
	c, l := newClock("2026-12-03T10:00:00Z"), NewLocal()
	lim := &Limits{DailyUSD: 5, MonthlyUSD: 50}
	l.SeedSpend(c.now(), map[string]float64{"k": 5}, map[string]float64{"k": 12, "j": 50})
	if v := l.Admit("k", lim, c.now(), 0); v.Denial != DailyBudget {
		t.Fatalf("seeded day: %+v", v)
	}
	if v := l.Admit("j", lim, c.now(), 0); v.Denial != MonthlyBudget {
		t.Fatalf("seeded month: %+v", v)
	}
	c.add(24 * time.Hour)
	if v := l.Admit("k", lim, c.now(), 0); v.Denial != Admitted {
		t.Fatalf("next day: %+v", v)
	}
	if d, m, _ := l.Spend("k", c.now()); d != 0 || m != 12 {
		t.Errorf("spend %v %v", d, m)
	}
}

// TestNoAllocations guards the per-request path: lookup, allowance, admit,
// charge and release allocate nothing once a key's counters exist.
func TestNoAllocations(t *testing.T) {
	var log bytes.Buffer
	ks := testKeys(t, &log)
	l := NewLocal()
	c := newClock("2026-12-03T10:00:00Z")
	tok := []byte("team-secret")
	lim := &Limits{RPM: 1 << 30, TPM: 1 << 40, Concurrent: 1 << 20, DailyUSD: 1e9, MonthlyUSD: 1e9}
	n := testing.AllocsPerRun(1000, func() {
		h := sha256.Sum256(tok)
		k := ks.Lookup(&h)
		if k == nil || !k.Allows("tag:free,!vision,qwen") || k.Expired(c.now()) {
			t.Fatal("lookup failed")
		}
		if v := l.Admit(k.Name, lim, c.now(), 100); v.Denial != Admitted {
			t.Fatal(v)
		}
		l.Charge(k.Name, lim, c.now(), 100, 120, 0.001)
		l.Release(k.Name)
	})
	if n != 0 {
		t.Errorf("%v allocations per request; want 0", n)
	}
}

// FuzzAllows feeds arbitrary model strings (what clients send) and allowed
// lists to the allowance check: it must never panic, must allow every listed
// string itself, and a key without models allows everything.
func FuzzAllows(f *testing.F) {
	f.Add("gpt-4o", "tag:free,!vision", "TAG:!vision, free,qwen")
	f.Add("qwen->8b", "tags:", ",,,")
	f.Add("", "a,b", "tag:b,a")
	f.Fuzz(func(t *testing.T, allowed1, allowed2, model string) {
		ks := NewKeys([]format.ClientKey{
			{Name: "k", KeyHash: *sum("k"), Models: []string{allowed1, allowed2}},
			{Name: "all", KeyHash: *sum("all")},
		}, nil, slog.New(slog.DiscardHandler))
		k := ks.ByName("k")
		got := k.Allows(model)
		if (model == allowed1 || model == allowed2) && !got {
			t.Fatalf("listed model %q refused", model)
		}
		if !ks.ByName("all").Allows(model) {
			t.Fatalf("a key without models refused %q", model)
		}
	})
}
