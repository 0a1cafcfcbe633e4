package server

import (
	"bytes"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"smartrouter/format/query"
	"smartrouter/runtime/body"
	"smartrouter/runtime/jsonstr"
	"smartrouter/runtime/outcome"
	"smartrouter/runtime/route"
	"smartrouter/runtime/snapshot"
	"smartrouter/runtime/upstream"
)

// The proxy loop serves one request of an API surface:
//
//	acquire → validate → route → try each candidate pair in order → answer
//
// where one try rewrites the body for the pair, calls the upstream,
// classifies the result and reports it to routing's live state. The answer
// is the first success (the surface's complete or commit), an upstream
// 400/413/422 returned as is (rejected), or the list of failed attempts
// (allFailed). Everything a request carries between these steps lives in its
// pooled work.

// surface is what one API surface adds to the proxy loop: how a body is
// read and checked, how it is rewritten for a pair, and how a success is
// answered: OpenAI chat completions (chatSurface), embeddings
// (embeddingsSurface) and legacy completions (completionsSurface).
type surface struct {
	// name is the surface in usage records: chat, messages, gemini,
	// embeddings, completions.
	name string
	// op is the upstream operation the surface calls; OpEmbeddings also
	// routes over embedding models only.
	op upstream.Op
	// validate reads w.in into w.f, answering and returning false when the
	// request is refused.
	validate func(w *work) bool
	// rewrite returns the body to send to the pair's model (in w's
	// buffers body and body2).
	rewrite func(w *work, model string) ([]byte, error)
	// complete answers a non-stream success of attempt i (its body is in
	// w.out).
	complete func(w *work, i int)
	// commit starts relaying a stream whose first chunk arrived (w.resp,
	// w.us, w.first); it takes over the snapshot handle.
	commit func(w *work, i int, ttfb time.Duration)
}

// work is the per-request scratch of the proxy loop, pooled so that a
// request reuses the buffers of earlier ones.
type work struct {
	s  *Server
	c  *fiber.Ctx
	sf *surface

	t0    time.Time
	h     *snapshot.Handle
	owned bool // the handle is released at the end of the request (false once a stream relay owns it)
	st    *state
	in    []byte        // the client body (fasthttp's buffer)
	f     body.Features // what validate read from it
	dec   route.Decision
	upDur time.Duration // time spent in upstream calls
	ut    usageTrack    // what the usage record needs (usage.go)

	body  []byte // the client body with the pair's model
	body2 []byte // the same asking for usage (streams)
	added bool   // usage was asked for by the router, not the client
	ureq  upstream.Request
	out   []byte // the upstream answer (non-stream)
	resp  *upstream.Response
	us    *upstream.Stream
	first upstream.Chunk // the first chunk of a stream

	meta   []byte // metadata object, header values
	cut    []body.Span
	att    []attempt
	rid    []byte
	client string // the client key's name ("" for the shared token or when auth is off)
}

// attempt is one failed try, for the all_channels_failed answer. The
// strings may point into the snapshot: use them before releasing it.
type attempt struct {
	channel string
	model   string
	status  int
	kind    outcome.Kind
	msg     string
}

func newWork(s *Server) *work {
	w := &work{s: s}
	// One closure per pooled work, not per request: the client headers of
	// the allow-list are read from whatever request the work serves now.
	// The value is copied: fasthttp's header bytes are reused after the
	// handler returns, and net/http may hold the request a little longer.
	w.ureq.ClientHeader = func(name string) string { return strings.Clone(w.c.Get(name)) }
	return w
}

// maxPooledBuffer is the largest buffer kept in the pool; larger ones (a
// rare huge request or answer) are dropped for the collector.
const maxPooledBuffer = 1 << 20

func (s *Server) putWork(w *work) {
	w.c, w.sf, w.h, w.st, w.in = nil, nil, nil, nil, nil
	w.client = ""
	w.owned, w.upDur, w.added = false, 0, false
	w.f = body.Features{}
	w.ut = usageTrack{}
	w.resp, w.us, w.first = nil, nil, upstream.Chunk{}
	w.ureq.Endpoint, w.ureq.Body = nil, nil
	for i := range w.att {
		w.att[i] = attempt{}
	}
	w.att = w.att[:0]
	if cap(w.body) > maxPooledBuffer {
		w.body = nil
	}
	if cap(w.body2) > maxPooledBuffer {
		w.body2 = nil
	}
	if cap(w.out) > maxPooledBuffer {
		w.out = nil
	}
	s.pool.Put(w)
}

