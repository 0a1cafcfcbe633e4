package route

import (
	"cmp"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/RoaringBitmap/roaring/v2"

	"smartrouter/format"
	"smartrouter/format/query"
	"smartrouter/format/vocab"
	"smartrouter/runtime/outcome"
)

// Options tune a Router.
type Options struct {
	// LookupEnv resolves the ${ENV} reference of a channel's API key. It is
	// called once per channel in New, never while routing. nil means no
	// environment: only literal keys count.
	LookupEnv func(name string) (string, bool)
	// CacheEntries bounds the cache of resolved model strings (0: 4096;
	// negative: no cache).
	CacheEntries int
	// CacheBytes bounds the memory of that cache (0: 32 MiB).
	CacheBytes int
	// Logger receives configuration warnings found in New (nil: slog.Default()).
	Logger *slog.Logger
}

// Defaults of Options and of the scoring.
const (
	DefaultCacheEntries = 4096
	DefaultCacheBytes   = 32 << 20
	DefaultInputPrice   = 500_000   // pico-USD per token = 0.5 USD per 1M tokens
	DefaultOutputPrice  = 1_500_000 // 1.5 USD per 1M tokens
	DefaultOutputTokens = 1000      // output tokens priced when the request sets no max_tokens
	CostCeilingUSD      = 0.05      // a request costing this much or more scores 0
	DefaultSpeedScore   = 0.8       // speed before any traffic and without performance.speed_score
	listMax             = 4096      // larger candidate sets are kept as bitmaps
)

// Request is what routing needs to know about one request.
type Request struct {
	Model       string // the request's model string
	Strategy    string // X-Router-Strategy; "" = the configured default
	InputTokens int    // estimated input tokens (see body.Features)
	MaxTokens   int    // max_tokens; 0 = not set
	NeedVision  bool   // a content part of type image_url
	NeedTools   bool   // tools or functions non-empty
	Embeddings  bool   // an embeddings request: only embedding models qualify
	Limit       int    // keep only the best Limit pairs (0: all); ignored with Explain
	Explain     bool   // build Decision.Explain
}

// Decision is the result of Route. Reuse one Decision across calls to avoid
// allocating: Route overwrites it.
type Decision struct {
	Pairs    []uint32   // pair ordinals, best first
	Totals   []float64  // the strategy total of each pair
	Strategy string     // the strategy used
	Kind     query.Kind // how the model string was read
	Matched  int        // pairs matched before the filters
	// Panic is set when every matched pair that could serve was cooling:
	// Pairs then holds the one whose cooldown ends first (panic routing),
	// never a pair cooled for auth, quota or a missing model.
	Panic   bool
	Explain *Explain // set only when Request.Explain
}

// Reason says why a matched pair was not routed to.
type Reason uint8

// Filter reasons, in the order they are checked.
const (
	ReasonChannelDisabled Reason = iota + 1
	ReasonNoAPIKey
	ReasonNotChatModel
	ReasonNotEmbeddingModel
	ReasonConfigExcluded
	ReasonConfigMinContext
	ReasonConfigMinParams
	ReasonNoVision
	ReasonNoTools
	ReasonContextTooSmall
	ReasonChannelCooling
	ReasonPairCooling
	ReasonLowHealth
	ReasonMinInterval
	ReasonDailyLimit  // the channel's daily_limit is used up for this UTC day
	ReasonRateLimited // the provider's rate_limit (per channel, per minute) is used up
)

var reasonNames = [...]string{
	ReasonChannelDisabled:   "channel_disabled",
	ReasonNoAPIKey:          "no_api_key",
	ReasonNotChatModel:      "not_chat_model",
	ReasonNotEmbeddingModel: "not_embedding_model",
	ReasonConfigExcluded:    "config_excluded",
	ReasonConfigMinContext:  "config_min_context",
	ReasonConfigMinParams:   "config_min_params",
	ReasonNoVision:          "no_vision",
	ReasonNoTools:           "no_tools",
	ReasonContextTooSmall:   "context_too_small",
	ReasonChannelCooling:    "channel_cooling",
	ReasonPairCooling:       "pair_cooling",
	ReasonLowHealth:         "low_health",
	ReasonMinInterval:       "min_request_interval",
	ReasonDailyLimit:        "daily_limit",
	ReasonRateLimited:       "rate_limited",
}

