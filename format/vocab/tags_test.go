package vocab

import (
	"slices"
	"strings"
	"testing"
	"unicode/utf8"
)

func sorted(s ...string) []string {
	s = slices.Clone(s)
	slices.Sort(s)
	return slices.Compact(s)
}

func TestTagsExamples(t *testing.T) {
	tests := []struct {
		id   string
		want []string
	}{
		// The three examples of the routing rules, exactly.
		{"qwen/qwen3-30b-a3b:free", sorted("qwen", "qwen3", "30b", "a3b", "free", "qwen3-30b-a3b")},
		{"anthropic/claude-3-haiku-20240307", sorted("anthropic", "claude", "haiku", "20240307",
			"claude-3-haiku-20240307", "claude-3-haiku")},
		{"ep-20250613210739-qjxdl", sorted("ep", "20250613210739", "qjxdl", "ep-20250613210739-qjxdl")},
		// '.' and space do not split; case is folded.
		{"Meta-Llama/Llama-3.1-8B-Instruct", sorted("meta", "llama", "3.1", "8b", "instruct",
			"meta-llama", "llama-3.1-8b-instruct")},
		// YYYY-MM-DD date and the 6-digit form.
		{"openai/gpt-4o-mini-2024-07-18", sorted("openai", "gpt", "4o", "mini", "2024", "07", "18",
			"gpt-4o-mini-2024-07-18", "gpt-4o-mini")},
		{"doubao-pro-250115", sorted("doubao", "pro", "250115", "doubao-pro-250115", "doubao-pro")},
		// Date stripping that leaves fewer than 3 characters adds nothing.
		{"o1-20241217", sorted("o1", "20241217", "o1-20241217")},
		// Segments without a digit or '-' are not complete segments.
		{"gpt4all@local", sorted("gpt4all", "local")},
		// Suffix words and provider prefixes are skipped as segments only.
		{"deepseek:chat", sorted("deepseek", "chat")},
		{"groq/llama3-70b@api", sorted("groq", "llama3", "70b", "api", "llama3-70b")},
		// 1-character tokens and empty tokens are dropped.
		{"a/b-c__d", sorted("b-c__d")},
		{"x,yz", sorted("yz")},
		{"", sorted()},
	}
	for _, tt := range tests {
		got := Tags(tt.id)
		if len(got) == 0 {
			got = []string{}
		}
		if !slices.Equal(got, tt.want) {
			t.Errorf("Tags(%q) = %q, want %q", tt.id, got, tt.want)
		}
	}
}

func TestSegments(t *testing.T) {
	tests := []struct {
		id   string
		want []string
	}{
		{"openai/gpt-4o-mini", []string{"gpt-4o-mini"}},
		{"gpt-4o-mini-2024-07-18", []string{"gpt-4o-mini-2024-07-18", "gpt-4o-mini"}},
		{"anthropic/claude-3-haiku-20240307", []string{"claude-3-haiku-20240307", "claude-3-haiku"}},
		{"qwen/qwen3-30b-a3b:free", []string{"qwen3-30b-a3b"}},
		{"ABC-12:Pro", []string{"abc-12"}},
		{"gpt", nil},
		{"a-b", []string{"a-b"}}, // 3 characters, a letter and a '-'
		{"ab", nil},
	}
	for _, tt := range tests {
		got := Segments(tt.id)
		if !slices.Equal(got, tt.want) {
			t.Errorf("Segments(%q) = %q, want %q", tt.id, got, tt.want)
		}
		for _, s := range tt.want {
			if !IsSegment(tt.id, s) {
				t.Errorf("IsSegment(%q, %q) = false", tt.id, s)
			}
		}
	}
	for _, tt := range []struct{ id, name string }{
		{"openai/gpt-4o-mini", "gpt-4o"},
		{"openai/gpt-4o-mini", "openai"},
		{"qwen/qwen3-30b-a3b:free", "free"},
		{"o1-20241217", "o1"},
		{"x", ""},
	} {
		if IsSegment(tt.id, tt.name) {
			t.Errorf("IsSegment(%q, %q) = true, want false", tt.id, tt.name)
		}
	}
}

