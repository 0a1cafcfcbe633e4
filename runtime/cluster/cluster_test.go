package cluster

import (
	"bytes"
	"context"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"smartrouter/format"
	"smartrouter/runtime/internal/redistest"
	"smartrouter/runtime/internal/servertest"
	"smartrouter/runtime/outcome"
	"smartrouter/runtime/route"
)

// replica is one node with its live state, against a real redis-server.
type replica struct {
	live *route.Live
	node *Node

	mu        sync.Mutex
	gen       uint64
	installed [][]byte
}

func newReplica(t *testing.T, url string, lease time.Duration) *replica {
	t.Helper()
	ro, err := redis.ParseURL(url)
	if err != nil {
		t.Fatal(err)
	}
	r := &replica{live: route.NewLive(nil), gen: 1}
	r.node, err = New(Options{Redis: ro, Live: r.live, Lease: lease,
		PingEvery: 50 * time.Millisecond, SignalEvery: 50 * time.Millisecond, OpTimeout: 300 * time.Millisecond,
		Logger: slog.New(slog.DiscardHandler),
		Snapshot: func() uint64 {
			r.mu.Lock()
			defer r.mu.Unlock()
			return r.gen
		},
		Install: func(_ context.Context, b []byte) error {
			s, err := format.Open(b)
			if err != nil {
				return err
			}
			r.mu.Lock()
			r.gen = s.Header().Generation
			r.installed = append(r.installed, b)
			r.mu.Unlock()
			return nil
		}})
	if err != nil {
		t.Fatal(err)
	}
	r.node.Start(context.Background())
	t.Cleanup(func() { r.node.Stop(context.Background()) })
	return r
}

// eventually polls cond every 5 ms for up to 20 s and returns how long it
// took; it fails the test when cond never holds.
func eventually(t *testing.T, what string, cond func() bool) time.Duration {
	t.Helper()
	start := time.Now()
	for !cond() {
		if time.Since(start) > 20*time.Second {
			t.Fatalf("%s: not true after %v", what, time.Since(start))
		}
		time.Sleep(5 * time.Millisecond)
	}
	return time.Since(start)
}

// connected is true when every replica answers pings and receives the
// others' messages.
func connected(rs ...*replica) func() bool {
	return func() bool {
		for _, r := range rs {
			if st := r.node.Status(); st.Degraded || !st.Subscribed {
				return false
			}
		}
		return true
	}
}

// TestReplicasShareCooldowns: a 401 and a 5xx seen by A reach B and C
// through a real Redis; a success after A's trial clears them on B; A
// ignores its own messages.
func TestReplicasShareCooldowns(t *testing.T) {
	srv := redistest.Start(t)
	a, b, c := newReplica(t, srv.URL(), time.Second), newReplica(t, srv.URL(), time.Second), newReplica(t, srv.URL(), time.Second)
	eventually(t, "all connected", connected(a, b, c))

	a.live.Report("ch-auth", "gpt", outcome.Outcome{Kind: outcome.Auth}, 0)
	d := eventually(t, "B and C see A's 401", func() bool {
		return b.live.Channel("ch-auth").Cooling != nil && c.live.Channel("ch-auth").Cooling != nil
	})
	t.Logf("401 propagation A → B, C: %v", d)
	if st := b.live.Channel("ch-auth"); st.Cooling.Kind != outcome.Auth || !st.Cooling.Until.IsZero() {
		t.Errorf("B's cooldown: %+v", st.Cooling)
	}

	a.live.Report("ch-5xx", "m", outcome.Outcome{Kind: outcome.Server, Cooldown: time.Minute}, 0)
	eventually(t, "B sees A's 5xx pair cooldown", func() bool {
		st := b.live.Channel("ch-5xx")
		return len(st.Pairs) == 1 && st.Pairs[0].Model == "m" && st.Pairs[0].Cooling
	})
	// A success of the pair (a trial, or a panic-routed attempt) ends it.
	a.live.Report("ch-5xx", "m", outcome.Outcome{Kind: outcome.OK}, time.Millisecond)
	eventually(t, "B drops the pair after A's successful trial", func() bool { return len(b.live.Channel("ch-5xx").Pairs) == 0 })

	a.live.Recover("ch-auth")
	eventually(t, "C sees A's recovery", func() bool { return c.live.Channel("ch-auth").Cooling == nil })

	// A message that carries A's own id is ignored by A.
	own := `{"from":"` + a.node.ID() + `","changes":[{"kind":"channel_cooled","channel":"ch-own","cooldown":"auth","ttl_ms":-1,"trial_ms":-1}]}`
	before := a.node.Status()
	a.node.handle(context.Background(), []byte(own))
	if st := a.node.Status(); st.Applied != before.Applied || st.Received != before.Received || a.live.Channel("ch-own").Cooling != nil {
		t.Errorf("A applied a message of its own: %+v", st)
	}
	if st := b.node.Status(); st.Received == 0 || st.Applied == 0 || st.Degraded || st.Backend != "redis" {
		t.Errorf("B's status: %+v", st)
	}

	// Latency learned by A moves B's average.
	for range 5 {
		a.live.Report("ch-lat", "m", outcome.Outcome{Kind: outcome.OK}, 200*time.Millisecond)
	}
	eventually(t, "B learns A's latency", func() bool { return b.live.Channel("ch-lat").LatencyMs > 0 })
}

