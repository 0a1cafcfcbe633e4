package route

import (
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"smartrouter/format"
	"smartrouter/format/query"
	"smartrouter/format/vocab"
	"smartrouter/runtime/outcome"
)

// U is an unknown price.
const U = format.PriceUnknown

// tch describes a test channel.
type tch struct {
	id            string
	provider      string // provider key; "" = "prov"
	disabled      bool
	key           format.Secret // zero = literal "sk-test"
	priority      int32
	weight        float64
	tags          []string
	aliases       []format.Alias
	baseURL       string
	minIntervalMs uint32
	dailyLimit    uint64 // requests per UTC day
	rateLimit     uint32 // the provider's rate_limit (set by its first channel)
	speed         float32
	modelName     string
}

// tpair describes a test pair.
type tpair struct {
	ch      string
	id      string
	in, out uint64 // pico-USD per token; U = unknown
	ctx     uint64
	maxOut  uint64
	params  uint64 // millions; 0 = from the id
	caps    uint32
}

type fixture struct {
	settings format.Settings
	chans    []tch
	pairs    []tpair
	prewarm  []format.Prewarm // Pairs index fixture.pairs
	keys     []format.KeyState
}

// model builds the format.Model the way the compiler does: tags, flags and
// static scores from vocab.DerivePair.
func (f *fixture) model(tb testing.TB) *format.Model {
	tb.Helper()
	m := &format.Model{Generation: 1, Settings: f.settings, Prewarm: f.prewarm, KeyStates: f.keys}
	provIdx := map[string]uint32{}
	chIdx := map[string]uint32{}
	for _, c := range f.chans {
		pk := c.provider
		if pk == "" {
			pk = "prov"
		}
		pi, ok := provIdx[pk]
		if !ok {
			pi = uint32(len(m.Providers))
			provIdx[pk] = pi
			m.Providers = append(m.Providers, format.Provider{Key: pk, Name: pk, BaseURL: "https://" + pk + ".example/v1", RateLimit: c.rateLimit})
		}
		key := c.key
		if key.IsZero() {
			key = format.Secret{Literal: "sk-test"}
		}
		base := c.baseURL
		if base == "" {
			base = "https://" + c.id + ".example/v1"
		}
		w := c.weight
		if w == 0 {
			w = 1
		}
		chIdx[c.id] = uint32(len(m.Channels))
		m.Channels = append(m.Channels, format.Channel{
			ID: c.id, Name: c.id, Provider: pi, ModelName: c.modelName, APIKey: key, BaseURLs: []string{base},
			Enabled: !c.disabled, Priority: c.priority, Weight: w, MinRequestIntervalMs: c.minIntervalMs, DailyLimit: c.dailyLimit,
			SpeedScore: c.speed, CurrencyRate: 1, Tags: c.tags, Aliases: c.aliases,
		})
	}
	modelIdx := map[string]uint32{}
	for _, p := range f.pairs {
		ci, ok := chIdx[p.ch]
		if !ok {
			tb.Fatalf("pair %q names unknown channel %q", p.id, p.ch)
		}
		c := m.Channels[ci]
		mi, ok := modelIdx[p.id]
		if !ok {
			mi = uint32(len(m.Models))
			modelIdx[p.id] = mi
			m.Models = append(m.Models, format.ModelInfo{Name: p.id})
		}
		var aliases []vocab.Alias
		for _, a := range c.Aliases {
			aliases = append(aliases, vocab.Alias{Standard: a.Standard, Target: a.Target})
		}
		params := p.params
		if params == 0 {
			params, _ = vocab.ParamsFromID(p.id)
		}
		pr := format.Pair{
			Channel: ci, Model: mi, InputPrice: p.in, OutputPrice: p.out, RequestPrice: U,
			ContextLength: p.ctx, MaxOutputTokens: p.maxOut, ParamsM: params, Caps: p.caps,
		}
		vocab.DerivePair(&pr, vocab.Pair{
			ID: p.id, Provider: m.Providers[c.Provider].Key, ChannelTags: c.Tags, Aliases: aliases,
			ZeroPrice: p.in == 0 && p.out == 0, BaseURLs: c.BaseURLs,
		}, nil)
		m.Pairs = append(m.Pairs, pr)
	}
	return m
}

func (f *fixture) snapshot(tb testing.TB) *format.Snapshot {
	tb.Helper()
	return open(tb, f.model(tb))
}

func open(tb testing.TB, m *format.Model) *format.Snapshot {
	tb.Helper()
	b, err := format.Encode(m)
	if err != nil {
		tb.Fatalf("Encode: %v", err)
	}
	s, err := format.Open(b)
	if err != nil {
		tb.Fatalf("Open: %v", err)
	}
	return s
}

// quiet drops the configuration warnings of New.
var quiet = slog.New(slog.DiscardHandler)

// fakeClock is a settable clock.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *fakeClock { return &fakeClock{t: time.Unix(1_750_000_000, 0)} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// env resolves ${ENV} references from a fixed map.
func env(m map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) {
		v, ok := m[k]
		return v, ok
	}
}

// setup builds a router over f with a fake clock.
func setup(tb testing.TB, f *fixture) (*Router, *Live, *fakeClock) {
	tb.Helper()
	clk := newClock()
	live := NewLive(clk.Now)
	snap := f.snapshot(tb)
	live.Load(snap)
	return New(snap, live, Options{LookupEnv: env(map[string]string{"GOOD_KEY": "sk-real"}), Logger: quiet}), live, clk
}

