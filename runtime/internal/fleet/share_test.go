package fleet

import (
	"io"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"smartrouter/fixtures/mockllm"
)

// TestFleetAuthFailureStopsOthers: a 401 that replica A sees on the
// primary channel stops B and C from calling it; the time it took to
// propagate is logged (not asserted: a shared machine is noisy).
func TestFleetAuthFailureStopsOthers(t *testing.T) {
	f := startFleet(t, 3, discoveryOff)
	a, b, c := f.nodes[0], f.nodes[1], f.nodes[2]
	for _, p := range f.nodes {
		if code, body := f.chat(p); code != 200 {
			t.Fatalf("a first request failed: %d %s", code, body)
		}
	}
	if f.keyRequests("key-primary") != 3 {
		t.Fatalf("the primary channel did not serve the first requests (%d)", f.keyRequests("key-primary"))
	}
	if err := f.mock.SetRules([]mockllm.Rule{{Key: "key-primary", Status: 401}}); err != nil {
		t.Fatal(err)
	}
	if code, body := f.chat(a); code != 200 {
		t.Fatalf("A did not fail over: %d %s", code, body)
	}
	d := f.eventually("B and C filter the primary channel", func() bool {
		return b.filtered(f, "ch_primary") && c.filtered(f, "ch_primary")
	})
	t.Logf("401 seen by A reached B and C (observed through their admin route answer) in %v", d)
	before := f.keyRequests("key-primary")
	for range 10 {
		for _, p := range []*proc{b, c} {
			if code, body := f.chat(p); code != 200 {
				t.Fatalf("a request failed: %d %s", code, body)
			}
		}
	}
	if got := f.keyRequests("key-primary") - before; got != 0 {
		t.Errorf("B and C called the channel A saw refused %d times", got)
	}
}

// load sends chat requests to the replicas in turn from workers until
// stop is closed, and counts answers that are not 200.
type load struct {
	ok, failed atomic.Int64
	first      atomic.Value
	stop       chan struct{}
	wg         sync.WaitGroup
}

func startLoad(f *fleet, workers int, nodes []*proc) *load {
	l := &load{stop: make(chan struct{})}
	for w := range workers {
		l.wg.Add(1)
		go func() {
			defer l.wg.Done()
			for i := w; ; i++ {
				select {
				case <-l.stop:
					return
				default:
				}
				p := nodes[i%len(nodes)]
				code, body := f.chat(p)
				if code == 200 {
					l.ok.Add(1)
				} else {
					l.failed.Add(1)
					l.first.CompareAndSwap(nil, strconv.Itoa(code)+": "+body)
				}
				time.Sleep(2 * time.Millisecond)
			}
		}()
	}
	return l
}

func (l *load) end() {
	close(l.stop)
	l.wg.Wait()
}