func (r Reason) String() string {
	if int(r) < len(reasonNames) && reasonNames[r] != "" {
		return reasonNames[r]
	}
	return "unknown"
}

// MarshalText makes a Reason print as its name in JSON.
func (r Reason) MarshalText() ([]byte, error) { return []byte(r.String()), nil }

// ErrModelNotFound is wrapped by *NotFoundError (404 model_not_found).
var ErrModelNotFound = errors.New("model not found")

// NotFoundError: the model string matched no pair.
type NotFoundError struct {
	Model string
	Kind  query.Kind
}

func (e *NotFoundError) Error() string {
	if e.Kind == query.KindPhysical {
		return fmt.Sprintf("model %q matches no model of any channel; list the models with GET /v1/models or query by tag (tag:...)", e.Model)
	}
	return fmt.Sprintf("tag query %q matches no model; check the tags with GET /v1/models or remove an item", e.Model)
}

// Unwrap makes errors.Is(err, ErrModelNotFound) true.
func (e *NotFoundError) Unwrap() error { return ErrModelNotFound }

// RouterStatus is the X-Router-Status header value of the error.
func (e *NotFoundError) RouterStatus() string {
	if e.Kind == query.KindPhysical {
		return "model-not-found"
	}
	return "tag-not-found"
}

// ErrNoChannels is wrapped by *NoChannelsError (503, X-Router-Status: no-channels-found).
var ErrNoChannels = errors.New("no channels available")

// NoChannelsError: pairs matched but every one was filtered out.
type NoChannelsError struct {
	Model   string
	Matched int
}

func (e *NoChannelsError) Error() string {
	return fmt.Sprintf("model %q matched %d pairs but none is usable now (disabled, no key, cooling down, or unfit for the request); see GET /v1/admin/route for the reasons", e.Model, e.Matched)
}

// Unwrap makes errors.Is(err, ErrNoChannels) true.
func (e *NoChannelsError) Unwrap() error { return ErrNoChannels }

// RouterStatus is the X-Router-Status header value of the error.
func (e *NoChannelsError) RouterStatus() string { return "no-channels-found" }

// ErrContextLength is wrapped by *ContextLengthError (400
// context_length_exceeded).
var ErrContextLength = errors.New("context length exceeded")

// ContextLengthError: every matched pair that could otherwise serve the
// request (enabled, with a key, fit for it) was filtered because its known
// context is smaller than the request's input tokens plus max_tokens. A
// smaller request may succeed; a retry of the same one cannot.
type ContextLengthError struct {
	Model    string
	Need     uint64 // estimated input tokens + max_tokens
	Largest  uint64 // the largest known context among those pairs
	Filtered int    // pairs filtered for their context
}

func (e *ContextLengthError) Error() string {
	return fmt.Sprintf("the request needs about %d tokens (estimated input + max_tokens) but the largest context of the %d models matching %q is %d tokens; shorten the messages or lower max_tokens", e.Need, e.Filtered, e.Model, e.Largest)
}

// Unwrap makes errors.Is(err, ErrContextLength) true.
func (e *ContextLengthError) Unwrap() error { return ErrContextLength }

// RouterStatus is the X-Router-Status header value of the error.
func (e *ContextLengthError) RouterStatus() string { return "context-length-exceeded" }

// ErrNotEmbedding is wrapped by *NotEmbeddingError (400
// model_not_embedding).
var ErrNotEmbedding = errors.New("not an embedding model")

// NotEmbeddingError: an embeddings request whose model matched pairs, none
// of them an embedding model (a chat model named on /v1/embeddings). No
// retry of the same request can succeed.
type NotEmbeddingError struct {
	Model   string
	Matched int
}

func (e *NotEmbeddingError) Error() string {
	return fmt.Sprintf("model %q is not an embedding model (none of the %d pairs it matches is one); name an embedding model: GET /v1/models lists them with \"embeddings\" among their capabilities", e.Model, e.Matched)
}