func TestStripDate(t *testing.T) {
	tests := []struct {
		in, out string
		ok      bool
	}{
		{"claude-3-haiku-20240307", "claude-3-haiku", true},
		{"x-250115", "x", true},
		{"gpt-4o-2024-08-06", "gpt-4o", true},
		{"ep-20250613210739", "ep-20250613210739", false}, // 14 digits is not a date
		{"x-2501150", "x-2501150", false},                 // 7 digits
		{"x20240307", "x20240307", false},                 // no dash
		{"x-2024-8-06", "x-2024-8-06", false},
	}
	for _, tt := range tests {
		out, ok := StripDate(tt.in)
		if out != tt.out || ok != tt.ok {
			t.Errorf("StripDate(%q) = %q, %v; want %q, %v", tt.in, out, ok, tt.out, tt.ok)
		}
	}
}

func TestPairTags(t *testing.T) {
	tests := []struct {
		name        string
		p           Pair
		want        []string
		free, local bool
	}{
		{"rules 1, 2, 4, 5 and free id token",
			Pair{ID: "qwen/qwen3-30b-a3b:free", Provider: "OpenRouter", ChannelTags: []string{" Fast ", ""}},
			sorted("qwen", "qwen3", "30b", "a3b", "free", "qwen3-30b-a3b", "fast", "openrouter"), true, false},
		{"rule 3 alias tags only for the target id",
			Pair{ID: "ep-20250613210739-qjxdl", Provider: "ark", Aliases: []Alias{
				{Standard: "doubao-seed-1.6", Target: "ep-20250613210739-qjxdl"},
				{Standard: "other-9b", Target: "ep-x"}}},
			sorted("ep", "20250613210739", "qjxdl", "ep-20250613210739-qjxdl", "ark",
				"doubao", "seed", "1.6", "doubao-seed-1.6"), false, false},
		{"rule 6 known zero price",
			Pair{ID: "m-7b", Provider: "p", ZeroPrice: true},
			sorted("m-7b", "7b", "p", "free"), true, false},
		{"rule 6 channel tagged free, rule 7 channel tagged local",
			Pair{ID: "m-7b", Provider: "p", ChannelTags: []string{"FREE", "Local"}},
			sorted("m-7b", "7b", "p", "free", "local"), true, true},
		{"rule 7 loopback base URL",
			Pair{ID: "llama3:8b", Provider: "ollama", BaseURLs: []string{"https://api.x.com/v1", "http://127.0.0.1:11434/v1"}},
			sorted("llama3", "8b", "ollama", "local"), false, true},
		{"not free, not local",
			Pair{ID: "gpt-4o", Provider: "openai", BaseURLs: []string{"https://api.openai.com/v1"}},
			sorted("gpt", "4o", "gpt-4o", "openai"), false, false},
	}
	for _, tt := range tests {
		got, free, local := PairTags(tt.p)
		if !slices.Equal(got, tt.want) || free != tt.free || local != tt.local {
			t.Errorf("%s: PairTags = %q, free=%v local=%v; want %q, %v, %v", tt.name, got, free, local, tt.want, tt.free, tt.local)
		}
	}
}

func TestIsLoopbackURL(t *testing.T) {
	tests := []struct {
		url  string
		want bool
	}{
		{"http://localhost:11434/v1", true},
		{"http://LOCALHOST/v1", true},
		{"localhost:1234", true},
		{"http://127.0.0.1:8000", true},
		{"http://127.5.6.7", true},
		{"http://[::1]:8080/v1", true},
		{"http://0.0.0.0:8080", true},
		{"https://api.openai.com/v1", false},
		{"http://128.0.0.1", false},
		{"http://10.0.0.1", false},
		{"http://localhost.example.com", false},
		{"", false},
		{"::not a url", false},
	}
	for _, tt := range tests {
		if got := IsLoopbackURL(tt.url); got != tt.want {
			t.Errorf("IsLoopbackURL(%q) = %v, want %v", tt.url, got, tt.want)
		}
	}
}

