package cluster

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"
	"github.com/redis/go-redis/v9/maintnotifications"

	"smartrouter/runtime/route"
)

// Defaults of Options.
const (
	DefaultPrefix      = "smartrouter"
	DefaultLease       = 10 * time.Second
	DefaultPingEvery   = time.Second
	DefaultSignalEvery = time.Second
	DefaultOpTimeout   = 500 * time.Millisecond
	// MaxBackoff is the longest wait between two reconnection attempts.
	MaxBackoff = 5 * time.Second
	// QueueSize is how many changes wait to be published; more are dropped
	// (and come back with the next re-sync's republication).
	QueueSize = 4096
	maxBatch  = 256
)

// Options configure a Node.
type Options struct {
	// Redis is the client options (redis.ParseURL of the resolved
	// state.redis_url); New sets the timeouts it does not set.
	Redis *redis.Options
	// Live is the replica's live state: its changes are published and the
	// others' applied to it.
	Live *route.Live
	// Prefix names the keys and the channel (default DefaultPrefix): one
	// fleet per prefix (or per Redis database).
	Prefix string
	// Lease is the leader lease (default DefaultLease); it is renewed every
	// third of it.
	Lease time.Duration
	// PingEvery is how often Redis is pinged while it answers (default
	// DefaultPingEvery); SignalEvery how often health and latency are
	// published (default DefaultSignalEvery).
	PingEvery, SignalEvery time.Duration
	// OpTimeout bounds every Redis operation (default DefaultOpTimeout).
	OpTimeout time.Duration
	// Snapshot is the current snapshot's generation; Install verifies
	// nothing more and makes b the replica's snapshot (routerd: atomic
	// write of its snapshot file, then the usual reload). Both nil: no
	// snapshot sharing.
	Snapshot func() uint64
	Install  func(ctx context.Context, b []byte) error
	// Logger (default slog.Default()) and Registerer (nil: no metrics).
	Logger     *slog.Logger
	Registerer prometheus.Registerer
	// Now is the clock (default time.Now).
	Now func() time.Time
}

// Node is one replica's connection to the others.
type Node struct {
	o   Options
	id  string
	rdb *redis.Client
	log *slog.Logger

	keyEvents, keyCool, keyLeader, keySnap string

	queue  chan route.Change
	resync chan struct{}
	up     chan struct{} // a ping answered again: the subscriber retries at once

	connected  atomic.Bool
	subscribed atomic.Bool // the pub/sub subscription is confirmed
	leader     atomic.Bool
	started    atomic.Bool
	lastErr    atomic.Pointer[string]

	sent, received, dropped, applied, resyncs atomic.Uint64
	installed                                 atomic.Uint64 // generation last installed from another replica

	met *nodeMetrics

	counters sync.Map // name → *Counter (counter.go)
	flushes  atomic.Uint64
	// nreplicas: replicas seen at the last flush; flushedAt: Unix ns of
	// the last flush Redis answered (counter.go).
	nreplicas, flushedAt atomic.Int64
	scriptLoaded         atomic.Bool
	chanMu               sync.Mutex
	chanDays             map[string]*chanDay // channel id → day count state (chanday.go)
	names                nameSet             // client key names counted by the fleet (clients.go)

	mu     sync.Mutex
	cancel context.CancelFunc
	ps     *redis.PubSub
	wg     sync.WaitGroup
	snapMu sync.Mutex // one install at a time
}

