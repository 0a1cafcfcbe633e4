package server

import (
	"context"
	"encoding/json"
	"io"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
)

// TestSnapshotOverwrittenInPlace: while requests are served, another
// snapshot is copied over the served file in place, the way cp does it
// (open with O_TRUNC, then write in pieces, so the file is empty, then half
// written, then whole). The server neither crashes nor answers from a mix:
// until the reload every answer names the old snapshot's channel (id and
// name together), after it the new one's; a reload that meets a half-written
// file fails and keeps the old snapshot.
func TestSnapshotOverwrittenInPlace(t *testing.T) {
	h := start(t, harnessOpt{})
	next := h.spec
	next.Generation = 2
	next.Channels = append(next.Channels[:0:0], h.spec.Channels...)
	next.Channels[0].ID, next.Channels[0].Name = "ch-x", "Channel X"
	next.Channels[1].ID, next.Channels[1].Name = "ch-y", "Channel Y"
	newBytes, err := next.Encode()
	if err != nil {
		t.Fatal(err)
	}
	oldBytes, err := h.spec.Encode()
	if err != nil {
		t.Fatal(err)
	}
	oldCh, newCh := "ch-a/Channel A", "ch-x/Channel X"

	// phase: 0 before the reload, 1 during it, 2 after it returned.
	var phase atomic.Int32
	var stop atomic.Bool
	var wg sync.WaitGroup
	var served atomic.Int64
	errs := make(chan string, 64)
	report := func(s string) {
		select {
		case errs <- s:
		default:
		}
	}
	for range 3 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for !stop.Load() {
				before := phase.Load()
				resp, err := h.client.Post(h.url+PathChat, "application/json", strings.NewReader(hello))
				if err != nil {
					report("request: " + err.Error())
					return
				}
				b, err := io.ReadAll(resp.Body)
				resp.Body.Close()
				after := phase.Load()
				if err != nil || resp.StatusCode != 200 {
					report(resp.Status + ": " + string(b))
					continue
				}
				var a struct {
					M struct {
						R struct {
							Ch struct{ ID, Name string } `json:"channel"`
						} `json:"routing"`
					} `json:"smart_ai_router"`
				}
				if err := json.Unmarshal(b, &a); err != nil {
					report("answer is not JSON: " + string(b))
					continue
				}
				got := a.M.R.Ch.ID + "/" + a.M.R.Ch.Name
				switch {
				case after == 0 && got != oldCh, before == 2 && got != newCh, got != oldCh && got != newCh:
					report("phase " + string(rune('0'+before)) + "-" + string(rune('0'+after)) + ": answered by " + got)
				}
				served.Add(1)
			}
		}()
	}

	cp := func(b []byte, pieces int) {
		f, err := os.OpenFile(h.snapPath, os.O_WRONLY|os.O_TRUNC, 0)
		if err != nil {
			t.Fatal(err)
		}
		step := (len(b) + pieces - 1) / pieces
		for off := 0; off < len(b); off += step {
			h.do("GET", PathModels, nil, nil) // serve between the pieces
			if _, err := f.Write(b[off:min(off+step, len(b))]); err != nil {
				t.Fatal(err)
			}
		}
		if err := f.Close(); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 20 {
		if i%2 == 0 {
			cp(newBytes, 3)
		} else {
			cp(oldBytes[:len(oldBytes)/2], 1) // a copy that stopped half way
		}
	}
	// A reload of the half-written file fails and keeps the old snapshot.
	if _, err := h.srv.Reload(context.Background()); err == nil {
		t.Error("reload of a half-written file succeeded")
	}
	cp(newBytes, 3)
	phase.Store(1)
	if gen, err := h.srv.Reload(context.Background()); err != nil || gen != 2 {
		t.Fatalf("reload after the copy: %d, %v", gen, err)
	}
	phase.Store(2)
	for served.Load() < 200 && len(errs) == 0 {
		h.do("GET", PathModels, nil, nil)
	}
	stop.Store(true)
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
	if h.srv.Manager().Info().Generation != 2 {
		t.Errorf("generation %d, want 2", h.srv.Manager().Info().Generation)
	}
	waitRetired(t, h)
}
