package main

import (
	"os"
	"path/filepath"
	"reflect"
	"testing"
)

func TestChannelKeyLists(t *testing.T) {
	dir := t.TempDir()
	cfg, cache := filepath.Join(dir, "config"), filepath.Join(dir, "cache")
	for _, d := range []string{cfg, cache} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	write := func(p, s string) {
		if err := os.WriteFile(p, []byte(s), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write(filepath.Join(cfg, "router_config.yaml"), `channels:
  - id: "a"
    api_key: "${KEY_A}"
  - id: "b"
    api_key: "${KEY_B}"
  - id: "failed"
    api_key: "${KEY_F}"
  - id: "uncached"
    api_key: "${KEY_U}"
  - id: "local"
`)
	// "a" is keyed with a hash suffix, as the discovery cache does.
	write(filepath.Join(cache, "discovered_models.json"), `{
  "a_0123abcd": {"channel_id": "a", "models": ["m2", "m1"]},
  "b": {"channel_id": "b", "models": ["m3"]},
  "failed": {"channel_id": "failed", "models": [], "status": "error"},
  "orphan": {"channel_id": "orphan", "models": ["x"]}
}`)
	env := []string{"KEY_A=bench-a", "KEY_B=bench-b", "KEY_F=bench-f", "KEY_U=bench-u"}
	lists, missing, err := channelKeyLists(cfg, cache, env)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string][]string{"bench-a": {"m2", "m1"}, "bench-b": {"m3"}, "bench-f": {}, "bench-u": {}}
	if !reflect.DeepEqual(lists, want) {
		t.Errorf("lists %v, want %v", lists, want)
	}
	if !reflect.DeepEqual(missing, []string{"uncached"}) {
		t.Errorf("missing %v", missing)
	}
	// Two channels sharing a key see the union of their lists.
	lists, _, err = channelKeyLists(cfg, cache, []string{"KEY_A=same", "KEY_B=same"})
	if err != nil {
		t.Fatal(err)
	}
	if got := lists["same"]; !reflect.DeepEqual(got, []string{"m1", "m2", "m3"}) {
		t.Errorf("shared key: %v", got)
	}
	if _, _, err := channelKeyLists(cfg, filepath.Join(dir, "none"), env); err == nil {
		t.Error("a folder without a discovery cache was accepted")
	}
}