// TestFleetRedisDownAndBack: Redis killed under load spread over the
// replicas: no request fails, every replica says degraded; Redis back: the
// replicas reconnect and a new cooldown propagates again. It also measures
// the Redis commands per proxied request in steady state.
func TestFleetRedisDownAndBack(t *testing.T) {
	f := startFleet(t, 3, discoveryOff)
	cmd0, _ := strconv.Atoi(f.redis.Info("total_commands_processed"))
	t0 := time.Now()
	l := startLoad(f, 6, f.nodes)
	time.Sleep(2 * time.Second) // the steady-state phase
	ok0 := l.ok.Load()
	cmd1, _ := strconv.Atoi(f.redis.Info("total_commands_processed"))
	el := time.Since(t0)
	t.Logf("steady state: %d requests in %v, %d Redis commands (%.4f per request; pings, lease renewals and signals included)",
		ok0, el.Round(time.Millisecond), cmd1-cmd0, float64(cmd1-cmd0)/float64(max(ok0, 1)))

	// Slow: Redis stops answering but keeps its connections open.
	f.redis.Pause()
	for _, p := range f.nodes {
		f.eventually("replica degraded while Redis is paused", func() bool {
			h := p.health(f)
			return h != nil && h["status"] == "degraded"
		})
	}
	f.redis.Resume()
	d0 := f.eventually("replicas connected after the pause", func() bool {
		for _, p := range f.nodes {
			if st := p.shared(f); st["degraded"].(bool) || st["subscribed"] != true {
				return false
			}
		}
		return true
	})
	t.Logf("connected again %v after Redis resumed", d0)

	f.redis.Kill()
	for _, p := range f.nodes {
		f.eventually("replica degraded", func() bool {
			h := p.health(f)
			return h != nil && h["status"] == "degraded"
		})
	}
	if m := f.metrics(f.nodes[0]); !strings.Contains(m, "smartrouter_shared_state_degraded 1") {
		t.Errorf("/metrics does not say degraded while Redis is down")
	}
	time.Sleep(1 * time.Second) // load goes on with Redis down
	f.redis.Restart()
	d := f.eventually("replicas connected again", func() bool {
		for _, p := range f.nodes {
			if st := p.shared(f); st["degraded"].(bool) || st["subscribed"] != true {
				return false
			}
		}
		return true
	})
	t.Logf("reconnected and subscribed %v after the restart", d)
	if m := f.metrics(f.nodes[0]); !strings.Contains(m, "smartrouter_shared_state_degraded 0") {
		t.Errorf("/metrics still says degraded after Redis came back")
	}
	time.Sleep(500 * time.Millisecond) // and with Redis back
	l.end()
	if n := l.failed.Load(); n != 0 {
		t.Fatalf("%d of %d requests failed while Redis was paused, killed and restarted; first: %v", n, n+l.ok.Load(), l.first.Load())
	}
	t.Logf("%d requests, 0 failed, across a Redis pause (SIGSTOP), kill and restart", l.ok.Load())

	// Shared again: a 401 seen by C reaches A and B.
	if err := f.mock.SetRules([]mockllm.Rule{{Key: "key-primary", Status: 401}}); err != nil {
		t.Fatal(err)
	}
	if code, body := f.chat(f.nodes[2]); code != 200 {
		t.Fatalf("C did not fail over: %d %s", code, body)
	}
	defer func() {
		if t.Failed() {
			for i, p := range f.nodes {
				t.Logf("replica %d shared state: %v", i, p.shared(f))
				if resp, err := f.client.Get(p.url + "/v1/admin/route?model=" + model); err == nil {
					b, _ := io.ReadAll(resp.Body)
					resp.Body.Close()
					t.Logf("replica %d route: %s", i, b)
				}
			}
		}
	}()
	d = f.eventually("A and B learn C's 401 after the restart", func() bool {
		return f.nodes[0].filtered(f, "ch_primary") && f.nodes[1].filtered(f, "ch_primary")
	})
	t.Logf("a new cooldown propagated in %v after Redis came back", d)
}

// TestFleetLeaderTakeover: the leader killed (SIGKILL, so its lease
// lapses) → another replica takes the lease and runs the refresh cycle; the
// snapshot it builds reaches every remaining replica.
func TestFleetLeaderTakeover(t *testing.T) {
	f := startFleet(t, 3, discoveryOften)
	leader := -1
	f.eventually("one leader", func() bool {
		n := 0
		for i, p := range f.nodes {
			if p.shared(f)["leader"].(bool) {
				leader, n = i, n+1
			}
		}
		return n == 1
	})
	// Wait until the first discovery's refresh (if any) has converged.
	var gen float64
	f.eventually("one generation everywhere", func() bool {
		g := f.nodes[0].generation(f)
		for _, p := range f.nodes[1:] {
			if p.generation(f) != g {
				return false
			}
		}
		gen = g
		return true
	})
	f.nodes[leader].kill()
	rest := append(append([]*proc{}, f.nodes[:leader]...), f.nodes[leader+1:]...)
	killed := time.Now()
	d := f.eventually("another replica takes the lease", func() bool {
		for _, p := range rest {
			if p.shared(f)["leader"].(bool) {
				return true
			}
		}
		return false
	})
	t.Logf("the lease was taken %v after the leader was killed (lease 10 s)", d)

	// Discovery on the new leader finds a new model: its refresh cycle
	// builds the next generation, which every replica installs.
	f.mock.SetModels(append(mockllm.DefaultModels(), "fleet-new-model"))
	var g0 float64
	d = f.eventually("all remaining replicas serve one newer generation", func() bool {
		g0 = rest[0].generation(f)
		for _, p := range rest {
			if g := p.generation(f); g <= gen || g != g0 {
				return false
			}
		}
		return true
	})
	// Only the leader ran the refresh cycle; the other installed its
	// snapshot.
	newLeader, follower := rest[0], rest[1]
	if follower.shared(f)["leader"].(bool) {
		newLeader, follower = follower, newLeader
	}
	if n := strings.Count(follower.logText(), `"msg":"snapshot refreshed"`); n != 0 {
		t.Errorf("a follower ran the refresh cycle %d times", n)
	}
	if !strings.Contains(newLeader.logText(), `"msg":"snapshot refreshed"`) || !strings.Contains(follower.logText(), `"msg":"installed the snapshot shared by the leader"`) {
		t.Errorf("the new leader did not refresh, or the follower did not install its snapshot")
	}
	t.Logf("generation %v → %v on all remaining replicas %v after the kill (%v after the takeover)", gen, g0, time.Since(killed).Round(time.Millisecond), d)
}
