package server

import (
	"errors"

	"github.com/gofiber/fiber/v2"

	"smartrouter/format"
	"smartrouter/runtime/body"
)

// completeTranslated answers a successful non-stream attempt i of a surface
// whose wire format has no room for the router's metadata (Messages,
// Gemini): out is the answer in the client's format and u its usage, or
// err tells why the upstream answer could not be translated into format
// (a 502). The routing goes in the X-Router-* headers and the cost in
// HeaderCost (with response_metadata on).
func (w *work) completeTranslated(i int, out []byte, u body.Usage, err error, format string) {
	s, st := w.s, w.st
	overhead := w.overhead()
	w.routedHeaders(st, i, i+1, overhead)
	s.met.Overhead(seconds(overhead))
	if err != nil {
		writeError(w.c, fiber.StatusBadGateway, typeUp, codeInvalid, "",
			"the upstream answer could not be translated to the "+format+" format: "+err.Error())
		s.met.Request(fiber.StatusBadGateway, codeInvalid)
		w.ut.code = codeInvalid
		return
	}
	s.met.Tokens(u.PromptTokens, u.CompletionTokens)
	w.charge(i, &u)
	w.noteUsage(i, &u)
	resp := w.c.Response()
	if st.meta {
		w.meta = appendFloat(w.meta[:0], w.costUSD(i, &u), 10)
		resp.Header.SetBytesV(HeaderCost, w.meta)
	}
	resp.SetStatusCode(fiber.StatusOK)
	resp.Header.SetContentType(fiber.MIMEApplicationJSON)
	resp.SetBody(out)
	s.met.Request(fiber.StatusOK, "")
}

// costUSD is the cost in USD of attempt i's answer of usage u.
func (w *work) costUSD(i int, u *body.Usage) float64 {
	cost := w.st.router.Cost(w.dec.Pairs[i], float64(max(u.PromptTokens, 0)), float64(max(u.CompletionTokens, 0)))
	return (cost.Prompt + cost.Completion + cost.Request) / format.PicoUSDPerUSD
}

// refused answers 400 to a request the translation of a surface refused: a
// *body.RequestError with its parameter and message, else a body that is
// not JSON (the surface's own error shape is applied by its handler).
func (w *work) refused(err error) {
	var re *body.RequestError
	if errors.As(err, &re) {
		w.s.chatError(w, fiber.StatusBadRequest, typeInvalid, codeInvalid, re.Param, re.Msg)
		return
	}
	w.s.chatError(w, fiber.StatusBadRequest, typeInvalid, codeInvalid, "", "request body must be a JSON object: "+err.Error())
}
