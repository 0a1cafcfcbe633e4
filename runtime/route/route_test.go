package route

import (
	"encoding/json"
	"errors"
	"math"
	"slices"
	"strings"
	"testing"
	"time"

	"smartrouter/format"
	"smartrouter/runtime/outcome"
)

// explainReasons maps "channel|model" to the filter reason of every filtered pair.
func explainReasons(r *Router, ex *Explain) map[string]string {
	m := map[string]string{}
	for _, f := range ex.Filtered {
		m[f.Channel+"|"+f.Model] = f.Reason.String()
	}
	return m
}

func TestFilters(t *testing.T) {
	f := &fixture{
		chans: []tch{
			{id: "ok"},
			{id: "dis", disabled: true},
			{id: "placeholder", key: format.Secret{Literal: "YOUR_OPENAI_API_KEY_HERE"}},
			{id: "unresolved", key: format.Secret{Literal: "${OPENAI_KEY}"}},
			{id: "envmiss", key: format.Secret{Env: "MISSING_KEY"}},
			{id: "envempty", key: format.Secret{Env: "EMPTY_KEY"}},
			{id: "envok", key: format.Secret{Env: "GOOD_KEY"}},
			{id: "paircool"},
			{id: "chcool"},
			{id: "sick"},
			{id: "interval", minIntervalMs: 1000},
			// Local servers take no key: a loopback or local-tagged channel stays usable.
			{id: "ollama", key: format.Secret{Literal: "YOUR_KEY_HERE"}, baseURL: "http://127.0.0.1:11434"},
			{id: "lan", key: format.Secret{Env: "MISSING_KEY"}, tags: []string{"local"}},
			{id: "remote", key: format.Secret{Literal: "YOUR_KEY_HERE"}, baseURL: "https://api.example.com"},
		},
		keys: []format.KeyState{{Channel: 9, Valid: true, HealthScore: 0.2, Timestamp: 1}},
	}
	for _, c := range f.chans {
		f.pairs = append(f.pairs, tpair{ch: c.id, id: "m-8b", in: 100_000, out: 100_000})
	}
	clk := newClock()
	live := NewLive(clk.Now)
	snap := f.snapshot(t)
	live.Load(snap)
	r := New(snap, live, Options{LookupEnv: env(map[string]string{"GOOD_KEY": "sk-real", "EMPTY_KEY": " "})})
	live.Report("paircool", "m-8b", failed(outcome.Server, 0), 0)
	live.Report("chcool", "m-8b", failed(outcome.Auth, 0), 0)
	live.Used("interval")

	var d Decision
	if err := r.Route(Request{Model: "m-8b", Explain: true}, &d); err != nil {
		t.Fatal(err)
	}
	if got := names(r, d.Pairs); !slices.Equal(set(got...), set("ok|m-8b", "envok|m-8b", "ollama|m-8b", "lan|m-8b")) {
		t.Fatalf("routed %q", got)
	}
	want := map[string]string{
		"dis|m-8b":         "channel_disabled",
		"placeholder|m-8b": "no_api_key",
		"unresolved|m-8b":  "no_api_key",
		"envmiss|m-8b":     "no_api_key",
		"envempty|m-8b":    "no_api_key",
		"paircool|m-8b":    "pair_cooling",
		"chcool|m-8b":      "channel_cooling",
		"sick|m-8b":        "low_health",
		"interval|m-8b":    "min_request_interval",
		"remote|m-8b":      "no_api_key",
	}
	if got := explainReasons(r, d.Explain); !mapsEqual(got, want) {
		t.Fatalf("filtered = %v\nwant %v", got, want)
	}

	// min_request_interval skips, never waits: after the interval the channel is back.
	clk.Advance(999 * time.Millisecond)
	_ = r.Route(Request{Model: "m-8b"}, &d)
	if slices.Contains(names(r, d.Pairs), "interval|m-8b") {
		t.Fatal("interval channel used before its interval passed")
	}
	clk.Advance(time.Millisecond)
	_ = r.Route(Request{Model: "m-8b"}, &d)
	if !slices.Contains(names(r, d.Pairs), "interval|m-8b") {
		t.Fatal("interval channel not back after its interval")
	}
	// The pair cooldown (server, 60 s) ends; the auth cooldown does not.
	clk.Advance(60 * time.Second)
	_ = r.Route(Request{Model: "m-8b"}, &d)
	got := names(r, d.Pairs)
	if !slices.Contains(got, "paircool|m-8b") || slices.Contains(got, "chcool|m-8b") {
		t.Fatalf("after 60 s: %q", got)
	}
}

