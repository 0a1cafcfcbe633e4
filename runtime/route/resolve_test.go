package route

import (
	"errors"
	"slices"
	"testing"
	"unsafe"

	"smartrouter/format"
)

// tagFixture covers tag queries, size filters and parameter comparisons.
func tagFixture() *fixture {
	return &fixture{
		chans: []tch{
			{id: "or", provider: "openrouter", tags: []string{"fast"}},
			{id: "ol", provider: "ollama", baseURL: "http://localhost:11434/v1"},
			{id: "sf", provider: "siliconflow", tags: []string{"Free"}},
		},
		pairs: []tpair{
			{ch: "or", id: "qwen/qwen3-30b-a3b:free", in: 0, out: 0, ctx: 40960, maxOut: 8192},
			{ch: "or", id: "anthropic/claude-3-haiku-20240307", in: 250_000, out: 1_250_000, ctx: 200_000, maxOut: 4096},
			{ch: "or", id: "openai/gpt-4o-mini", in: 150_000, out: 600_000, ctx: 128_000, maxOut: 16384},
			{ch: "ol", id: "llama3:8b", in: U, out: U, ctx: 8192},
			{ch: "ol", id: "qwen3:0.6b", in: U, out: U},
			{ch: "sf", id: "Qwen/Qwen2.5-72B-Instruct", in: 500_000, out: 500_000, ctx: 131_072, maxOut: 8192},
			{ch: "sf", id: "ep-20250613210739-qjxdl", in: 100_000, out: 100_000},
			{ch: "or", id: "mistralai/mixtral-8x7b-instruct", in: 200_000, out: 200_000, ctx: 32_768},
		},
	}
}

const (
	pQwen3   = "or|qwen/qwen3-30b-a3b:free"
	pHaiku   = "or|anthropic/claude-3-haiku-20240307"
	pMini    = "or|openai/gpt-4o-mini"
	pLlama   = "ol|llama3:8b"
	pQwenTin = "ol|qwen3:0.6b"
	pQwen72  = "sf|Qwen/Qwen2.5-72B-Instruct"
	pEp      = "sf|ep-20250613210739-qjxdl"
	pMixtral = "or|mistralai/mixtral-8x7b-instruct"
)

func resolveNames(t *testing.T, r *Router, model string) ([]string, error) {
	t.Helper()
	_, ords, err := r.Resolve(model)
	if err != nil {
		return nil, err
	}
	got := names(r, ords)
	slices.Sort(got)
	return got, nil
}

func set(s ...string) []string {
	s = slices.Clone(s)
	slices.Sort(s)
	return s
}

