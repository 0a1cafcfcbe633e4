package cluster

import (
	"context"
	"errors"
	"fmt"
	"strconv"

	"github.com/cespare/xxhash/v2"
	"github.com/redis/go-redis/v9"

	"smartrouter/format"
)

// PublishSnapshot shares a snapshot this replica built: its bytes and
// meta (generation, xxhash64) are stored, the cooldown hash is cleared (a
// new snapshot ends every cooldown, as a reload does), and the others are
// told. It is called after the bytes are validated and written locally.
func (n *Node) PublishSnapshot(ctx context.Context, b []byte) error {
	s, err := format.Open(b)
	if err != nil {
		return fmt.Errorf("snapshot not shared: %w", err)
	}
	gen := s.Header().Generation
	hash := strconv.FormatUint(xxhash.Sum64(b), 16)
	cctx, cancel := context.WithTimeout(ctx, 10*n.o.OpTimeout)
	defer cancel()
	msg := `{"from":"` + n.id + `","snapshot":{"generation":` + strconv.FormatUint(gen, 10) + `,"xxhash64":"` + hash + `"}}`
	_, err = n.rdb.TxPipelined(cctx, func(p redis.Pipeliner) error {
		p.Set(cctx, n.keySnap, b, 0)
		p.HSet(cctx, n.keySnap+":meta", "generation", gen, "xxhash64", hash, "from", n.id)
		p.Del(cctx, n.keyCool)
		p.Publish(cctx, n.keyEvents, msg)
		return nil
	})
	if err != nil {
		n.fail("publish snapshot", err)
		return fmt.Errorf("snapshot generation %d not shared (Redis: %w); the other replicas keep theirs until the next refresh", gen, err)
	}
	n.sent.Add(1)
	n.log.Info("snapshot shared with the other replicas", "generation", gen, "bytes", len(b))
	return nil
}

// fetchSnapshot installs the shared snapshot of generation gen when it is
// later than the one served: it fetches the bytes, checks their xxhash64
// against the announced one, validates them fully (format.Open) and checks
// the generation, then hands them to Options.Install.
func (n *Node) fetchSnapshot(ctx context.Context, gen uint64, hash string) {
	if n.o.Install == nil || n.o.Snapshot == nil {
		return
	}
	n.snapMu.Lock()
	defer n.snapMu.Unlock()
	if gen <= n.o.Snapshot() {
		return
	}
	cctx, cancel := context.WithTimeout(ctx, 10*n.o.OpTimeout)
	defer cancel()
	b, err := n.rdb.Get(cctx, n.keySnap).Bytes()
	if err == nil {
		err = verify(b, gen, hash)
	}
	if err == nil {
		err = n.o.Install(ctx, b)
	}
	if err != nil {
		n.fail("install snapshot", err)
		n.log.Warn("shared snapshot not installed; serving the current one", "generation", gen, "error", err)
		return
	}
	n.installed.Store(gen)
	n.log.Info("installed the snapshot shared by the leader", "generation", gen, "bytes", len(b))
}

// verify checks shared snapshot bytes against their announcement.
func verify(b []byte, gen uint64, hash string) error {
	if got := strconv.FormatUint(xxhash.Sum64(b), 16); got != hash {
		return errors.New("the shared bytes do not match their announced xxhash64 (a newer snapshot may have replaced them; the next announcement brings it)")
	}
	s, err := format.Open(b)
	if err != nil {
		return fmt.Errorf("the shared snapshot does not validate: %w", err)
	}
	if g := s.Header().Generation; g != gen {
		return fmt.Errorf("the shared snapshot is generation %d, announced as %d", g, gen)
	}
	return nil
}
