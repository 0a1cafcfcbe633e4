package cluster

import (
	"context"
	"time"

	"github.com/redis/go-redis/v9"
)

// extendScript extends the lease only while this replica holds it.
var extendScript = redis.NewScript(`
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0`)

// releaseScript gives the lease up only while this replica holds it.
var releaseScript = redis.NewScript(`
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0`)

// leaderLoop takes the lease when it is free (SET NX PX) and renews it
// every third of the lease while it holds it. A renewal that fails (the
// lease lapsed and another replica took it, or Redis does not answer)
// makes this replica a follower at once; the other side may then already be
// leader, so two replicas believe they lead for at most a third of a lease.
func (n *Node) leaderLoop(ctx context.Context) {
	every := n.o.Lease / 3
	for {
		n.leaseOnce(ctx)
		if !sleep(ctx, every) {
			return
		}
	}
}

func (n *Node) leaseOnce(ctx context.Context) {
	cctx, cancel := n.opCtx(ctx)
	defer cancel()
	ms := n.o.Lease.Milliseconds()
	if n.leader.Load() {
		v, err := extendScript.Run(cctx, n.rdb, []string{n.keyLeader}, n.id, ms).Int()
		if err != nil || v == 0 {
			n.leader.Store(false)
			n.log.Warn("no longer the leader: the lease could not be renewed", "replica", n.id)
		}
		return
	}
	ok, err := n.rdb.SetNX(cctx, n.keyLeader, n.id, time.Duration(ms)*time.Millisecond).Result()
	if err == nil && ok {
		n.leader.Store(true)
		n.log.Info("became the leader: the background tasks run here", "replica", n.id)
	}
}