// New prepares a node; Start connects it. It does not talk to Redis.
func New(o Options) (*Node, error) {
	if o.Redis == nil || o.Live == nil {
		return nil, errors.New("cluster: Options.Redis and Options.Live are required")
	}
	if o.Prefix == "" {
		o.Prefix = DefaultPrefix
	}
	if o.Lease <= 0 {
		o.Lease = DefaultLease
	}
	if o.PingEvery <= 0 {
		o.PingEvery = DefaultPingEvery
	}
	if o.SignalEvery <= 0 {
		o.SignalEvery = DefaultSignalEvery
	}
	if o.OpTimeout <= 0 {
		o.OpTimeout = DefaultOpTimeout
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	ro := *o.Redis
	if ro.DialTimeout == 0 {
		ro.DialTimeout = o.OpTimeout
	}
	if ro.ReadTimeout == 0 {
		ro.ReadTimeout = o.OpTimeout
	}
	if ro.WriteTimeout == 0 {
		ro.WriteTimeout = o.OpTimeout
	}
	ro.PoolTimeout = o.OpTimeout
	ro.MaxRetries = -1 // no retry loop inside an operation: the loops here retry
	ro.ContextTimeoutEnabled = true
	ro.DisableIdentity = true
	ro.MaintNotificationsConfig = &maintnotifications.Config{Mode: maintnotifications.ModeDisabled}
	var idb [8]byte
	if _, err := rand.Read(idb[:]); err != nil {
		return nil, err
	}
	n := &Node{o: o, id: hex.EncodeToString(idb[:]), rdb: redis.NewClient(&ro), log: o.Logger,
		keyEvents: o.Prefix + ":events", keyCool: o.Prefix + ":cooldowns", keyLeader: o.Prefix + ":leader",
		keySnap:  o.Prefix + ":snapshot",
		chanDays: make(map[string]*chanDay),
		queue:    make(chan route.Change, QueueSize), resync: make(chan struct{}, 1), up: make(chan struct{}, 1)}
	loggerOnce.Do(func() { redis.SetLogger(redisLogger{o.Logger}) })
	n.met = newMetrics(n, o.Registerer)
	return n, nil
}

// ID is the replica's random id (per process).
func (n *Node) ID() string { return n.id }

// Start installs the change observer on the live state and starts the
// loops. It returns at once: Redis may be down, the node connects when it
// can.
func (n *Node) Start(ctx context.Context) {
	if !n.started.CompareAndSwap(false, true) {
		return
	}
	ctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	n.mu.Lock()
	n.cancel = cancel
	n.mu.Unlock()
	n.o.Live.OnChange(n.enqueue)
	for _, loop := range []func(context.Context){n.pingLoop, n.subscribeLoop, n.publishLoop, n.resyncLoop, n.signalLoop, n.leaderLoop, n.counterLoop} {
		n.wg.Add(1)
		go func() {
			defer n.wg.Done()
			loop(ctx)
		}()
	}
}

// Stop stops the loops, gives the lease up when held (so another replica
// takes over at once) and closes the client.
func (n *Node) Stop(ctx context.Context) {
	n.o.Live.OnChange(nil)
	n.mu.Lock()
	cancel, ps := n.cancel, n.ps
	n.mu.Unlock()
	if cancel != nil {
		cancel()
		if ps != nil {
			_ = ps.Close() // unblocks a receive in progress
		}
		n.wg.Wait()
	}
	if n.leader.Swap(false) {
		cctx, c := context.WithTimeout(context.WithoutCancel(ctx), n.o.OpTimeout)
		_ = releaseScript.Run(cctx, n.rdb, []string{n.keyLeader}, n.id).Err()
		c()
	}
	_ = n.rdb.Close()
}

// enqueue is the live state's observer: it never blocks.
func (n *Node) enqueue(c route.Change) {
	select {
	case n.queue <- c:
	default:
		n.dropped.Add(1)
	}
}

// Status is what /health shows of the shared state.
type Status struct {
	Backend   string `json:"backend"`
	Replica   string `json:"replica"`
	Connected bool   `json:"connected"`
	// Subscribed: this replica receives the others' messages now.
	Subscribed bool   `json:"subscribed"`
	Degraded   bool   `json:"degraded"`
	Leader     bool   `json:"leader"`
	Sent       uint64 `json:"messages_sent"`
	Received   uint64 `json:"messages_received"`
	Dropped    uint64 `json:"changes_dropped"`
	Applied    uint64 `json:"changes_applied"`
	Resyncs    uint64 `json:"resyncs"`
	// CounterFlushes: flushes of the shared counters that Redis answered
	// (counter.go).
	CounterFlushes uint64 `json:"counter_flushes"`
	LastError      string `json:"last_error,omitempty"`
}

// Status reports the node's state now.
func (n *Node) Status() Status {
	st := Status{Backend: "redis", Replica: n.id, Connected: n.connected.Load(), Subscribed: n.subscribed.Load(), Leader: n.leader.Load(),
		Sent: n.sent.Load(), Received: n.received.Load(), Dropped: n.dropped.Load(),
		Applied: n.applied.Load(), Resyncs: n.resyncs.Load(), CounterFlushes: n.flushes.Load()}
	st.Degraded = !st.Connected
	if e := n.lastErr.Load(); e != nil && st.Degraded {
		st.LastError = *e
	}
	return st
}

// IsLeader reports whether this replica holds the leader lease now.
func (n *Node) IsLeader() bool { return n.leader.Load() }

// Degraded reports whether Redis did not answer the last ping.
func (n *Node) Degraded() bool { return !n.connected.Load() }

// ShouldRun reports whether a background task runs on this replica now:
// every task on the leader; while Redis is unreachable (no leader can be
// known) only the recovery probes (local is true for them), which change
// nothing but this replica's own live state.
func (n *Node) ShouldRun(local bool) bool { return n.leader.Load() || (local && !n.connected.Load()) }

func (n *Node) opCtx(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, n.o.OpTimeout)
}

