package main

import (
	"io"
	"path/filepath"
	"testing"
	"time"
)

func TestParseFlags(t *testing.T) {
	quick, err := parseFlags([]string{"-quick", "-out", "x.md"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if quick.starts != 3 || quick.loadDur != 2*time.Second || quick.stepDur != 0 || quick.rounds != 1 || !filepath.IsAbs(quick.out) {
		t.Errorf("-quick options = %+v", quick)
	}
	full, err := parseFlags(nil, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if full.starts < 7 || full.loadDur != 10*time.Second || full.rate != 1000 || full.stepDur == 0 ||
		filepath.Base(full.out) != "benchmarks.md" || filepath.Base(full.fixtures) != "generated" {
		t.Errorf("default options = %+v", full)
	}
	for _, args := range [][]string{{"-rate", "0"}, {"extra"}, {"-nope"}} {
		if _, err := parseFlags(args, io.Discard); err == nil {
			t.Errorf("parseFlags(%q): no error", args)
		}
	}
}