func mapsEqual(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

func TestRequestFilters(t *testing.T) {
	f := &fixture{
		settings: format.Settings{MinContextLength: 16_000, MinParamsM: 7_000},
		chans:    []tch{{id: "c", provider: "openai"}},
		pairs: []tpair{
			{ch: "c", id: "vis-yes-8b", caps: format.CapVisionKnown | format.CapVision, ctx: 32_000},
			{ch: "c", id: "vis-no-8b", caps: format.CapVisionKnown, ctx: 32_000},
			{ch: "c", id: "vis-unknown-8b", ctx: 32_000},
			{ch: "c", id: "tools-yes-8b", caps: format.CapToolsKnown | format.CapTools, ctx: 32_000},
			{ch: "c", id: "tools-no-8b", caps: format.CapToolsKnown, ctx: 32_000},
			{ch: "c", id: "ctx-small-8b", ctx: 20_000},
			{ch: "c", id: "ctx-unknown-8b"},
			{ch: "c", id: "cfg-context-8b", ctx: 8_000},
			{ch: "c", id: "cfg-params-3b", ctx: 32_000},
			{ch: "c", id: "params-unknown", ctx: 32_000},
			{ch: "c", id: "text-embedding-3-small", ctx: 32_000, params: 8_000},
			{ch: "c", id: "jina-reranker-8b", ctx: 32_000},
			{ch: "c", id: "llama-3.2-11b-vision", ctx: 32_000},
		},
	}
	r, _, _ := setup(t, f)
	tests := []struct {
		name   string
		req    Request
		routed []string
		why    map[string]string
	}{
		{"plain chat: exclusions and model_filters",
			Request{Model: "tag:openai"},
			[]string{"vis-yes-8b", "vis-no-8b", "vis-unknown-8b", "tools-yes-8b", "tools-no-8b", "ctx-small-8b", "ctx-unknown-8b", "params-unknown"},
			map[string]string{"cfg-context-8b": "config_min_context", "cfg-params-3b": "config_min_params",
				"text-embedding-3-small": "not_chat_model", "jina-reranker-8b": "not_chat_model", "llama-3.2-11b-vision": "not_chat_model"}},
		{"vision needed: known without vision is filtered, unknown allowed",
			Request{Model: "tag:vis", NeedVision: true},
			[]string{"vis-yes-8b", "vis-unknown-8b"},
			map[string]string{"vis-no-8b": "no_vision"}},
		{"tools needed: known without tools is filtered",
			Request{Model: "tag:tools", NeedTools: true},
			[]string{"tools-yes-8b"},
			map[string]string{"tools-no-8b": "no_tools"}},
		{"tools not needed: nothing filtered",
			Request{Model: "tag:tools"},
			[]string{"tools-yes-8b", "tools-no-8b"}, map[string]string{}},
		{"context: known < input + max_tokens is filtered, unknown allowed",
			Request{Model: "tag:ctx", InputTokens: 15_000, MaxTokens: 5_001},
			[]string{"ctx-unknown-8b"},
			map[string]string{"ctx-small-8b": "context_too_small"}},
		{"context: exactly enough passes",
			Request{Model: "tag:ctx", InputTokens: 15_000, MaxTokens: 5_000},
			[]string{"ctx-small-8b", "ctx-unknown-8b"}, map[string]string{}},
		{"embeddings: only embedding models",
			Request{Model: "tag:openai", Embeddings: true},
			[]string{"text-embedding-3-small"}, nil},
	}
	for _, tt := range tests {
		var d Decision
		tt.req.Explain = true
		if err := r.Route(tt.req, &d); err != nil {
			t.Errorf("%s: %v", tt.name, err)
			continue
		}
		var got []string
		for _, n := range names(r, d.Pairs) {
			got = append(got, strings.TrimPrefix(n, "c|"))
		}
		if !slices.Equal(set(got...), set(tt.routed...)) {
			t.Errorf("%s: routed %q, want %q", tt.name, got, tt.routed)
		}
		if tt.why == nil {
			continue
		}
		why := map[string]string{}
		for k, v := range explainReasons(r, d.Explain) {
			why[strings.TrimPrefix(k, "c|")] = v
		}
		if !mapsEqual(why, tt.why) {
			t.Errorf("%s: filtered %v, want %v", tt.name, why, tt.why)
		}
	}

	// Everything filtered: 503 no-channels-found.
	var d Decision
	err := r.Route(Request{Model: "tools-no-8b", NeedTools: true}, &d)
	var nc *NoChannelsError
	if !errors.As(err, &nc) || !errors.Is(err, ErrNoChannels) || nc.RouterStatus() != "no-channels-found" || nc.Matched != 1 {
		t.Fatalf("err = %v, want *NoChannelsError", err)
	}
}

func scoresOf(t *testing.T, r *Router, req Request) map[string]Scores {
	t.Helper()
	req.Explain = true
	var d Decision
	if err := r.Route(req, &d); err != nil {
		t.Fatal(err)
	}
	m := map[string]Scores{}
	for _, c := range d.Explain.Candidates {
		m[c.Channel+"|"+c.Model] = c.Scores
	}
	return m
}

func near(a, b float64) bool { return math.Abs(a-b) < 1e-9 }

func TestCostScore(t *testing.T) {
	f := &fixture{
		chans: []tch{{id: "c"}, {id: "freech", tags: []string{"free"}}},
		pairs: []tpair{
			{ch: "c", id: "priced", in: 1_000_000, out: 2_000_000}, // 1 and 2 USD per 1M tokens
			{ch: "c", id: "unknown", in: U, out: U},
			{ch: "c", id: "half-unknown", in: 1_000_000, out: U},
			{ch: "c", id: "zero", in: 0, out: 0},
			{ch: "c", id: "dear", in: 100_000_000, out: 100_000_000},
			{ch: "c", id: "x:free", in: 1_000_000, out: 1_000_000},
			{ch: "freech", id: "priced", in: 1_000_000, out: 2_000_000},
		},
	}
	r, _, _ := setup(t, f)
	sc := scoresOf(t, r, Request{Model: "tag:!nothing", InputTokens: 10_000, MaxTokens: 1_000})
	// 10,000 × 1e-6 + 1,000 × 2e-6 = 0.012 USD → 1 − 0.012/0.05.
	want := map[string]float64{
		"c|priced":       1 - 0.012/0.05,
		"c|unknown":      1 - (10_000*0.5e-6+1_000*1.5e-6)/0.05, // built-in defaults 0.5 / 1.5 USD per 1M
		"c|half-unknown": 1 - (10_000*1e-6+1_000*1.5e-6)/0.05,
		"c|zero":         1,
		"c|dear":         0, // 1.1 USD ≥ 0.05
		"c|x:free":       1, // free by its id
		"freech|priced":  1, // free by its channel
	}
	for k, v := range want {
		if !near(sc[k][FieldCost], v) {
			t.Errorf("cost of %s = %v, want %v", k, sc[k][FieldCost], v)
		}
	}
	// Without max_tokens 1000 output tokens are priced.
	sc = scoresOf(t, r, Request{Model: "priced", InputTokens: 10_000})
	if !near(sc["c|priced"][FieldCost], 1-0.012/0.05) {
		t.Errorf("default output tokens: %v", sc["c|priced"][FieldCost])
	}
	// The configured default price replaces the built-in one.
	f.settings = format.Settings{DefaultInputPrice: 2_000_000, DefaultOutputPrice: 4_000_000}
	r2, _, _ := setup(t, f)
	sc = scoresOf(t, r2, Request{Model: "unknown", InputTokens: 10_000, MaxTokens: 1_000})
	if !near(sc["c|unknown"][FieldCost], 1-(10_000*2e-6+1_000*4e-6)/0.05) {
		t.Errorf("configured default price: %v", sc["c|unknown"][FieldCost])
	}
}

func TestSpeedAndReliability(t *testing.T) {
	f := &fixture{
		chans: []tch{{id: "plain"}, {id: "rated", speed: 0.7}},
		pairs: []tpair{{ch: "plain", id: "m"}, {ch: "rated", id: "m"}},
	}
	r, live, clk := setup(t, f)
	sc := scoresOf(t, r, Request{Model: "m"})
	if sc["plain|m"][FieldSpeed] != DefaultSpeedScore || math.Abs(sc["rated|m"][FieldSpeed]-0.7) > 1e-6 {
		t.Fatalf("speed before traffic: %v %v", sc["plain|m"][FieldSpeed], sc["rated|m"][FieldSpeed])
	}
	live.Report("plain", "m", success, 500*time.Millisecond)
	sc = scoresOf(t, r, Request{Model: "m"})
	if !near(sc["plain|m"][FieldSpeed], 0.1+0.9*(1-500.0/2000)) {
		t.Fatalf("speed after 500 ms: %v", sc["plain|m"][FieldSpeed])
	}
	live.Report("plain", "m", success, 1500*time.Millisecond) // average 500 + 0.2 × 1000 = 700 ms
	sc = scoresOf(t, r, Request{Model: "m"})
	if !near(sc["plain|m"][FieldSpeed], 0.1+0.9*(1-700.0/2000)) {
		t.Fatalf("speed after a 1500 ms sample: %v", sc["plain|m"][FieldSpeed])
	}
	for i := 0; i < 40; i++ {
		live.Report("rated", "m", success, 5*time.Second)
	}
	live.Report("rated", "m", failed(outcome.Timeout, time.Nanosecond), 0)
	clk.Advance(time.Second) // past the 1 ns cooldown
	sc = scoresOf(t, r, Request{Model: "m"})
	if !near(sc["rated|m"][FieldSpeed], 0.1) || !near(sc["rated|m"][FieldReliability], 0.9*1-0.1) {
		t.Fatalf("slow, once failed channel: speed %v reliability %v", sc["rated|m"][FieldSpeed], sc["rated|m"][FieldReliability])
	}
	if !near(sc["plain|m"][FieldReliability], 1) {
		t.Fatalf("reliability of a healthy channel: %v", sc["plain|m"][FieldReliability])
	}
}

// weights is an independent copy of the strategy table of the routing rules.
var weights = map[string]map[Field]float64{
	"cost_first":        {FieldCost: .40, FieldParameter: .25, FieldContext: .20, FieldSpeed: .15},
	"free_first":        {FieldFree: .50, FieldCost: .30, FieldSpeed: .15, FieldReliability: .05},
	"local_first":       {FieldLocal: .60, FieldSpeed: .25, FieldCost: .10, FieldReliability: .05},
	"cost_optimized":    {FieldCost: .70, FieldReliability: .20, FieldSpeed: .10},
	"speed_optimized":   {FieldSpeed: .40, FieldCost: .30, FieldParameter: .20, FieldContext: .10},
	"quality_optimized": {FieldParameter: .40, FieldContext: .30, FieldQuality: .20, FieldCost: .10},
	"balanced":          {FieldCost: .30, FieldParameter: .25, FieldContext: .20, FieldSpeed: .15, FieldReliability: .10},
}

func strategyFixture() *fixture {
	return &fixture{
		chans: []tch{
			{id: "cloud", speed: 0.9},
			{id: "cheap", speed: 0.6},
			{id: "home", provider: "ollama", baseURL: "http://127.0.0.1:11434"},
			{id: "gift", tags: []string{"free"}, speed: 0.5},
		},
		pairs: []tpair{
			{ch: "cloud", id: "gpt-4o-70b", in: 10_000_000, out: 30_000_000, ctx: 128_000},
			{ch: "cheap", id: "cheap-8b", in: 10_000, out: 20_000, ctx: 8_000},
			{ch: "home", id: "llama3-3b", in: U, out: U, ctx: 4_000},
			{ch: "gift", id: "qwen-plus-1.5b", in: 400_000, out: 1_200_000, ctx: 4_000},
		},
	}
}

func TestStrategies(t *testing.T) {
	r, live, clk := setup(t, strategyFixture())
	live.Report("cheap", "cheap-8b", failed(outcome.Timeout, time.Nanosecond), 0) // reliability 0.8 for "cheap"
	clk.Advance(time.Second)
	firsts := map[string]string{}
	for name, w := range weights {
		var d Decision
		req := Request{Model: "tag:!none", Strategy: name, InputTokens: 2_000, MaxTokens: 1_000, Explain: true}
		if err := r.Route(req, &d); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if d.Strategy != name || len(d.Pairs) != 4 {
			t.Fatalf("%s: strategy %q, %d pairs, filtered %+v", name, d.Strategy, len(d.Pairs), d.Explain.Filtered)
		}
		for i, c := range d.Explain.Candidates {
			var num, den float64
			for f, wt := range w {
				num += wt * c.Scores[f]
				den += wt
			}
			if !near(d.Totals[i], num/den) || c.Pair != d.Pairs[i] {
				t.Errorf("%s: %s total %v, want %v", name, c.Model, d.Totals[i], num/den)
			}
			if i > 0 && d.Totals[i] > d.Totals[i-1] {
				t.Errorf("%s: not sorted by total: %v", name, d.Totals)
			}
		}
		firsts[name] = d.Explain.Order[0].Channel
		// The worked example of docs/routing.md.
		example := map[string]map[string]float64{
			"cost_first":  {"cloud": .545, "cheap": .80968, "home": .775},
			"local_first": {"cloud": .335, "cheap": .34992, "home": .945},
		}
		for i, c := range d.Explain.Candidates {
			if v, ok := example[name][c.Channel]; ok && math.Abs(d.Totals[i]-v) > 1e-6 { // scores are float32 in the snapshot
				t.Errorf("%s: %s total %v, documented %v", name, c.Channel, d.Totals[i], v)
			}
		}
	}
	// The weights make these first choices.
	want := map[string]string{
		"cost_first": "cheap", "free_first": "gift", "local_first": "home", "cost_optimized": "gift",
		"speed_optimized": "home", "quality_optimized": "cloud", "balanced": "cheap",
	}
	for name, ch := range want {
		if firsts[name] != ch {
			t.Errorf("%s chose %s first, want %s", name, firsts[name], ch)
		}
	}
}

func TestCustomStrategies(t *testing.T) {
	f := strategyFixture()
	f.settings = format.Settings{
		DefaultStrategy: "priciest",
		Strategies: []format.Strategy{
			// cost_score with order asc: the most expensive first.
			{Name: "priciest", Fields: []format.StrategyField{{Field: "cost_score", Weight: 1, Asc: true}}},
			// Overrides a built-in.
			{Name: "cost_first", Fields: []format.StrategyField{{Field: "Speed", Weight: 2}}},
			{Name: "broken", Fields: []format.StrategyField{{Field: "latency", Weight: 1}}},
			{Name: "weightless", Fields: []format.StrategyField{{Field: "cost", Weight: 0}}},
		},
	}
	r, _, _ := setup(t, f)
	order := func(strategy string) []string {
		var d Decision
		if err := r.Route(Request{Model: "tag:!none", Strategy: strategy, InputTokens: 1000}, &d); err != nil {
			t.Fatalf("%q: %v", strategy, err)
		}
		var out []string
		for _, n := range names(r, d.Pairs) {
			out = append(out, strings.Split(n, "|")[0])
		}
		return out
	}
	if got := order(""); !slices.Equal(got, []string{"cloud", "home", "cheap", "gift"}) {
		t.Errorf("default (priciest) order %q", got)
	}
	if got := order("cost_first"); !slices.Equal(got, []string{"cloud", "home", "cheap", "gift"}) {
		t.Errorf("overridden cost_first (speed only) order %q", got)
	}
	if got := order("COST_FIRST"); !slices.Equal(got, []string{"cloud", "home", "cheap", "gift"}) {
		t.Errorf("strategy names are matched case-insensitively as a fallback: %q", got)
	}
	for _, name := range []string{"fastest", "broken", "weightless"} {
		var d Decision
		err := r.Route(Request{Model: "tag:!none", Strategy: name}, &d)
		var se *StrategyError
		if !errors.As(err, &se) || !errors.Is(err, ErrUnknownStrategy) {
			t.Errorf("%q: err = %v, want *StrategyError", name, err)
		}
		if name == "fastest" && !strings.Contains(err.Error(), "balanced") {
			t.Errorf("message should list the known strategies: %v", err)
		}
	}
	// An unusable default falls back to cost_first.
	f.settings.DefaultStrategy = "broken"
	r2, _, _ := setup(t, f)
	if st, _ := r2.Strategy(""); st.Name != "cost_first" {
		t.Errorf("default = %q", st.Name)
	}
}

func TestTieBreak(t *testing.T) {
	f := &fixture{
		chans: []tch{
			{id: "z-low-prio", priority: 0, weight: 1},
			{id: "b-heavy", priority: 1, weight: 3},
			{id: "a-light", priority: 1, weight: 1},
			{id: "c-light", priority: 1, weight: 1},
			{id: "y-last", priority: 2},
		},
	}
	for _, c := range f.chans {
		f.pairs = append(f.pairs, tpair{ch: c.id, id: "same-8b", in: 1000, out: 1000})
	}
	f.pairs = append(f.pairs, tpair{ch: "a-light", id: "same-8b-b", in: 1000, out: 1000},
		tpair{ch: "a-light", id: "same-8b-a", in: 1000, out: 1000})
	r, _, _ := setup(t, f)
	var d Decision
	if err := r.Route(Request{Model: "tag:same"}, &d); err != nil {
		t.Fatal(err)
	}
	want := []string{"z-low-prio|same-8b", "b-heavy|same-8b", "a-light|same-8b", "a-light|same-8b-a",
		"a-light|same-8b-b", "c-light|same-8b", "y-last|same-8b"}
	if got := names(r, d.Pairs); !slices.Equal(got, want) {
		t.Fatalf("order %q\nwant %q", got, want)
	}
	// Limit keeps the same prefix.
	if err := r.Route(Request{Model: "tag:same", Limit: 3}, &d); err != nil {
		t.Fatal(err)
	}
	if got := names(r, d.Pairs); !slices.Equal(got, want[:3]) {
		t.Fatalf("limit 3: %q", got)
	}
}

func TestExplainJSON(t *testing.T) {
	r, live, _ := setup(t, tagFixture())
	live.Report("ol", "llama3:8b", failed(outcome.NotFound, 0), 0)
	var d Decision
	if err := r.Route(Request{Model: "tag:!fast", Strategy: "free_first", Explain: true}, &d); err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(d.Explain)
	if err != nil {
		t.Fatal(err)
	}
	var back struct {
		Query struct {
			Kind    string   `json:"kind"`
			Exclude []string `json:"exclude"`
		} `json:"query"`
		Strategy struct {
			Name string `json:"name"`
		} `json:"strategy"`
		Candidates []struct {
			Model  string             `json:"model"`
			Scores map[string]float64 `json:"scores"`
			Total  float64            `json:"total"`
		} `json:"candidates"`
		Filtered []struct {
			Model, Reason, Detail string
		} `json:"filtered"`
		Order []struct{ Channel, Model string } `json:"order"`
	}
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if back.Query.Kind != "tags" || !slices.Equal(back.Query.Exclude, []string{"fast"}) || back.Strategy.Name != "free_first" {
		t.Fatalf("explain header: %s", b)
	}
	if len(back.Candidates) != 3 || len(back.Order) != 3 || len(back.Filtered) != 1 {
		t.Fatalf("explain lists: %s", b)
	}
	if f := back.Filtered[0]; f.Model != "llama3:8b" || f.Reason != "pair_cooling" || !strings.Contains(f.Detail, "not_found for 5m0s") {
		t.Fatalf("filtered entry %+v", f)
	}
	if _, ok := back.Candidates[0].Scores["reliability"]; !ok || len(back.Candidates[0].Scores) != 8 {
		t.Fatalf("scores %v", back.Candidates[0].Scores)
	}
	if back.Order[0].Model != back.Candidates[0].Model {
		t.Fatal("candidates are not in the final order")
	}
}