// fail records an error of an operation (never the URL: go-redis errors
// name the address at most).
func (n *Node) fail(what string, err error) {
	s := what + ": " + err.Error()
	n.lastErr.Store(&s)
}

// sleep waits d or until ctx ends; false when ctx ended.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// pingLoop watches Redis: PING every PingEvery while it answers, with
// backoff (doubling up to MaxBackoff) while it does not. Coming back
// triggers a re-sync.
func (n *Node) pingLoop(ctx context.Context) {
	backoff := n.o.PingEvery / 4
	for {
		cctx, cancel := n.opCtx(ctx)
		err := n.rdb.Ping(cctx).Err()
		cancel()
		if ctx.Err() != nil {
			return
		}
		wait := n.o.PingEvery
		if err != nil {
			n.fail("ping", err)
			if n.connected.Swap(false) {
				n.log.Warn("shared state degraded: Redis does not answer; serving on local state, reconnecting", "error", err)
			}
			n.leader.Store(false)
			wait = backoff
			backoff = min(backoff*2, MaxBackoff)
		} else {
			backoff = n.o.PingEvery / 4
			if !n.connected.Swap(true) {
				n.log.Info("shared state connected", "replica", n.id)
				n.triggerResync()
				select {
				case n.up <- struct{}{}:
				default:
				}
			}
		}
		if !sleep(ctx, wait) {
			return
		}
	}
}

func (n *Node) triggerResync() {
	select {
	case n.resync <- struct{}{}:
	default:
	}
}

// subscribeLoop receives the other replicas' messages. A (re)subscription
// triggers a re-sync, since messages sent while it was away are lost.
func (n *Node) subscribeLoop(ctx context.Context) {
	ps := n.rdb.Subscribe(ctx, n.keyEvents)
	n.mu.Lock()
	n.ps = ps
	n.mu.Unlock()
	defer func() { _ = ps.Close() }()
	const minBackoff, maxBackoff = 50 * time.Millisecond, time.Second
	backoff := minBackoff
	for {
		msg, err := ps.ReceiveTimeout(ctx, 5*time.Second)
		if ctx.Err() != nil {
			return
		}
		if err != nil {
			var ne interface{ Timeout() bool }
			if errors.As(err, &ne) && ne.Timeout() {
				continue // idle
			}
			n.subscribed.Store(false)
			t := time.NewTimer(backoff)
			select {
			case <-ctx.Done():
				t.Stop()
				return
			case <-n.up:
				backoff = minBackoff / 2
			case <-t.C:
			}
			t.Stop()
			backoff = min(backoff*2, maxBackoff)
			continue
		}
		backoff = minBackoff
		switch m := msg.(type) {
		case *redis.Subscription:
			if m.Kind == "subscribe" {
				n.subscribed.Store(true)
				n.triggerResync()
			}
		case *redis.Message:
			n.handle(ctx, []byte(m.Payload))
		}
	}
}

