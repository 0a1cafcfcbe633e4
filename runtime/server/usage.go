package server

import (
	"strconv"
	"time"

	"github.com/gofiber/fiber/v2"

	"smartrouter/format"
	"smartrouter/runtime/body"
	"smartrouter/runtime/metrics"
	"smartrouter/runtime/usage"
)

// The usage record of each request of the proxy loop (runtime/usage): the
// loop notes what it learns in w.ut as it goes, and one usage.Entry is
// handed to the recorder when the request ends (end, before the answer is
// written), or, for a stream, by its relay when the last event is produced
// (before it is written) or the client went away. Filling and handing the
// entry allocates nothing.

// usageTrack is what the proxy loop notes for the usage record.
type usageTrack struct {
	code      string  // error code of the answer ("" on success)
	tries     int32   // upstream attempts made
	last      int     // index in w.dec.Pairs of the last attempt (valid when tries > 0)
	in, out   int64   // tokens of the answer
	cost      float64 // USD
	committed bool    // a stream relay owns the record
}

// PathAdminUsage and PathAdminRequests are the usage API (admin auth).
const (
	PathAdminUsage    = "/v1/admin/usage"
	PathAdminRequests = "/v1/admin/requests"
)

// Usage returns the server's usage recorder (the in-memory ring, and the
// ledger cmd/routerd attaches).
func (s *Server) Usage() *usage.Recorder { return s.usage }

// noteAttempt notes that attempt i is being made, and counts it in the
// channel and model metrics.
func (w *work) noteAttempt(i int) {
	w.ut.tries++
	w.ut.last = i
	pr := w.st.snap.Pair(w.dec.Pairs[i])
	w.st.lab.Attempt(w.st.lab.Channels[pr.Channel], w.st.lab.Models[pr.Model])
}

// labelSet builds the channel and model series of a snapshot (at publish).
func (s *Server) labelSet(snap *format.Snapshot) *metrics.LabelSet {
	chans := snap.Channels()
	ids := make([]string, len(chans))
	for i := range chans {
		ids[i] = chans[i].ID
	}
	names := make([]string, snap.NumModels())
	for i := range names {
		names[i] = snap.Model(uint32(i)).Name
	}
	return s.met.LabelSet(ids, names)
}

// countAnswered counts a request whose last attempt was on pair p in the
// channel and model metrics.
func countAnswered(st *state, p uint32, in, out int64, cost float64) {
	pr := st.snap.Pair(p)
	st.lab.Answered(st.lab.Channels[pr.Channel], st.lab.Models[pr.Model], in, out, cost)
}

// noteUsage notes the usage of the answer of attempt i: tokens and cost.
func (w *work) noteUsage(i int, u *body.Usage) {
	w.ut.in, w.ut.out = max(u.PromptTokens, 0), max(u.CompletionTokens, 0)
	c := w.st.router.Cost(w.dec.Pairs[i], float64(w.ut.in), float64(w.ut.out))
	w.ut.cost = (c.Prompt + c.Completion + c.Request) / format.PicoUSDPerUSD
}

// fillEntry fills e with what the request knows now; the snapshot must
// still be held (channel and model ids point into it).
func (w *work) fillEntry(e *usage.Entry) {
	e.Time = time.Now().UnixNano()
	e.SetBytes(usage.FieldRequestID, w.rid)
	e.Set(usage.FieldKey, w.client)
	e.Set(usage.FieldSurface, w.sf.name)
	e.Set(usage.FieldModelRequested, w.f.Model)
	e.Attempts = w.ut.tries
	if w.ut.tries > 0 && w.st != nil && w.ut.last < len(w.dec.Pairs) {
		pr := w.st.snap.Pair(w.dec.Pairs[w.ut.last])
		e.Set(usage.FieldChannel, w.st.snap.Channels()[pr.Channel].ID)
		e.Set(usage.FieldModelUsed, w.st.snap.Model(pr.Model).Name)
	}
	e.InputTokens, e.OutputTokens, e.CostUSD = w.ut.in, w.ut.out, w.ut.cost
	e.UpstreamMs = float64(w.upDur) / float64(time.Millisecond)
	e.OverheadMs = float64(w.overhead()) / float64(time.Millisecond)
	e.Stream = w.f.Stream
}

