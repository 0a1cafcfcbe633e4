package fleet

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Client keys of the limit tests: name → token.
var limitKeys = map[string]string{
	"rl1": "fleet-key-rl1", "rl2": "fleet-key-rl2", "rl3": "fleet-key-rl3",
	"burst1": "fleet-key-burst1", "burst2": "fleet-key-burst2", "burst3": "fleet-key-burst3",
	"budget": "fleet-key-budget",
}

func keyHash(tok string) string {
	s := sha256.Sum256([]byte(tok))
	return "sha256:" + hex.EncodeToString(s[:])
}

// limitsYAML is the fleet's config with client keys: rl* and burst* limited
// to 30 requests per minute, budget to a daily budget below the cost of
// one request; the primary channel's daily_limit is dailyLimit (0: none).
func limitsYAML(shared bool, dailyLimit int) string {
	y := strings.ReplaceAll(configYAML, "DISCOVERY", discoveryOff)
	if !shared {
		y = strings.Replace(y, "state:\n  redis_url: \"${FLEET_REDIS_URL}\"\n", "", 1)
	}
	if dailyLimit > 0 {
		y = strings.Replace(y, "    priority: 1\n", fmt.Sprintf("    priority: 1\n    daily_limit: %d\n", dailyLimit), 1)
	}
	var b strings.Builder
	b.WriteString(y)
	b.WriteString("client_keys:\n")
	for _, name := range []string{"rl1", "rl2", "rl3", "burst1", "burst2", "burst3"} {
		fmt.Fprintf(&b, "  - {name: %s, key: \"%s\", limits: {requests_per_minute: 30}}\n", name, keyHash(limitKeys[name]))
	}
	// One request costs about 24 tokens × 1e-7 USD = 2.4e-6 USD.
	fmt.Fprintf(&b, "  - {name: budget, key: \"%s\", budget: {daily_usd: 0.000001}}\n", keyHash(limitKeys["budget"]))
	return b.String()
}

// chatKey sends one chat request with a client key; status and body.
func (f *fleet) chatKey(p *proc, key string) (int, string) {
	body := `{"model":"` + model + `","messages":[{"role":"user","content":"hi"}]}`
	req, err := http.NewRequest(http.MethodPost, p.url+"/v1/chat/completions", strings.NewReader(body))
	if err != nil {
		f.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+limitKeys[key])
	resp, err := f.client.Do(req)
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	var sb strings.Builder
	buf := make([]byte, 4096)
	for {
		n, err := resp.Body.Read(buf)
		sb.Write(buf[:n])
		if err != nil {
			break
		}
	}
	return resp.StatusCode, sb.String()
}

// flushes is a replica's count of counter flushes that Redis answered.
func (p *proc) flushes(f *fleet) float64 {
	v, _ := p.shared(f)["counter_flushes"].(float64)
	return v
}

// settle waits until replica i has flushed its counters twice (so one
// whole flush began after its last request), then until every other
// replica has flushed twice after that (so each read the fleet's count
// back): afterwards every replica knows the exact fleet count.
func (f *fleet) settle(i int) {
	f.t.Helper()
	b := f.nodes[i].flushes(f)
	f.eventually("replica flushed its counters", func() bool { return f.nodes[i].flushes(f) >= b+2 })
	before := make([]float64, len(f.nodes))
	for j, p := range f.nodes {
		before[j] = p.flushes(f)
	}
	f.eventually("every replica read the fleet's counts", func() bool {
		for j, p := range f.nodes {
			if p.flushes(f) < before[j]+2 {
				return false
			}
		}
		return true
	})
}

// minuteOf is the UTC minute the replicas (same machine) count a
// requests_per_minute window in.
func minuteOf(t time.Time) int64 { return t.Unix() / 60 }

// freshMinute waits, when less than 25 s of the current UTC minute are
// left, for the next one to begin, so that a phase usually runs in one
// window; phases check it and run again with another key when not.
func freshMinute() {
	if left := 60 - time.Now().Unix()%60; left < 25 {
		time.Sleep(time.Duration(left)*time.Second + 50*time.Millisecond)
	}
}