// verdict is what one try leaves the loop to do.
type verdict uint8

const (
	failover verdict = iota // the attempt failed: try the next pair
	halt                    // the attempt failed and may not fail over: answer with the failures
	answered                // the client has its answer
)

// proxy serves one request of surface sf.
func (s *Server) proxy(c *fiber.Ctx, sf *surface) {
	w := s.begin(c, sf)
	defer s.end(w)
	if !w.acquire() || !w.validate() || !w.route() {
		return
	}
	n := min(len(w.dec.Pairs), w.st.tries())
tries:
	for i := range n {
		switch w.try(i) {
		case answered:
			return
		case halt:
			break tries
		}
	}
	w.allFailed()
}

// begin takes a work for the request and sets its request id.
func (s *Server) begin(c *fiber.Ctx, sf *surface) *work {
	t0 := time.Now()
	w := s.pool.Get().(*work)
	w.c, w.sf, w.t0 = c, sf, t0
	s.setRequestID(c, w)
	return w
}

// end releases the snapshot (unless a stream relay owns it), logs the
// request at debug level and returns the work to the pool.
func (s *Server) end(w *work) {
	w.emitUsage()
	if w.owned {
		w.h.Release()
	}
	if s.debug {
		s.logRequest(w.c, w.t0)
	}
	s.putWork(w)
}

// acquire takes the current snapshot and checks the client's token.
func (w *work) acquire() bool {
	s := w.s
	w.h = s.mgr.Acquire()
	if w.h == nil {
		s.chatError(w, fiber.StatusServiceUnavailable, typeServer, codeNotReady, "", "no snapshot is loaded; the router is starting or shutting down, retry shortly")
		return false
	}
	w.owned = true
	w.st = w.h.Value.(*state)
	if !w.st.authorize(w.c, false) {
		s.met.Request(fiber.StatusUnauthorized, codeAuth)
		return false
	}
	return true
}

// validate checks what every surface refuses (a body over the limit, a
// compressed body), then lets the surface read the body.
func (w *work) validate() bool {
	w.in = w.c.Request().Body()
	if len(w.in) > w.st.maxBody {
		w.s.chatError(w, fiber.StatusRequestEntityTooLarge, typeInvalid, codeTooLarge, "",
			"request body is larger than the limit of "+strconv.Itoa(w.st.maxBody)+" bytes (server.max_request_size); send a smaller request")
		return false
	}
	if ce := w.c.Request().Header.Peek(fiber.HeaderContentEncoding); len(ce) > 0 && !bytes.EqualFold(ce, []byte("identity")) {
		w.s.chatError(w, fiber.StatusUnsupportedMediaType, typeInvalid, codeUnsupported, "",
			"compressed request bodies are not supported; send plain JSON")
		return false
	}
	return w.sf.validate(w)
}

// tries is how many candidate pairs a request may try:
// routing.max_retry_attempts, or only the first with
// routing.enable_fallback false.
func (st *state) tries() int {
	if !st.set.EnableFallback {
		return 1
	}
	return st.maxRetry
}

// HeaderPanic is set ("true") on the answer of a request that was panic
// routed: every candidate was cooling, and the one whose cooldown ends first
// was tried anyway.
const HeaderPanic = "X-Router-Panic"

// codeContextLength is OpenAI's error code for a request larger than the
// model's context.
const codeContextLength = "context_length_exceeded"

// codeNotEmbedding is the error code of an embeddings request whose model
// matches no embedding model.
const codeNotEmbedding = "model_not_embedding"

// route orders the candidate pairs into w.dec, or answers why there are
// none.
func (w *work) route() bool {
	f := &w.f
	err := w.st.router.Route(route.Request{
		Model: f.Model, Strategy: w.c.Get(HeaderStrategy), InputTokens: f.InputTokens, MaxTokens: f.MaxTokens,
		NeedVision: f.NeedVision, NeedTools: f.NeedTools, Embeddings: w.sf.op == upstream.OpEmbeddings, Limit: w.st.tries(),
	}, &w.dec)
	if err != nil {
		w.s.routeError(w, err)
		return false
	}
	if w.dec.Panic {
		w.c.Response().Header.Set(HeaderPanic, "true")
	}
	w.s.recordModel(f.Model) // learned prewarm (tasks.go); no allocation
	return true
}