// Unwrap makes errors.Is(err, ErrNotEmbedding) true.
func (e *NotEmbeddingError) Unwrap() error { return ErrNotEmbedding }

// RouterStatus is the X-Router-Status header value of the error.
func (e *NotEmbeddingError) RouterStatus() string { return "model-not-embedding" }

type chanInfo struct {
	id          string
	state       *chanState
	rank        uint32  // position in (priority asc, weight desc, id asc)
	unusable    Reason  // ReasonChannelDisabled, ReasonNoAPIKey or 0
	minInterval int64   // ns
	dailyLimit  uint64  // requests per UTC day, 0 = none
	rateIv      int64   // ns between requests at the provider's rate_limit, 0 = none
	speed       float64 // speed score before traffic
	priority    int32
	weight      float64
}

// Router routes against one snapshot. Make a new Router for every snapshot
// (that also drops its cache); the Live state is shared across them. A Router
// is safe for concurrent use.
type Router struct {
	snap       *format.Snapshot
	live       *Live
	chans      []chanInfo
	strategies map[string]*Strategy
	defStrat   *Strategy
	res        *query.Resolver // static resolution of parsed model strings
	cache      *cache
	pool       sync.Pool // *work
	defIn      float64   // pico-USD per token
	defOut     float64
	minCtx     uint64
	minParams  uint64
	errCool    time.Duration // routing.error_cooldown_period: base period of server failures (0: the table's)
	exclEmbed  bool
	exclVision bool
}

type cand struct {
	pair  uint32
	model uint32
	rank  uint32
	total float64
}

type work struct {
	cands []cand
	ords  []uint32
}

// New prepares routing over snap: it resolves API keys once, ranks channels,
// compiles strategies and seeds the cache from the snapshot's prewarm lists.
// Call live.Load(snap) when snap becomes the current snapshot.
func New(snap *format.Snapshot, live *Live, opts Options) *Router {
	log := opts.Logger
	if log == nil {
		log = slog.Default()
	}
	set := snap.Settings()
	r := &Router{
		snap:       snap,
		live:       live,
		strategies: strategies(set),
		res:        query.NewResolver(snap),
		defIn:      priceOr(set.DefaultInputPrice, DefaultInputPrice),
		defOut:     priceOr(set.DefaultOutputPrice, DefaultOutputPrice),
		minCtx:     set.MinContextLength,
		minParams:  set.MinParamsM,
		errCool:    time.Duration(set.ErrorCooldownSec) * time.Second,
		exclEmbed:  set.ExcludeEmbeddingModels,
		exclVision: set.ExcludeVisionOnlyModels,
	}
	r.pool.New = func() any { return new(work) }
	name := strings.TrimSpace(set.DefaultStrategy)
	if name == "" {
		name = DefaultStrategy
	}
	r.defStrat = r.strategies[name]
	if r.defStrat == nil || r.defStrat.err != nil {
		log.Warn("routing.default_strategy is not usable; using cost_first", "strategy", name)
		r.defStrat = r.strategies[DefaultStrategy]
	}
	for n, st := range r.strategies {
		if st.err != nil {
			log.Warn("sorting strategy cannot be used", "strategy", n, "error", st.err)
		}
	}

	chans := snap.Channels()
	r.chans = make([]chanInfo, len(chans))
	order := make([]int, len(chans))
	for i := range chans {
		c := &chans[i]
		ci := &r.chans[i]
		ci.id, ci.priority, ci.weight = c.ID, c.Priority, c.Weight
		ci.state = live.state(c.ID)
		ci.minInterval = int64(c.MinRequestIntervalMs) * 1e6
		ci.dailyLimit = c.DailyLimit
		if provs := snap.Providers(); int(c.Provider) < len(provs) && provs[c.Provider].RateLimit > 0 {
			ci.rateIv = rateWindow / int64(provs[c.Provider].RateLimit)
		}
		ci.speed = DefaultSpeedScore
		if c.SpeedScore > 0 {
			ci.speed = float64(c.SpeedScore)
		}
		switch {
		case !c.Enabled:
			ci.unusable = ReasonChannelDisabled
		case !vocab.HasKey(c.APIKey, opts.LookupEnv) && !vocab.IsLocalChannel(c):
			ci.unusable = ReasonNoAPIKey
		}
		order[i] = i
	}
	slices.SortFunc(order, func(a, b int) int {
		x, y := &r.chans[a], &r.chans[b]
		if c := cmp.Compare(x.priority, y.priority); c != 0 {
			return c
		}
		if c := cmp.Compare(y.weight, x.weight); c != 0 {
			return c
		}
		return strings.Compare(x.id, y.id)
	})
	for rank, i := range order {
		r.chans[i].rank = uint32(rank)
	}

	entries, bytes := opts.CacheEntries, opts.CacheBytes
	if entries == 0 {
		entries = DefaultCacheEntries
	}
	if bytes <= 0 {
		bytes = DefaultCacheBytes
	}
	if entries > 0 {
		r.cache = newCache(entries, bytes)
		for _, pw := range snap.Prewarm() {
			q, err := query.Parse(pw.Query)
			if err != nil {
				log.Warn("prewarm query cannot be parsed; skipped", "query", pw.Query, "error", err)
				continue
			}
			e := &candSet{q: q, list: pw.Pairs, n: len(pw.Pairs)}
			if e.list == nil {
				e.list = []uint32{}
			}
			e.ref.Store(true)
			r.cache.put(strings.Clone(pw.Query), e)
		}
	}
	return r
}

