package route

import (
	"fmt"

	"smartrouter/format"
	"smartrouter/format/query"
)

// Explain tells how one decision was made: the parsed query, every matched
// pair that passed the filters with its component scores and total, every
// pair filtered out with its reason, and the final order. It marshals to JSON
// for the admin endpoint and `routerc route`.
type Explain struct {
	Model      string            `json:"model"`
	Query      query.Query       `json:"query"`
	Strategy   *Strategy         `json:"strategy"`
	Request    ExplainRequest    `json:"request"`
	Matched    int               `json:"matched"` // pairs matched before the filters
	Candidates []ExplainPair     `json:"candidates"`
	Filtered   []ExplainFiltered `json:"filtered"`
	Order      []ExplainRef      `json:"order"` // best first
	// Panic: every pair that could serve was cooling, and Order holds the
	// one whose cooldown ends first (panic routing).
	Panic bool `json:"panic,omitempty"`
}

// ExplainRequest echoes the request facts that scores and filters used.
type ExplainRequest struct {
	InputTokens  int     `json:"input_tokens"`
	MaxTokens    int     `json:"max_tokens"`
	PricedOutput int     `json:"priced_output_tokens"` // max_tokens, or 1000 when not set
	NeedVision   bool    `json:"need_vision"`
	NeedTools    bool    `json:"need_tools"`
	Embeddings   bool    `json:"embeddings"`
	DefaultIn    float64 `json:"default_input_usd_per_mtok"`
	DefaultOut   float64 `json:"default_output_usd_per_mtok"`
}

// ExplainRef names one pair.
type ExplainRef struct {
	Pair    uint32 `json:"pair"`
	Channel string `json:"channel"`
	Model   string `json:"model"`
}

// ExplainPair is a pair that passed the filters.
type ExplainPair struct {
	ExplainRef
	Scores       Scores  `json:"scores"`
	Total        float64 `json:"total"`
	EstimatedUSD float64 `json:"estimated_usd"`
	Priority     int32   `json:"priority"`
	Weight       float64 `json:"weight"`
}

// ExplainFiltered is a pair that a filter removed.
type ExplainFiltered struct {
	ExplainRef
	Reason Reason `json:"reason"`
	Detail string `json:"detail,omitempty"`
}

func (r *Router) newExplain(req Request, st *Strategy, set *candSet) *Explain {
	out := req.MaxTokens
	if out <= 0 {
		out = DefaultOutputTokens
	}
	return &Explain{
		Model:    req.Model,
		Query:    set.q,
		Strategy: st,
		Request: ExplainRequest{
			InputTokens: req.InputTokens, MaxTokens: req.MaxTokens, PricedOutput: out,
			NeedVision: req.NeedVision, NeedTools: req.NeedTools, Embeddings: req.Embeddings,
			DefaultIn: r.defIn / 1e6, DefaultOut: r.defOut / 1e6,
		},
		Matched:    set.n,
		Candidates: []ExplainPair{},
		Filtered:   []ExplainFiltered{},
		Order:      []ExplainRef{},
	}
}

func (r *Router) ref(p uint32, pr *format.Pair) ExplainRef {
	return ExplainRef{Pair: p, Channel: r.chans[pr.Channel].id, Model: r.snap.Model(pr.Model).Name}
}

func (ex *Explain) addCandidate(r *Router, p uint32, pr *format.Pair, sc *Scores, total float64, env *evalEnv) {
	ci := &r.chans[pr.Channel]
	ex.Candidates = append(ex.Candidates, ExplainPair{
		ExplainRef: r.ref(p, pr), Scores: *sc, Total: round6(total), EstimatedUSD: r.estimateUSD(pr, env),
		Priority: ci.priority, Weight: ci.weight,
	})
}

func (ex *Explain) addFiltered(r *Router, p uint32, pr *format.Pair, reason Reason, env *evalEnv) {
	var detail string
	switch reason {
	case ReasonContextTooSmall:
		detail = fmt.Sprintf("context %d < %d input+max tokens", pr.ContextLength, env.needCtx)
	case ReasonConfigMinContext:
		detail = fmt.Sprintf("context %d < model_filters.min_context_length %d", pr.ContextLength, r.minCtx)
	case ReasonConfigMinParams:
		detail = fmt.Sprintf("%dM parameters < model_filters.min_parameter_count %dM", pr.ParamsM, r.minParams)
	case ReasonLowHealth:
		detail = fmt.Sprintf("health %.3f < %.1f", r.chans[pr.Channel].state.healthValue(), MinHealth)
	case ReasonChannelCooling, ReasonPairCooling:
		st := r.live.Channel(r.chans[pr.Channel].id)
		if reason == ReasonChannelCooling && st.Cooling != nil {
			detail = describeCooldown(st.Cooling)
		}
		if reason == ReasonPairCooling {
			name := r.snap.Model(pr.Model).Name
			for _, pc := range st.Pairs {
				if pc.Model == name {
					detail = describeCooldown(&pc.Cooldown)
				}
			}
		}
	}
	ex.Filtered = append(ex.Filtered, ExplainFiltered{ExplainRef: r.ref(p, pr), Reason: reason, Detail: detail})
}

func describeCooldown(c *Cooldown) string {
	if c.Until.IsZero() {
		return c.Kind.String() + " until reload or recovery"
	}
	return fmt.Sprintf("%s for %s, until %s", c.Kind, c.Period, c.Until.UTC().Format("2006-01-02T15:04:05Z"))
}

// finish records the final order and sorts the candidate list the same way.
func (ex *Explain) finish(d *Decision) {
	pos := make(map[uint32]int, len(d.Pairs))
	for i, p := range d.Pairs {
		pos[p] = i
	}
	sorted := make([]ExplainPair, len(ex.Candidates))
	for _, c := range ex.Candidates {
		sorted[pos[c.Pair]] = c
	}
	ex.Candidates = sorted
	for _, c := range sorted {
		ex.Order = append(ex.Order, c.ExplainRef)
	}
}
