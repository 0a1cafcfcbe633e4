package vocab

import (
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"
)

// providerPrefixes are the segments that name a vendor rather than a model; they
// never become complete-segment tags (they still are id tokens).
var providerPrefixes = [...]string{
	"openai", "anthropic", "qwen", "deepseek", "google", "meta", "mistral", "cohere",
	"groq", "together", "fireworks", "siliconflow", "moonshot", "ollama", "lmstudio",
}

// suffixWords are segments that qualify a model rather than name it.
var suffixWords = [...]string{
	"free", "pro", "premium", "paid", "api", "chat", "instruct", "base", "tuned",
	"finetune", "ft", "sft", "rlhf", "dpo",
}

func isTokenSep(r rune) bool {
	switch r {
	case '/', ':', '@', '-', '_', ',':
		return true
	}
	return false
}

func isSegmentSep(r rune) bool {
	switch r {
	case '/', ':', '@':
		return true
	}
	return false
}

// Tokens returns tag rule 1: the lowercased id split on / : @ - _ , (not on
// '.' nor on spaces), without empty and 1-character tokens, in id order
// (duplicates kept).
func Tokens(id string) []string {
	lower := strings.ToLower(id)
	fields := strings.FieldsFunc(lower, isTokenSep)
	out := fields[:0]
	for _, f := range fields {
		if utf8.RuneCountInString(f) >= 2 {
			out = append(out, f)
		}
	}
	return out
}

// Segments returns tag rule 2, the complete segments of id: the id split on
// / : @, lowercased, without provider prefixes and suffix words, keeping those
// of at least 3 characters that have a letter and a digit or '-'. A segment
// ending in a date (-YYYYMMDD, -YYMMDD-style 6 digits, or -YYYY-MM-DD) also
// yields its form without the date when that is still 3 characters or more.
// The result is in id order (duplicates kept). The runtime's physical-name
// lookup uses exactly this list.
func Segments(id string) []string {
	var out []string
	for seg := range strings.FieldsFuncSeq(id, isSegmentSep) {
		s := strings.ToLower(seg)
		if skipSegment(s) || !keepSegment(s) {
			continue
		}
		out = append(out, s)
		if base, ok := StripDate(s); ok && utf8.RuneCountInString(base) >= 3 {
			out = append(out, base)
		}
	}
	return out
}

// IsSegment reports whether name (already lowercased) is one of Segments(id).
// It allocates only for ids with upper-case or non-ASCII letters.
func IsSegment(id, name string) bool {
	if name == "" {
		return false
	}
	for seg := range strings.FieldsFuncSeq(id, isSegmentSep) {
		s := strings.ToLower(seg)
		if !strings.HasPrefix(s, name) || skipSegment(s) || !keepSegment(s) {
			continue
		}
		if s == name {
			return true
		}
		if base, ok := StripDate(s); ok && base == name && utf8.RuneCountInString(base) >= 3 {
			return true
		}
	}
	return false
}

func skipSegment(s string) bool {
	return slices.Contains(providerPrefixes[:], s) || slices.Contains(suffixWords[:], s)
}

func keepSegment(s string) bool {
	if utf8.RuneCountInString(s) < 3 {
		return false
	}
	letter, digitOrDash := false, false
	for _, r := range s {
		switch {
		case unicode.IsLetter(r):
			letter = true
		case r == '-' || unicode.IsDigit(r):
			digitOrDash = true
		}
	}
	return letter && digitOrDash
}

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return len(s) > 0
}

// StripDate removes a trailing date from s: "-YYYY-MM-DD", or a dash followed by
// exactly 8 or exactly 6 digits ("-20240307", "-250115"). It reports whether a
// date was found.
func StripDate(s string) (string, bool) {
	n := len(s)
	if n >= 11 && s[n-11] == '-' && allDigits(s[n-10:n-6]) && s[n-6] == '-' &&
		allDigits(s[n-5:n-3]) && s[n-3] == '-' && allDigits(s[n-2:]) {
		return s[:n-11], true
	}
	for _, k := range [...]int{8, 6} {
		if n >= k+1 && s[n-k-1] == '-' && allDigits(s[n-k:]) {
			return s[:n-k-1], true
		}
	}
	return s, false
}

