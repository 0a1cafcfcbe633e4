package server

import (
	"context"
	"log/slog"
	"strconv"
	"time"

	"github.com/gofiber/fiber/v2"

	"smartrouter/format"
	"smartrouter/runtime/body"
	"smartrouter/runtime/jsonstr"
)

// The OpenAI chat completions surface of the proxy loop (proxy.go).

// chatSurface is POST /v1/chat/completions.
var chatSurface = surface{
	name:     "chat",
	native:   &chatNativeSurface,
	validate: (*work).validateChat,
	rewrite:  (*work).rewriteChat,
	complete: (*work).complete,
	commit:   (*work).commitStream,
}

// chat serves POST /v1/chat/completions.
func (s *Server) chat(c *fiber.Ctx) error {
	s.proxy(c, &chatSurface)
	return nil
}

// validateChat reads the features of a chat completion request: it must be
// a JSON object with a "model" and a "messages" array.
func (w *work) validateChat() bool {
	var err error
	w.f, err = body.ParseOpenAIChat(w.in)
	return w.checkOpenAIRequest(err, w.f.HasMessages, "messages",
		`request body has no "messages" array; send the conversation as "messages"`)
}

// checkOpenAIRequest answers the refusals the OpenAI surfaces share: a body
// that is not a JSON object, no "model", no usable main member (param: the
// messages of a chat, the input of embeddings, the prompt of a completion).
func (w *work) checkOpenAIRequest(err error, has bool, param, missing string) bool {
	switch {
	case err != nil:
		w.s.chatError(w, fiber.StatusBadRequest, typeInvalid, codeInvalid, "",
			"request body must be a JSON object: "+err.Error())
		return false
	case w.f.Model == "":
		w.s.chatError(w, fiber.StatusBadRequest, typeInvalid, codeInvalid, "model",
			`request body has no "model"; name a model, a tag query (tag:free,qwen) or a parameter query (qwen->8b)`)
		return false
	case !has:
		w.s.chatError(w, fiber.StatusBadRequest, typeInvalid, codeInvalid, param, missing)
		return false
	}
	return true
}

// rewriteChat copies the client body with the pair's model id; a stream
// also asks for usage (w.added tells whether the client had not).
func (w *work) rewriteChat(model string) ([]byte, error) {
	var err error
	w.body, err = body.RewriteModel(w.body[:0], w.in, model)
	send := w.body
	w.added = false
	if err == nil && w.f.Stream {
		w.body2, w.added, err = body.OpenAIRequestUsage(w.body2[:0], w.body)
		send = w.body2
	}
	return send, err
}

// complete answers a successful non-stream attempt i: the upstream JSON with
// reasoning blocks cut (strip_reasoning) and the smart_ai_router object
// spliced in before the final '}' (response_metadata).
func (w *work) complete(i int) { w.completeJSON(i, w.st.strip) }

// completeJSON answers a successful non-stream attempt i of an OpenAI-shaped
// surface: the upstream JSON, with reasoning blocks cut when strip, and the
// smart_ai_router object spliced in before the final '}' (response_metadata).
func (w *work) completeJSON(i int, strip bool) {
	s, st := w.s, w.st
	out := w.out
	u := body.ParseOpenAIUsage(body.ScanOpenAIResponse(out).Usage)
	s.met.Tokens(u.PromptTokens, u.CompletionTokens)
	w.charge(i, &u)
	w.noteUsage(i, &u)
	w.cut = w.cut[:0]
	if strip {
		w.cut = body.OpenAIReasoningSpans(w.cut, out)
	}
	at, nonEmpty := -1, false
	if st.meta {
		at, nonEmpty = body.SpliceEnd(out)
	}
	resp := w.c.Response()
	resp.SetStatusCode(fiber.StatusOK)
	resp.Header.SetContentType(fiber.MIMEApplicationJSON)
	overhead := w.overhead()
	w.routedHeaders(st, i, i+1, overhead)
	resp.ResetBody()
	if at < 0 {
		appendBodyWithout(resp.AppendBody, out, w.cut)
	} else {
		appendBodyWithout(resp.AppendBody, out[:at], w.cut)
		w.meta = w.appendMetadata(w.meta[:0], st, i, &w.f, &u, time.Since(w.t0), overhead, nonEmpty)
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
	cost := st.router.Cost(p, float64(max(u.PromptTokens, 0)), float64(max(u.CompletionTokens, 0)))
	pu := cost.Prompt / format.PicoUSDPerUSD
	cu := cost.Completion / format.PicoUSDPerUSD
	b = append(b, `"prompt_usd":`...)
	b = appendFloat(b, pu, 10)
	b = append(b, `,"completion_usd":`...)
	b = appendFloat(b, cu, 10)
	b = append(b, `,"total_usd":`...)
	b = appendFloat(b, pu+cu+cost.Request/format.PicoUSDPerUSD, 10)
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

// commitStream starts relaying an OpenAI stream as it is.
func (w *work) commitStream(i int, ttfb time.Duration) { w.commitRelay(i, ttfb, nil) }

// commitRelay starts relaying a stream whose first chunk arrived, through
// tr when the client's wire format differs from the upstream's: from here
// on nothing can fail over. The relay is the response's body stream:
// fasthttp reads it after the handler returns, and closes it when the stream
// is completely written or the client went away; it owns the snapshot handle
// until then.
func (w *work) commitRelay(i int, ttfb time.Duration, tr translator) {
	s := w.s
	r := w.c.Response()
	r.SetStatusCode(fiber.StatusOK)
	r.Header.SetContentType("text/event-stream; charset=utf-8")
	r.Header.Set(fiber.HeaderCacheControl, "no-cache")
	r.Header.Set("X-Accel-Buffering", "no")
	overhead := w.overhead()
	w.routedHeaders(w.st, i, i+1, overhead)
	s.met.Overhead(seconds(overhead))
	s.met.Request(fiber.StatusOK, "")
	s.met.StreamStarted()
	rl := newRelay()
	rl.s, rl.h, rl.st, rl.pair, rl.resp, rl.us, rl.first, rl.added, rl.ttfb = s, w.h, w.st, w.dec.Pairs[i], w.resp, w.us, w.first, w.added, ttfb
	rl.tr = tr
	rl.hold = w.handOver()
	rl.conn, _ = w.c.Context().Conn().(*trackedConn)
	w.commitUsage(rl)
	w.owned = false
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
