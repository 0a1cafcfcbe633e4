package server

import (
	"bufio"
	"context"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"smartrouter/fixtures/mockllm"
	"smartrouter/runtime/internal/servertest"
)

// waitRetired waits until every retired snapshot has been released by its
// last request (the stream relay releases just after its last write).
func waitRetired(t *testing.T, h *harness) {
	t.Helper()
	for range 500 {
		if h.srv.Manager().Info().Retired == 0 {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Errorf("%d retired snapshots are still held", h.srv.Manager().Info().Retired)
}

// A stream that started on one snapshot finishes on it after a swap; the
// old snapshot is unmapped only when the stream is done.
func TestStreamAcrossSwap(t *testing.T) {
	h := start(t, harnessOpt{mock: mockllm.Config{ChunkDelay: 20 * time.Millisecond}})
	req, _ := http.NewRequest("POST", h.url+PathChat, strings.NewReader(helloStream))
	resp, err := h.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	br := bufio.NewReader(resp.Body)
	first, err := br.ReadString('\n')
	if err != nil || !strings.HasPrefix(first, "data: ") {
		t.Fatalf("first line %q: %v", first, err)
	}
	next := h.spec
	next.Generation = 2
	if err := next.WriteFile(h.snapPath); err != nil {
		t.Fatal(err)
	}
	if gen, err := h.srv.Reload(context.Background()); err != nil || gen != 2 {
		t.Fatalf("reload: %d %v", gen, err)
	}
	if n := h.srv.Manager().Info().Retired; n != 1 {
		t.Errorf("retired snapshots during the stream: %d, want 1 (held by the stream)", n)
	}
	rest, err := io.ReadAll(br)
	if err != nil {
		t.Fatal(err)
	}
	text, _, done, errs := streamText(t, sseEvents([]byte(first+string(rest))))
	if text != mockllm.Content(mockllm.DefaultChunks) || done != 1 || len(errs) != 0 {
		t.Errorf("stream across a swap: text %q, [DONE] %d, errors %v", text, done, errs)
	}
	waitRetired(t, h)
	if g := h.do("GET", "/", nil, nil).json(t)["generation"]; g != 2.0 {
		t.Errorf("generation %v", g)
	}
}

// Requests in flight across many swaps all finish correctly (run with
// -race); failures recorded on one snapshot stay usable after it is gone.
func TestRequestsAcrossSwaps(t *testing.T) {
	h := start(t, harnessOpt{mock: mockllm.Config{ChunkDelay: time.Millisecond,
		Rules: []mockllm.Rule{{Key: keyA, Status: 500, Times: 3}}}})
	specs := make([][]byte, 2)
	for i := range specs {
		s := h.spec
		s.Generation = uint64(i + 1)
		if i == 1 {
			s.Channels = append(append([]servertest.Channel(nil), s.Channels...), servertest.Channel{
				ID: "ch-d", BaseURL: h.mock.URL(), Key: s.Channels[0].Key, Priority: 9,
				Models: []servertest.Model{{ID: "gpt-4o-mini", In: 150_000, Out: 600_000}}})
		}
		b, err := s.Encode()
		if err != nil {
			t.Fatal(err)
		}
		specs[i] = b
	}
	const workers, perWorker, reloads = 4, 12, 30
	var wg sync.WaitGroup
	errs := make(chan string, workers*perWorker)
	stop := make(chan struct{})
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range perWorker {
				stream := (w+i)%2 == 0
				body := hello
				if stream {
					body = helloStream
				}
				resp, err := h.client.Post(h.url+PathChat, "application/json", strings.NewReader(body))
				if err != nil {
					errs <- err.Error()
					continue
				}
				b, err := io.ReadAll(resp.Body)
				resp.Body.Close()
				switch {
				case err != nil:
					errs <- err.Error()
				case resp.StatusCode != 200:
					errs <- resp.Status + ": " + string(b)
				case stream:
					text, _, done, e := streamText(t, sseEvents(b))
					if text != mockllm.Content(mockllm.DefaultChunks) || done != 1 || len(e) != 0 {
						errs <- "broken stream: " + string(b)
					}
				case !strings.Contains(string(b), `"smart_ai_router"`):
					errs <- "no metadata: " + string(b)
				}
			}
		}()
	}
	var rwg sync.WaitGroup
	rwg.Add(1)
	go func() {
		defer rwg.Done()
		for i := 0; i < reloads; i++ {
			select {
			case <-stop:
				return
			default:
			}
			if err := servertest.WriteFileAtomic(h.snapPath, specs[i%2]); err != nil {
				errs <- err.Error()
				return
			}
			if _, err := h.srv.Reload(context.Background()); err != nil {
				errs <- "reload: " + err.Error()
			}
			h.do("GET", PathMetrics, nil, nil) // reads the live state of every channel
		}
	}()
	wg.Wait()
	close(stop)
	rwg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
	waitRetired(t, h)
}