func priceOr(p uint64, def float64) float64 {
	if p == 0 || p == format.PriceUnknown {
		return def
	}
	return float64(p)
}

// Snapshot returns the snapshot the router reads.
func (r *Router) Snapshot() *format.Snapshot { return r.snap }

// Strategy returns a strategy by name ("" = the default).
func (r *Router) Strategy(name string) (*Strategy, error) {
	if name == "" {
		return r.defStrat, nil
	}
	st := r.strategies[name]
	if st == nil {
		st = r.strategies[strings.ToLower(strings.TrimSpace(name))]
	}
	if st == nil {
		return nil, &StrategyError{Name: name, Known: knownNames(r.strategies)}
	}
	if st.err != nil {
		return nil, &StrategyError{Name: name, Err: st.err}
	}
	return st, nil
}

// Resolve returns the pairs a model string matches before any filter, in
// ordinal order (for tests and inspection; Route uses the same sets).
func (r *Router) Resolve(model string) (query.Query, []uint32, error) {
	set, err := r.candidates(model)
	if err != nil {
		return query.Query{}, nil, err
	}
	return set.q, set.ordinals(nil), nil
}

func (s *candSet) ordinals(buf []uint32) []uint32 {
	if s.bm == nil {
		return append(buf[:0], s.list...)
	}
	n := int(s.bm.GetCardinality())
	if cap(buf) < n {
		buf = make([]uint32, n)
	}
	buf = buf[:n]
	s.bm.ToExistingArray(&buf)
	return buf
}

func (r *Router) candidates(model string) (*candSet, error) {
	if e := r.cache.get(model); e != nil {
		return e, nil
	}
	// The model string may point into a reused request buffer: the cached
	// key and query keep a copy.
	key := strings.Clone(model)
	q, err := query.Parse(key)
	if err != nil {
		return nil, err
	}
	e := r.resolve(q)
	return r.cache.put(key, e), nil
}

