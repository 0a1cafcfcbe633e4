package query

import (
	"errors"
	"reflect"
	"strings"
	"testing"
)

func sz(d Dim, op Op, v uint64) SizeFilter { return SizeFilter{Dim: d, Op: op, Value: v} }

func TestParse(t *testing.T) {
	tests := []struct {
		in   string
		want Query
	}{
		// 1. Parameter comparisons: all four operators, units b (default), m, t.
		{"qwen->8b", Query{Kind: KindParams, Include: []string{"qwen"}, Sizes: []SizeFilter{sz(DimParams, OpGT, 8_000)}}},
		{"llama-<72b", Query{Kind: KindParams, Include: []string{"llama"}, Sizes: []SizeFilter{sz(DimParams, OpLT, 72_000)}}},
		{"qwen->=8b", Query{Kind: KindParams, Include: []string{"qwen"}, Sizes: []SizeFilter{sz(DimParams, OpGE, 8_000)}}},
		{"qwen-<=30b", Query{Kind: KindParams, Include: []string{"qwen"}, Sizes: []SizeFilter{sz(DimParams, OpLE, 30_000)}}},
		{"Qwen3->8", Query{Kind: KindParams, Include: []string{"qwen3"}, Sizes: []SizeFilter{sz(DimParams, OpGT, 8_000)}}},
		{"gemma-<=500M", Query{Kind: KindParams, Include: []string{"gemma"}, Sizes: []SizeFilter{sz(DimParams, OpLE, 500)}}},
		{"kimi->=1t", Query{Kind: KindParams, Include: []string{"kimi"}, Sizes: []SizeFilter{sz(DimParams, OpGE, 1_000_000)}}},
		{"qwen->0.6b", Query{Kind: KindParams, Include: []string{"qwen"}, Sizes: []SizeFilter{sz(DimParams, OpGT, 600)}}},
		{"gpt-4o->8b", Query{Kind: KindParams, Include: []string{"gpt-4o"}, Sizes: []SizeFilter{sz(DimParams, OpGT, 8_000)}}},
		// 2. Tag queries: prefixes in any case, implicit comma form, trimming, lowercasing.
		{"tag:free", Query{Kind: KindTags, Include: []string{"free"}}},
		{"TAGS:Qwen, Free ", Query{Kind: KindTags, Include: []string{"qwen", "free"}}},
		{"Tag:gpt", Query{Kind: KindTags, Include: []string{"gpt"}}},
		{"qwen,free", Query{Kind: KindTags, Include: []string{"qwen", "free"}}},
		{"tag:qwen,,free,", Query{Kind: KindTags, Include: []string{"qwen", "free"}}},
		{"tag:qwen,!free, ! Local", Query{Kind: KindTags, Include: []string{"qwen"}, Exclude: []string{"free", "local"}}},
		{"tag:!free", Query{Kind: KindTags, Exclude: []string{"free"}}},
		{"tag:qwen,qwen", Query{Kind: KindTags, Include: []string{"qwen"}}},
		// Size filters: each unit, k = 1,000 and m = 1,000,000.
		{"tag:qwen,>20b", Query{Kind: KindTags, Include: []string{"qwen"}, Sizes: []SizeFilter{sz(DimParams, OpGT, 20_000)}}},
		{"tag:<=8b", Query{Kind: KindTags, Sizes: []SizeFilter{sz(DimParams, OpLE, 8_000)}}},
		{"tag:>500m", Query{Kind: KindTags, Sizes: []SizeFilter{sz(DimParams, OpGT, 500)}}},
		{"tag:>=32ki", Query{Kind: KindTags, Sizes: []SizeFilter{sz(DimContext, OpGE, 32_000)}}},
		{"tag:>=1mi", Query{Kind: KindTags, Sizes: []SizeFilter{sz(DimContext, OpGE, 1_000_000)}}},
		{"tag:<4096i", Query{Kind: KindTags, Sizes: []SizeFilter{sz(DimContext, OpLT, 4096)}}},
		{"tag:>=8ko", Query{Kind: KindTags, Sizes: []SizeFilter{sz(DimOutput, OpGE, 8_000)}}},
		{"tag:>1mo", Query{Kind: KindTags, Sizes: []SizeFilter{sz(DimOutput, OpGT, 1_000_000)}}},
		{"tag:<=100o", Query{Kind: KindTags, Sizes: []SizeFilter{sz(DimOutput, OpLE, 100)}}},
		{"tag:>1.5t", Query{Kind: KindTags, Sizes: []SizeFilter{sz(DimParams, OpGT, 1_500_000)}}},
		{"tag:>= 7 B", Query{Kind: KindTags, Sizes: []SizeFilter{sz(DimParams, OpGE, 7_000)}}},
		{"free,>=128ki,!beta", Query{Kind: KindTags, Include: []string{"free"}, Exclude: []string{"beta"}, Sizes: []SizeFilter{sz(DimContext, OpGE, 128_000)}}},
		// 3. Physical names, case kept.
		{"gpt-4o-mini", Query{Kind: KindPhysical, Name: "gpt-4o-mini"}},
		{"qwen/qwen3-30b-a3b:free", Query{Kind: KindPhysical, Name: "qwen/qwen3-30b-a3b:free"}},
		{"GPT-4o", Query{Kind: KindPhysical, Name: "GPT-4o"}},
		{"auto", Query{Kind: KindPhysical, Name: "auto"}},
		{"->8b", Query{Kind: KindPhysical, Name: "->8b"}},
	}
	for _, tt := range tests {
		got, err := Parse(tt.in)
		if err != nil {
			t.Errorf("Parse(%q): %v", tt.in, err)
			continue
		}
		tt.want.Raw = tt.in
		if !reflect.DeepEqual(got, tt.want) {
			t.Errorf("Parse(%q) =\n %+v\nwant\n %+v", tt.in, got, tt.want)
		}
	}
}

