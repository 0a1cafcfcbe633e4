package server

import (
	"github.com/gofiber/fiber/v2"

	"smartrouter/runtime/body"
	"smartrouter/runtime/upstream"
)

// The OpenAI legacy completions surface of the proxy loop (proxy.go):
// routed like chat, stream and non-stream. A stream asks the upstream for
// its usage chunk as chat does (and drops it when the client had not asked);
// no reasoning cut applies to a text completion.

// completionsSurface is POST /v1/completions.
var completionsSurface = surface{
	name:     "completions",
	op:       upstream.OpCompletions,
	validate: (*work).validateCompletion,
	rewrite:  (*work).rewriteChat,
	complete: (*work).completePlain,
	commit:   (*work).commitStream,
}

// completions serves POST /v1/completions.
func (s *Server) completions(c *fiber.Ctx) error {
	s.proxy(c, &completionsSurface)
	return nil
}

// validateCompletion reads the features of a completions request: a JSON
// object with a "model" and a "prompt" of a shape the API accepts.
func (w *work) validateCompletion() bool {
	var err error
	w.f, err = body.ParseOpenAICompletion(w.in)
	return w.checkOpenAIRequest(err, w.f.HasInput, "prompt",
		`request body has no usable "prompt"; send a string, an array of strings, an array of token ids or an array of token id arrays`)
}
