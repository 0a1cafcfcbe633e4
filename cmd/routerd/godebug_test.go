package main

import (
	"runtime/debug"
	"strings"
	"testing"
)

func TestGodebugSettingFile(t *testing.T) {
	v := strings.TrimSpace(godebugSetting)
	k, n, ok := strings.Cut(v, "=")
	if !ok || k != "schedtrace" || n == "" || n == "0" || strings.Contains(v, ",") {
		t.Fatalf("godebug.txt holds %q, want one schedtrace=N with N > 0", v)
	}
}

func TestGodebugActive(t *testing.T) {
	set := strings.TrimSpace(godebugSetting)
	built := &debug.BuildInfo{Settings: []debug.BuildSetting{{Key: "-ldflags", Value: "-X=runtime.godebugDefault=" + set}}}
	plain := &debug.BuildInfo{Settings: []debug.BuildSetting{{Key: "-trimpath", Value: "true"}}}
	cases := []struct {
		name string
		env  string
		bi   *debug.BuildInfo
		want bool
	}{
		{"compiled in", "", built, true},
		{"plain build", "", plain, false},
		{"no build info", "", nil, false},
		{"in the environment", "gctrace=0," + set, plain, true},
		{"turned off in the environment", "schedtrace=0", built, false},
		{"other settings only", "gctrace=1", plain, false},
		{"the last one wins", "schedtrace=0,gctrace=1," + set, plain, true},
	}
	for _, c := range cases {
		if got := godebugActive(c.env, c.bi); got != c.want {
			t.Errorf("%s: godebugActive(%q) = %v, want %v", c.name, c.env, got, c.want)
		}
	}
}
