package inspect

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// clientKeysYAML adds two client keys to a config: one by ${ENV}, one by
// the SHA-256 of "test".
const clientKeysYAML = `
client_keys:
  - name: team-a
    key: ${TEAM_A_KEY}
    models: [gpt-4o, "tag:free"]
    budget: {daily_usd: 1.5, monthly_usd: 20}
    limits: {requests_per_minute: 60, tokens_per_minute: 100000, concurrent: 4}
    strategy: free_first
    expires: 2027-01-31T00:00:00Z
  - name: ci
    key: sha256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08
`

func withClientKeys(t *testing.T, src string) string {
	t.Helper()
	dir := copyTree(t, src)
	p := filepath.Join(dir, mainYAML)
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, dir, mainYAML, string(b)+clientKeysYAML)
	return dir
}

// TestClientKeysShown checks that dump, inspect and diff list the client
// keys with their limits and only an 8-digit hash prefix.
func TestClientKeysShown(t *testing.T) {
	dir := withClientKeys(t, smallDir)
	s := compileDir(t, dir)
	const full = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
	wantLines := []string{
		`team-a key=${TEAM_A_KEY} models=["gpt-4o", "tag:free"] daily_usd=1.5 monthly_usd=20 rpm=60 tpm=100000 concurrent=4 strategy=free_first expires=2027-01-31T00:00:00Z`,
		`ci key=sha256:9f86d081… models=all daily_usd=0 monthly_usd=0 rpm=0 tpm=0 concurrent=0 strategy=default expires=never`,
	}
	var dump, insp, diff, sum bytes.Buffer
	if err := Dump(&dump, s); err != nil {
		t.Fatal(err)
	}
	if err := Inspect(&insp, s, dir+"/config", dir+"/cache"); err != nil {
		t.Fatal(err)
	}
	if _, err := Diff(&diff, compileDir(t, smallDir), s); err != nil {
		t.Fatal(err)
	}
	for name, text := range map[string]string{"dump": dump.String(), "inspect": insp.String()} {
		for _, l := range wantLines {
			if !strings.Contains(text, l) {
				t.Errorf("%s lacks %q:\n%s", name, l, text)
			}
		}
	}
	if !strings.Contains(dump.String(), "# client keys (2)") || !strings.Contains(insp.String(), "client keys 2") {
		t.Errorf("no client keys heading")
	}
	if changed, err := Summary(&sum, compileDir(t, smallDir), s, SummaryOptions{}); err != nil || !changed || !strings.Contains(sum.String(), "client keys") {
		t.Errorf("summary (changed %v, %v) does not name the client keys:\n%s", changed, err, sum.String())
	}
	for _, l := range []string{"+ team-a: key=${TEAM_A_KEY}", "+ ci: key=sha256:9f86d081…"} {
		if !strings.Contains(diff.String(), l) {
			t.Errorf("diff lacks %q:\n%s", l, diff.String())
		}
	}
	for name, text := range map[string]string{"dump": dump.String(), "inspect": insp.String(), "diff": diff.String(), "summary": sum.String()} {
		if strings.Contains(text, full) || strings.Contains(text, full[:16]) {
			t.Errorf("%s shows more than the hash prefix", name)
		}
	}
}
