package route

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"smartrouter/format"
	"smartrouter/format/query"
	"smartrouter/runtime/outcome"
)

// pairTagSets rebuilds every pair's tag set from the postings (one pass over
// all postings, the reference's input).
func pairTagSets(snap *format.Snapshot) [][]string {
	sets := make([][]string, snap.NumPairs())
	for t := 0; t < snap.NumTags(); t++ {
		name, _ := snap.Tag(uint32(t))
		it := snap.TagPairs(uint32(t)).Iterator()
		for it.HasNext() {
			p := it.Next()
			sets[p] = append(sets[p], name)
		}
	}
	return sets
}

// bitmapPath is format/query's smallSet: a tag query whose smallest positive
// posting has more pairs intersects bitmaps instead of probing pair by pair.
const bitmapPath = 2048

func sz(d query.Dim, op query.Op, v uint64) query.SizeFilter {
	return query.SizeFilter{Dim: d, Op: op, Value: v}
}

func addOnce[T comparable](list []T, v T) []T {
	if slices.Contains(list, v) {
		return list
	}
	return append(list, v)
}

// TestResolveMatchesScan: random tag queries over a generated snapshot give
// the same pairs through the postings as through a plain scan of all pairs.
func TestResolveMatchesScan(t *testing.T) {
	g := buildGrowth(t, 12_000)
	snap := g.snap
	sets := pairTagSets(snap)
	var usable, big []string
	for i := 0; i < snap.NumTags(); i++ {
		name, card := snap.Tag(uint32(i))
		if strings.ContainsAny(name, ",<>! ") || name != strings.ToLower(name) {
			continue
		}
		usable = append(usable, name)
		if card > bitmapPath {
			big = append(big, name)
		}
	}
	if len(big) < 2 {
		t.Fatalf("fixture has %d tags above %d pairs; the bitmap path would go untested", len(big), bitmapPath)
	}
	rng := rand.New(rand.NewPCG(7, 11))
	pick := func() string {
		if rng.IntN(3) == 0 {
			return big[rng.IntN(len(big))]
		}
		return usable[rng.IntN(len(usable))]
	}
	sizes := []query.SizeFilter{
		sz(query.DimParams, query.OpGE, 8_000), sz(query.DimParams, query.OpLT, 8_000), sz(query.DimParams, query.OpLE, 1_500), sz(query.DimParams, query.OpGT, 70_000),
		sz(query.DimContext, query.OpGE, 32_000), sz(query.DimContext, query.OpLT, 8_192), sz(query.DimOutput, query.OpGE, 8_000), sz(query.DimOutput, query.OpLE, 4_096),
	}
	cached := New(snap, NewLive(nil), Options{Logger: quiet})
	uncached := New(snap, NewLive(nil), Options{Logger: quiet, CacheEntries: -1})
	nonEmpty := 0
	for i := 0; i < 400; i++ {
		q := query.Query{Kind: query.KindTags}
		for n := rng.IntN(4); n > 0; n-- {
			q.Include = addOnce(q.Include, pick())
		}
		for n := rng.IntN(3); n > 0; n-- {
			q.Exclude = addOnce(q.Exclude, pick())
		}
		for n := rng.IntN(3); n > 0; n-- {
			q.Sizes = addOnce(q.Sizes, sizes[rng.IntN(len(sizes))])
		}
		if len(q.Include)+len(q.Exclude)+len(q.Sizes) == 0 {
			q.Exclude = []string{pick()}
		}
		want := scanTags(snap, sets, &q)
		model := q.String()
		for _, r := range []*Router{cached, uncached, cached} {
			_, got, err := r.Resolve(model)
			if err != nil {
				t.Fatalf("%q: %v", model, err)
			}
			if !slices.Equal(got, want) {
				t.Fatalf("%q: postings give %d pairs, scan %d", model, len(got), len(want))
			}
		}
		if len(want) > 0 {
			nonEmpty++
		}
	}
	if nonEmpty < 100 {
		t.Fatalf("only %d of 400 random queries matched anything; the test is too weak", nonEmpty)
	}
}

