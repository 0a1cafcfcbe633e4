package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestCompile(t *testing.T) {
	out := filepath.Join(t.TempDir(), "router.snap")
	o, e, code := routerc("compile", "-config", smallDir+"/config", "-cache", smallDir+"/cache", "-o", out, "-reproducible")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, e)
	}
	if !strings.Contains(o, "compiled "+out+": 8 channels, 28 pairs, 28 models, 99 tags, 7 prewarm") {
		t.Errorf("summary line %q", o)
	}
	// Warnings are printed once, grouped.
	if n := strings.Count(e, "warning: placeholder api key (2)"); n != 1 {
		t.Errorf("placeholder warning group printed %d times:\n%s", n, e)
	}
	if _, err := os.Stat(out); err != nil {
		t.Fatal(err)
	}
}

func TestCompileError(t *testing.T) {
	inst := t.TempDir()
	for _, d := range []string{"config", "cache"} {
		if err := os.MkdirAll(filepath.Join(inst, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	cfg, err := os.ReadFile(smallDir + "/config/router_config.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(inst, "config/router_config.yaml"), cfg, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(inst, "cache/discovered_models.json"), []byte(`{"groq_fast": {"models": [`), 0o644); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "router.snap")
	_, e, code := routerc("compile", "-config", inst+"/config", "-cache", inst+"/cache", "-o", out)
	if code != 1 {
		t.Fatalf("exit %d, want 1", code)
	}
	if !strings.Contains(e, "discovered_models.json: byte") || !strings.Contains(e, "no snapshot written") {
		t.Errorf("stderr %q lacks the positioned error", e)
	}
	if _, err := os.Stat(out); err == nil {
		t.Error("a snapshot was written")
	}
}

// dumpOf runs routerc dump on a snapshot file.
func dumpOf(t *testing.T, snap string) string {
	t.Helper()
	o, e, code := routerc("dump", snap)
	if code != 0 {
		t.Fatalf("dump %s: exit %d: %s", snap, code, e)
	}
	return o
}

// TestCompileSourceDateEpoch checks the SOURCE_DATE_EPOCH rule: the build
// time recorded, later source times clamped to it, earlier ones kept; with
// -reproducible the source times stay 0 and the bytes do not depend on the
// files' times; an invalid value is refused with exit status 2.
func TestCompileSourceDateEpoch(t *testing.T) {
	const sde = "1700000000" // 2023-11-14T22:13:20Z
	inst := t.TempDir()
	if err := os.CopyFS(inst, os.DirFS(smallDir)); err != nil {
		t.Fatal(err)
	}
	old := time.Unix(1600000000, 0) // 2020-09-13T12:26:40Z, before the epoch
	if err := os.Chtimes(filepath.Join(inst, "config/model_capabilities.json"), old, old); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	compile := func(out string, extra ...string) {
		t.Helper()
		args := append([]string{"compile", "-config", inst + "/config", "-cache", inst + "/cache", "-o", out, "-q"}, extra...)
		if _, e, code := routerc(args...); code != 0 {
			t.Fatalf("compile %q: exit %d: %s", extra, code, e)
		}
	}
	t.Setenv("SOURCE_DATE_EPOCH", sde)

	plain := filepath.Join(dir, "plain.snap")
	compile(plain)
	d := dumpOf(t, plain)
	if !strings.Contains(d, "\nbuild_time: 2023-11-14T22:13:20Z\n") {
		t.Errorf("build time is not SOURCE_DATE_EPOCH:\n%s", d[:200])
	}
	if !strings.Contains(d, "config/model_capabilities.json size=146 mtime=2020-09-13T12:26:40Z ") {
		t.Errorf("an earlier source time was not kept:\n%s", d)
	}
	if !strings.Contains(d, "config/router_config.yaml size=5644 mtime=2023-11-14T22:13:20Z ") {
		t.Errorf("a later source time was not clamped:\n%s", d)
	}

	repro1, repro2 := filepath.Join(dir, "r1.snap"), filepath.Join(dir, "r2.snap")
	compile(repro1, "-reproducible")
	now := time.Now()
	if err := os.Chtimes(filepath.Join(inst, "cache/discovered_models.json"), now, now); err != nil {
		t.Fatal(err)
	}
	compile(repro2, "-reproducible")
	b1, _ := os.ReadFile(repro1)
	b2, _ := os.ReadFile(repro2)
	if len(b1) == 0 || !bytes.Equal(b1, b2) {
		t.Error("two reproducible compiles with SOURCE_DATE_EPOCH differ")
	}
	d = dumpOf(t, repro1)
	if !strings.Contains(d, "\ngeneration: 1\nbuild_time: 2023-11-14T22:13:20Z\n") || !strings.Contains(d, "config/model_capabilities.json size=146 mtime=0 ") {
		t.Errorf("reproducible dump with SOURCE_DATE_EPOCH:\n%s", d[:600])
	}

	// 0 is valid and gives exactly the bytes of -reproducible alone; an
	// empty value is unset.
	os.Unsetenv("SOURCE_DATE_EPOCH")
	ref := filepath.Join(dir, "ref.snap")
	compile(ref, "-reproducible")
	want, _ := os.ReadFile(ref)
	for _, v := range []string{"0", ""} {
		t.Setenv("SOURCE_DATE_EPOCH", v)
		zero := filepath.Join(dir, "zero.snap")
		compile(zero, "-reproducible")
		if got, _ := os.ReadFile(zero); len(want) == 0 || !bytes.Equal(got, want) {
			t.Errorf("SOURCE_DATE_EPOCH=%q -reproducible differs from -reproducible alone", v)
		}
	}

	for _, v := range []string{"abc", "-1", "+5", "1.5", " 1700000000", "1700000000\n", "9223372037", "99999999999999999999"} {
		t.Setenv("SOURCE_DATE_EPOCH", v)
		out := filepath.Join(dir, "bad.snap")
		_, e, code := routerc("compile", "-config", inst+"/config", "-cache", inst+"/cache", "-o", out, "-q")
		if code != 2 || !strings.Contains(e, "SOURCE_DATE_EPOCH=") || !strings.Contains(e, "no snapshot written") {
			t.Errorf("SOURCE_DATE_EPOCH=%q: exit %d, stderr %q", v, code, e)
		}
		if _, err := os.Stat(out); err == nil {
			t.Errorf("SOURCE_DATE_EPOCH=%q: a snapshot was written", v)
		}
	}
}