// Route orders the pairs that may serve req, best first, into out. Errors:
// *query.ParseError (400), *StrategyError (400), *NotFoundError (404),
// *ContextLengthError (400), *NotEmbeddingError (400), *NoChannelsError
// (503). When every matched
// pair that could serve is cooling, the decision holds the one whose
// cooldown ends first and Panic is set (panic routing; auth, quota and
// not-found cooldowns never qualify). Without Explain and with a warm cache
// it does not allocate once out and the router's buffers have grown.
func (r *Router) Route(req Request, out *Decision) error {
	out.Pairs, out.Totals = out.Pairs[:0], out.Totals[:0]
	out.Explain, out.Matched, out.Kind, out.Strategy, out.Panic = nil, 0, 0, "", false
	st, err := r.Strategy(req.Strategy)
	if err != nil {
		return err
	}
	out.Strategy = st.Name
	set, err := r.candidates(req.Model)
	if err != nil {
		return err
	}
	out.Kind, out.Matched = set.q.Kind, set.n
	var ex *Explain
	if req.Explain {
		ex = r.newExplain(req, st, set)
		out.Explain = ex
		req.Limit = 0
	}
	if set.n == 0 {
		return &NotFoundError{Model: req.Model, Kind: set.q.Kind}
	}

	w := r.pool.Get().(*work)
	defer r.pool.Put(w)
	w.cands = w.cands[:0]
	ords := set.list
	if set.bm != nil {
		w.ords = set.ordinals(w.ords)
		ords = w.ords
	}
	now := r.live.nowNs()
	env := evalEnv{now: now, req: &req, outTok: float64(req.MaxTokens), needCtx: uint64(max(req.InputTokens, 0)) + uint64(max(req.MaxTokens, 0))}
	if req.MaxTokens <= 0 {
		env.outTok = DefaultOutputTokens
	}
	env.inTok = float64(max(req.InputTokens, 0))

	limit := req.Limit
	// What the filtered pairs say, for the error when none is left: the
	// pairs filtered for their context, the others that could have served
	// but for live state, and the panic candidate (the cooling pair whose
	// cooldown ends first).
	var (
		ctxOut, liveOut int
		notEmbed        int // pairs that are not embedding models, on an embeddings request
		largest         uint64
		panicC          cand
		panicEnd        int64 = -1
	)
	for _, p := range ords {
		pr := r.snap.Pair(p)
		ci := &r.chans[pr.Channel]
		if reason := r.filter(&pr, ci, &env); reason != 0 {
			if req.Embeddings && pr.Flags&format.FlagEmbedding == 0 {
				notEmbed++
			}
			if ex != nil {
				ex.addFiltered(r, p, &pr, reason, &env)
			}
			switch reason {
			case ReasonChannelDisabled, ReasonNoAPIKey:
			case ReasonContextTooSmall:
				ctxOut++
				largest = max(largest, pr.ContextLength)
			case ReasonChannelCooling, ReasonPairCooling, ReasonLowHealth:
				liveOut++
				end, ok := ci.state.panicEnd(r.snap.Model(pr.Model).Name, now)
				if !ok {
					break
				}
				c := cand{pair: p, model: pr.Model, rank: ci.rank}
				if panicEnd < 0 || end < panicEnd || end == panicEnd && compareCand(c, panicC) < 0 {
					panicC, panicEnd = c, end
				}
			default:
				liveOut++
			}
			continue
		}
		var sc Scores
		r.score(&pr, ci, &env, &sc)
		c := cand{pair: p, model: pr.Model, rank: ci.rank, total: st.Total(&sc)}
		if ex != nil {
			ex.addCandidate(r, p, &pr, &sc, c.total, &env)
		}
		if limit > 0 {
			w.cands = insertTop(w.cands, c, limit)
		} else {
			w.cands = append(w.cands, c)
		}
	}
	if len(w.cands) == 0 {
		switch {
		case panicEnd >= 0:
			var sc Scores
			pr := r.snap.Pair(panicC.pair)
			r.score(&pr, &r.chans[pr.Channel], &env, &sc)
			panicC.total = st.Total(&sc)
			w.cands = append(w.cands, panicC)
			out.Panic = true
			if ex != nil {
				ex.Panic = true
			}
		case notEmbed == len(ords):
			return &NotEmbeddingError{Model: req.Model, Matched: set.n}
		case ctxOut > 0 && liveOut == 0:
			return &ContextLengthError{Model: req.Model, Need: env.needCtx, Largest: largest, Filtered: ctxOut}
		default:
			return &NoChannelsError{Model: req.Model, Matched: set.n}
		}
	}
	if limit <= 0 {
		slices.SortFunc(w.cands, compareCand)
	}
	for _, c := range w.cands {
		out.Pairs = append(out.Pairs, c.pair)
		out.Totals = append(out.Totals, c.total)
	}
	if ex != nil {
		ex.finish(out)
	}
	return nil
}

