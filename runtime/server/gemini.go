package server

import (
	"bytes"
	"errors"
	"net/url"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"smartrouter/format"
	"smartrouter/runtime/body"
)

// The Gemini surface of the proxy loop (proxy.go): POST
// /v1beta/models/{model}:generateContent and :streamGenerateContent (also
// under /v1/models/), translated to OpenAI chat completions for the channel
// and back (runtime/body/gemini.go). The model comes from the path; the
// client key from x-goog-api-key or ?key= as well as the usual headers.
// Errors are written in OpenAI's shape by the shared code and turned into
// Google's by geminiErrorShape; the router's metadata goes in the X-Router-*
// headers.

// Path prefixes of the Gemini surface (the rest is {model}:{method}).
const (
	PathGeminiBeta = "/v1beta/models/"
	PathGeminiV1   = "/v1/models/"
)

// The Gemini methods served.
const (
	geminiGenerate = "generateContent"
	geminiStream   = "streamGenerateContent"
)

// geminiSurface is POST .../models/{model}:generateContent.
var geminiSurface = surface{
	name:     "gemini",
	validate: (*work).validateGemini,
	rewrite:  (*work).rewriteGemini,
	complete: (*work).completeGemini,
	commit:   (*work).commitGemini,
}

// admitGemini is admitJSON (memory shedding, JSON content type) with its
// refusals in Google's error shape.
func (s *Server) admitGemini(c *fiber.Ctx) error {
	err := s.admitJSON(c)
	geminiErrorShape(c)
	return err
}

// gemini serves POST {prefix}{model}:generateContent and
// :streamGenerateContent.
func (s *Server) gemini(c *fiber.Ctx) error {
	geminiKey(c)
	s.proxy(c, &geminiSurface)
	geminiErrorShape(c)
	return nil
}

// geminiKey makes the key a Gemini client sends (x-goog-api-key, or the key
// query parameter) the one the shared auth reads (x-api-key), unless the
// client sent Authorization or x-api-key itself. x-api-key is never
// forwarded upstream.
func geminiKey(c *fiber.Ctx) {
	h := &c.Request().Header
	if len(h.Peek(fiber.HeaderAuthorization)) > 0 || len(h.Peek("X-Api-Key")) > 0 {
		return
	}
	if k := h.Peek("X-Goog-Api-Key"); len(k) > 0 {
		h.SetBytesV("X-Api-Key", k)
		return
	}
	if k := c.Request().URI().QueryArgs().Peek("key"); len(k) > 0 {
		h.SetBytesV("X-Api-Key", k)
	}
}

// ParseGeminiPath splits the path of a Gemini call, as sent (escapes
// kept), into the model and the method: the part after the models/ prefix
// is unescaped, then split at the last ':' followed by a method name, so a
// model that holds ':' itself (a tag query, tag:free,qwen3) stays whole. A
// leading "models/" in the model is dropped. ok is false for a path that is
// not a Gemini call.
func ParseGeminiPath(raw string) (model, method string, ok bool) {
	switch {
	case strings.HasPrefix(raw, PathGeminiBeta):
		raw = raw[len(PathGeminiBeta):]
	case strings.HasPrefix(raw, PathGeminiV1):
		raw = raw[len(PathGeminiV1):]
	default:
		return "", "", false
	}
	rest, err := url.PathUnescape(raw)
	if err != nil {
		return "", "", false
	}
	i := strings.LastIndexByte(rest, ':')
	if i <= 0 {
		return "", "", false
	}
	model, method = rest[:i], rest[i+1:]
	if method != geminiGenerate && method != geminiStream {
		return "", "", false
	}
	model = strings.TrimPrefix(model, "models/")
	return model, method, model != ""
}

// validateGemini reads the model and method from the path and translates
// the request once to check it and read its features; each attempt
// translates it again for its pair's model.
func (w *work) validateGemini() bool {
	model, method, ok := ParseGeminiPath(string(w.c.Request().URI().PathOriginal()))
	if !ok {
		w.s.chatError(w, fiber.StatusNotFound, typeInvalid, codeNotFound, "",
			"no such method: call POST /v1beta/models/{model}:generateContent or :streamGenerateContent?alt=sse")
		return false
	}
	stream := method == geminiStream
	if stream && !bytes.Equal(w.c.Request().URI().QueryArgs().Peek("alt"), []byte("sse")) {
		w.s.chatError(w, fiber.StatusBadRequest, typeInvalid, codeInvalid, "alt",
			"streamGenerateContent is served as server-sent events only: add ?alt=sse to the URL (the JSON array stream is not supported)")
		return false
	}
	var err error
	w.body, w.f, err = body.GeminiToOpenAI(w.body[:0], w.in, model, stream)
	if err != nil {
		var re *body.RequestError
		if errors.As(err, &re) {
			w.s.chatError(w, fiber.StatusBadRequest, typeInvalid, codeInvalid, re.Param, re.Msg)
		} else {
			w.s.chatError(w, fiber.StatusBadRequest, typeInvalid, codeInvalid, "", "request body must be a JSON object: "+err.Error())
		}
		return false
	}
	return true
}

// rewriteGemini is the chat request for the pair's model (a stream asks
// for the usage chunk, which the translation consumes).
func (w *work) rewriteGemini(model string) ([]byte, error) {
	var err error
	w.body, _, err = body.GeminiToOpenAI(w.body[:0], w.in, model, w.f.Stream)
	w.added = true
	return w.body, err
}

// completeGemini answers a successful non-stream attempt i with the
// translated answer.
func (w *work) completeGemini(i int) {
	s, st := w.s, w.st
	var u body.Usage
	var err error
	w.body2, u, err = body.OpenAIToGemini(w.body2[:0], w.out, w.f.Model)
	overhead := w.overhead()
	w.routedHeaders(st, i, i+1, overhead)
	s.met.Overhead(seconds(overhead))
	resp := w.c.Response()
	if err != nil {
		writeError(w.c, fiber.StatusBadGateway, typeUp, codeInvalid, "",
			"the upstream answer could not be translated to the Gemini format: "+err.Error())
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

// commitGemini starts relaying a stream translated to Gemini events.
func (w *work) commitGemini(i int, ttfb time.Duration) {
	w.commitStream(i, ttfb)
	rl := w.c.Response().BodyStream().(*relay)
	rl.gemini = true
	rl.gs = body.GeminiStream{Model: w.f.Model}
}

// isGeminiPath reports whether an error on path is answered in Google's
// shape.
func isGeminiPath(path string) bool {
	return strings.HasPrefix(path, PathGeminiBeta) || strings.HasPrefix(path, PathGeminiV1) && strings.Contains(path, ":")
}

// geminiErrorShape rewrites an error answer of the OpenAI shape
// ({"error":{"message":...}}) that the shared code wrote into Google's
// ({"error":{"code":...,"message":...,"status":...}}), keeping the status
// and the message. Anything else (a success, a stream) is left alone.
func geminiErrorShape(c *fiber.Ctx) {
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
	b := append(buf[:0], `{"error":{"code":`...)
	b = appendFloat(b, float64(status), 0)
	b = append(b, `,"message":`...)
	if msg != nil {
		b = append(b, msg...)
	} else {
		b = append(b, `"the request failed with HTTP status `...)
		b = appendFloat(b, float64(status), 0)
		b = append(b, '"')
	}
	b = append(b, `,"status":"`...)
	b = append(b, body.GeminiStatus(status)...)
	b = append(b, `"}}`...)
	r.Header.SetContentType(fiber.MIMEApplicationJSON)
	r.SetBody(b)
}
