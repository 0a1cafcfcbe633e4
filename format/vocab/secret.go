package vocab

import (
	"strings"

	"smartrouter/format"
)

// IsPlaceholder reports whether a secret as written in the config is a
// placeholder that stands for "no key". The rule, applied to the value with
// surrounding spaces removed and compared without regard to case:
//
//  1. the empty string;
//  2. starts with "your" followed by "_", "-" or a space, or with "你的"
//     (YOUR_GROQ_API_KEY_HERE, your-secret-token-here, your token);
//  3. ends with "_here", "-here" or " here" (PUT_KEY_HERE);
//  4. is wrapped in angle brackets (<api-key>);
//  5. is one of changeme, change_me, change-me, replace_me, replace-me,
//     placeholder, todo;
//  6. is a run of at least three "x", "*" or "." characters, optionally
//     after a key prefix made of letter/digit groups each ending in "-" or
//     "_" (xxxx, sk-xxx, sk-or-v1-xxxxxxxx, gsk_xxx, sk-ant-api03-..., ***).
//
// Anything else is a real literal key, however short: local servers such as
// Ollama accept any value, and "ollama" or "none" are common choices there.
func IsPlaceholder(s string) bool {
	s = strings.ToLower(strings.TrimSpace(s))
	switch {
	case s == "":
		return true
	case strings.HasPrefix(s, "your_"), strings.HasPrefix(s, "your-"), strings.HasPrefix(s, "your "),
		strings.HasPrefix(s, "你的"):
		return true
	case strings.HasSuffix(s, "_here"), strings.HasSuffix(s, "-here"), strings.HasSuffix(s, " here"):
		return true
	case len(s) >= 2 && s[0] == '<' && s[len(s)-1] == '>':
		return true
	}
	switch s {
	case "changeme", "change_me", "change-me", "replace_me", "replace-me", "placeholder", "todo":
		return true
	}
	return maskedKey(s)
}

// maskedKey implements rule 6 of IsPlaceholder on a lowercased value.
func maskedKey(s string) bool {
	i := len(s)
	for i > 0 && strings.IndexByte("x*.", s[i-1]) >= 0 {
		i--
	}
	if len(s)-i < 3 {
		return false
	}
	prefix := s[:i]
	if prefix == "" {
		return true
	}
	prev := byte('-') // as if a separator came before the first group
	for j := 0; j < len(prefix); j++ {
		c := prefix[j]
		sep := c == '-' || c == '_'
		if sep && (prev == '-' || prev == '_') {
			return false
		}
		if !sep && (c < 'a' || c > 'z') && (c < '0' || c > '9') {
			return false
		}
		prev = c
	}
	return prev == '-' || prev == '_'
}

// IsPlaceholderKey reports whether a resolved key is unusable: empty, a
// placeholder (IsPlaceholder), or an unresolved ${VAR} reference (such as an
// environment variable whose value is itself "${VAR}").
func IsPlaceholderKey(k string) bool {
	k = strings.TrimSpace(k)
	return IsPlaceholder(k) || strings.HasPrefix(k, "${") && strings.HasSuffix(k, "}")
}

// ResolveSecret returns the value of a secret: for an ${ENV} reference the
// variable's value through lookupEnv, else the literal; surrounding spaces
// are removed. The empty string means absent: an unset variable, or a
// reference with a nil lookupEnv (no environment).
func ResolveSecret(s format.Secret, lookupEnv func(string) (string, bool)) string {
	if s.Env != "" {
		if lookupEnv == nil {
			return ""
		}
		v, ok := lookupEnv(s.Env)
		if !ok {
			return ""
		}
		return strings.TrimSpace(v)
	}
	return strings.TrimSpace(s.Literal)
}

// HasKey reports whether a channel key is usable: an ${ENV} reference that
// resolves to a non-placeholder value, or a non-placeholder literal
// (IsPlaceholderKey of ResolveSecret).
func HasKey(s format.Secret, lookupEnv func(string) (string, bool)) bool {
	return !IsPlaceholderKey(ResolveSecret(s, lookupEnv))
}

// DescribeSecret names where a secret comes from, never its value:
// "${NAME}", "the literal value in the config" or "an empty value". It is
// meant for error messages.
func DescribeSecret(s format.Secret) string {
	if s.Env != "" {
		return "${" + s.Env + "}"
	}
	if s.Literal != "" {
		return "the literal value in the config"
	}
	return "an empty value"
}