func TestParseErrors(t *testing.T) {
	tests := []struct {
		in, item, msg string
	}{
		{"", "", "empty"},
		{"   ", "", "empty"},
		{"tag:", "", "no items"},
		{"tag: , ,", "", "no items"},
		{"tag:!", "!", "needs a tag"},
		{"tag:qwen,>8k", ">8k", "ambiguous"},
		{"tag:>abc", ">abc", "needs a number"},
		{"tag:>8x", ">8x", "unknown unit"},
		{"tag:>1.2.3b", ">1.2.3b", "bad number"},
		{"tag:>.5b", ">.5b", "bad number"},
		{"tag:=8b", "", ""}, // "=8b" is a plain tag: no error (checked below)
		{"tag:!>8b", "!>8b", "cannot be negated"},
		{"tag:qwen->8b", "qwen->8b", "item of its own"},
		{"qwen->8ki", ">8ki", "parameter comparison"},
		{"qwen->eight", ">eight", "needs a number"},
		{"qwen-<=", "<=", "needs a number"},
		{"tag:" + strings.Repeat("x", 5000), "", "longer than"},
	}
	for _, tt := range tests {
		_, err := Parse(tt.in)
		if tt.msg == "" {
			if err != nil {
				t.Errorf("Parse(%q): unexpected error %v", tt.in, err)
			}
			continue
		}
		var pe *ParseError
		if !errors.As(err, &pe) || !errors.Is(err, ErrBadQuery) {
			t.Errorf("Parse(%q) = %v, want a *ParseError", tt.in, err)
			continue
		}
		if pe.Item != tt.item || !strings.Contains(err.Error(), tt.msg) {
			t.Errorf("Parse(%q): item %q, message %q; want item %q and %q in the message", tt.in, pe.Item, err, tt.item, tt.msg)
		}
	}
}

func TestSizeFilterMatch(t *testing.T) {
	tests := []struct {
		f    SizeFilter
		v    uint64
		want bool
	}{
		{sz(DimParams, OpGT, 8000), 8000, false},
		{sz(DimParams, OpGT, 8000), 8001, true},
		{sz(DimParams, OpGE, 8000), 8000, true},
		{sz(DimParams, OpGE, 8000), 7999, false},
		{sz(DimParams, OpLT, 8000), 8000, false},
		{sz(DimParams, OpLT, 8000), 7999, true},
		{sz(DimParams, OpLE, 8000), 8000, true},
		{sz(DimParams, OpLE, 8000), 8001, false},
		{sz(DimParams, OpLT, 8000), 0, false}, // unknown fails, even for <
	}
	for _, tt := range tests {
		if got := tt.f.Match(tt.v); got != tt.want {
			t.Errorf("%v.Match(%d) = %v, want %v", tt.f, tt.v, got, tt.want)
		}
	}
}

func FuzzParse(f *testing.F) {
	for _, s := range []string{
		"qwen->8b", "qwen-<=30b", "tag:qwen,!free,>=32ki", "a,b", "tags:>1mo", "gpt-4o", "tag:!x",
		"x->1.5t", "tag:<=0.6b,!y", "İ,x", "tag:\xff", "->", "tag:,",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		q, err := Parse(s)
		if err != nil {
			var pe *ParseError
			if !errors.As(err, &pe) {
				t.Fatalf("Parse(%q) returned %T, want *ParseError", s, err)
			}
			return
		}
		for _, tag := range append(append([]string{}, q.Include...), q.Exclude...) {
			if tag == "" {
				t.Fatalf("Parse(%q) gave an empty tag", s)
			}
		}
		// The canonical form reads back to the same query.
		c := q.String()
		if len(c) > maxQueryLen {
			return // lowercasing invalid UTF-8 grows it past the limit
		}
		q2, err := Parse(c)
		if err != nil {
			t.Fatalf("Parse(%.80q) -> %.80q does not parse: %.200v", s, c, err)
		}
		q.Raw, q2.Raw = "", ""
		if !reflect.DeepEqual(q, q2) {
			t.Fatalf("round trip of %.80q via %.80q:\n %.300v\n %.300v", s, c, q, q2)
		}
	})
}