var errNoData = &upstream.Error{
	Outcome: outcome.Of(outcome.Server),
	Message: "the upstream stream ended before sending any data",
}

// try makes attempt i on the i-th candidate pair: rewrite the body for it,
// call the upstream, classify and report the result; a success is
// answered here.
func (w *work) try(i int) verdict {
	s, st := w.s, w.st
	p := w.dec.Pairs[i]
	w.noteAttempt(i)
	pr := st.snap.Pair(p)
	rt := &st.chans[pr.Channel]
	chID := st.snap.Channels()[pr.Channel].ID
	model := st.snap.Model(pr.Model).Name
	if rt.ep == nil {
		w.att = append(w.att, attempt{channel: chID, model: model, kind: outcome.Other, msg: rt.epErr})
		s.met.Attempt("unusable", -1)
		return failover
	}
	send, err := w.sf.rewrite(w, model)
	if err != nil {
		s.chatError(w, fiber.StatusBadRequest, typeInvalid, codeInvalid, "",
			"request body is not valid JSON: "+err.Error())
		return answered
	}
	st.router.Used(p)
	lat, err := w.call(rt.ep, send)
	w.upDur += lat
	if err != nil {
		return w.failed(i, chID, model, lat, err)
	}
	if w.f.Stream {
		w.sf.commit(w, i, lat) // the relay reports the stream's outcome at its end
		return answered
	}
	s.report(st, p, outcome.Outcome{}, lat)
	w.sf.complete(w, i)
	return answered
}

// call sends the attempt and waits for its answer: the whole body of a
// non-stream answer (in w.out; the response is released), or the first
// chunk of a stream (in w.first; w.resp and w.us stay open for the relay).
// It returns how long that took.
func (w *work) call(ep *upstream.Endpoint, body []byte) (time.Duration, error) {
	w.ureq.Endpoint, w.ureq.Body, w.ureq.Stream, w.ureq.Op = ep, body, w.f.Stream, w.sf.op
	ta := time.Now()
	resp, err := w.st.client.Do(w.s.baseCtx, &w.ureq)
	if err == nil {
		if w.f.Stream {
			w.us = resp.Stream()
			w.first, err = w.us.Next()
			if (err == nil && w.first.Done) || err == io.EOF {
				err = errNoData
			}
		} else {
			w.out, err = resp.ReadAll(w.out[:0])
			// The answer is in w.out: release the response (its buffers
			// and timers) now.
			resp.Close()
		}
		if err != nil {
			resp.Close()
		} else if w.f.Stream {
			w.resp = resp
		}
	}
	return time.Since(ta), err
}

// failed classifies and reports the failed attempt i and tells the loop
// what next: an upstream 400/413/422 is returned to the client at once, a
// failure that allows failover moves on to the next pair.
func (w *work) failed(i int, chID, model string, lat time.Duration, err error) verdict {
	// The transport may still read a request body after a failed
	// attempt: give the buffers up instead of reusing them.
	w.body, w.body2 = nil, nil
	ue := asUpstream(err)
	w.s.report(w.st, w.dec.Pairs[i], ue.Outcome, lat)
	if ue.Outcome.Kind == outcome.BadRequest {
		w.rejected(i, ue)
		return answered
	}
	w.att = append(w.att, attempt{channel: chID, model: model, status: ue.Status, kind: ue.Outcome.Kind, msg: ue.Message})
	if !ue.Outcome.Failover {
		return halt
	}
	return failover
}

// report records the outcome of an attempt on pair: in the live state,
// through the router (a canceled or bad-request outcome leaves it as it
// is), and in the attempt metrics. lat < 0: no latency to observe.
func (s *Server) report(st *state, pair uint32, o outcome.Outcome, lat time.Duration) {
	st.router.Report(pair, o, max(lat, 0))
	sec := -1.0
	if lat >= 0 {
		sec = seconds(lat)
	}
	s.met.Attempt(o.Kind.String(), sec)
}

