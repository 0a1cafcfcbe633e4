package server

import (
	"errors"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"smartrouter/format"
	"smartrouter/runtime/body"
)

// The Anthropic Messages surface of the proxy loop (proxy.go): POST
// /v1/messages translated to OpenAI chat completions for the channel and
// back (runtime/body/anthropic.go), and POST /v1/messages/count_tokens. The
// proxy loop's errors are written in OpenAI's shape and turned into
// Anthropic's by anthropicErrorShape once the loop is done; the router's
// metadata goes in the X-Router-* headers, as the Messages answer has no
// room for it.

// Paths of the Messages surface.
const (
	PathMessages      = "/v1/messages"
	PathMessagesCount = "/v1/messages/count_tokens"
)

// HeaderCost is the cost in USD of a non-stream Messages answer (the
// metadata a chat answer carries in its body).
const HeaderCost = "X-Router-Cost-Usd"

// messagesSurface is POST /v1/messages.
var messagesSurface = surface{
	name:     "messages",
	validate: (*work).validateMessages,
	rewrite:  (*work).rewriteMessages,
	complete: (*work).completeMessages,
	commit:   (*work).commitMessages,
}

// messages serves POST /v1/messages.
// admitMessages is admitJSON (memory shedding, JSON content type) with its
// refusals in Anthropic's error shape.
func (s *Server) admitMessages(c *fiber.Ctx) error {
	err := s.admitJSON(c)
	anthropicErrorShape(c)
	return err
}

func (s *Server) messages(c *fiber.Ctx) error {
	s.proxy(c, &messagesSurface)
	anthropicErrorShape(c)
	return nil
}

// validateMessages translates the request once to check it and read its
// features; each attempt translates it again for its pair's model.
func (w *work) validateMessages() bool {
	var err error
	w.body, w.f, err = body.AnthropicToOpenAI(w.body[:0], w.in, "")
	if err != nil {
		w.s.messagesRequestError(w, err)
		return false
	}
	return true
}

// messagesRequestError answers a request the translation refused.
func (s *Server) messagesRequestError(w *work, err error) {
	var re *body.RequestError
	if errors.As(err, &re) {
		s.chatError(w, fiber.StatusBadRequest, typeInvalid, codeInvalid, re.Param, re.Msg)
		return
	}
	s.chatError(w, fiber.StatusBadRequest, typeInvalid, codeInvalid, "", "request body must be a JSON object: "+err.Error())
}

// rewriteMessages is the chat request for the pair's model (a stream asks
// for the usage chunk, which the translation consumes).
func (w *work) rewriteMessages(model string) ([]byte, error) {
	var err error
	w.body, _, err = body.AnthropicToOpenAI(w.body[:0], w.in, model)
	w.added = true
	return w.body, err
}

// completeMessages answers a successful non-stream attempt i with the
// translated answer.
func (w *work) completeMessages(i int) {
	s, st := w.s, w.st
	var u body.Usage
	var err error
	w.body2, u, err = body.OpenAIToAnthropic(w.body2[:0], w.out, w.f.Model)
	overhead := w.overhead()
	w.routedHeaders(st, i, i+1, overhead)
	s.met.Overhead(seconds(overhead))
	resp := w.c.Response()
	if err != nil {
		writeError(w.c, fiber.StatusBadGateway, typeUp, codeInvalid, "",
			"the upstream answer could not be translated to the Messages format: "+err.Error())
		s.met.Request(fiber.StatusBadGateway, codeInvalid)
		w.ut.code = codeInvalid
		return
	}
	s.met.Tokens(u.PromptTokens, u.CompletionTokens)
	w.noteUsage(i, &u)
	if st.meta {
		cost := st.router.Cost(w.dec.Pairs[i], float64(max(u.PromptTokens, 0)), float64(max(u.CompletionTokens, 0)))
		w.meta = appendFloat(w.meta[:0], (cost.Prompt+cost.Completion+cost.Request)/format.PicoUSDPerUSD, 10)
		resp.Header.SetBytesV(HeaderCost, w.meta)
	}
	resp.SetStatusCode(fiber.StatusOK)
	resp.Header.SetContentType(fiber.MIMEApplicationJSON)
	resp.SetBody(w.body2)
	s.met.Request(fiber.StatusOK, "")
}