// TestRedisDownAndBack: with Redis killed, replicas report degraded and
// keep their local state; a cooldown observed meanwhile is republished and
// reaches the other replica when Redis is back, and new ones flow again.
func TestRedisDownAndBack(t *testing.T) {
	srv := redistest.Start(t)
	a, b := newReplica(t, srv.URL(), time.Second), newReplica(t, srv.URL(), time.Second)
	eventually(t, "connected", connected(a, b))

	srv.Kill()
	eventually(t, "both degraded", func() bool { return a.node.Degraded() && b.node.Degraded() })
	if st := a.node.Status(); !st.Degraded || st.Leader || st.LastError == "" {
		t.Errorf("A's status while Redis is down: %+v", st)
	}
	if !a.node.ShouldRun(true) || a.node.ShouldRun(false) {
		t.Errorf("while degraded only the local tasks run")
	}
	a.live.Report("ch-down", "m", outcome.Outcome{Kind: outcome.RateLimit, Cooldown: time.Minute}, 0)
	if len(a.live.Channel("ch-down").Pairs) != 1 {
		t.Fatal("A lost its local cooldown while Redis is down")
	}

	srv.Restart()
	d := eventually(t, "B gets A's cooldown after Redis is back", func() bool { return len(b.live.Channel("ch-down").Pairs) == 1 })
	t.Logf("re-sync after restart: %v", d)
	eventually(t, "connected again", connected(a, b))
	b.live.Report("ch-new", "m", outcome.Outcome{Kind: outcome.Auth}, 0)
	eventually(t, "a new cooldown flows B → A", func() bool { return a.live.Channel("ch-new").Cooling != nil })
}

// TestResyncOnJoin: a replica that starts late reads the running cooldowns
// from the hash.
func TestResyncOnJoin(t *testing.T) {
	srv := redistest.Start(t)
	a := newReplica(t, srv.URL(), time.Second)
	eventually(t, "connected", connected(a))
	a.live.Report("ch", "m", outcome.Outcome{Kind: outcome.Quota}, 0)
	eventually(t, "the hash holds the cooldown", func() bool { return redistest.Do(srv.Addr(), "HLEN", DefaultPrefix+":cooldowns") == ":1" })
	late := newReplica(t, srv.URL(), time.Second)
	eventually(t, "the late replica has the cooldown", func() bool { return len(late.live.Channel("ch").Pairs) == 1 })
}

