package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"

	"github.com/redis/go-redis/v9"

	"smartrouter/compiler"
	"smartrouter/format"
	"smartrouter/format/vocab"
	"smartrouter/runtime/cluster"
	"smartrouter/runtime/server"
)

// Shared live state between replicas (docs/scaling.md): when the snapshot
// carries state.redis_url, routerd resolves it (an ${ENV} reference is read
// from the environment now), checks it, and connects a cluster.Node to the
// server's live state. Without it nothing here runs.

// startCluster starts the node of the snapshot's state.redis_url, or
// returns nil when it is not set. snapPath is the file a snapshot shared
// by the leader is written to ("" : shared snapshots are not installed).
// clients (the server's client counters, nil: none) count across the
// replicas once the node is attached. The URL is never logged nor put into an error: it may carry a password.
func startCluster(ctx context.Context, srv *server.Server, clients *cluster.ClientCounters, snapPath string, lookupEnv func(string) (string, bool), log *slog.Logger) (*cluster.Node, error) {
	h := srv.Manager().Acquire()
	if h == nil {
		return nil, nil
	}
	sec := h.Snapshot().Settings().StateRedisURL
	h.Release()
	if sec.IsZero() {
		return nil, nil
	}
	ro, err := redisOptions(sec, lookupEnv)
	if err != nil {
		return nil, err
	}
	install := func(ctx context.Context, b []byte) error {
		if snapPath == "" {
			return errors.New("this replica has no -snapshot file to write the shared snapshot to; start it with -snapshot FILE")
		}
		if err := compiler.WriteFileAtomic(snapPath, b); err != nil {
			return err
		}
		_, err := srv.Reload(ctx)
		return err
	}
	node, err := cluster.New(cluster.Options{Redis: ro, Live: srv.Live(), Logger: log,
		Registerer: srv.Metrics().Registry(),
		Snapshot:   func() uint64 { return srv.Manager().Info().Generation },
		Install:    install})
	if err != nil {
		return nil, err
	}
	if clients != nil {
		clients.Attach(node) // the client keys' limits count across replicas
	}
	srv.SetSharedState(func() (any, bool) {
		st := node.Status()
		return st, st.Degraded
	})
	node.Start(ctx)
	log.Info("sharing live state with the other replicas through Redis", "redis", ro.Addr, "db", ro.DB, "replica", node.ID())
	return node, nil
}

// redisOptions resolves state.redis_url (an ${ENV} reference through
// lookupEnv) and checks it. Errors name where the URL comes from, never the
// URL: it may carry a password.
func redisOptions(sec format.Secret, lookupEnv func(string) (string, bool)) (*redis.Options, error) {
	where := vocab.DescribeSecret(sec)
	raw := vocab.ResolveSecret(sec, lookupEnv)
	if raw == "" {
		return nil, fmt.Errorf("state.redis_url (%s) is empty or unset; export it, or remove state: from the config to run without shared state", where)
	}
	if err := vocab.CheckRedisURL(raw); err != nil {
		return nil, fmt.Errorf("state.redis_url (%s) %v", where, err)
	}
	ro, err := redis.ParseURL(raw)
	if err != nil {
		// go-redis errors may quote the URL: say what to check instead.
		return nil, fmt.Errorf("state.redis_url (%s) is not accepted by the Redis client; check its query options (only the documented go-redis options are allowed)", where)
	}
	return ro, nil
}

// lookupEnv is os.LookupEnv; a variable so that tests may replace it.
var lookupEnv = os.LookupEnv

// stopCluster gives the leader lease up and disconnects (nil: nothing).
func stopCluster(ctx context.Context, node *cluster.Node) {
	if node != nil {
		node.Stop(ctx)
	}
}
