package main

import (
	"bufio"
	"context"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestRunServesUntilCanceled(t *testing.T) {
	rules := filepath.Join(t.TempDir(), "rules.json")
	if err := os.WriteFile(rules, []byte(`[{"model":"blocked","status":403}]`), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"-addr", "127.0.0.1:0", "-chunks", "2", "-rules", rules}, pw, io.Discard)
		pw.Close()
	}()
	line, err := bufio.NewReader(pr).ReadString('\n')
	if err != nil {
		t.Fatalf("no listening line: %v", err)
	}
	go func() { _, _ = io.Copy(io.Discard, pr) }()
	fields := strings.Fields(line)
	if len(fields) < 4 || fields[1] != "listening" || !strings.HasPrefix(fields[3], "http://127.0.0.1:") {
		t.Fatalf("listening line %q", line)
	}
	base := fields[3]
	for model, want := range map[string]int{"ok": 200, "blocked": 403, "fail-500": 500} {
		resp, err := http.Post(base+"/v1/chat/completions", "application/json", strings.NewReader(`{"model":"`+model+`"}`))
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Errorf("model %s: status %d, want %d", model, resp.StatusCode, want)
		}
		if want == 200 && !strings.Contains(string(body), `"content":"This is "`) {
			t.Errorf("answer with -chunks 2: %s", body)
		}
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("run after cancel: %v", err)
	}
}

func TestRunErrors(t *testing.T) {
	bad := filepath.Join(t.TempDir(), "bad.json")
	if err := os.WriteFile(bad, []byte(`[{"model":"x"}]`), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{
		{"-nope"},
		{"extra"},
		{"-rules", filepath.Join(t.TempDir(), "missing.json")},
		{"-rules", bad},
		{"-addr", "256.0.0.1:99999"},
	} {
		if err := run(context.Background(), args, io.Discard, io.Discard); err == nil {
			t.Errorf("run %q: no error", args)
		}
	}
}