// TestLeaderLease: one leader at a time; when it stops another takes over.
func TestLeaderLease(t *testing.T) {
	srv := redistest.Start(t)
	// A lease long enough that a busy machine renews it in time: two
	// leaders at once are possible only when a renewal is late.
	a, b := newReplica(t, srv.URL(), 3*time.Second), newReplica(t, srv.URL(), 3*time.Second)
	eventually(t, "a leader", func() bool { return a.node.IsLeader() || b.node.IsLeader() })
	for range 20 {
		if a.node.IsLeader() && b.node.IsLeader() {
			t.Fatal("two leaders")
		}
		time.Sleep(20 * time.Millisecond)
	}
	lead, other := a, b
	if b.node.IsLeader() {
		lead, other = b, a
	}
	if !lead.node.ShouldRun(false) || other.node.ShouldRun(false) || other.node.ShouldRun(true) {
		t.Errorf("ShouldRun: leader %t, follower %t/%t", lead.node.ShouldRun(false), other.node.ShouldRun(false), other.node.ShouldRun(true))
	}
	lead.node.Stop(context.Background())
	d := eventually(t, "the other takes over", other.node.IsLeader)
	t.Logf("takeover after a stop: %v", d)

	// A lease that lapses (the holder vanished without releasing it) is
	// taken too.
	redistest.Do(srv.Addr(), "SET", DefaultPrefix+":leader", "ghost", "PX", "300")
	other.node.leader.Store(false)
	eventually(t, "a lapsed lease is taken", other.node.IsLeader)
}

// TestSnapshotShared: a published snapshot reaches the other replica,
// verified; a stale generation or wrong hash is not installed.
func TestSnapshotShared(t *testing.T) {
	srv := redistest.Start(t)
	a, b := newReplica(t, srv.URL(), time.Second), newReplica(t, srv.URL(), time.Second)
	eventually(t, "connected", connected(a, b))
	spec := servertest.Spec{Generation: 5, Settings: servertest.DefaultSettings(),
		Channels: []servertest.Channel{{ID: "c1", BaseURL: "http://127.0.0.1:1", Models: []servertest.Model{{ID: "m"}}}}}
	snap, err := spec.Encode()
	if err != nil {
		t.Fatal(err)
	}
	a.live.Report("ch", "m", outcome.Outcome{Kind: outcome.Auth}, 0)
	eventually(t, "cooldown shared", func() bool { return b.live.Channel("ch").Cooling != nil })
	if err := a.node.PublishSnapshot(context.Background(), snap); err != nil {
		t.Fatal(err)
	}
	eventually(t, "B installs generation 5", func() bool {
		b.mu.Lock()
		defer b.mu.Unlock()
		return b.gen == 5
	})
	b.mu.Lock()
	if len(b.installed) != 1 || !bytes.Equal(b.installed[0], snap) {
		t.Errorf("B installed %d snapshots", len(b.installed))
	}
	b.mu.Unlock()
	if got := redistest.Do(srv.Addr(), "EXISTS", DefaultPrefix+":cooldowns"); got != ":0" {
		t.Errorf("the cooldown hash survived a new snapshot: EXISTS = %s", got)
	}
	// A late joiner installs it at its first re-sync.
	late := newReplica(t, srv.URL(), time.Second)
	eventually(t, "late joiner installs generation 5", func() bool {
		late.mu.Lock()
		defer late.mu.Unlock()
		return late.gen == 5
	})

	if err := verify(snap, 5, "0"); err == nil {
		t.Error("a wrong hash was accepted")
	}
	if err := verify(snap[:len(snap)-1], 5, ""); err == nil {
		t.Error("damaged bytes were accepted")
	}
	if err := a.node.PublishSnapshot(context.Background(), []byte("not a snapshot")); err == nil {
		t.Error("bytes that do not validate were published")
	}
}

// TestQueueFullDrops: the observer never blocks: past QueueSize changes are
// dropped and counted.
func TestQueueFullDrops(t *testing.T) {
	ro, _ := redis.ParseURL("redis://127.0.0.1:1/0")
	n, err := New(Options{Redis: ro, Live: route.NewLive(nil), Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	var done atomic.Bool
	go func() {
		for range QueueSize + 10 {
			n.enqueue(route.Change{Kind: route.Recovered, Channel: "c"})
		}
		done.Store(true)
	}()
	eventually(t, "enqueue returns", done.Load)
	if got := n.Status().Dropped; got != 10 {
		t.Errorf("dropped = %d, want 10", got)
	}
	if !n.Degraded() {
		t.Error("a node that never connected is not degraded")
	}
}