// names turns a decision's pairs into "channel/model" strings.
func names(r *Router, pairs []uint32) []string {
	out := make([]string, len(pairs))
	for i, p := range pairs {
		pr := r.snap.Pair(p)
		out[i] = r.chans[pr.Channel].id + "|" + r.snap.Model(pr.Model).Name
	}
	return out
}

// growth is a synthetic snapshot of about n pairs: channels of 200 models each,
// drawn from a pool of model ids built from families, sizes and variants.
type growth struct {
	snap *format.Snapshot
	ids  []string
}

var (
	growthFamilies = []string{
		"qwen3", "qwen2.5", "llama-3.1", "llama-3.3", "gemma-3", "mistral-small", "mixtral", "deepseek-v3",
		"deepseek-r1", "glm-4", "phi-4", "yi-1.5", "internlm3", "baichuan2", "gpt-4o", "gpt-4.1", "claude-3-haiku",
		"claude-3.5-sonnet", "gemini-1.5-flash", "gemini-2.0-pro", "command-r", "granite-3", "olmo-2", "falcon3",
		"smollm2", "hermes-3", "nemotron", "solar", "exaone-3.5", "minicpm3",
	}
	growthSizes    = []string{"0.5b", "1.5b", "3b", "7b", "8b", "14b", "32b", "70b", "72b", "405b", ""}
	growthVariants = []string{"instruct", "chat", "base", "coder", "vl", "math", "turbo", "preview", "latest", "online"}
	growthVendors  = []string{"", "openai/", "meta-llama/", "qwen/", "google/", "mistralai/", "deepseek/", "thudm/", "microsoft/", "nous/"}
	growthTags     = []string{"fast", "cheap", "premium", "backup", "cn", "us", "eu", "beta"}
)

func buildGrowth(tb testing.TB, pairs int) *growth {
	tb.Helper()
	rng := rand.New(rand.NewPCG(1, 2))
	seen := map[string]bool{}
	var ids []string
	for _, fam := range growthFamilies {
		for _, size := range growthSizes {
			for _, v := range growthVariants {
				vendor := growthVendors[rng.IntN(len(growthVendors))]
				id := vendor + fam
				if size != "" {
					id += "-" + size
				}
				id += "-" + v
				switch rng.IntN(6) {
				case 0:
					id += ":free"
				case 1:
					id += fmt.Sprintf("-2024%02d%02d", 1+rng.IntN(12), 1+rng.IntN(28))
				}
				if !seen[id] {
					seen[id] = true
					ids = append(ids, id)
				}
			}
		}
	}
	perChan := 200
	nch := (pairs + perChan - 1) / perChan
	f := &fixture{settings: format.Settings{DefaultStrategy: "cost_first"}}
	for c := 0; c < nch; c++ {
		ct := []string{growthTags[rng.IntN(len(growthTags))]}
		if rng.IntN(3) == 0 {
			ct = append(ct, growthTags[rng.IntN(len(growthTags))])
		}
		f.chans = append(f.chans, tch{
			id: fmt.Sprintf("ch%04d", c), provider: fmt.Sprintf("prov%d", c%12), priority: int32(rng.IntN(3)),
			weight: 1 + float64(rng.IntN(3)), tags: ct, speed: float32(rng.IntN(10)) / 10,
		})
	}
	for c := 0; c < nch && len(f.pairs) < pairs; c++ {
		perm := rng.Perm(len(ids))
		for _, k := range perm[:min(perChan, len(ids))] {
			if len(f.pairs) >= pairs {
				break
			}
			id := ids[k]
			in, out := uint64(rng.IntN(20))*100_000, uint64(rng.IntN(60))*100_000
			if rng.IntN(10) == 0 {
				in, out = U, U
			}
			var caps uint32
			if rng.IntN(2) == 0 {
				caps |= format.CapToolsKnown | format.CapTools
			}
			f.pairs = append(f.pairs, tpair{
				ch: f.chans[c].id, id: id, in: in, out: out,
				ctx: []uint64{0, 4096, 8192, 32768, 131072, 1048576}[rng.IntN(6)], maxOut: uint64(rng.IntN(4)) * 4096, caps: caps,
			})
		}
	}
	return &growth{snap: f.snapshot(tb), ids: ids}
}

// scanTags is the plain reference for a tag query: every pair, its tag set
// from the postings, the sizes from its record.
func scanTags(snap *format.Snapshot, pairTags [][]string, q *query.Query) []uint32 {
	out := []uint32{}
	for p := 0; p < snap.NumPairs(); p++ {
		set := pairTags[p]
		has := func(t string) bool {
			for _, x := range set {
				if x == t {
					return true
				}
			}
			return false
		}
		ok := true
		for _, t := range q.Include {
			ok = ok && has(t)
		}
		for _, t := range q.Exclude {
			ok = ok && !has(t)
		}
		pr := snap.Pair(uint32(p))
		for _, f := range q.Sizes {
			ok = ok && f.Match(query.SizeOf(&pr, f.Dim))
		}
		if ok {
			out = append(out, uint32(p))
		}
	}
	return out
}

// len returns the number of cached model strings.
func (c *cache) len() int {
	if c == nil {
		return 0
	}
	c.mu.RLock()
	defer c.mu.RUnlock()
	return len(c.m)
}

// success is the outcome of a successful call.
var success = outcome.Outcome{}

// failed is a failure of kind k whose classification gave period (0: the
// table's).
func failed(k outcome.Kind, period time.Duration) outcome.Outcome {
	return outcome.Outcome{Kind: k, Cooldown: period, Failover: true}
}