// setRequestID takes the client's X-Request-ID when it is a sane token, else
// makes one, and sets the response header.
func (s *Server) setRequestID(c *fiber.Ctx, w *work) {
	v := c.Request().Header.Peek(HeaderRequestID)
	if validRequestID(v) {
		w.rid = append(w.rid[:0], v...)
	} else {
		w.rid = append(w.rid[:0], "req-"...)
		w.rid = append(w.rid, s.idPref[:]...)
		w.rid = append(w.rid, '-')
		w.rid = strconv.AppendUint(w.rid, s.idSeq.Add(1), 36)
	}
	c.Response().Header.SetBytesV(HeaderRequestID, w.rid)
}

func validRequestID(v []byte) bool {
	if len(v) == 0 || len(v) > 128 {
		return false
	}
	for _, b := range v {
		switch {
		case b >= 'a' && b <= 'z', b >= 'A' && b <= 'Z', b >= '0' && b <= '9':
		case b == '-', b == '_', b == '.', b == ':':
		default:
			return false
		}
	}
	return true
}

// setHeader sets a header from a string that may come from untrusted data
// (model ids of a discovery cache): control characters become '?'. The value
// is copied.
func (w *work) setHeader(name, v string) {
	hd := &w.c.Response().Header
	for i := 0; i < len(v); i++ {
		if v[i] < 0x20 || v[i] == 0x7f {
			w.meta = append(w.meta[:0], v...)
			for j, b := range w.meta {
				if b < 0x20 || b == 0x7f {
					w.meta[j] = '?'
				}
			}
			hd.SetBytesV(name, w.meta)
			return
		}
	}
	hd.Set(name, v)
}

// routedHeaders sets the X-Router-* headers of a routed answer: the pair of
// attempt i (none when i < 0), the strategy, the number of attempts and the
// router's own time.
func (w *work) routedHeaders(st *state, i, attempts int, overhead time.Duration) {
	hd := &w.c.Response().Header
	if st != nil && i >= 0 && i < len(w.dec.Pairs) {
		pr := st.snap.Pair(w.dec.Pairs[i])
		w.setHeader(HeaderChannel, st.snap.Channels()[pr.Channel].ID)
		w.setHeader(HeaderProvider, st.chans[pr.Channel].provider)
		w.setHeader(HeaderModel, st.snap.Model(pr.Model).Name)
		w.meta = appendFloat(w.meta[:0], w.dec.Totals[i], 4)
		hd.SetBytesV(HeaderScore, w.meta)
	}
	if w.dec.Strategy != "" {
		w.setHeader(HeaderStrategy, w.dec.Strategy)
	}
	w.meta = strconv.AppendInt(w.meta[:0], int64(attempts), 10)
	hd.SetBytesV(HeaderAttempts, w.meta)
	w.meta = appendMs(w.meta[:0], overhead)
	hd.SetBytesV(HeaderOverhead, w.meta)
}

// overhead is the router's own time so far: everything but the upstream
// calls.
func (w *work) overhead() time.Duration { return time.Since(w.t0) - w.upDur }

// chatError answers a request that failed before any upstream call.
func (s *Server) chatError(w *work, status int, typ, code, param, msg string) {
	w.ut.code = code
	writeError(w.c, status, typ, code, param, msg)
	s.met.Request(status, code)
}