// Tags returns rules 1 and 2 for one id: its tokens and complete segments,
// sorted and without duplicates.
func Tags(id string) []string {
	out := append(Tokens(id), Segments(id)...)
	slices.Sort(out)
	return slices.Compact(out)
}

// Alias is one model_aliases entry of a channel: clients say Standard, the
// channel calls the model Target.
type Alias struct {
	Standard string
	Target   string
}

// Pair holds what tag rules 1-7 need to know about one (channel, model) pair.
type Pair struct {
	ID          string   // the model id exactly as the channel lists it
	Provider    string   // the channel's provider key (rule 5)
	ChannelTags []string // the channel's tags (rule 4)
	Aliases     []Alias  // the channel's model_aliases (rule 3)
	ZeroPrice   bool     // prompt and completion prices known and zero after any currency rate (rule 6)
	BaseURLs    []string // the channel's base URLs (rule 7)
}

// PairTags returns the whole tag set of a pair (rules 1-7), sorted, lowercase and
// without duplicates, and whether the pair is free (rule 6) and local (rule 7).
func PairTags(p Pair) (tags []string, free, local bool) {
	out := append(Tokens(p.ID), Segments(p.ID)...)
	for _, a := range p.Aliases {
		if a.Target == p.ID && a.Standard != "" {
			out = append(out, Tokens(a.Standard)...)
			out = append(out, Segments(a.Standard)...)
		}
	}
	chanFree, chanLocal := false, false
	for _, t := range p.ChannelTags {
		t = strings.ToLower(strings.TrimSpace(t))
		if t == "" {
			continue
		}
		out = append(out, t)
		chanFree = chanFree || t == "free"
		chanLocal = chanLocal || t == "local"
	}
	if pk := strings.ToLower(strings.TrimSpace(p.Provider)); pk != "" {
		out = append(out, pk)
	}
	free = chanFree || IsFreeID(p.ID) || p.ZeroPrice
	local = chanLocal
	for _, u := range p.BaseURLs {
		if IsLoopbackURL(u) {
			local = true
			break
		}
	}
	if free {
		out = append(out, "free")
	}
	if local {
		out = append(out, "local")
	}
	slices.Sort(out)
	return slices.Compact(out), free, local
}

// IsFreeID reports whether the id itself says free: an id token "free", which
// covers ":free" and "-free".
func IsFreeID(id string) bool {
	for f := range strings.FieldsFuncSeq(id, isTokenSep) {
		if strings.EqualFold(f, "free") {
			return true
		}
	}
	return false
}

// chatExcluded are substrings of ids that are not chat models.
var chatExcluded = [...]string{"embedding", "embed", "rerank", "search", "vision-only"}

// IsChatExcluded reports whether an id is unfit for chat: it contains
// embedding, embed, rerank, search or vision-only, or ends in -vision
// (case-insensitive). "research" is not "search": the NousResearch models
// (nousresearch/hermes-3-...) are chat models.
func IsChatExcluded(id string) bool {
	l := strings.ReplaceAll(strings.ToLower(id), "research", "")
	for _, s := range chatExcluded {
		if strings.Contains(l, s) {
			return true
		}
	}
	return strings.HasSuffix(l, "-vision")
}

// IsEmbeddingID reports whether an id names an embedding model (it contains
// "embed", which covers "embedding"), the only models an embeddings request
// may use.
func IsEmbeddingID(id string) bool {
	return strings.Contains(strings.ToLower(id), "embed")
}

// IsVisionOnlyID reports whether an id names a vision-only model ("vision-only"
// or a "-vision" ending), which routing.model_filters.exclude_vision_only_models
// removes.
func IsVisionOnlyID(id string) bool {
	l := strings.ToLower(id)
	return strings.Contains(l, "vision-only") || strings.HasSuffix(l, "-vision")
}
