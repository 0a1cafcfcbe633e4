// Package cluster shares the live routing state of routerd replicas through
// Redis (state.redis_url; docs/scaling.md).
//
// What a replica learns on its own (cooldowns of channels and pairs as they
// begin and end, health and latency) is published on one pub/sub channel,
// off the request path: route.Live tells the changes to a Node
// (Live.OnChange), which queues them without blocking and sends them in
// pipelined batches; every other replica applies them to its own live state
// (Live.Apply, Live.ApplySignal). Running cooldowns are also kept in a Redis
// hash (one field per channel or pair, the latest end wins), from which a
// replica that (re)connects re-syncs. Pairs are named by channel id and
// model id, never by snapshot ordinals, so replicas on different snapshot
// generations agree. Every replica has a random id and ignores its own
// messages.
//
// One replica at a time is the leader: it holds a Redis lease (SET NX PX,
// renewed by a compare-and-extend script; when it lapses another replica
// takes it). routerd runs the background tasks (discovery, key validation,
// the refresh cycle, recovery probes) only on the leader (ShouldRun); the
// snapshot a replica builds is published (bytes, generation, xxhash64) and
// every other replica verifies it (format.Open, hash, generation) and
// installs it through the function routerd hands in (atomic write of its
// snapshot file, then the usual reload), so all converge on one generation.
//
// Redis down or slow never fails a request: routing reads only local
// state, publishing drops what it cannot send, a ping loop marks the
// replica degraded (Status, the smartrouter_shared_state_degraded gauge)
// and reconnects with backoff, and on reconnection the replica republishes
// its own running cooldowns and re-syncs the others'. While degraded, a
// replica is never leader; it runs the recovery probes itself (they only
// affect its own state).
//
// Limits and budgets (counter.go, clients.go, chanday.go): Counter counts
// an event across the fleet over fixed windows with batched flushes;
// ClientCounters is the shared tenant.Counters that routerd hands to the
// server (requests and tokens per minute, day and month budgets across
// the fleet, concurrency per replica), and the channels' day counts of
// the live state (daily_limit) are flushed and moved to the fleet's total
// in the same pipeline. The request path reads only local atomics; the
// error bound of each limit is in docs/scaling.md.
package cluster