func TestParamsFromID(t *testing.T) {
	tests := []struct {
		id   string
		want uint64
		ok   bool
	}{
		{"meta-llama/llama-3.1-8b-instruct", 8_000, true},
		{"llama3:70b", 70_000, true},
		{"qwen/qwen3-0.6b", 600, true},
		{"google/gemma-3-270m", 270, true},
		{"Qwen3-235B-A22B", 235_000, true},
		{"qwen/qwen3-30b-a3b:free", 30_000, true},
		{"kimi-k2-1t", 1_000_000, true},
		{"qwen/qwen3-a3b", 0, false},         // active parameters only
		{"mistralai/mixtral-8x7b", 0, false}, // mixture, not a count
		{"gpt-4o", 0, false},
		{"x-0b", 0, false},
		{"x-.5b", 0, false},
		{"x-1.2.3b", 0, false},
		{"x-99999999999b", 0, false},
	}
	for _, tt := range tests {
		got, ok := ParamsFromID(tt.id)
		if got != tt.want || ok != tt.ok {
			t.Errorf("ParamsFromID(%q) = %d, %v; want %d, %v", tt.id, got, ok, tt.want, tt.ok)
		}
	}
}

func TestIDClassification(t *testing.T) {
	tests := []struct {
		id                          string
		free, chatExcl, embed, visO bool
	}{
		{"qwen/qwen3-30b-a3b:free", true, false, false, false},
		{"deepseek-r1-free", true, false, false, false},
		{"free/model", true, false, false, false},
		{"freedom-7b", false, false, false, false},
		{"text-embedding-3-small", false, true, true, false},
		{"BAAI/bge-embed", false, true, true, false},
		{"jina-reranker-v2", false, true, false, false},
		{"perplexity/sonar-search", false, true, false, false},
		{"nousresearch/hermes-3-llama-3.1-405b", false, false, false, false},
		{"research-search-v1", false, true, false, false},
		{"some-vision-only-1", false, true, false, true},
		{"llama-3.2-11b-vision", false, true, false, true},
		{"llama-3.2-11b-vision-instruct", false, false, false, false},
		{"gpt-4o", false, false, false, false},
	}
	for _, tt := range tests {
		if got := IsFreeID(tt.id); got != tt.free {
			t.Errorf("IsFreeID(%q) = %v", tt.id, got)
		}
		if got := IsChatExcluded(tt.id); got != tt.chatExcl {
			t.Errorf("IsChatExcluded(%q) = %v", tt.id, got)
		}
		if got := IsEmbeddingID(tt.id); got != tt.embed {
			t.Errorf("IsEmbeddingID(%q) = %v", tt.id, got)
		}
		if got := IsVisionOnlyID(tt.id); got != tt.visO {
			t.Errorf("IsVisionOnlyID(%q) = %v", tt.id, got)
		}
	}
}

