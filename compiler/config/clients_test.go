package config

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"smartrouter/compiler/diag"
)

const testKeyHash = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08" // sha256("test")

func TestClientKeys(t *testing.T) {
	doc := cfg(`routing:
  sorting_strategies:
    mine: [{field: cost, weight: 1}]
client_keys:
  - name: team-a
    key: ${TEAM_A_KEY}
    models: [gpt-4o, "tag:free,!vision"]
    budget: {daily_usd: 1.5, monthly_usd: 20}
    limits: {requests_per_minute: 60, tokens_per_minute: 100000, concurrent: 4}
    strategy: mine
    expires: 2027-01-31T12:00:00+01:00
  - name: ci
    key: sha256:` + strings.ToUpper(testKeyHash) + `
    expires: 2027-02-01
`)
	c, ws, _ := mustLoad(t, map[string]string{MainFile: doc})
	for _, w := range ws {
		t.Logf("warning: %s", w)
	}
	if len(c.ClientKeys) != 2 {
		t.Fatalf("client keys = %+v", c.ClientKeys)
	}
	a, b := c.ClientKeys[0], c.ClientKeys[1]
	if a.Name != "team-a" || a.KeyEnv != "TEAM_A_KEY" || a.KeyHash != ([32]byte{}) ||
		strings.Join(a.Models, "|") != "gpt-4o|tag:free,!vision" || a.DailyUSD != 1.5 || a.MonthlyUSD != 20 ||
		a.RPM != 60 || a.TPM != 100000 || a.Concurrent != 4 || a.Strategy != "mine" ||
		!a.Expires.Equal(time.Date(2027, 1, 31, 11, 0, 0, 0, time.UTC)) {
		t.Errorf("team-a = %+v", a)
	}
	want := sha256.Sum256([]byte("test"))
	if hex.EncodeToString(want[:]) != testKeyHash {
		t.Fatal("test hash constant is wrong")
	}
	if b.Name != "ci" || b.KeyEnv != "" || b.KeyHash != want || len(b.Models) != 0 ||
		!b.Expires.Equal(time.Date(2027, 2, 1, 0, 0, 0, 0, time.UTC)) {
		t.Errorf("ci = %+v", b)
	}
	if a.Pos.Line == 0 || b.Pos.Line <= a.Pos.Line {
		t.Errorf("positions %v %v", a.Pos, b.Pos)
	}
}

// TestClientKeyErrors checks that every malformed client key is an error at
// its file:line:column and that no message repeats a key.
func TestClientKeyErrors(t *testing.T) {
	const secret = "sk-live-do-not-print-me"
	for _, tc := range []struct {
		name, item, at, want string
	}{
		{"literal key", "- name: a\n    key: " + secret, secret, "client_keys[0].key: is a literal key, which a snapshot never stores: write it as ${ENV_VAR}"},
		{"short hash", "- name: a\n    key: sha256:abcd", "sha256:abcd", "a sha256: key needs exactly 64 hex digits (got 4 characters)"},
		{"bad hex", "- name: a\n    key: sha256:" + strings.Repeat("z", 64), "sha256:", "a sha256: key needs exactly 64 hex digits (0-9, a-f)"},
		{"bad env", "- name: a\n    key: ${1X}", "${1X}", "not a valid ${ENV_VAR} reference"},
		{"key not a string", "- name: a\n    key: [x]", "[x]", "client_keys[0].key: expected a string"},
		{"missing key", "- name: a", "name", `missing required key "key"`},
		{"missing name", "- key: ${K}", "key: ${K}", `missing required key "name"`},
		{"empty name", "- name: ' '\n    key: ${K}", "' '", "client_keys[0].name: must not be empty"},
		{"duplicate name", "- name: a\n    key: ${K}\n  - name: a\n    key: ${L}", "a\n    key: ${L}", `duplicate client key name "a", first used by client_keys[0]`},
		{"same hash", "- name: a\n    key: sha256:" + testKeyHash + "\n  - name: b\n    key: sha256:" + strings.ToUpper(testKeyHash), "sha256:" + strings.ToUpper(testKeyHash), "client_keys[1].key: the same key as client_keys[0] (a)"},
		{"same env", "- name: a\n    key: ${K}\n  - name: b\n    key: \"${K}\"", "\"${K}\"", "client_keys[1].key: the same ${K} as client_keys[0] (a)"},
		{"negative budget", "- name: a\n    key: ${K}\n    budget: {daily_usd: -1}", "-1", "client_keys[0].budget.daily_usd: must not be negative"},
		{"budget not a number", "- name: a\n    key: ${K}\n    budget: {monthly_usd: lots}", "lots", `expected a number, got "lots"`},
		{"rpm not an integer", "- name: a\n    key: ${K}\n    limits: {requests_per_minute: 1.5}", "1.5", "client_keys[0].limits.requests_per_minute: expected an integer"},
		{"negative concurrent", "- name: a\n    key: ${K}\n    limits: {concurrent: -2}", "-2", "must be between 0 and"},
		{"unknown strategy", "- name: a\n    key: ${K}\n    strategy: fastest", "fastest", `client_keys[0].strategy: unknown strategy "fastest"`},
		{"bad expiry", "- name: a\n    key: ${K}\n    expires: next tuesday", "next tuesday", "expected an RFC 3339 date-time"},
		{"bad model query", "- name: a\n    key: ${K}\n    models: [gpt-4o, \"tag:\"]", `"tag:"`, "client_keys[0].models[1]: is not a valid model string"},
		{"empty model", "- name: a\n    key: ${K}\n    models: [\"\"]", `""`, "client_keys[0].models[0]: must not be empty"},
		{"models not a list", "- name: a\n    key: ${K}\n    models: gpt-4o", "gpt-4o\n", "client_keys[0].models: expected a list"},
		{"item not a mapping", "- just-a-string", "just-a-string", "client_keys[0]: expected a mapping"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			doc := cfg("client_keys:\n  " + tc.item + "\n")
			_, _, dir, err := loadFiles(t, map[string]string{MainFile: doc}, Options{})
			if err == nil {
				t.Fatalf("no error; want %q", tc.want)
			}
			prefix := filepath.Join(dir, MainFile) + ":" + posOfAfter(t, doc, "client_keys:", tc.at) + ":"
			msg := err.Error()
			if !strings.HasPrefix(msg, prefix) || !strings.Contains(msg, tc.want) {
				t.Errorf("error\n  %s\nwant prefix %s and %q", msg, prefix, tc.want)
			}
			if strings.Contains(msg, secret) {
				t.Errorf("the error repeats the key: %s", msg)
			}
			var de *diag.Error
			if !errors.As(err, &de) {
				t.Errorf("not a *diag.Error: %#v", err)
			}
		})
	}
}

// posOfAfter is posOf for the first needle after the marker.
func posOfAfter(t testing.TB, text, marker, needle string) string {
	t.Helper()
	i := strings.Index(text, marker)
	j := strings.Index(text[i:], needle)
	if i < 0 || j < 0 {
		t.Fatalf("needle %q not after %q", needle, marker)
	}
	line, col := lineCol([]byte(text), i+j)
	return strconv.Itoa(line) + ":" + strconv.Itoa(col)
}