// compareCand orders by total descending, then channel priority ascending,
// weight descending and id (the channel rank), then model id (model ordinals
// follow byte order of the names).
func compareCand(a, b cand) int {
	switch {
	case a.total > b.total:
		return -1
	case a.total < b.total:
		return 1
	}
	if c := cmp.Compare(a.rank, b.rank); c != 0 {
		return c
	}
	return cmp.Compare(a.model, b.model)
}

// insertTop keeps the best k candidates in order.
func insertTop(top []cand, c cand, k int) []cand {
	if len(top) == k && compareCand(c, top[k-1]) >= 0 {
		return top
	}
	i := len(top)
	for i > 0 && compareCand(c, top[i-1]) < 0 {
		i--
	}
	if len(top) < k {
		top = append(top, cand{})
	}
	copy(top[i+1:], top[i:len(top)-1])
	top[i] = c
	return top
}

type evalEnv struct {
	now     int64
	req     *Request
	inTok   float64
	outTok  float64
	needCtx uint64
}

// filter returns why pair pr may not serve the request, or 0.
func (r *Router) filter(pr *format.Pair, ci *chanInfo, env *evalEnv) Reason {
	if ci.unusable != 0 {
		return ci.unusable
	}
	req := env.req
	if req.Embeddings {
		if pr.Flags&format.FlagEmbedding == 0 {
			return ReasonNotEmbeddingModel
		}
	} else {
		if pr.Flags&format.FlagChatExcluded != 0 {
			return ReasonNotChatModel
		}
		if r.exclEmbed && pr.Flags&format.FlagEmbedding != 0 {
			return ReasonConfigExcluded
		}
	}
	if r.minCtx > 0 && pr.ContextLength != 0 && pr.ContextLength < r.minCtx {
		return ReasonConfigMinContext
	}
	if r.minParams > 0 && pr.ParamsM != 0 && pr.ParamsM < r.minParams {
		return ReasonConfigMinParams
	}
	if req.NeedVision && pr.Caps&format.CapVisionKnown != 0 && pr.Caps&format.CapVision == 0 {
		return ReasonNoVision
	}
	if req.NeedTools && pr.Caps&format.CapToolsKnown != 0 && pr.Caps&format.CapTools == 0 {
		return ReasonNoTools
	}
	if pr.ContextLength != 0 && pr.ContextLength < env.needCtx {
		return ReasonContextTooSmall
	}
	cs := ci.state
	if cs.channelCooling(env.now) {
		return ReasonChannelCooling
	}
	if cs.npairs.Load() != 0 && cs.pairCooling(r.snap.Model(pr.Model).Name, env.now) {
		return ReasonPairCooling
	}
	if cs.healthValue() < MinHealth {
		return ReasonLowHealth
	}
	if ci.minInterval > 0 {
		if last := cs.lastUse.Load(); last != 0 && env.now-last < ci.minInterval {
			return ReasonMinInterval
		}
	}
	if ci.dailyLimit > 0 && cs.dayRequests(env.now) >= ci.dailyLimit {
		return ReasonDailyLimit
	}
	if ci.rateIv > 0 && cs.rateLimited(env.now, ci.rateIv) {
		return ReasonRateLimited
	}
	return 0
}

// score fills the component scores of a pair for the request.
func (r *Router) score(pr *format.Pair, ci *chanInfo, env *evalEnv, sc *Scores) {
	sc[FieldCost] = r.costScore(pr, env)
	if ms := ci.state.latencyMs(); ms > 0 {
		sc[FieldSpeed] = 0.1 + 0.9*math.Max(0, 1-ms/2000)
	} else {
		sc[FieldSpeed] = ci.speed
	}
	sc[FieldQuality] = float64(pr.QualityScore)
	sc[FieldReliability] = ci.state.healthValue()
	sc[FieldParameter] = float64(pr.ParameterScore)
	sc[FieldContext] = float64(pr.ContextScore)
	sc[FieldFree] = float64(pr.FreeScore)
	sc[FieldLocal] = float64(pr.LocalScore)
}

// Cost is what a request costs on a pair, in pico-USD: its prompt and
// completion tokens at the pair's token prices, and the pair's per-request
// price. Routing and the response metadata both price with Router.Cost.
type Cost struct {
	Prompt     float64 // prompt tokens × input price
	Completion float64 // completion tokens × output price
	Request    float64 // per-request price
}

