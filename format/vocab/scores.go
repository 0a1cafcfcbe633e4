package vocab

import "strings"

// ParamsFromID returns the parameter count written in an id, in millions:
// the first token (split on / : @ - _ , and space) that is a number followed
// by b, m or t ("8b", "70B", "0.6b", "270m", "1t"). An active-parameter token
// such as "a3b" and a mixture such as "8x7b" are not counts.
func ParamsFromID(id string) (millions uint64, ok bool) {
	for f := range strings.FieldsFuncSeq(id, func(r rune) bool { return isTokenSep(r) || r == ' ' }) {
		if m, ok := parseSize(f); ok {
			return m, true
		}
	}
	return 0, false
}

// parseSize reads DIGITS[.DIGITS](b|m|t), case-insensitive, in millions.
func parseSize(s string) (uint64, bool) {
	if len(s) < 2 {
		return 0, false
	}
	var mul uint64
	switch s[len(s)-1] {
	case 'b', 'B':
		mul = 1_000
	case 'm', 'M':
		mul = 1
	case 't', 'T':
		mul = 1_000_000
	default:
		return 0, false
	}
	num := s[:len(s)-1]
	intPart, frac, _ := strings.Cut(num, ".")
	if !allDigits(intPart) || len(intPart) > 9 || (strings.Contains(num, ".") && (!allDigits(frac) || len(frac) > 6)) {
		return 0, false
	}
	var iv uint64
	for i := 0; i < len(intPart); i++ {
		iv = iv*10 + uint64(intPart[i]-'0')
	}
	var fv, den uint64 = 0, 1
	for i := 0; i < len(frac); i++ {
		fv = fv*10 + uint64(frac[i]-'0')
		den *= 10
	}
	v := iv*mul + (fv*mul*2+den)/(2*den)
	return v, v > 0
}

// ParameterScore scores a parameter count given in millions (0 = unknown):
// >=70B 1.0, >=30B .9, >=8B .8, >=3B .7, >=1B .6, >=0.5B .5, >=0.1B .4, else .3.
func ParameterScore(millions uint64) float32 {
	switch {
	case millions >= 70_000:
		return 1.0
	case millions >= 30_000:
		return 0.9
	case millions >= 8_000:
		return 0.8
	case millions >= 3_000:
		return 0.7
	case millions >= 1_000:
		return 0.6
	case millions >= 500:
		return 0.5
	case millions >= 100:
		return 0.4
	}
	return 0.3
}

// ContextScore scores a context length in tokens (0 = unknown), with k = 1,000
// and M = 1,000,000: >=1M 1.0, >=200k .9, >=32k .8, >=16k .7, >=8k .6, >=4k .5,
// else .3.
func ContextScore(tokens uint64) float32 {
	switch {
	case tokens >= 1_000_000:
		return 1.0
	case tokens >= 200_000:
		return 0.9
	case tokens >= 32_000:
		return 0.8
	case tokens >= 16_000:
		return 0.7
	case tokens >= 8_000:
		return 0.6
	case tokens >= 4_000:
		return 0.5
	}
	return 0.3
}

// QualityRule maps an id substring (lowercase) to a quality score.
type QualityRule struct {
	Substring string
	Score     float32
}

// DefaultQualityScore is the quality of an id that no rule matches.
const DefaultQualityScore float32 = 0.6

// DefaultQuality returns the built-in quality table, in match order. The
// returned slice is a fresh copy.
func DefaultQuality() []QualityRule {
	return []QualityRule{
		{"gpt-4", 0.95},
		{"claude-3-opus", 0.93},
		{"claude", 0.90},
		{"gpt-4-turbo", 0.90},
		{"gpt-4o", 0.90},
		{"deepseek-v3", 0.87},
		{"qwen-max", 0.85},
		{"qwen-plus", 0.83},
		{"gpt-3.5", 0.75},
		{"gemini-1.5-flash", 0.72},
		{"glm-4", 0.70},
	}
}

// QualityScore returns the score of the first rule (in table order) whose
// substring occurs in the lowercased id, else DefaultQualityScore. A nil table
// means DefaultQuality(). Note that with the default table "gpt-4" comes first,
// so gpt-4o and gpt-4-turbo score .95: the order is the configuration's.
func QualityScore(id string, table []QualityRule) float32 {
	if table == nil {
		table = DefaultQuality()
	}
	l := strings.ToLower(id)
	for _, r := range table {
		if r.Substring != "" && strings.Contains(l, strings.ToLower(r.Substring)) {
			return r.Score
		}
	}
	return DefaultQualityScore
}

// FreeScore is 1.0 for a free pair (tag rule 6), else 0.1.
func FreeScore(free bool) float32 {
	if free {
		return 1.0
	}
	return 0.1
}

// LocalScore is 1.0 for a local pair (tag rule 7), 0.8 when the id mentions
// ollama, llama.cpp or local, else 0.1.
func LocalScore(local bool, id string) float32 {
	if local {
		return 1.0
	}
	l := strings.ToLower(id)
	if strings.Contains(l, "ollama") || strings.Contains(l, "llama.cpp") || strings.Contains(l, "local") {
		return 0.8
	}
	return 0.1
}