// handle applies one message of another replica.
func (n *Node) handle(ctx context.Context, b []byte) {
	m, err := decodeMessage(b)
	if err != nil {
		n.log.Warn("shared state: message ignored", "error", err)
		return
	}
	if m.From == n.id {
		return
	}
	n.received.Add(1)
	now := n.o.Now().UnixNano()
	for _, w := range m.Changes {
		c, err := decodeChange(w, now, false)
		if err != nil {
			continue
		}
		n.o.Live.Apply(c)
		n.applied.Add(1)
	}
	for _, s := range m.Signals {
		n.o.Live.ApplySignal(route.Signal{Channel: s.Channel, Health: s.Health, LatencyMs: s.LatencyMs})
	}
	if m.Snapshot != nil {
		n.wg.Add(1)
		go func() {
			defer n.wg.Done()
			n.fetchSnapshot(ctx, m.Snapshot.Generation, m.Snapshot.Hash)
		}()
	}
}

// publishLoop sends the queued changes: each batch (what is queued, up to
// maxBatch) is one pipeline of a merge script per cooldown begun, an HDEL
// per cooldown ended and one PUBLISH.
func (n *Node) publishLoop(ctx context.Context) {
	batch := make([]route.Change, 0, maxBatch)
	for {
		select {
		case <-ctx.Done():
			return
		case c := <-n.queue:
			batch = append(batch[:0], c)
		}
	drain:
		for len(batch) < maxBatch {
			select {
			case c := <-n.queue:
				batch = append(batch, c)
			default:
				break drain
			}
		}
		if !n.connected.Load() {
			// Redis is away: the re-sync on its return republishes the
			// cooldowns still running.
			n.dropped.Add(uint64(len(batch)))
			continue
		}
		if err := n.publish(ctx, batch, nil); err != nil {
			n.fail("publish", err)
			n.dropped.Add(uint64(len(batch)))
		}
	}
}

// mergeScript writes a cooldown's field unless the hash already holds one
// that ends later, and keeps the hash alive for ARGV[4] ms.
const mergeScript = `
local cur = redis.call('HGET', KEYS[1], ARGV[1])
if cur then
  local u = tonumber(string.match(cur, '^(%d+)'))
  if u and u >= tonumber(ARGV[2]) then return 0 end
end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[3])
redis.call('PEXPIRE', KEYS[1], ARGV[4])
return 1`

// coolTTL keeps the cooldown hash alive after its last write: the longest
// cooldown, beyond which every field has ended (auth cooldowns, which have
// no end, are rewritten by the next republication).
const coolTTL = route.MaxCooldown + time.Minute

// publish sends changes and signals in one pipeline.
func (n *Node) publish(ctx context.Context, changes []route.Change, signals []wireSignal) error {
	now := n.o.Now().UnixNano()
	m := message{From: n.id, Signals: signals}
	cctx, cancel := n.opCtx(ctx)
	defer cancel()
	pipe := n.rdb.Pipeline()
	for _, c := range changes {
		m.Changes = append(m.Changes, encodeChange(c, now, false))
		switch c.Kind {
		case route.PairCooled, route.ChannelCooled:
			until, v := hashValue(c)
			f := field(c.Channel, "")
			if c.Kind == route.PairCooled {
				f = field(c.Channel, c.Model)
			}
			pipe.Eval(cctx, mergeScript, []string{n.keyCool}, f, until, v, coolTTL.Milliseconds())
		case route.Cleared:
			if c.Model != "" {
				pipe.HDel(cctx, n.keyCool, field(c.Channel, ""), field(c.Channel, c.Model))
			} else {
				pipe.HDel(cctx, n.keyCool, field(c.Channel, ""))
			}
		case route.Recovered:
			pipe.HDel(cctx, n.keyCool, field(c.Channel, ""))
		}
	}
	b, err := json.Marshal(m)
	if err != nil {
		return err
	}
	pipe.Publish(cctx, n.keyEvents, b)
	if _, err := pipe.Exec(cctx); err != nil {
		return err
	}
	n.sent.Add(1)
	return nil
}

