package config

import (
	"path/filepath"
	"strings"
	"testing"

	"smartrouter/compiler/diag"
	"smartrouter/format"
)

func TestUsageSection(t *testing.T) {
	c, _, _ := mustLoad(t, map[string]string{MainFile: cfg()})
	if c.Usage != (Usage{Enabled: true, RetentionDays: format.DefaultUsageRetentionDays}) {
		t.Errorf("default usage %+v", c.Usage)
	}
	c, ws, _ := mustLoad(t, map[string]string{MainFile: cfg("usage:\n  enabled: false\n  path: /var/lib/smartrouter/usage.db\n  retention_days: 0\n  queue_size: 1024\n  colour: blue\n")})
	if c.Usage != (Usage{Present: true, Path: "/var/lib/smartrouter/usage.db", QueueSize: 1024}) {
		t.Errorf("usage %+v", c.Usage)
	}
	found := false
	for _, w := range ws {
		found = found || strings.HasPrefix(w.Msg, "usage.colour: unknown key")
	}
	if !found {
		t.Errorf("no warning for usage.colour: %+v", ws)
	}
}

// A malformed usage: section is an error at its file:line:col.
func TestUsageErrors(t *testing.T) {
	for _, tc := range []struct{ text, at, want string }{
		{"usage: [1]\n", "[1]", "usage: expected a mapping"},
		{"usage:\n  enabled: perhaps\n", "perhaps", "usage.enabled: expected true or false"},
		{"usage:\n  retention_days: -1\n", "-1", "usage.retention_days: must be between 0 and 36500"},
		{"usage:\n  queue_size: 4\n", "4\n", "usage.queue_size: must be between 16 and"},
		{"usage:\n  path: \"\"\n", `""`, "usage.path: must not be empty"},
		{"usage:\n  path: \"a?b.db\"\n", `"a?b`, "usage.path: the path"},
	} {
		text := cfg(tc.text)
		_, _, dir, err := loadFiles(t, map[string]string{MainFile: text}, Options{})
		if err == nil {
			t.Errorf("%q: no error", tc.text)
			continue
		}
		want := filepath.Join(dir, MainFile) + ":" + posOf(t, text, tc.at) + ":"
		var de *diag.Error
		if msg := err.Error(); !strings.HasPrefix(msg, want) || !strings.Contains(msg, tc.want) || !asDiag(err, &de) {
			t.Errorf("%q: error\n  %s\nwant prefix %s and %q", tc.text, msg, want, tc.want)
		}
	}
}

func asDiag(err error, de **diag.Error) bool {
	e, ok := err.(*diag.Error)
	*de = e
	return ok
}