// Harness test 2: a client key limited to 30 requests per minute, its
// requests spread round-robin over 3 replicas.
//
// Settled phase: after each request every replica has read the fleet's
// count back (settle), so the documented bound's stale part is zero and
// exactly 30 are accepted; the next 6 are refused by every replica.
// Burst phase: requests sent back to back without waiting; the accepted
// count is at least 30 and at most the documented bound
// 30 − 1 + 3 × ⌈30/3⌉ = 59 (each replica admits at most its share of what
// it last read as left before reading again), and once settled every
// replica refuses.
func TestFleetClientKeyRateLimitShared(t *testing.T) {
	f := startFleetYAML(t, 3, limitsYAML(true, 0))
	const limit = 30

	run := func(keys []string, phase func(key string) bool) {
		for _, key := range keys {
			freshMinute()
			start := minuteOf(time.Now())
			ok := phase(key)
			if ok && minuteOf(time.Now()) == start {
				return
			}
			t.Logf("key %s: the phase crossed a UTC minute (a new window); running it again with another key", key)
		}
		t.Fatal("every attempt crossed a minute boundary")
	}

	run([]string{"rl1", "rl2", "rl3"}, func(key string) bool {
		accepted, refused := 0, 0
		for i := range limit + 6 {
			r := i % len(f.nodes)
			code, body := f.chatKey(f.nodes[r], key)
			switch {
			case code == 200:
				accepted++
			case code == 429 && strings.Contains(body, "rate_limit_exceeded"):
				refused++
				if accepted < limit {
					t.Errorf("request %d on replica %d refused after %d accepted: %s", i, r, accepted, body)
				}
			default:
				t.Fatalf("request %d on replica %d: %d %s", i, r, code, body)
			}
			f.settle(r)
		}
		t.Logf("settled phase (key %s): %d accepted, %d refused, limit %d, documented stale bound 0 when settled", key, accepted, refused, limit)
		if accepted != limit || refused != 6 {
			t.Errorf("accepted %d, refused %d; want exactly %d accepted and 6 refused", accepted, refused, limit)
		}
		return true
	})

	run([]string{"burst1", "burst2", "burst3"}, func(key string) bool {
		accepted := 0
		n := len(f.nodes) * limit
		for i := range n {
			code, body := f.chatKey(f.nodes[i%len(f.nodes)], key)
			switch code {
			case 200:
				accepted++
			case 429:
			default:
				t.Fatalf("burst request %d: %d %s", i, code, body)
			}
		}
		// The documented bound (docs/scaling.md): limit − 1 + N × ⌈limit/N⌉.
		nr := len(f.nodes)
		bound := limit - 1 + nr*((limit+nr-1)/nr)
		t.Logf("burst phase (key %s): %d of %d accepted back to back; limit %d, documented bound %d", key, accepted, n, limit, bound)
		if accepted < limit || accepted > bound {
			t.Errorf("burst: %d accepted, want between %d and %d", accepted, limit, bound)
		}
		f.settle(0)
		for r, p := range f.nodes {
			if code, body := f.chatKey(p, key); code != 429 {
				t.Errorf("after the burst, settled: replica %d answered %d %s, want 429", r, code, body)
			}
		}
		return true
	})
}

// A daily budget spent on one replica refuses the key on the others once
// they have read the fleet's spend; a channel's daily_limit (3) reached by
// attempts on three replicas filters it on all of them.
func TestFleetClientKeyBudgetShared(t *testing.T) {
	f := startFleetYAML(t, 3, limitsYAML(true, 3))
	if code, body := f.chatKey(f.nodes[0], "budget"); code != 200 {
		t.Fatalf("first request: %d %s", code, body)
	}
	f.settle(0)
	for r := 1; r < 3; r++ {
		if f.nodes[r].filtered(f, "ch_primary") {
			t.Errorf("replica %d filters ch_primary after 1 attempt of its daily_limit 3", r)
		}
		if code, body := f.chatKey(f.nodes[r], "rl1"); code != 200 {
			t.Fatalf("request on replica %d: %d %s", r, code, body)
		}
		f.settle(r)
	}
	if n := f.keyRequests("key-primary"); n != 3 {
		t.Fatalf("ch_primary was called %d times, want 3", n)
	}
	for r, p := range f.nodes {
		if !p.filtered(f, "ch_primary") {
			t.Errorf("replica %d does not filter ch_primary after 3 attempts across the fleet (daily_limit 3)", r)
		}
	}
	for r, p := range f.nodes {
		code, body := f.chatKey(p, "budget")
		if code != 429 || !strings.Contains(body, "insufficient_quota") {
			t.Errorf("replica %d after the budget was spent on replica 0: %d %s, want 429 insufficient_quota", r, code, body)
		}
	}
}

// A routerd restarted over its usage ledger keeps refusing a key over its
// daily budget and keeps filtering a channel at its daily_limit (no Redis:
// the figures come from the ledger alone).
func TestRestartKeepsBudgetAndDailyLimit(t *testing.T) {
	f := startFleetYAML(t, 1, limitsYAML(false, 1))
	p := f.nodes[0]
	if code, body := f.chatKey(p, "budget"); code != 200 {
		t.Fatalf("first request: %d %s", code, body)
	}
	check := func(when string, p *proc) {
		t.Helper()
		if code, body := f.chatKey(p, "budget"); code != 429 || !strings.Contains(body, "insufficient_quota") {
			t.Errorf("%s: over-budget key answered %d %s, want 429 insufficient_quota", when, code, body)
		}
		if !p.filtered(f, "ch_primary") {
			t.Errorf("%s: ch_primary (daily_limit 1, used once) is not filtered", when)
		}
	}
	check("before the restart", p)
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	<-p.done
	q := f.start(p.cmd.Args[6]) // the same -snapshot, hence the same ledger beside it
	if q.url == "" {
		t.Fatalf("restart failed:\n%s", q.logText())
	}
	f.nodes[0] = q
	check("after the restart", q)
	if !strings.Contains(q.logText(), "seeded from the usage ledger") {
		t.Errorf("the restarted routerd did not log the seeding:\n%s", q.logText())
	}
}