// resyncLoop runs a re-sync each time one is triggered (a (re)connection).
func (n *Node) resyncLoop(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-n.resync:
		}
		if err := n.Resync(ctx); err != nil && ctx.Err() == nil {
			n.fail("resync", err)
			n.log.Warn("shared state: re-sync failed; retrying at the next reconnection", "error", err)
		}
	}
}

// Resync installs the shared snapshot when it is of a later generation,
// republishes this replica's running cooldowns into the hash (the latest
// end wins), applies every running cooldown of the hash to the live state
// and deletes the ended ones.
func (n *Node) Resync(ctx context.Context) error {
	// The snapshot first: installing one ends every cooldown, and the
	// hash holds only cooldowns that began after it was shared.
	if n.o.Install != nil {
		mctx, cancel := n.opCtx(ctx)
		meta, err := n.rdb.HMGet(mctx, n.keySnap+":meta", "generation", "xxhash64").Result()
		cancel()
		if err != nil {
			return err
		}
		if len(meta) == 2 && meta[0] != nil && meta[1] != nil {
			g, _ := meta[0].(string)
			h, _ := meta[1].(string)
			if gen, err := strconv.ParseUint(g, 10, 64); err == nil {
				n.fetchSnapshot(ctx, gen, h)
			}
		}
	}
	own := n.o.Live.Cooldowns()
	cctx, cancel := context.WithTimeout(ctx, 4*n.o.OpTimeout)
	defer cancel()
	// Republished into the hash for replicas that re-sync later, and
	// announced to those connected now (they may have re-synced already).
	for len(own) > 0 {
		k := min(len(own), maxBatch)
		if err := n.publish(cctx, own[:k], nil); err != nil {
			return err
		}
		own = own[k:]
	}
	all, err := n.rdb.HGetAll(cctx, n.keyCool).Result()
	if err != nil {
		return err
	}
	now := n.o.Now().UnixNano()
	var ended []string
	for f, v := range all {
		c, err := decodeHashValue(v)
		if err != nil || c.Until <= now {
			ended = append(ended, f)
			continue
		}
		n.o.Live.Apply(c)
		n.applied.Add(1)
	}
	if len(ended) > 0 {
		_ = n.rdb.HDel(cctx, n.keyCool, ended...).Err()
	}
	n.resyncs.Add(1)
	return nil
}

// signalLoop publishes the health and latency of the channels whose values
// moved since they were last sent (health by more than 0.01, latency by
// more than 5%).
func (n *Node) signalLoop(ctx context.Context) {
	last := map[string]wireSignal{}
	n.everyConnected(ctx, n.o.SignalEvery, func() {
		var out []wireSignal
		n.o.Live.Signals(func(s route.Signal) {
			p, ok := last[s.Channel]
			if ok && abs(p.Health-s.Health) <= 0.01 && abs(p.LatencyMs-s.LatencyMs) <= 0.05*p.LatencyMs {
				return
			}
			if !ok && s.Health == 1 && s.LatencyMs == 0 {
				return // nothing learned yet
			}
			w := wireSignal{Channel: s.Channel, Health: s.Health, LatencyMs: s.LatencyMs}
			last[s.Channel] = w
			out = append(out, w)
		})
		for len(out) > 0 {
			k := min(len(out), maxItems)
			if err := n.publish(ctx, nil, out[:k]); err != nil {
				n.fail("publish signals", err)
				clear(last) // send all again next time
				break
			}
			out = out[k:]
		}
	})
}

// everyConnected calls fn every period while Redis answers, until ctx ends.
func (n *Node) everyConnected(ctx context.Context, every time.Duration, fn func()) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if n.connected.Load() {
			fn()
		}
	}
}

// loggerOnce routes go-redis's own log lines (dial failures while Redis is
// away, one per attempt) to the first node's logger at debug level: the
// node logs the state changes itself.
var loggerOnce sync.Once

type redisLogger struct{ l *slog.Logger }

func (r redisLogger) Printf(ctx context.Context, format string, v ...any) {
	r.l.Log(ctx, slog.LevelDebug, "redis client: "+fmt.Sprintf(format, v...))
}

func abs(f float64) float64 {
	if f < 0 {
		return -f
	}
	return f
}
