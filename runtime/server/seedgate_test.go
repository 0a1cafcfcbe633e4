package server

import (
	"net/http"
	"testing"
	"time"
)

const seedChat = `{"model":"gpt-4o-mini","messages":[{"role":"user","content":"hello"}]}`

// A request held by the seed gate goes on once the counters are seeded;
// /health does not wait and shows the ledger state.
func TestSeedGateLetsRequestsGoWhenSeeded(t *testing.T) {
	h := start(t, harnessOpt{})
	h.srv.HoldForSeed(time.Hour)
	h.srv.SetLedgerState(func() any { return "opening" })
	got := make(chan answer, 1)
	go func() { got <- h.do(http.MethodPost, PathChat, []byte(seedChat), nil) }()
	hl := h.do(http.MethodGet, PathHealth, nil, nil)
	if hl.status != 200 || hl.json(t)["usage_ledger"] != "opening" {
		t.Fatalf("/health while held: %d %s", hl.status, hl.body)
	}
	h.srv.Seeded()
	if a := <-got; a.status != 200 {
		t.Fatalf("held request after Seeded: %d %s", a.status, a.body)
	}
	if a := h.do(http.MethodPost, PathChat, []byte(seedChat), nil); a.status != 200 {
		t.Fatalf("request after Seeded: %d %s", a.status, a.body)
	}
}

// A request that waited past the bound is answered 503 with Retry-After
// and the code usage_ledger_not_ready, never served against counts that
// may be too low.
func TestSeedGateBound(t *testing.T) {
	h := start(t, harnessOpt{})
	h.srv.HoldForSeed(time.Nanosecond)
	a := h.do(http.MethodPost, PathChat, []byte(seedChat), nil)
	if a.status != 503 || a.errorCode(t) != codeLedgerNotReady || a.header.Get("Retry-After") != "1" {
		t.Fatalf("past the bound: %d %v %s", a.status, a.header, a.body)
	}
	h.srv.Seeded()
	if a := h.do(http.MethodPost, PathChat, []byte(seedChat), nil); a.status != 200 {
		t.Fatalf("after Seeded: %d %s", a.status, a.body)
	}
}
