package discover

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"smartrouter/compiler/cache"
	"smartrouter/compiler/diag"
	"smartrouter/fixtures/mockllm"
)

func validate(t testing.TB, dir string, opts KeyOptions) *KeyReport {
	t.Helper()
	opts.ConfigDir, opts.CacheDir = filepath.Join(dir, "config"), filepath.Join(dir, "cache")
	rep, err := ValidateKeys(context.Background(), opts)
	if err != nil {
		t.Fatalf("ValidateKeys: %v", err)
	}
	return rep
}

func keyResult(t testing.TB, rep *KeyReport, id string) KeyResult {
	t.Helper()
	for _, c := range rep.Channels {
		if c.ID == id {
			return c
		}
	}
	t.Fatalf("no result for %s", id)
	return KeyResult{}
}

func TestValidateKeysClassifies(t *testing.T) {
	m := startMock(t, mockllm.Config{Rules: []mockllm.Rule{{Key: "sk-test-refused-1", Status: 401}}})
	dir := install(t, m.URL(),
		channel("good", "openai", "sk-test-good-1")+
			channel("anth", "anthropic", "sk-test-anthropic-1")+
			channel("refused", "openai", "sk-test-refused-1")+
			channel("quota", "openai", "sk-test-fail-429-quota")+
			channel("limited", "openai", "sk-test-fail-429")+
			channel("broken", "openai", "sk-test-fail-503")+
			channel("unreachable", "openai", "sk-test-net-1", `base_url: "http://127.0.0.1:1/v1"`)+
			channel("local", "ollama", ""))
	old := `{"validation_results": {"good": {"is_valid": true, "api_key": "sk-plaintext-good"},
  "gone": {"is_valid": false, "error_type": "invalid_key", "api_key": "sk-plaintext-gone"}},
 "key_status": {"gone": {"consecutive_failures": 3, "api_key": "sk-plaintext-gone", "usage_stats": {"n": 1}}},
 "last_update": "2025-01-01T00:00:00", "extra": {"kept": true}}`
	if err := os.WriteFile(filepath.Join(dir, "cache", cache.KeyValidationFile), []byte(old), 0o600); err != nil {
		t.Fatal(err)
	}
	var events int
	rep := validate(t, dir, KeyOptions{Force: true, Timeout: 5 * time.Second, Progress: func(KeyEvent) { events++ }})
	want := map[string]struct {
		status, kind string
		valid        bool
	}{
		"good":        {StatusOK, "", true},
		"anth":        {StatusOK, "", true},
		"refused":     {StatusError, KindInvalidKey, false},
		"quota":       {StatusError, KindQuotaExceeded, false},
		"limited":     {StatusError, KindRateLimit, true},
		"broken":      {StatusError, KindServerError, true},
		"unreachable": {StatusError, KindNetworkError, true},
		"local":       {StatusSkipped, "", false},
	}
	for id, w := range want {
		r := keyResult(t, rep, id)
		if r.Status != w.status || r.ErrorType != w.kind || r.Status != StatusSkipped && r.Valid != w.valid {
			t.Errorf("%s: %+v, want %+v", id, r, w)
		}
		if strings.Contains(r.Error, "sk-test") {
			t.Errorf("%s: the error holds the key: %s", id, r.Error)
		}
	}
	if events != 7 || !rep.Changed {
		t.Errorf("events %d, changed %v", events, rep.Changed)
	}
	b, _ := os.ReadFile(rep.Path)
	if strings.Contains(string(b), "sk-") {
		t.Errorf("the file holds a plaintext key:\n%s", b)
	}
	if !strings.Contains(string(b), `"extra": {"kept": true}`) || !strings.Contains(string(b), `"usage_stats": {"n": 1}`) {
		t.Errorf("members not checked were lost:\n%s", b)
	}
	// The compiler reads every field, with no unknown-field warning.
	var w diag.Warnings
	kv, err := cache.ReadKeyValidation(rep.Path, &w)
	if err != nil {
		t.Fatal(err)
	}
	for _, x := range w.List() {
		if !strings.Contains(x.Msg, `"extra"`) { // the test's own unknown member
			t.Errorf("warning: %v", x)
		}
	}
	if v := kv.Lookup("refused"); v == nil || v.Valid || v.ErrorType != KindInvalidKey || v.StatusCode != 401 || v.ConsecutiveFailures != 1 || v.HealthScore != 0 {
		t.Errorf("refused verdict %+v", v)
	}
	if v := kv.Lookup("good"); v == nil || !v.Valid || v.HealthScore != 1 {
		t.Errorf("good verdict %+v", v)
	}
	if v := kv.Lookup("gone"); v == nil || v.Valid || v.ConsecutiveFailures != 3 {
		t.Errorf("a verdict not checked changed: %+v", v)
	}
}

func TestValidateKeysBackoff(t *testing.T) {
	for f, want := range map[int]time.Duration{0: 6 * time.Hour, 1: 12 * time.Hour, 2: 24 * time.Hour, 3: 24 * time.Hour, 40: 24 * time.Hour} {
		if got := Backoff(f); got != want {
			t.Errorf("Backoff(%d) = %v, want %v", f, got, want)
		}
	}
	m := startMock(t, mockllm.Config{})
	dir := install(t, m.URL(), channel("good", "openai", "sk-test-good-1")+channel("limited", "openai", "sk-test-fail-429"))
	clock := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	now := func() time.Time { return clock }
	r := validate(t, dir, KeyOptions{Now: now})
	if g, l := keyResult(t, r, "good"), keyResult(t, r, "limited"); !g.NextValidation.Equal(clock.Add(6*time.Hour)) ||
		l.ConsecutiveFailures != 1 || !l.NextValidation.Equal(clock.Add(12*time.Hour)) {
		t.Errorf("first run: %+v %+v", g, l)
	}
	clock = clock.Add(7 * time.Hour) // good is due, limited is not
	r = validate(t, dir, KeyOptions{Now: now})
	if g, l := keyResult(t, r, "good"), keyResult(t, r, "limited"); g.Status != StatusOK || l.Status != StatusSkipped {
		t.Errorf("second run: %+v %+v", g, l)
	}
	clock = clock.Add(6 * time.Hour)
	r = validate(t, dir, KeyOptions{Now: now})
	if l := keyResult(t, r, "limited"); l.ConsecutiveFailures != 2 || !l.NextValidation.Equal(clock.Add(24*time.Hour)) {
		t.Errorf("third run: %+v", l)
	}
	r = validate(t, dir, KeyOptions{Now: now, Force: true})
	if l := keyResult(t, r, "limited"); l.Status != StatusError || l.ConsecutiveFailures != 3 {
		t.Errorf("forced run: %+v", l)
	}
}

// An empty list with a 200 proves the key works: valid, where discovery
// would keep the previous list.
func TestValidateKeysEmptyListIsValid(t *testing.T) {
	m := startMock(t, mockllm.Config{Models: []string{}})
	dir := install(t, m.URL(), channel("empty", "openai", "sk-test-empty-1"))
	if r := keyResult(t, validate(t, dir, KeyOptions{}), "empty"); r.Status != StatusOK || !r.Valid {
		t.Errorf("%+v", r)
	}
	if r := result(t, run(t, dir, Options{}), "empty"); r.Status != StatusError || !strings.Contains(r.Error, "listed no models") {
		t.Errorf("discovery of an empty list: %+v", r)
	}
}