// TestConcurrentRouteSwapAndUpdates routes while the live state changes and
// snapshots are swapped; run it with -race.
func TestConcurrentRouteSwapAndUpdates(t *testing.T) {
	base := func(drop string) *fixture {
		f := &fixture{}
		for _, id := range []string{"c1", "c2", "c3", "c4"} {
			if id == drop {
				continue
			}
			f.chans = append(f.chans, tch{id: id, minIntervalMs: 1})
			for _, m := range []string{"qwen/qwen3-8b", "gpt-4o-mini", "llama3:70b", "m-free:free"} {
				f.pairs = append(f.pairs, tpair{ch: id, id: m, in: 1000, out: 2000, ctx: 32_000})
			}
		}
		return f
	}
	snaps := []*format.Snapshot{base("").snapshot(t), base("c2").snapshot(t)}
	live := NewLive(nil)
	live.Load(snaps[0])
	var cur atomic.Pointer[Router]
	cur.Store(New(snaps[0], live, Options{Logger: quiet}))

	var wg sync.WaitGroup
	var routed atomic.Int64
	models := []string{"tag:qwen", "gpt-4o-mini", "tag:!free", "llama3->8b", "tag:>=32ki", "nope"}
	for w := 0; w < 3; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			var d Decision
			for i := 0; i < 3000; i++ {
				r := cur.Load()
				err := r.Route(Request{Model: models[(i+w)%len(models)], Limit: i % 3, Explain: i%50 == 0}, &d)
				var nf *NotFoundError
				var nc *NoChannelsError
				switch {
				case err == nil:
					routed.Add(1)
					if len(d.Pairs) != len(d.Totals) {
						t.Errorf("pairs/totals mismatch")
						return
					}
					r.Used(d.Pairs[0])
				case errors.As(err, &nf), errors.As(err, &nc):
				default:
					t.Errorf("route: %v", err)
					return
				}
			}
		}(w)
	}
	wg.Add(2)
	go func() {
		defer wg.Done()
		kinds := []outcome.Kind{outcome.Server, outcome.Timeout, outcome.RateLimit, outcome.Auth, outcome.NotFound}
		for i := 0; i < 3000; i++ {
			ch := fmt.Sprintf("c%d", 1+i%4)
			switch i % 4 {
			case 0:
				live.Report(ch, "gpt-4o-mini", failed(kinds[i%len(kinds)], time.Millisecond), 0)
			case 1:
				live.Report(ch, "gpt-4o-mini", success, time.Duration(i)*time.Microsecond)
			case 2:
				live.Recover(ch)
			default:
				_ = live.Channel(ch)
			}
		}
	}()
	go func() {
		defer wg.Done()
		for i := 0; i < 60; i++ {
			s := snaps[i%2]
			live.Load(s)
			cur.Store(New(s, live, Options{Logger: quiet}))
		}
	}()
	wg.Wait()
	if routed.Load() == 0 {
		t.Fatal("no request was routed")
	}
}

// TestRouteAllocs guards the fast path: a 3-tag query and a physical name on a
// warm router do not allocate (the budget is 2).
func TestRouteAllocs(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a 20k-pair snapshot")
	}
	if raceEnabled {
		t.Skip("allocation counts are not meaningful under the race detector")
	}
	g := buildGrowth(t, 20_000)
	r := New(g.snap, NewLive(nil), Options{Logger: quiet})
	for _, model := range []string{"tag:qwen3,8b,instruct", "qwen3-8b-instruct", "tag:llama,!free,>=32ki"} {
		var d Decision
		req := Request{Model: model, InputTokens: 500, MaxTokens: 256}
		if err := r.Route(req, &d); err != nil {
			t.Fatalf("%q: %v", model, err)
		}
		if len(d.Pairs) < 2 {
			t.Fatalf("%q routes to %d pairs; pick a query with more", model, len(d.Pairs))
		}
		allocs := testing.AllocsPerRun(200, func() {
			if err := r.Route(req, &d); err != nil {
				t.Fatal(err)
			}
		})
		if allocs > 2 {
			t.Errorf("%q: %.1f allocations per decision, budget 2", model, allocs)
		}
	}
}