func TestScores(t *testing.T) {
	params := []struct {
		m    uint64
		want float32
	}{
		{0, .3}, {99, .3}, {100, .4}, {499, .4}, {500, .5}, {999, .5}, {1_000, .6},
		{2_999, .6}, {3_000, .7}, {7_999, .7}, {8_000, .8}, {29_999, .8}, {30_000, .9},
		{69_999, .9}, {70_000, 1}, {1_000_000, 1},
	}
	for _, tt := range params {
		if got := ParameterScore(tt.m); got != tt.want {
			t.Errorf("ParameterScore(%d) = %v, want %v", tt.m, got, tt.want)
		}
	}
	ctx := []struct {
		n    uint64
		want float32
	}{
		{0, .3}, {3_999, .3}, {4_000, .5}, {4_096, .5}, {8_000, .6}, {15_999, .6}, {16_000, .7},
		{31_999, .7}, {32_000, .8}, {32_768, .8}, {199_999, .8}, {200_000, .9}, {999_999, .9},
		{1_000_000, 1}, {1_048_576, 1},
	}
	for _, tt := range ctx {
		if got := ContextScore(tt.n); got != tt.want {
			t.Errorf("ContextScore(%d) = %v, want %v", tt.n, got, tt.want)
		}
	}
	qual := []struct {
		id   string
		want float32
	}{
		{"openai/gpt-4", .95}, {"gpt-4o", .95}, {"gpt-4-turbo", .95}, // first match in table order
		{"anthropic/claude-3-opus-20240229", .93}, {"Claude-3-Haiku", .90},
		{"deepseek/deepseek-v3", .87}, {"qwen-max", .85}, {"qwen-plus-latest", .83},
		{"gpt-3.5-turbo", .75}, {"gemini-1.5-flash", .72}, {"glm-4-flash", .70},
		{"llama3-8b", .6},
	}
	for _, tt := range qual {
		if got := QualityScore(tt.id, nil); got != tt.want {
			t.Errorf("QualityScore(%q) = %v, want %v", tt.id, got, tt.want)
		}
	}
	custom := []QualityRule{{"llama", 0.7}, {"GPT", 0.5}}
	if got := QualityScore("llama3-8b", custom); got != 0.7 {
		t.Errorf("custom table: %v", got)
	}
	if got := QualityScore("gpt-4o", custom); got != 0.5 {
		t.Errorf("custom table replaces the default: %v", got)
	}
	if got := QualityScore("claude", []QualityRule{}); got != DefaultQualityScore {
		t.Errorf("empty table: %v", got)
	}
	if FreeScore(true) != 1 || FreeScore(false) != 0.1 {
		t.Error("FreeScore")
	}
	local := []struct {
		local bool
		id    string
		want  float32
	}{
		{true, "gpt-4o", 1}, {false, "ollama/llama3", .8}, {false, "llama.cpp-q4", .8},
		{false, "my-LOCAL-model", .8}, {false, "gpt-4o", .1},
	}
	for _, tt := range local {
		if got := LocalScore(tt.local, tt.id); got != tt.want {
			t.Errorf("LocalScore(%v, %q) = %v, want %v", tt.local, tt.id, got, tt.want)
		}
	}
}

func FuzzTags(f *testing.F) {
	for _, s := range []string{
		"qwen/qwen3-30b-a3b:free", "anthropic/claude-3-haiku-20240307", "ep-20250613210739-qjxdl",
		"gpt-4o-mini-2024-07-18", "ÄBC-İ2:x", "\xff\xfe-ab", "a//b::c@@d", "x-1.5b",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, id string) {
		all, _, _ := PairTags(Pair{ID: id, Provider: id, ChannelTags: []string{id}, Aliases: []Alias{{id, id}}, BaseURLs: []string{id}})
		for _, tag := range all {
			// Channel tags and the provider key are taken as written (lowercased), so
			// they may be one character long; they are never empty.
			if tag == "" || tag != strings.ToLower(tag) {
				t.Fatalf("bad pair tag %q from %q", tag, id)
			}
		}
		for _, list := range [][]string{Tags(id), Tokens(id), Segments(id)} {
			for _, tag := range list {
				if tag == "" || utf8.RuneCountInString(tag) < 2 {
					t.Fatalf("short tag %q from %q", tag, id)
				}
				if tag != strings.ToLower(tag) {
					t.Fatalf("tag %q from %q is not lowercase", tag, id)
				}
			}
		}
		for _, s := range Segments(id) {
			if !IsSegment(id, s) {
				t.Fatalf("IsSegment(%q, %q) = false for a listed segment", id, s)
			}
		}
		ParamsFromID(id)
		IsLoopbackURL(id)
		QualityScore(id, nil)
	})
}
