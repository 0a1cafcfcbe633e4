package server

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"smartrouter/format"
	"smartrouter/runtime/body"
	"smartrouter/runtime/route"
	"smartrouter/runtime/snapshot"
	"smartrouter/runtime/upstream"

	"smartrouter/runtime/jsonstr"
)

// work is the per-request scratch of a chat completion, pooled so that a
// request reuses the buffers of earlier ones.
type work struct {
	s     *Server
	c     *fiber.Ctx
	dec   route.Decision
	body  []byte // the client body with the pair's model
	body2 []byte // the same asking for usage (streams)
	out   []byte // the upstream answer (non-stream)
	meta  []byte // metadata object, header values
	cut   []body.Span
	att   []attempt
	ureq  upstream.Request
	rid   []byte
}

// attempt is one failed try, for the all_channels_failed answer. The
// strings may point into the snapshot: use them before releasing it.
type attempt struct {
	channel string
	model   string
	status  int
	kind    upstream.Kind
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
	w.c = nil
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

var errNoData = &upstream.Error{
	Class:   upstream.Class{Kind: upstream.Server, Cooldown: upstream.ServerCooldown, Failover: true},
	Message: "the upstream stream ended before sending any data",
}

// chat serves POST /v1/chat/completions.
func (s *Server) chat(c *fiber.Ctx) error {
	t0 := time.Now()
	w := s.pool.Get().(*work)
	w.c = c
	defer s.putWork(w)
	if s.debug {
		defer s.logRequest(c, t0)
	}
	s.setRequestID(c, w)

	h := s.mgr.Acquire()
	if h == nil {
		s.chatError(w, fiber.StatusServiceUnavailable, typeServer, codeNotReady, "", "no snapshot is loaded; the router is starting or shutting down, retry shortly")
		return nil
	}
	owned := true // false once the stream relay owns the handle
	defer func() {
		if owned {
			h.Release()
		}
	}()
	st := h.Value.(*state)
	if !st.authorize(c, false) {
		s.met.Request(fiber.StatusUnauthorized, codeAuth)
		return nil
	}
	raw := c.Request().Body()
	if len(raw) > st.maxBody {
		s.chatError(w, fiber.StatusRequestEntityTooLarge, typeInvalid, codeTooLarge, "",
			"request body is larger than the limit of "+strconv.Itoa(st.maxBody)+" bytes (server.max_request_size); send a smaller request")
		return nil
	}
	if ce := c.Request().Header.Peek(fiber.HeaderContentEncoding); len(ce) > 0 && !bytes.EqualFold(ce, []byte("identity")) {
		s.chatError(w, fiber.StatusUnsupportedMediaType, typeInvalid, codeUnsupported, "",
			"compressed request bodies are not supported; send plain JSON")
		return nil
	}
	f, err := body.ParseOpenAIChat(raw)
	switch {
	case err != nil:
		s.chatError(w, fiber.StatusBadRequest, typeInvalid, codeInvalid, "",
			"request body must be a JSON object: "+err.Error())
		return nil
	case f.Model == "":
		s.chatError(w, fiber.StatusBadRequest, typeInvalid, codeInvalid, "model",
			`request body has no "model"; name a model, a tag query (tag:free,qwen) or a parameter query (qwen->8b)`)
		return nil
	case !f.HasMessages:
		s.chatError(w, fiber.StatusBadRequest, typeInvalid, codeInvalid, "messages",
			`request body has no "messages" array; send the conversation as "messages"`)
		return nil
	}

	err = st.router.Route(route.Request{
		Model: f.Model, Strategy: c.Get(HeaderStrategy), InputTokens: f.InputTokens, MaxTokens: f.MaxTokens,
		NeedVision: f.NeedVision, NeedTools: f.NeedTools, Limit: st.maxRetry,
	}, &w.dec)
	if err != nil {
		s.routeError(w, t0, err)
		return nil
	}

	n := min(len(w.dec.Pairs), st.maxRetry)
	var upDur time.Duration
	for i := 0; i < n; i++ {
		p := w.dec.Pairs[i]
		pr := st.snap.Pair(p)
		rt := &st.chans[pr.Channel]
		chID := st.snap.Channels()[pr.Channel].ID
		model := st.snap.Model(pr.Model).Name
		if rt.ep == nil {
			w.att = append(w.att, attempt{channel: chID, model: model, kind: upstream.Other, msg: rt.epErr})
			s.met.Attempt("unusable", -1)
			continue
		}
		w.body, err = body.RewriteModel(w.body[:0], raw, model)
		send, added := w.body, false
		if err == nil && f.Stream {
			w.body2, added, err = body.OpenAIRequestUsage(w.body2[:0], w.body)
			send = w.body2
		}
		if err != nil {
			s.chatError(w, fiber.StatusBadRequest, typeInvalid, codeInvalid, "",
				"request body is not valid JSON: "+err.Error())
			return nil
		}
		w.ureq.Endpoint, w.ureq.Body, w.ureq.Stream = rt.ep, send, f.Stream
		st.router.Used(p)
		ta := time.Now()
		resp, err := st.client.Do(s.baseCtx, &w.ureq)
		var first upstream.Chunk
		var us *upstream.Stream
		if err == nil {
			if f.Stream {
				us = resp.Stream()
				first, err = us.Next()
				if (err == nil && first.Done) || err == io.EOF {
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
			}
		}
		lat := time.Since(ta)
		upDur += lat
		if err == nil {
			if f.Stream {
				owned = false
				s.commitStream(w, h, st, i, resp, us, first, added, t0, upDur, lat)
				return nil
			}
			s.complete(w, st, i, &f, t0, upDur, lat)
			return nil
		}

		// The transport may still read a request body after a failed
		// attempt: give the buffers up instead of reusing them.
		w.body, w.body2 = nil, nil
		ue := asUpstream(err)
		s.met.Attempt(ue.Class.Kind.String(), seconds(lat))
		switch ue.Class.Kind {
		case upstream.BadRequest:
			s.upstreamRejected(w, st, i, t0, upDur, ue)
			return nil
		case upstream.Canceled:
		default:
			s.failure(chID, model, ue.Class)
		}
		w.att = append(w.att, attempt{channel: chID, model: model, status: ue.Status, kind: ue.Class.Kind, msg: ue.Message})
		if !ue.Class.Failover {
			break
		}
	}
	s.allFailed(w, st, t0, upDur)
	return nil
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

// chatError answers a chat request that failed before any upstream call.
func (s *Server) chatError(w *work, status int, typ, code, param, msg string) {
	writeError(w.c, status, typ, code, param, msg)
	s.met.Request(status, code)
}

// routeError answers a routing failure: bad model string, unknown strategy,
// nothing matched, everything filtered.
func (s *Server) routeError(w *work, t0 time.Time, err error) {
	hd := &w.c.Response().Header
	defer func() {
		w.routedHeaders(nil, -1, 0, time.Since(t0))
		s.met.Overhead(seconds(time.Since(t0)))
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
	case *route.StrategyError:
		s.chatError(w, fiber.StatusBadRequest, typeInvalid, codeStrategy, HeaderStrategy, e.Error())
	case *route.ParseError:
		s.chatError(w, fiber.StatusBadRequest, typeInvalid, codeInvalid, "model", e.Error())
	default:
		s.log.Error("routing failed unexpectedly; answered 500", "error", err)
		s.chatError(w, fiber.StatusInternalServerError, typeServer, codeInternal, "", "internal routing error; the server log has the details")
	}
}

// upstreamRejected returns an upstream's 400/413/422 to the client: the
// request itself is at fault, so no other channel is tried. The upstream's
// own error body is relayed when it is a JSON object with an "error"; else
// an OpenAI-style one is made.
func (s *Server) upstreamRejected(w *work, st *state, i int, t0 time.Time, upDur time.Duration, ue *upstream.Error) {
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
	overhead := time.Since(t0) - upDur
	w.routedHeaders(st, i, i+1, overhead)
	s.met.Overhead(seconds(overhead))
	s.met.Request(status, codeAllFailed)
}

// allFailed answers 503 all_channels_failed with every attempt listed.
func (s *Server) allFailed(w *work, st *state, t0 time.Time, upDur time.Duration) {
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
	overhead := time.Since(t0) - upDur
	w.routedHeaders(st, len(w.att)-1, len(w.att), overhead)
	s.met.Overhead(seconds(overhead))
	s.met.Request(fiber.StatusServiceUnavailable, codeAllFailed)
}

// complete answers a successful non-stream attempt i: the upstream JSON with
// reasoning blocks cut (strip_reasoning) and the smart_ai_router object
// spliced in before the final '}' (response_metadata).
func (s *Server) complete(w *work, st *state, i int, f *body.Features, t0 time.Time, upDur, lat time.Duration) {
	p := w.dec.Pairs[i]
	st.router.Success(p, lat)
	s.met.Attempt("ok", seconds(lat))
	out := w.out
	u := body.ParseOpenAIUsage(body.ScanOpenAIResponse(out).Usage)
	s.met.Tokens(u.PromptTokens, u.CompletionTokens)
	w.cut = w.cut[:0]
	if st.strip {
		w.cut = body.OpenAIReasoningSpans(w.cut, out)
	}
	at, nonEmpty := -1, false
	if st.meta {
		at, nonEmpty = body.SpliceEnd(out)
	}
	resp := w.c.Response()
	resp.SetStatusCode(fiber.StatusOK)
	resp.Header.SetContentType(fiber.MIMEApplicationJSON)
	overhead := time.Since(t0) - upDur
	w.routedHeaders(st, i, i+1, overhead)
	resp.ResetBody()
	if at < 0 {
		appendBodyWithout(resp.AppendBody, out, w.cut)
	} else {
		appendBodyWithout(resp.AppendBody, out[:at], w.cut)
		w.meta = w.appendMetadata(w.meta[:0], st, i, f, &u, time.Since(t0), overhead, nonEmpty)
		resp.AppendBody(w.meta)
		resp.AppendBody(out[at:])
	}
	s.met.Overhead(seconds(overhead))
	s.met.Request(fiber.StatusOK, "")
}

// appendBodyWithout writes b without the spans in cut (those inside b).
func appendBodyWithout(write func([]byte), b []byte, cut []body.Span) {
	at := 0
	for _, c := range cut {
		if c.End > len(b) {
			break
		}
		write(b[at:c.Start])
		at = c.End
	}
	write(b[at:])
}

// appendMetadata appends `"smart_ai_router":{...}` (with a leading comma
// when the object already has members).
func (w *work) appendMetadata(b []byte, st *state, i int, f *body.Features, u *body.Usage,
	total, overhead time.Duration, comma bool) []byte {
	p := w.dec.Pairs[i]
	pr := st.snap.Pair(p)
	ch := &st.snap.Channels()[pr.Channel]
	if comma {
		b = append(b, ',')
	}
	b = append(b, `"smart_ai_router":{"request_id":`...)
	b = jsonstr.Append(b, string(w.rid)) // string(bytes) in a call argument does not allocate when it does not escape
	b = append(b, `,"routing":{"model_requested":`...)
	b = jsonstr.Append(b, f.Model)
	b = append(b, `,"model_used":`...)
	b = jsonstr.Append(b, st.snap.Model(pr.Model).Name)
	b = append(b, `,"channel":{"id":`...)
	b = jsonstr.Append(b, ch.ID)
	b = append(b, `,"name":`...)
	b = jsonstr.Append(b, ch.Name)
	b = append(b, `,"provider":`...)
	b = jsonstr.Append(b, st.chans[pr.Channel].provider)
	b = append(b, `},"strategy":`...)
	b = jsonstr.Append(b, w.dec.Strategy)
	b = append(b, `,"score":`...)
	b = appendFloat(b, w.dec.Totals[i], 6)
	b = append(b, `,"attempts":`...)
	b = strconv.AppendInt(b, int64(i+1), 10)
	b = append(b, `},"performance":{"latency_ms":`...)
	b = appendMs(b, total)
	b = append(b, `,"overhead_ms":`...)
	b = appendMs(b, overhead)
	b = append(b, `},"cost":{`...)
	in, out := st.defIn, st.defOut
	if pr.InputPrice != format.PriceUnknown {
		in = float64(pr.InputPrice)
	}
	if pr.OutputPrice != format.PriceUnknown {
		out = float64(pr.OutputPrice)
	}
	var req float64
	if pr.RequestPrice != format.PriceUnknown {
		req = float64(pr.RequestPrice)
	}
	if pr.Flags&format.FlagFree != 0 {
		in, out, req = 0, 0, 0
	}
	pu := float64(max(u.PromptTokens, 0)) * in / format.PicoUSDPerUSD
	cu := float64(max(u.CompletionTokens, 0)) * out / format.PicoUSDPerUSD
	b = append(b, `"prompt_usd":`...)
	b = appendFloat(b, pu, 10)
	b = append(b, `,"completion_usd":`...)
	b = appendFloat(b, cu, 10)
	b = append(b, `,"total_usd":`...)
	b = appendFloat(b, pu+cu+req/format.PicoUSDPerUSD, 10)
	b = append(b, `},"tokens":{"prompt_tokens":`...)
	b = strconv.AppendInt(b, u.PromptTokens, 10)
	b = append(b, `,"completion_tokens":`...)
	b = strconv.AppendInt(b, u.CompletionTokens, 10)
	b = append(b, `,"total_tokens":`...)
	b = strconv.AppendInt(b, u.TotalTokens, 10)
	b = append(b, `,"estimated_input_tokens":`...)
	b = strconv.AppendInt(b, int64(f.InputTokens), 10)
	return append(b, "}}"...)
}

// commitStream starts relaying a stream whose first chunk arrived: from
// here on nothing can fail over. The relay is the response's body stream:
// fasthttp reads it after the handler returns, and closes it when the stream
// is completely written or the client went away; it owns the snapshot handle
// until then.
func (s *Server) commitStream(w *work, h *snapshot.Handle, st *state, i int, resp *upstream.Response,
	us *upstream.Stream, first upstream.Chunk, added bool, t0 time.Time, upDur, ttfb time.Duration) {
	r := w.c.Response()
	r.SetStatusCode(fiber.StatusOK)
	r.Header.SetContentType("text/event-stream; charset=utf-8")
	r.Header.Set(fiber.HeaderCacheControl, "no-cache")
	r.Header.Set("X-Accel-Buffering", "no")
	overhead := time.Since(t0) - upDur
	w.routedHeaders(st, i, i+1, overhead)
	s.met.Overhead(seconds(overhead))
	s.met.Request(fiber.StatusOK, "")
	s.met.StreamStarted()
	rl := &relay{s: s, h: h, st: st, pair: w.dec.Pairs[i], resp: resp, us: us, first: first, added: added, ttfb: ttfb}
	r.SetBodyStream(rl, -1)
}

// logRequest writes one debug line per chat request (only when the logger
// is at debug level: nothing is logged per request otherwise).
func (s *Server) logRequest(c *fiber.Ctx, t0 time.Time) {
	r := c.Response()
	s.log.LogAttrs(context.Background(), slog.LevelDebug, "chat request",
		slog.String("request_id", string(r.Header.Peek(HeaderRequestID))),
		slog.Int("status", r.StatusCode()),
		slog.String("channel", string(r.Header.Peek(HeaderChannel))),
		slog.String("model", string(r.Header.Peek(HeaderModel))),
		slog.String("attempts", string(r.Header.Peek(HeaderAttempts))),
		slog.String("router_status", string(r.Header.Peek(HeaderStatus))),
		slog.Duration("took", time.Since(t0)))
}