// emitUsage hands the record of a request that did not become a stream to
// the recorder (called by end while the snapshot is held).
func (w *work) emitUsage() {
	if w.ut.committed || w.s.usage == nil {
		return
	}
	var e usage.Entry
	w.fillEntry(&e)
	e.Stream = false
	status := w.c.Response().StatusCode()
	e.Status = int32(status)
	setErrorCode(&e, status, w.ut.code)
	w.s.usage.Add(&e)
	if w.ut.tries > 0 && w.ut.last < len(w.dec.Pairs) {
		countAnswered(w.st, w.dec.Pairs[w.ut.last], w.ut.in, w.ut.out, w.ut.cost)
	}
}

// setErrorCode sets the record's error code: code, else for an error
// status answered outside the loop's own error paths (an auth refusal,
// a limit) "http_<status>".
func setErrorCode(e *usage.Entry, status int, code string) {
	switch {
	case code != "":
		e.Set(usage.FieldErrorCode, code)
	case status == fiber.StatusUnauthorized:
		e.Set(usage.FieldErrorCode, codeAuth)
	case status >= 400:
		var b [16]byte
		e.SetBytes(usage.FieldErrorCode, strconv.AppendInt(append(b[:0], "http_"...), int64(status), 10))
	}
}

// commitUsage moves the record to the stream relay rl: filled now (the
// relay adds the usage and the end).
func (w *work) commitUsage(rl *relay) {
	w.ut.committed = true
	if w.s.usage == nil {
		return
	}
	w.fillEntry(&rl.ent)
	rl.ent.Stream = true
	rl.ent.Status = fiber.StatusOK
	rl.record = true
}

// emitUsage hands the stream's record to the recorder, once: code is ""
// for a stream that ended well.
func (r *relay) emitUsage(code string) {
	if !r.record {
		return
	}
	r.record = false
	e := &r.ent
	e.Time = time.Now().UnixNano()
	in, out := max(r.u.PromptTokens, 0), max(r.u.CompletionTokens, 0)
	e.InputTokens, e.OutputTokens = in, out
	if in > 0 || out > 0 {
		c := r.st.router.Cost(r.pair, float64(in), float64(out))
		e.CostUSD = (c.Prompt + c.Completion + c.Request) / format.PicoUSDPerUSD
	}
	if code != "" {
		e.Set(usage.FieldErrorCode, code)
	}
	r.s.usage.Add(e)
	countAnswered(r.st, r.pair, in, out, e.CostUSD)
}

// codeClientGone is the usage record's error code of a stream whose client
// went away before its end.
const codeClientGone = "client_closed"

// adminUsage serves GET /v1/admin/usage.
func (s *Server) adminUsage(c *fiber.Ctx) error {
	h := s.authorized(c, true)
	if h == nil {
		return nil
	}
	h.Release()
	q, err := usage.ParseQuery(c.Query("from"), c.Query("to"), c.Query("group_by"), c.Query("format"), time.Now())
	if err != nil {
		return s.usageError(c, err)
	}
	res, err := s.usage.Usage(q)
	if err != nil {
		return s.usageError(c, err)
	}
	r := c.Response()
	r.SetStatusCode(fiber.StatusOK)
	if q.CSV {
		r.Header.SetContentType("text/csv; charset=utf-8")
		r.SetBodyRaw(res.AppendCSV(nil))
		return nil
	}
	r.Header.SetContentType(fiber.MIMEApplicationJSON)
	r.SetBodyRaw(res.AppendJSON(nil))
	return nil
}

// adminRequests serves GET /v1/admin/requests.
func (s *Server) adminRequests(c *fiber.Ctx) error {
	h := s.authorized(c, true)
	if h == nil {
		return nil
	}
	h.Release()
	n, err := usage.ParseLimit(c.Query("limit"))
	if err != nil {
		return s.usageError(c, err)
	}
	recs, err := s.usage.Recent(n)
	if err != nil {
		return s.usageError(c, err)
	}
	r := c.Response()
	r.SetStatusCode(fiber.StatusOK)
	r.Header.SetContentType(fiber.MIMEApplicationJSON)
	r.SetBodyRaw(usage.AppendRecordsJSON(nil, recs))
	return nil
}

// usageError answers a bad query with 400, a ledger failure with 503.
func (s *Server) usageError(c *fiber.Ctx, err error) error {
	if qe, ok := err.(*usage.QueryError); ok {
		writeError(c, fiber.StatusBadRequest, typeInvalid, codeInvalid, qe.Param, qe.Message)
		return nil
	}
	s.log.Error("usage query failed", "error", err)
	writeError(c, fiber.StatusServiceUnavailable, typeServer, codeInternal, "",
		"the usage ledger could not answer; the server log has the details, retry shortly")
	return nil
}