// TokensUSD is the price of the tokens alone in USD: what routing scores
// (the per-request price is not part of the cost score).
func (c Cost) TokensUSD() float64 { return (c.Prompt + c.Completion) / format.PicoUSDPerUSD }

// Cost prices a request of promptTokens and completionTokens on the pair: a
// free pair costs nothing; an unknown token price is the configured default
// (routing.default_input_price / default_output_price, else
// DefaultInputPrice / DefaultOutputPrice); an unknown request price is 0.
func (r *Router) Cost(pair uint32, promptTokens, completionTokens float64) Cost {
	pr := r.snap.Pair(pair)
	return r.cost(&pr, promptTokens, completionTokens)
}

func (r *Router) cost(pr *format.Pair, promptTokens, completionTokens float64) Cost {
	if pr.Flags&format.FlagFree != 0 {
		return Cost{}
	}
	in, out := r.defIn, r.defOut
	if pr.InputPrice != format.PriceUnknown {
		in = float64(pr.InputPrice)
	}
	if pr.OutputPrice != format.PriceUnknown {
		out = float64(pr.OutputPrice)
	}
	var req float64
	if pr.RequestPrice != format.PriceUnknown {
		req = float64(pr.RequestPrice)
	}
	return Cost{Prompt: promptTokens * in, Completion: completionTokens * out, Request: req}
}

// estimateUSD prices the request's tokens on a pair (input and max output
// tokens).
func (r *Router) estimateUSD(pr *format.Pair, env *evalEnv) float64 {
	return r.cost(pr, env.inTok, env.outTok).TokensUSD()
}

func (r *Router) costScore(pr *format.Pair, env *evalEnv) float64 {
	return 1 - math.Min(r.estimateUSD(pr, env)/CostCeilingUSD, 1)
}

// resolve computes the candidate set of a parsed query (query.Resolver.Match)
// and stores it as a list or, above listMax pairs, as a bitmap.
func (r *Router) resolve(q query.Query) *candSet {
	ords, bm := r.res.Match(&q)
	e := &candSet{q: q}
	switch {
	case bm != nil && bm.GetCardinality() <= listMax:
		ords, bm = bm.ToArray(), nil
	case bm == nil && len(ords) > listMax:
		bm = roaring.BitmapOf(ords...)
		ords = nil
	}
	if bm != nil {
		bm.RunOptimize()
		e.bm, e.n, e.cost = bm, int(bm.GetCardinality()), int(bm.GetSizeInBytes())+64
	} else {
		if ords == nil {
			ords = []uint32{}
		}
		e.list, e.n, e.cost = ords, len(ords), 4*cap(ords)+64
	}
	return e
}

// Report helpers keyed by pair ordinal, for the caller that tries the pairs of
// a Decision.

// Used records that the pair is about to be tried: the channel's last use
// (min_request_interval) and, for a pair past the end of its cooldown, the
// lease of its half-open trial (no other request is routed to it until this
// attempt's outcome is reported, or TrialLease passed).
func (r *Router) Used(pair uint32) {
	pr := r.snap.Pair(pair)
	if int(pr.Channel) < len(r.chans) {
		ci := &r.chans[pr.Channel]
		now := r.live.nowNs()
		ci.state.used(r.snap.Model(pr.Model).Name, now)
		ci.state.countUse(now, ci.rateIv) // daily_limit and rate_limit (limits.go)
	}
}

// Report records the outcome of a call of the pair (see Live.Report) and
// returns how long the pair (or its channel) now cools. A server failure
// (5xx, or any failure without a kind of its own) cools for the snapshot's
// routing.error_cooldown_period when it sets one.
func (r *Router) Report(pair uint32, o outcome.Outcome, latency time.Duration) time.Duration {
	pr := r.snap.Pair(pair)
	if int(pr.Channel) >= len(r.chans) {
		return 0
	}
	if r.errCool > 0 && o.Kind.CooldownKind() == outcome.Server && o.Kind != outcome.OK {
		o.Cooldown = r.errCool
	}
	return r.chans[pr.Channel].state.report(r.snap.Model(pr.Model).Name, o, latency, r.live.nowNs)
}
