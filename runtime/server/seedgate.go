package server

import (
	"time"

	"github.com/gofiber/fiber/v2"
)

// The seed gate: client-key budgets and channel daily limits count from
// what the usage ledger holds of today and this month, and routerd opens
// the ledger after it starts listening (cmd/routerd, usage.go). Until the
// counters are seeded, a proxied request waits at admit, before any
// budget or limit is checked or counted, for at most the hold's bound;
// past it the request is answered 503 with Retry-After (never served
// against counts that may be too low). /health and the admin API do not
// wait. Without a hold (HoldForSeed not called, or Seeded called) admit
// pays one atomic load.

// codeLedgerNotReady is the error code of a request that waited for the
// seeded counters in vain.
const codeLedgerNotReady = "usage_ledger_not_ready"

// seedHold is one HoldForSeed: done is closed by Seeded.
type seedHold struct {
	done chan struct{}
	max  time.Duration
}

// HoldForSeed makes proxied requests wait, each at most max, until
// Seeded is called. Call it before Serve.
func (s *Server) HoldForSeed(max time.Duration) {
	s.ext.seedHold.Store(&seedHold{done: make(chan struct{}), max: max})
}

// Seeded lets the requests held by HoldForSeed go on (and later ones pass
// without waiting).
func (s *Server) Seeded() {
	if h := s.ext.seedHold.Swap(nil); h != nil {
		close(h.done)
	}
}

// SetLedgerState makes GET /health show fn's answer under "usage_ledger".
func (s *Server) SetLedgerState(fn func() any) { s.ext.ledger.Store(&fn) }

// waitSeed waits for h; false when the bound passed first (the answer is
// written).
func (w *work) waitSeed(h *seedHold) bool {
	t := time.NewTimer(h.max)
	defer t.Stop()
	select {
	case <-h.done:
		return true
	case <-t.C:
	}
	w.c.Response().Header.Set(fiber.HeaderRetryAfter, "1")
	w.s.chatError(w, fiber.StatusServiceUnavailable, typeServer, codeLedgerNotReady, "",
		"client-key budgets and channel daily limits are still being read from the usage ledger; retry in a second (routerd's log says why the ledger is slow to open)")
	return false
}
