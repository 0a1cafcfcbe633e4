package e2e

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"

	"smartrouter/fixtures/mockllm"
	"smartrouter/format"
)

// A model added to the discovery cache is served after POST
// /v1/admin/refresh, without a restart and without a failed request; the
// refreshed snapshot is written to -snapshot, so a second routerd maps it
// (mode snapshot, not json-fallback); a refresh that finds nothing changed
// builds and swaps nothing; SIGTERM saves the request patterns to the cache
// folder.
func TestRefreshCompilesWritesAndSwaps(t *testing.T) {
	mock := startMock(t, mockllm.Config{})
	dir := t.TempDir()
	cfg, cache := install(t, dir, mock.URL())
	snap := filepath.Join(dir, "router.snap")
	compile(t, cfg, cache, snap, 1)
	p := startRouterd(t, "-snapshot", snap, "-config", cfg, "-cache", cache)
	if p.url == "" {
		t.Fatalf("routerd did not start:\n%s", p.logText())
	}
	newModel := `{"model":"mock-brand-new","messages":[{"role":"user","content":"hi"}]}`
	if code, _, body := p.chat(newModel); code != http.StatusNotFound {
		t.Fatalf("the new model is served before the refresh: %d %s", code, body)
	}

	// "Discovery" finds a new model on mock_main.
	disc := filepath.Join(cache, "discovered_models.json")
	b, err := os.ReadFile(disc)
	if err != nil {
		t.Fatal(err)
	}
	old := `"models": ["gpt-4o-mini", "gpt-4o", `
	if !strings.Contains(string(b), old) {
		t.Fatal("the demo discovery cache changed; update the test")
	}
	if err := os.WriteFile(disc, []byte(strings.Replace(string(b), old, `"models": ["mock-brand-new", "gpt-4o-mini", "gpt-4o", `, 1)), 0o600); err != nil {
		t.Fatal(err)
	}

	// Requests run on loopback during the refresh.
	stop := make(chan struct{})
	var ok, failed atomic.Int64
	var firstFail atomic.Value
	var wg sync.WaitGroup
	for range 3 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				resp, err := http.Post(p.url+"/v1/chat/completions", "application/json",
					strings.NewReader(`{"model":"gpt-4o","messages":[{"role":"user","content":"hi"}]}`))
				if err != nil || resp.StatusCode != http.StatusOK {
					failed.Add(1)
					if err == nil {
						bb, _ := io.ReadAll(resp.Body)
						firstFail.CompareAndSwap(nil, fmt.Sprintf("status %d: %s", resp.StatusCode, bb))
					} else {
						firstFail.CompareAndSwap(nil, err.Error())
					}
				} else {
					ok.Add(1)
				}
				if resp != nil {
					resp.Body.Close()
				}
			}
		}()
	}
	resp, err := http.Post(p.url+"/v1/admin/refresh", "application/json", nil)
	if err != nil {
		t.Fatal(err)
	}
	var ans map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&ans)
	resp.Body.Close()
	close(stop)
	wg.Wait()
	if resp.StatusCode != http.StatusOK || ans["status"] != "refreshed" {
		t.Fatalf("refresh answered %d %v\n%s", resp.StatusCode, ans, p.logText())
	}
	if failed.Load() != 0 || ok.Load() == 0 {
		t.Fatalf("%d requests failed, %d succeeded during the refresh; first failure: %v\n%s", failed.Load(), ok.Load(), firstFail.Load(), p.logText())
	}
	if code, _, body := p.chat(newModel); code != http.StatusOK {
		t.Fatalf("the new model is not served after the refresh: %d %s", code, body)
	}
	snapInfo, err := os.Stat(snap)
	if err != nil {
		t.Fatal(err)
	}

	// A second refresh finds nothing changed (its discovery gets the same
	// answers, the files are as the first one left them): it builds,
	// writes and swaps nothing, so generation 2 keeps serving.
	resp, err = http.Post(p.url+"/v1/admin/refresh", "application/json", nil)
	if err != nil {
		t.Fatal(err)
	}
	ans = nil
	_ = json.NewDecoder(resp.Body).Decode(&ans)
	resp.Body.Close()
	ref, _ := ans["refresh"].(map[string]any)
	if resp.StatusCode != http.StatusOK || ans["status"] != "unchanged" || ref["result"] != "unchanged" || ref["generation"] != float64(2) {
		t.Fatalf("a refresh with nothing changed answered %d %v\n%s", resp.StatusCode, ans, p.logText())
	}
	if m := p.get("/"); m["generation"] != float64(2) {
		t.Fatalf("generation %v serves after a refresh with nothing changed, want 2", m["generation"])
	}
	if fi, err := os.Stat(snap); err != nil || !fi.ModTime().Equal(snapInfo.ModTime()) {
		t.Fatalf("a refresh with nothing changed rewrote the snapshot file (%v)", err)
	}

	// The file on disk is the refreshed snapshot.
	fb, err := os.ReadFile(snap)
	if err != nil {
		t.Fatal(err)
	}
	s, err := format.Open(fb)
	if err != nil {
		t.Fatalf("the written snapshot does not open: %v", err)
	}
	if g := s.Header().Generation; g != 2 {
		t.Fatalf("written generation %d, want 2", g)
	}
	p2 := startRouterd(t, "-snapshot", snap, "-config", cfg, "-cache", cache)
	if p2.url == "" {
		t.Fatalf("a second routerd did not start:\n%s", p2.logText())
	}
	if m := p2.get("/"); m["mode"] != "snapshot" || m["generation"] != float64(2) {
		t.Fatalf("the next start serves %v generation %v, want the written snapshot", m["mode"], m["generation"])
	}
	p2.signal(syscall.SIGTERM)
	<-p2.done

	p.signal(syscall.SIGTERM)
	<-p.done
	if p.err != nil {
		t.Fatalf("routerd exited with %v\n%s", p.err, p.logText())
	}
	pb, err := os.ReadFile(filepath.Join(cache, "request_patterns.json"))
	if err != nil {
		t.Fatalf("no request patterns saved at shutdown: %v\n%s", err, p.logText())
	}
	if !strings.Contains(string(pb), `"mock-brand-new"`) || !strings.Contains(string(pb), `"gpt-4o"`) {
		t.Fatalf("patterns file %s", pb)
	}
}