// commitMessages starts relaying a stream translated to Messages events.
func (w *work) commitMessages(i int, ttfb time.Duration) {
	w.commitStream(i, ttfb)
	rl := w.c.Response().BodyStream().(*relay)
	rl.anthropic = true
	rl.as = body.AnthropicStream{Model: w.f.Model, InputTokens: w.f.InputTokens}
}

// countTokens serves POST /v1/messages/count_tokens: {"input_tokens": N}
// with the router's own estimate (the one routing uses), not the provider's
// tokenizer.
func (s *Server) countTokens(c *fiber.Ctx) error {
	defer anthropicErrorShape(c)
	h := s.authorized(c, false)
	if h == nil {
		return nil
	}
	defer h.Release()
	st := h.Value.(*state)
	in := c.Request().Body()
	if len(in) > st.maxBody {
		writeError(c, fiber.StatusRequestEntityTooLarge, typeInvalid, codeTooLarge, "", "request body is larger than the limit (server.max_request_size); send a smaller request")
		return nil
	}
	var buf [512]byte
	f, _, err := body.AnthropicCountTokens(buf[:0], in)
	if err != nil {
		var re *body.RequestError
		if errors.As(err, &re) {
			writeError(c, fiber.StatusBadRequest, typeInvalid, codeInvalid, re.Param, re.Msg)
		} else {
			writeError(c, fiber.StatusBadRequest, typeInvalid, codeInvalid, "", "request body must be a JSON object: "+err.Error())
		}
		return nil
	}
	b := append(buf[:0], `{"input_tokens":`...)
	b = appendFloat(b, float64(f.InputTokens), 0)
	writeJSON(c, fiber.StatusOK, append(b, '}'))
	return nil
}

// isMessagesPath reports whether an error on path is answered in
// Anthropic's shape.
func isMessagesPath(path string) bool {
	return path == PathMessages || strings.HasPrefix(path, PathMessages+"/")
}

// anthropicErrorType is the Anthropic error type of an HTTP status.
func anthropicErrorType(status int) string {
	switch {
	case status == fiber.StatusUnauthorized:
		return "authentication_error"
	case status == fiber.StatusForbidden:
		return "permission_error"
	case status == fiber.StatusNotFound:
		return "not_found_error"
	case status == fiber.StatusTooManyRequests:
		return "rate_limit_error"
	case status == 529:
		return "overloaded_error"
	case status >= 500:
		return "api_error"
	}
	return "invalid_request_error"
}

// anthropicErrorShape rewrites an error answer of the OpenAI shape
// ({"error":{"message":...}}) that the shared code wrote into Anthropic's
// ({"type":"error","error":{"type":...,"message":...}}), keeping the status
// and the message. Anything else (a success, a stream) is left alone.
func anthropicErrorShape(c *fiber.Ctx) {
	r := c.Response()
	status := r.StatusCode()
	if status < 400 || r.IsBodyStream() {
		return
	}
	var msg []byte
	if e, ok, _ := body.Field(r.Body(), "error"); ok {
		if m, ok, _ := body.Field(e, "message"); ok && len(m) > 0 && m[0] == '"' {
			msg = m
		}
	}
	var buf [1024]byte
	b := append(buf[:0], `{"type":"error","error":{"type":"`...)
	b = append(b, anthropicErrorType(status)...)
	b = append(b, `","message":`...)
	if msg != nil {
		b = append(b, msg...)
	} else {
		b = append(b, `"the request failed with HTTP status `...)
		b = appendFloat(b, float64(status), 0)
		b = append(b, '"')
	}
	b = append(b, "}}"...)
	r.Header.SetContentType(fiber.MIMEApplicationJSON)
	r.SetBody(b)
}
