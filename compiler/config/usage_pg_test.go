package config

import (
	"strings"
	"testing"
)

// usage.path takes a PostgreSQL URL (as written, without a password) or an
// ${ENV} reference (kept as the reference: no secret in the snapshot).
func TestUsagePostgresPath(t *testing.T) {
	for _, tc := range []struct{ yaml, want string }{
		{"usage:\n  path: \"postgres://router@db.internal:5432/usage?sslmode=require\"\n", "postgres://router@db.internal:5432/usage?sslmode=require"},
		{"usage:\n  path: postgresql://db/usage\n", "postgresql://db/usage"},
		{"usage:\n  path: ${ROUTER_USAGE_DB}\n", "${ROUTER_USAGE_DB}"},
	} {
		c, _, _ := mustLoad(t, map[string]string{MainFile: cfg(tc.yaml)})
		if c.Usage.Path != tc.want {
			t.Errorf("%q: path %q, want %q", tc.yaml, c.Usage.Path, tc.want)
		}
	}
	// A password written in the URL is a warning that does not repeat it.
	text := cfg("usage:\n  path: \"postgres://router:hunter2@db/usage\"\n")
	_, ws, _ := mustLoad(t, map[string]string{MainFile: text})
	found := false
	for _, w := range ws {
		found = found || strings.Contains(w.Msg, "password written in the file")
		if strings.Contains(w.Msg, "hunter2") {
			t.Errorf("a warning shows the password: %s", w.Msg)
		}
	}
	if !found {
		t.Errorf("no warning for the password in usage.path: %+v", ws)
	}
}

func TestUsagePostgresPathErrors(t *testing.T) {
	for _, tc := range []struct {
		yaml, at, want string
		opts           Options
	}{
		{yaml: "usage:\n  path: \"postgres://\"\n", at: "\"postgres", want: "usage.path: not a usable PostgreSQL URL"},
		{yaml: "usage:\n  path: \"postgres://db\"\n", at: "\"postgres", want: "usage.path: not a usable PostgreSQL URL"},
		{yaml: "usage:\n  path: \"${1X}\"\n", at: "\"${1X}", want: "not a valid ${ENV_VAR} reference"},
		{yaml: "usage:\n  path: \"postgres://u:hunter2@db/usage\"\n", at: "\"postgres", want: "carries a password", opts: Options{ForbidLiteralSecrets: true}},
	} {
		text := cfg(tc.yaml)
		_, _, _, err := loadFiles(t, map[string]string{MainFile: text}, tc.opts)
		if err == nil {
			t.Errorf("%q: no error", tc.yaml)
			continue
		}
		if msg := err.Error(); !strings.Contains(msg, ":"+posOf(t, text, tc.at)+":") || !strings.Contains(msg, tc.want) || strings.Contains(msg, "hunter2") {
			t.Errorf("%q: error %s; want %q at %s, no password", tc.yaml, msg, tc.want, posOf(t, text, tc.at))
		}
	}
}
