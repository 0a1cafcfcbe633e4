package server

import (
	"github.com/gofiber/fiber/v2"

	"smartrouter/runtime/body"
	"smartrouter/runtime/upstream"
)

// The OpenAI embeddings surface of the proxy loop (proxy.go): routed over
// embedding models only, never streamed; the body goes upstream with only
// "model" changed (input, encoding_format, dimensions, user as sent).

// embeddingsSurface is POST /v1/embeddings.
var embeddingsSurface = surface{
	name:     "embeddings",
	op:       upstream.OpEmbeddings,
	validate: (*work).validateEmbeddings,
	rewrite:  (*work).rewriteOnlyModel,
	complete: (*work).completePlain,
	commit:   (*work).commitStream, // not reached: validate never sets Stream
}

// embeddings serves POST /v1/embeddings.
func (s *Server) embeddings(c *fiber.Ctx) error {
	s.proxy(c, &embeddingsSurface)
	return nil
}

// validateEmbeddings reads the features of an embeddings request: a JSON
// object with a "model" and an "input" of a shape the API accepts.
func (w *work) validateEmbeddings() bool {
	var err error
	w.f, err = body.ParseOpenAIEmbeddings(w.in)
	return w.checkOpenAIRequest(err, w.f.HasInput, "input",
		`request body has no usable "input"; send a string, an array of strings, an array of token ids or an array of token id arrays`)
}

// rewriteOnlyModel copies the client body with the pair's model id.
func (w *work) rewriteOnlyModel(model string) ([]byte, error) {
	var err error
	w.body, err = body.RewriteModel(w.body[:0], w.in, model)
	w.added = false
	return w.body, err
}

// completePlain answers a successful non-stream attempt i with the upstream
// JSON and the smart_ai_router object; no reasoning cut applies.
func (w *work) completePlain(i int) { w.completeJSON(i, false) }
