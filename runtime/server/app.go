package server

import (
	"errors"
	"fmt"
	"runtime/debug"

	"github.com/gofiber/fiber/v2"
)

// Paths of the endpoints.
const (
	PathRoot        = "/"
	PathHealth      = "/health"
	PathMetrics     = "/metrics"
	PathChat        = "/v1/chat/completions"
	PathEmbeddings  = "/v1/embeddings"
	PathCompletions = "/v1/completions"
	PathModels      = "/v1/models"
	PathAdminSnap   = "/v1/admin/snapshot"
	PathAdminReload = "/v1/admin/reload"
	PathAdminRoute  = "/v1/admin/route"
)

func (s *Server) newApp() *fiber.App {
	app := fiber.New(fiber.Config{
		AppName:        Name,
		BodyLimit:      s.bodyLimit,
		ReadTimeout:    orDur(s.opts.ReadTimeout, DefaultReadTimeout),
		IdleTimeout:    orDur(s.opts.IdleTimeout, DefaultIdleTimeout),
		ReadBufferSize: 16 << 10,
		// A connection holds its read and write buffers only while it reads a
		// request or writes an answer, not while the answer is awaited or
		// streamed: thousands of requests in flight cost that much less.
		ReduceMemoryUsage:     true,
		DisableStartupMessage: true,
		ErrorHandler:          s.errorHandler,
		// The raw body is forwarded; fiber must not decode it.
		DisablePreParseMultipartForm: true,
	})
	app.Server().ConnState = s.conns.connState
	app.Use(s.recoverer)
	app.Use(s.cors)
	app.Get(PathRoot, s.root)
	app.Get(PathHealth, s.health)
	app.Get(PathMetrics, s.metrics)
	app.Post(PathChat, s.admitJSON, s.chat)
	app.Post(PathMessages, s.admitMessages, s.messages)
	app.Post(PathMessagesCount, s.admitMessages, s.countTokens)
	app.Post(PathEmbeddings, s.admitJSON, s.embeddings)
	app.Post(PathCompletions, s.admitJSON, s.completions)
	app.Post(PathGeminiBeta+"*", s.admitGemini, s.gemini)
	app.Post(PathGeminiV1+"*", s.admitGemini, s.gemini)
	app.Get(PathModels, s.models)
	app.Get(PathAdminSnap, s.adminSnapshot)
	app.Post(PathAdminReload, s.adminReload)
	app.Get(PathAdminRoute, s.adminRoute)
	app.Post(PathAdminCooldownsReset, s.adminCooldownsReset)
	app.Post(PathAdminRefresh, s.adminRefresh)
	app.Get(PathAdminPatterns, s.adminPatterns)
	app.Get(PathAdminUsage, s.adminUsage)
	app.Get(PathAdminRequests, s.adminRequests)
	app.Get(PathAdminChannels, s.adminChannels)
	app.Get(PathStatus, s.statusPage)
	app.Get(PathStatusCSS, s.statusPage)
	app.Get(PathStatusJS, s.statusPage)
	return app
}

// surfaceErrorShape rewrites the OpenAI-style error answer the shared code
// wrote into the shape of the request's API surface: Anthropic's on the
// Messages paths, Google's on the Gemini paths; others are left alone.
func surfaceErrorShape(c *fiber.Ctx) {
	if p := c.Path(); isMessagesPath(p) {
		anthropicErrorShape(c)
	} else if isGeminiPath(p) {
		geminiErrorShape(c)
	}
}

// recoverer turns a panic of a handler into a 500 error without details,
// in the shape of the request's API surface (surfaceErrorShape); the panic
// and its stack go to the log only.
func (s *Server) recoverer(c *fiber.Ctx) (err error) {
	defer func() {
		if r := recover(); r != nil {
			s.log.Error("panic while serving a request; answered 500",
				"method", c.Method(), "path", c.Path(), "panic", fmt.Sprint(r), "stack", string(debug.Stack()))
			c.Response().Reset()
			writeError(c, fiber.StatusInternalServerError, typeServer, codeInternal, "", "internal error; the server log has the details")
			surfaceErrorShape(c)
			err = nil
		}
	}()
	return c.Next()
}

// errorHandler answers the errors fiber and fasthttp raise themselves
// (unknown path, wrong method, body over the limit, malformed request) and
// any error a handler returns, in the shape of the request's API surface
// (surfaceErrorShape) and never with internal details.
func (s *Server) errorHandler(c *fiber.Ctx, err error) error {
	defer surfaceErrorShape(c)
	var fe *fiber.Error
	if errors.As(err, &fe) {
		switch fe.Code {
		case fiber.StatusRequestEntityTooLarge:
			writeError(c, fe.Code, typeInvalid, codeTooLarge, "",
				fmt.Sprintf("request body is larger than the limit of %d bytes (server.max_request_size); send a smaller request", s.bodyLimit))
		case fiber.StatusNotFound:
			writeError(c, fe.Code, typeInvalid, codeNotFound, "", "no such endpoint: "+c.Method()+" "+c.Path())
		case fiber.StatusMethodNotAllowed:
			writeError(c, fe.Code, typeInvalid, codeMethod, "", "method "+c.Method()+" is not allowed on "+c.Path())
		case fiber.StatusRequestHeaderFieldsTooLarge:
			writeError(c, fe.Code, typeInvalid, codeInvalid, "", "request headers are too large")
		case fiber.StatusRequestTimeout:
			writeError(c, fe.Code, typeInvalid, codeTimeout, "", "the request was not received in time")
		default:
			if fe.Code >= 400 && fe.Code < 500 {
				writeError(c, fe.Code, typeInvalid, codeInvalid, "", "malformed HTTP request")
			} else {
				writeError(c, fe.Code, typeServer, codeInternal, "", "internal error")
			}
		}
		return nil
	}
	s.log.Error("request failed with an internal error; answered 500", "method", c.Method(), "path", c.Path(), "error", err)
	writeError(c, fiber.StatusInternalServerError, typeServer, codeInternal, "", "internal error; the server log has the details")
	return nil
}
