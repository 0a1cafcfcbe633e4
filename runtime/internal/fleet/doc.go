// Package fleet holds the multi-replica tests of routerd (make
// test-cluster): three routerd processes built from cmd/routerd, one real
// redis-server and the mock upstream, all on 127.0.0.1, sharing live state
// through Redis, and for the usage test one real PostgreSQL as their shared
// ledger (docs/scaling.md). It has no code of its own outside its
// tests.
package fleet