func TestResolveTagQueries(t *testing.T) {
	r, _, _ := setup(t, tagFixture())
	all := set(pQwen3, pHaiku, pMini, pLlama, pQwenTin, pQwen72, pEp, pMixtral)
	tests := []struct {
		model string
		want  []string
	}{
		// Id tokens, complete segments, channel and provider tags.
		{"tag:qwen", set(pQwen3, pQwen72)},
		{"tag:qwen3", set(pQwen3, pQwenTin)},
		{"tag:a3b", set(pQwen3)},
		{"tag:qwen3-30b-a3b", set(pQwen3)},
		{"tag:claude-3-haiku", set(pHaiku)},                // date-stripped segment
		{"tag:claude-3-haiku-20240307", set(pHaiku)},       // the segment itself
		{"tag:ep-20250613210739-qjxdl", set(pEp)},          // segment with digits and '-'
		{"tag:qjxdl", set(pEp)},                            // id token
		{"tag:fast", set(pQwen3, pHaiku, pMini, pMixtral)}, // channel tag
		{"tag:siliconflow", set(pQwen72, pEp)},             // provider tag
		// Rule 6: ":free" token, a free-tagged channel, a known zero price.
		{"tag:free", set(pQwen3, pQwen72, pEp)},
		// Rule 7: loopback base URL.
		{"tag:local", set(pLlama, pQwenTin)},
		// Intersections, explicit and implicit.
		{"tag:qwen,free", set(pQwen3, pQwen72)},
		{"qwen, FREE", set(pQwen3, pQwen72)},
		{"tag:qwen,fast", set(pQwen3)},
		// Negatives; negatives only match every pair without them.
		{"tag:qwen,!fast", set(pQwen72)},
		{"tag:!free", set(pHaiku, pMini, pLlama, pQwenTin, pMixtral)},
		{"tag:!free,!local", set(pHaiku, pMini, pMixtral)},
		{"tag:!no-such-tag", all},
		// Size filters: parameters, input context, output tokens; unknown fails.
		{"tag:>20b", set(pQwen3, pQwen72)},
		{"tag:<=8b", set(pLlama, pQwenTin)},
		{"tag:<8b", set(pQwenTin)},
		{"tag:>500m", set(pQwen3, pLlama, pQwenTin, pQwen72)},
		{"tag:>=32ki", set(pQwen3, pHaiku, pMini, pQwen72, pMixtral)},
		{"tag:>=128ki", set(pHaiku, pMini, pQwen72)},
		{"tag:>128ki", set(pHaiku, pQwen72)},
		{"tag:>=0.2mi", set(pHaiku)},
		{"tag:>=8ko", set(pQwen3, pMini, pQwen72)},
		{"tag:<5ko", set(pHaiku)},
		{"tag:>=16384o", set(pMini)},
		{"tag:qwen,>=32ki,!fast", set(pQwen72)},
		{"tag:!local,<=30b", set(pQwen3)},
		// Parameter comparisons: >= and <= include the bound.
		{"qwen->8b", set(pQwen3, pQwen72)},
		{"qwen3->=30b", set(pQwen3)},
		{"qwen3-<=30b", set(pQwen3, pQwenTin)},
		{"qwen3-<30b", set(pQwenTin)},
		{"qwen3->500m", set(pQwen3, pQwenTin)},
		{"qwen3-<=0.6b", set(pQwenTin)},
		{"ollama-<1t", set(pLlama, pQwenTin)},
		{"instruct->1b", set(pQwen72)}, // mixtral 8x7b has no known count
	}
	for _, tt := range tests {
		got, err := resolveNames(t, r, tt.model)
		if err != nil {
			t.Errorf("%q: %v", tt.model, err)
			continue
		}
		if !slices.Equal(got, tt.want) {
			t.Errorf("%q = %q\nwant %q", tt.model, got, tt.want)
		}
	}

	// No match: 404 with the tag status for tag queries and comparisons.
	for _, model := range []string{"tag:qwen,!free,!fast", "tag:no-such-tag", "tag:>=1mi", "qwen3->30b", "tag:qwen,tag:x"} {
		var d Decision
		err := r.Route(Request{Model: model}, &d)
		var nf *NotFoundError
		if !errors.As(err, &nf) || !errors.Is(err, ErrModelNotFound) || nf.RouterStatus() != "tag-not-found" {
			t.Errorf("%q: err = %v, want a tag-not-found *NotFoundError", model, err)
		}
	}
}

// physFixture covers physical names: exact ids, complete segments, aliases.
func physFixture() *fixture {
	return &fixture{
		chans: []tch{
			{id: "a"}, {id: "b"}, {id: "c"}, {id: "d"},
			{id: "e", aliases: []format.Alias{{Standard: "GPT-4o-Mini", Target: "gpt-4o"}}},
			{id: "f", aliases: []format.Alias{{Standard: "gpt-4o-mini", Target: "missing-model"}}},
			{id: "g"}, {id: "h"},
			{id: "m", modelName: "house-model-7b"},
		},
		pairs: []tpair{
			{ch: "a", id: "gpt-4o-mini"},
			{ch: "a", id: "openai/gpt-4o-mini"},
			{ch: "b", id: "openai/gpt-4o-mini"},
			{ch: "b", id: "gpt-4o-mini-2024-07-18"},
			{ch: "c", id: "gpt-4o-mini-2024-07-18"},
			{ch: "c", id: "gpt-4o-mini-search-preview"},
			{ch: "d", id: "y/gpt-4o-mini"},
			{ch: "d", id: "x/gpt-4o-mini"},
			{ch: "e", id: "gpt-4o"},
			{ch: "f", id: "other-1b"},
			{ch: "g", id: "GPT-4O-MINI"},
			{ch: "h", id: "anthropic/claude-3-haiku-20240307"},
			{ch: "m", id: "house-model-7b"},
		},
	}
}

