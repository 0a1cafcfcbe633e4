package config

import (
	"strings"

	"go.yaml.in/yaml/v3"

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

// envRef returns NAME for a value written exactly as ${NAME}; ok is false
// when the value is not of that form, and valid is false when it is but NAME
// is not a usable variable name.
func envRef(s string) (name string, ok, valid bool) {
	if !strings.HasPrefix(s, "${") || !strings.HasSuffix(s, "}") || len(s) < 3 {
		return "", false, false
	}
	name = s[2 : len(s)-1]
	if name == "" {
		return "", true, false
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		letter := c == '_' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
		if !letter && (i == 0 || c < '0' || c > '9') {
			return "", true, false
		}
	}
	return name, true, true
}

// secret reads a credential: ${ENV} reference, placeholder (zero Secret,
// placeholder true) or literal (warned about, or an error with
// Options.ForbidLiteralSecrets). The value itself never reaches a message.
func (v val) secret() (sec format.Secret, placeholder bool) {
	if v.n.Kind != yaml.ScalarNode {
		v.fail("expected a string or ${ENV_VAR}, got %s", describe(v.n))
		return sec, false
	}
	raw := strings.TrimSpace(v.n.Value)
	if name, ok, valid := envRef(raw); ok {
		if !valid {
			v.fail("not a valid ${ENV_VAR} reference: the name must be letters, digits and _, not starting with a digit")
			return sec, false
		}
		return format.Secret{Env: name}, false
	}
	if IsPlaceholder(raw) {
		return sec, true
	}
	if v.s.opts.ForbidLiteralSecrets {
		v.fail("is a literal secret, which is not allowed here: write it as ${ENV_VAR} and set that variable for the server")
		return sec, false
	}
	v.s.warn(v.pos(), "literal secret", v.path, "secret written in the file; prefer ${ENV_VAR} so the snapshot does not carry it")
	return format.Secret{Literal: raw}, false
}
