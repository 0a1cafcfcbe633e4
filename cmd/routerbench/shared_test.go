package main

import (
	"strings"
	"testing"
)

func TestWithState(t *testing.T) {
	got, err := withState([]byte("channels: []\n\n"), "redis://127.0.0.1:6379/0")
	if err != nil || !strings.HasSuffix(string(got), "channels: []\n\nstate:\n  redis_url: \"redis://127.0.0.1:6379/0\"\n") {
		t.Errorf("withState = %q, %v", got, err)
	}
	if _, err := withState([]byte("state:\n  redis_url: x\n"), "redis://h/0"); err == nil {
		t.Error("a config with a state: section was accepted")
	}
}
