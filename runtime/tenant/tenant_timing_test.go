package tenant

import (
	"bytes"
	"crypto/sha256"
	"testing"
	"time"
)

// BenchmarkKeyAndLimits is the per-request work of a client key: hash and
// look up the token, check the model allowance, admit against every limit,
// charge and release.
func BenchmarkKeyAndLimits(b *testing.B) {
	var log bytes.Buffer
	ks := testKeys(&testing.T{}, &log)
	l := NewLocal()
	tok := []byte("team-secret")
	lim := &Limits{RPM: 1 << 30, TPM: 1 << 40, Concurrent: 1 << 20, DailyUSD: 1e9, MonthlyUSD: 1e9}
	now := time.Date(2026, 12, 3, 10, 0, 0, 0, time.UTC)
	b.ReportAllocs()
	for b.Loop() {
		h := sha256.Sum256(tok)
		k := ks.Lookup(&h)
		if k == nil || !k.Allows("gpt-4o") || k.Expired(now) {
			b.Fatal("lookup failed")
		}
		l.Admit(k.Name, lim, now, 100)
		l.Charge(k.Name, lim, now, 100, 120, 0.001)
		l.Release(k.Name)
	}
}

// BenchmarkKeyCheck is the key part alone: hash, lookup, expiry, allowance.
func BenchmarkKeyCheck(b *testing.B) {
	var log bytes.Buffer
	ks := testKeys(&testing.T{}, &log)
	tok := []byte("team-secret")
	now := time.Date(2026, 12, 3, 10, 0, 0, 0, time.UTC)
	b.ReportAllocs()
	for b.Loop() {
		h := sha256.Sum256(tok)
		k := ks.Lookup(&h)
		if k == nil || !k.Allows("gpt-4o") || k.Expired(now) {
			b.Fatal("lookup failed")
		}
	}
}

// BenchmarkLimitCheck is the counters alone: admit, charge, release.
func BenchmarkLimitCheck(b *testing.B) {
	l := NewLocal()
	lim := &Limits{RPM: 1 << 30, TPM: 1 << 40, Concurrent: 1 << 20, DailyUSD: 1e9, MonthlyUSD: 1e9}
	now := time.Date(2026, 12, 3, 10, 0, 0, 0, time.UTC)
	b.ReportAllocs()
	for b.Loop() {
		l.Admit("team", lim, now, 100)
		l.Charge("team", lim, now, 100, 120, 0.001)
		l.Release("team")
	}
}
