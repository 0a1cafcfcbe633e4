package config

import (
	"errors"
	"strings"
	"testing"

	"smartrouter/compiler/diag"
	"smartrouter/format"
)

// TestStateRedisURL checks state.redis_url: an ${ENV} reference or a
// literal URL is kept as written, an absent or empty one shares nothing, a
// literal password is warned about without being shown.
func TestStateRedisURL(t *testing.T) {
	for _, tc := range []struct {
		yaml string
		want format.Secret
		warn bool
	}{
		{"", format.Secret{}, false},
		{"state: {redis_url: \"${ROUTER_REDIS_URL}\"}\n", format.Secret{Env: "ROUTER_REDIS_URL"}, false},
		{"state:\n  redis_url: \"redis://127.0.0.1:6379/0\"\n", format.Secret{Literal: "redis://127.0.0.1:6379/0"}, false},
		{"state:\n  redis_url: \"rediss://:hunter2@cache:6380/1\"\n", format.Secret{Literal: "rediss://:hunter2@cache:6380/1"}, true},
		{"state:\n  redis_url: \"\"\n", format.Secret{}, false},
		{"state:\n  redis_url: null\n", format.Secret{}, false},
	} {
		c, ws, _ := mustLoad(t, map[string]string{MainFile: cfg(tc.yaml)})
		if c.State.RedisURL != tc.want {
			t.Errorf("%q: redis_url = %+v, want %+v", tc.yaml, c.State.RedisURL, tc.want)
		}
		warned := false
		for _, w := range ws {
			warned = warned || w.Group == "literal secret"
			if strings.Contains(w.Msg, "hunter2") {
				t.Errorf("warning shows the password: %s", w.Msg)
			}
		}
		if warned != tc.warn {
			t.Errorf("%q: literal secret warning = %t, want %t", tc.yaml, warned, tc.warn)
		}
	}
}

// TestStateRedisURLErrors checks that a malformed state.redis_url is an
// error at its file:line:col that says what to write and never quotes the
// password.
func TestStateRedisURLErrors(t *testing.T) {
	for _, tc := range []struct {
		name, yaml, at, want string
		opts                 Options
	}{
		{name: "scheme", yaml: "state:\n  redis_url: \"http://:hunter2@h:6379\"\n", at: "\"http", want: "state.redis_url: must start with redis://"},
		{name: "no scheme", yaml: "state:\n  redis_url: 127.0.0.1:6379\n", at: "127.0.0.1:6379", want: "must start with redis://"},
		{name: "port", yaml: "state:\n  redis_url: \"redis://:hunter2@h:70000/0\"\n", at: "\"redis", want: "has port"},
		{name: "db", yaml: "state:\n  redis_url: \"redis://:hunter2@h:6379/x\"\n", at: "\"redis", want: "has database"},
		{name: "env name", yaml: "state:\n  redis_url: ${1BAD}\n", at: "${1BAD}", want: "not a valid ${ENV_VAR}"},
		{name: "list", yaml: "state:\n  redis_url: [a]\n", at: "[a]", want: "expected a redis:// URL"},
		{name: "not a mapping", yaml: "state: redis://h\n", at: "redis://h", want: "state"},
		{name: "forbidden literal password", yaml: "state:\n  redis_url: \"redis://:hunter2@h:6379/0\"\n", at: "\"redis", want: "carries a password", opts: Options{ForbidLiteralSecrets: true}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			text := cfg(tc.yaml)
			_, _, dir, err := loadFiles(t, map[string]string{MainFile: text}, tc.opts)
			var de *diag.Error
			if !errors.As(err, &de) {
				t.Fatalf("err = %v, want a positioned error", err)
			}
			if !strings.Contains(de.Msg, tc.want) {
				t.Errorf("message %q lacks %q", de.Msg, tc.want)
			}
			if strings.Contains(err.Error(), "hunter2") {
				t.Errorf("error shows the password: %v", err)
			}
			if want := atText(t, dir+"/"+MainFile, text, tc.at); de.Pos.Line != want.Line {
				t.Errorf("at %v, want line %d", de.Pos, want.Line)
			}
		})
	}
}
