package cluster

import (
	"testing"
	"time"

	"smartrouter/runtime/outcome"
	"smartrouter/runtime/route"
)

func TestChangeRoundTrip(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC).UnixNano()
	for _, c := range []route.Change{
		{Kind: route.PairCooled, Channel: "c1", Model: "m", Cooldown: outcome.Server, Period: 60 * time.Second,
			Until: now + int64(60*time.Second), TrialAt: now + int64(60*time.Second), Strikes: 2},
		{Kind: route.ChannelCooled, Channel: "c2", Cooldown: outcome.Auth, Until: route.Forever, TrialAt: route.Forever, Strikes: 1},
		{Kind: route.Cleared, Channel: "c3", Model: "m"},
		{Kind: route.Recovered, Channel: "c4"},
	} {
		for _, abs := range []bool{false, true} {
			got, err := decodeChange(encodeChange(c, now, abs), now, abs)
			if err != nil || got != c {
				t.Errorf("abs=%t: %+v → %+v, %v", abs, c, got, err)
			}
		}
		until, v := hashValue(c)
		got, err := decodeHashValue(v)
		if err != nil || got != c {
			t.Errorf("hash: %+v → %+v, %v", c, got, err)
		}
		if c.Until == route.Forever && until != farEndMs {
			t.Errorf("forever is written as %d", until)
		}
	}
}

func TestDecodeMessageRefuses(t *testing.T) {
	for name, in := range map[string]string{
		"not json":       "{",
		"unknown kind":   `{"from":"x","changes":[{"kind":"boom","channel":"c"}]}`,
		"no channel":     `{"from":"x","changes":[{"kind":"recovered"}]}`,
		"pair no model":  `{"from":"x","changes":[{"kind":"pair_cooled","channel":"c","cooldown":"server"}]}`,
		"bad cooldown":   `{"from":"x","changes":[{"kind":"pair_cooled","channel":"c","model":"m","cooldown":"nope"}]}`,
		"signal channel": `{"from":"x","signals":[{"health":1}]}`,
	} {
		if _, err := decodeMessage([]byte(in)); err == nil {
			t.Errorf("%s: accepted %s", name, in)
		}
	}
	m, err := decodeMessage([]byte(`{"from":"x","changes":[{"kind":"pair_cooled","channel":"c","model":"m","cooldown":"rate_limit","ttl_ms":1000,"trial_ms":1000}],"signals":[{"channel":"c","health":0.5}],"snapshot":{"generation":3,"xxhash64":"ab"}}`))
	if err != nil || len(m.Changes) != 1 || len(m.Signals) != 1 || m.Snapshot.Generation != 3 {
		t.Errorf("valid message: %+v, %v", m, err)
	}
}

// FuzzDecode feeds arbitrary bytes to the two parsers of what comes out of
// Redis: they never panic, and what they accept encodes back.
func FuzzDecode(f *testing.F) {
	f.Add([]byte(`{"from":"a","changes":[{"kind":"pair_cooled","channel":"c","model":"m","cooldown":"server","period_ms":60000,"ttl_ms":60000,"trial_ms":60000,"strikes":1}]}`))
	f.Add([]byte(`{"from":"a","signals":[{"channel":"c","health":0.9,"latency_ms":120}],"snapshot":{"generation":2,"xxhash64":"1f"}}`))
	f.Add([]byte(`1712345678901 {"kind":"channel_cooled","channel":"c","cooldown":"auth","until_unix_ms":-1,"trial_unix_ms":-1}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		if m, err := decodeMessage(b); err == nil {
			for _, w := range m.Changes {
				if _, err := decodeChange(w, 1, false); err != nil {
					t.Fatalf("accepted message has a bad change: %+v", w)
				}
			}
		}
		if c, err := decodeHashValue(string(b)); err == nil {
			if _, v := hashValue(c); v == "" {
				t.Fatal("empty hash value")
			}
		}
	})
}
