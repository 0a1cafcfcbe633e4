package main

import (
	"encoding/json"
	"strings"
	"testing"
)

func TestRoute(t *testing.T) {
	snap := demoDir + "/router.snap"
	tests := []struct {
		args []string
		code int
		want []string
	}{
		{[]string{snap, "gpt-4o-mini"}, 0, []string{"read as physical; 2 pairs matched", "strategy cost_first", "  1. mock_flaky gpt-4o-mini", "  2. mock_main gpt-4o-mini"}},
		{[]string{snap, "mock-large", "--strategy", "cost_optimized"}, 0, []string{"strategy cost_optimized", "1. mock_ratelimited mock-large"}},
		{[]string{snap, "mock-small"}, 0, []string{"mock_off mock-small: channel_disabled"}},
		{[]string{snap, "tag:demo,free", "--tokens", "5000", "--max-tokens", "100"}, 0, []string{"read as tags", "input_tokens=5000 max_tokens=100", "mock_free"}},
		{[]string{snap, "text-embedding-3-small"}, 1, []string{"not_chat_model"}},
		{[]string{snap, "no-such-model"}, 1, []string{"matches no model"}},
		{[]string{snap, "gpt-4o-mini", "-strategy", "nope"}, 1, []string{"nope"}},
		{[]string{snap, "tag:>8k"}, 1, []string{"bad model string"}},
	}
	for _, tc := range tests {
		o, e, code := routerc(append([]string{"route"}, tc.args...)...)
		if code != tc.code {
			t.Errorf("route %q: exit %d, want %d\n%s%s", tc.args, code, tc.code, o, e)
		}
		for _, w := range tc.want {
			if !strings.Contains(o+e, w) {
				t.Errorf("route %q lacks %q:\n%s%s", tc.args, w, o, e)
			}
		}
	}
}

func TestRouteJSON(t *testing.T) {
	o, e, code := routerc("route", demoDir+"/router.snap", "gpt-4o-mini", "-json")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, e)
	}
	var ex struct {
		Matched    int `json:"matched"`
		Candidates []struct {
			Channel string  `json:"channel"`
			Total   float64 `json:"total"`
		} `json:"candidates"`
	}
	if err := json.Unmarshal([]byte(o), &ex); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, o)
	}
	if ex.Matched != 2 || len(ex.Candidates) != 2 || ex.Candidates[0].Channel != "mock_flaky" {
		t.Errorf("explain %+v", ex)
	}
}

// TestRouteKeyStates checks that the key-validation verdicts seed the live
// state: the small fixture's siliconflow_cn key is invalid.
func TestRouteKeyStates(t *testing.T) {
	snap := compileTo(t, smallDir, t.TempDir())
	o, _, _ := routerc("route", snap, "tag:siliconflow", "-assume-env")
	if !strings.Contains(o, "siliconflow_cn Qwen/Qwen3-8B: channel_cooling") {
		t.Errorf("the invalid key does not cool its channel:\n%s", o)
	}
	t.Setenv("GROQ_API_KEY", "")
	o, _, _ = routerc("route", snap, "tag:groq")
	if !strings.Contains(o, "groq_fast gemma2-9b-it: no_api_key") {
		t.Errorf("without -assume-env an unset ${GROQ_API_KEY} must filter the channel:\n%s", o)
	}
}
