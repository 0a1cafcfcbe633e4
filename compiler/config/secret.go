package config

import (
	"strings"

	"go.yaml.in/yaml/v3"

	"smartrouter/format"
	"smartrouter/format/vocab"
)

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
	if vocab.IsPlaceholder(raw) {
		return sec, true
	}
	if v.s.opts.ForbidLiteralSecrets {
		v.fail("is a literal secret, which is not allowed here: write it as ${ENV_VAR} and set that variable for the server")
		return sec, false
	}
	v.s.warn(v.pos(), "literal secret", v.path, "secret written in the file; prefer ${ENV_VAR} so the snapshot does not carry it")
	return format.Secret{Literal: raw}, false
}