func TestResolvePhysical(t *testing.T) {
	r, _, _ := setup(t, physFixture())
	tests := []struct {
		model string
		want  []string
	}{
		// Exact on a; on every other channel the shortest id with the segment,
		// then byte order; e through its alias; not f (it lacks the target).
		{"gpt-4o-mini", set("a|gpt-4o-mini", "b|openai/gpt-4o-mini", "c|gpt-4o-mini-2024-07-18",
			"d|x/gpt-4o-mini", "e|gpt-4o", "g|GPT-4O-MINI")},
		// Exact is case-sensitive (g); segments and aliases use the lowercased name.
		{"GPT-4O-MINI", set("g|GPT-4O-MINI", "a|gpt-4o-mini", "b|openai/gpt-4o-mini", "c|gpt-4o-mini-2024-07-18",
			"d|x/gpt-4o-mini", "e|gpt-4o")},
		{"gpt-4o", set("e|gpt-4o")}, // "gpt-4o" is not a complete segment of gpt-4o-mini
		{"claude-3-haiku", set("h|anthropic/claude-3-haiku-20240307")},
		{"anthropic/claude-3-haiku-20240307", set("h|anthropic/claude-3-haiku-20240307")},
		{"house-model-7b", set("m|house-model-7b")}, // a channel's configured model_name
	}
	for _, tt := range tests {
		got, err := resolveNames(t, r, tt.model)
		if err != nil {
			t.Errorf("%q: %v", tt.model, err)
			continue
		}
		if !slices.Equal(got, tt.want) {
			t.Errorf("%q = %q\nwant %q", tt.model, got, tt.want)
		}
	}
	for _, model := range []string{"gpt-5", "openai", "auto", "mini"} {
		var d Decision
		err := r.Route(Request{Model: model}, &d)
		var nf *NotFoundError
		if !errors.As(err, &nf) || nf.RouterStatus() != "model-not-found" {
			t.Errorf("%q: err = %v, want a model-not-found *NotFoundError", model, err)
		}
	}
}

func TestPrewarmSeedsCache(t *testing.T) {
	f := tagFixture()
	// A deliberately different list proves the router answers from the
	// snapshot's precomputed set instead of recomputing it.
	f.prewarm = []format.Prewarm{{Query: "tag:free", Pairs: []uint32{1}}}
	r, _, _ := setup(t, f)
	got, err := resolveNames(t, r, "tag:free")
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got, []string{pHaiku}) {
		t.Fatalf("tag:free = %q, want the prewarmed list", got)
	}
	if n := r.cache.len(); n != 1 {
		t.Fatalf("cache has %d entries, want 1", n)
	}
}

func TestCacheBounded(t *testing.T) {
	snap := tagFixture().snapshot(t)
	r := New(snap, NewLive(nil), Options{CacheEntries: 4})
	queries := []string{"tag:qwen", "tag:free", "tag:local", "tag:fast", "tag:qwen3", "tag:a3b", "tag:>1b"}
	for _, q := range queries {
		if _, _, err := r.Resolve(q); err != nil {
			t.Fatal(err)
		}
		if n := r.cache.len(); n > 4 {
			t.Fatalf("cache grew to %d entries, limit 4", n)
		}
	}
	// A cached answer equals a fresh one.
	fresh := New(snap, NewLive(nil), Options{CacheEntries: -1})
	for _, q := range queries {
		_, a, _ := r.Resolve(q)
		_, b, _ := fresh.Resolve(q)
		if !slices.Equal(a, b) {
			t.Errorf("%q: cached %v, fresh %v", q, a, b)
		}
	}
	// A byte budget smaller than any set stores nothing.
	tiny := New(snap, NewLive(nil), Options{CacheBytes: 1})
	if _, _, err := tiny.Resolve("tag:qwen"); err != nil || tiny.cache.len() != 0 {
		t.Fatalf("tiny cache: err %v, %d entries", err, tiny.cache.len())
	}
}

// TestModelStringBufferReuse: the model string of a request may be a view into
// a buffer the server reuses; the cache must keep its own copy.
func TestModelStringBufferReuse(t *testing.T) {
	r, _, _ := setup(t, tagFixture())
	buf := []byte("tag:qwen")
	var d Decision
	if err := r.Route(Request{Model: unsafe.String(&buf[0], len(buf))}, &d); err != nil {
		t.Fatal(err)
	}
	copy(buf, "tag:fast")
	if err := r.Route(Request{Model: "tag:qwen", Explain: true}, &d); err != nil {
		t.Fatal(err)
	}
	if d.Explain.Query.Raw != "tag:qwen" || !slices.Equal(d.Explain.Query.Include, []string{"qwen"}) {
		t.Fatalf("cached query changed with the request buffer: %+v", d.Explain.Query)
	}
	if got := names(r, d.Pairs); !slices.Equal(set(got...), set(pQwen3, pQwen72)) {
		t.Fatalf("routed %q", got)
	}
}