// routeError answers a routing failure: bad model string, unknown strategy,
// nothing matched, everything filtered.
func (s *Server) routeError(w *work, err error) {
	hd := &w.c.Response().Header
	defer func() {
		w.routedHeaders(nil, -1, 0, time.Since(w.t0))
		s.met.Overhead(seconds(time.Since(w.t0)))
	}()
	// Route returns these types unwrapped; a type switch keeps the error
	// path free of the allocations of errors.As targets.
	switch e := err.(type) {
	case *route.NotFoundError:
		hd.Set(HeaderStatus, e.RouterStatus())
		s.chatError(w, fiber.StatusNotFound, typeInvalid, codeModel, "model", e.Error())
	case *route.NoChannelsError:
		hd.Set(HeaderStatus, e.RouterStatus())
		s.chatError(w, fiber.StatusServiceUnavailable, typeServer, codeNoChannels, "model", e.Error())
	case *route.ContextLengthError:
		// Every pair that could serve is too small: a 400 (as OpenAI
		// answers), so that clients do not retry the same request.
		hd.Set(HeaderStatus, e.RouterStatus())
		s.chatError(w, fiber.StatusBadRequest, typeInvalid, codeContextLength, "messages", e.Error())
	case *route.NotEmbeddingError:
		// A chat model named on /v1/embeddings: a 400, as no channel
		// can ever serve it.
		hd.Set(HeaderStatus, e.RouterStatus())
		s.chatError(w, fiber.StatusBadRequest, typeInvalid, codeNotEmbedding, "model", e.Error())
	case *route.StrategyError:
		s.chatError(w, fiber.StatusBadRequest, typeInvalid, codeStrategy, HeaderStrategy, e.Error())
	case *query.ParseError:
		s.chatError(w, fiber.StatusBadRequest, typeInvalid, codeInvalid, "model", e.Error())
	default:
		s.log.Error("routing failed unexpectedly; answered 500", "error", err)
		s.chatError(w, fiber.StatusInternalServerError, typeServer, codeInternal, "", "internal routing error; the server log has the details")
	}
}

// rejected returns an upstream's 400/413/422 of attempt i to the client:
// the request itself is at fault, so no other channel is tried. The
// upstream's own error body is relayed when it is a JSON object with an
// "error"; else an OpenAI-style one is made.
func (w *work) rejected(i int, ue *upstream.Error) {
	status := ue.Status
	if status < 400 || status > 499 {
		status = fiber.StatusBadRequest
	}
	resp := w.c.Response()
	resp.SetStatusCode(status)
	resp.Header.SetContentType(fiber.MIMEApplicationJSON)
	resp.Header.Set(HeaderStatus, statusAllFailed)
	if b := bytes.TrimSpace(ue.Body); body.IsOpenAIError(b) {
		resp.SetBody(b)
	} else {
		w.meta = appendErrorBody(w.meta[:0], typeInvalid, codeAllFailed, "",
			"the upstream rejected the request ("+strconv.Itoa(status)+"): "+ue.Message)
		resp.SetBody(w.meta)
	}
	overhead := w.overhead()
	w.routedHeaders(w.st, i, i+1, overhead)
	w.s.met.Overhead(seconds(overhead))
	w.s.met.Request(status, codeAllFailed)
	w.ut.code = codeAllFailed
}

// allFailed answers 503 all_channels_failed with every attempt listed.
func (w *work) allFailed() {
	b := w.meta[:0]
	msg := "every channel tried failed"
	if len(w.att) == 0 {
		msg = "no channel could be tried"
	} else {
		last := &w.att[len(w.att)-1]
		msg = "all " + strconv.Itoa(len(w.att)) + " attempts failed; last: " + last.channel + " / " + last.model + ": " + last.msg
	}
	b = appendErrorOpen(b, typeServer, codeAllFailed, "", msg)
	b = append(b, `,"attempts":[`...)
	for k := range w.att {
		a := &w.att[k]
		if k > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"channel":`...)
		b = jsonstr.Append(b, a.channel)
		b = append(b, `,"model":`...)
		b = jsonstr.Append(b, a.model)
		b = append(b, `,"status":`...)
		b = strconv.AppendInt(b, int64(a.status), 10)
		b = append(b, `,"kind":`...)
		b = jsonstr.Append(b, a.kind.String())
		b = append(b, `,"message":`...)
		b = jsonstr.Append(b, a.msg)
		b = append(b, '}')
	}
	b = append(b, "]}}"...)
	w.meta = b
	resp := w.c.Response()
	resp.SetStatusCode(fiber.StatusServiceUnavailable)
	resp.Header.SetContentType(fiber.MIMEApplicationJSON)
	resp.SetBody(b)
	resp.Header.Set(HeaderStatus, statusAllFailed)
	overhead := w.overhead()
	w.routedHeaders(w.st, len(w.att)-1, len(w.att), overhead)
	w.s.met.Overhead(seconds(overhead))
	w.s.met.Request(fiber.StatusServiceUnavailable, codeAllFailed)
	w.ut.code = codeAllFailed
}
