package e2e

import (
	"crypto/sha256"
	"encoding/hex"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"smartrouter/fixtures/mockllm"
)

// TestClientKeysRoutedProcess compiles the demo installation with client
// keys (a sha256: hash, an ${ENV} key that is set, one whose variable is
// not) and runs the routerd binary on it: the two usable keys are served,
// no key and the refused key's would-be values get 401, a model outside a
// key's allowance 403, and the refused key is one log line that shows no
// key.
func TestClientKeysRoutedProcess(t *testing.T) {
	const hashed, fromEnv = "ck-e2e-hashed-0123", "ck-e2e-env-0123"
	t.Setenv("E2E_CLIENT_KEY", fromEnv)
	mock := startMock(t, mockllm.Config{})
	dir := t.TempDir()
	cfg, cache := install(t, dir, mock.URL())
	sum := sha256.Sum256([]byte(hashed))
	f, err := os.OpenFile(filepath.Join(cfg, "router_config.yaml"), os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString(`
client_keys:
  - name: hashed
    key: sha256:` + hex.EncodeToString(sum[:]) + `
    models: [gpt-4o-mini]
  - name: env
    key: ${E2E_CLIENT_KEY}
  - name: unset
    key: ${E2E_CLIENT_KEY_NOT_SET}
`)
	f.Close()
	snap := filepath.Join(dir, "router.snap")
	compile(t, cfg, cache, snap, 1)
	p := startRouterd(t, "-snapshot", snap)
	if p.url == "" {
		t.Fatalf("routerd did not start:\n%s", p.logText())
	}
	ask := func(model, tok string) int {
		t.Helper()
		req, _ := http.NewRequest(http.MethodPost, p.url+"/v1/chat/completions",
			strings.NewReader(`{"model":"`+model+`","messages":[{"role":"user","content":"hi"}]}`))
		req.Header.Set("Content-Type", "application/json")
		if tok != "" {
			req.Header.Set("Authorization", "Bearer "+tok)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if strings.Contains(string(b), "ck-e2e") {
			t.Errorf("the answer shows a key: %s", b)
		}
		return resp.StatusCode
	}
	for _, tc := range []struct {
		model, tok string
		want       int
	}{
		{"gpt-4o-mini", hashed, 200},
		{"gpt-4o-mini", fromEnv, 200},
		{"gpt-4o-mini", "", 401},
		{"gpt-4o-mini", "", 401},
		{"gpt-4o-mini", "${E2E_CLIENT_KEY_NOT_SET}", 401},
		{"gpt-4o-mini", "E2E_CLIENT_KEY_NOT_SET", 401},
		{"tag:free", hashed, 403},
	} {
		if got := ask(tc.model, tc.tok); got != tc.want {
			t.Errorf("%s with %q: %d; want %d", tc.model, tc.tok, got, tc.want)
		}
	}
	m := p.waitLog("client key refused: its environment variable is unset or empty; export it and reload", 0)
	if m == nil || m["key"] != "unset" || m["variable"] != "E2E_CLIENT_KEY_NOT_SET" {
		t.Errorf("refusal log line %v\n%s", m, p.logText())
	}
	if logs := p.logText(); strings.Contains(logs, "ck-e2e") || strings.Contains(logs, hex.EncodeToString(sum[:])) {
		t.Errorf("the log shows a key:\n%s", logs)
	}
}
