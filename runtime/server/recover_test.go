package server

import (
	"errors"
	"io"
	"log/slog"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/gofiber/fiber/v2"
)

// A panic or an internal error in a handler is a 500 with an OpenAI-style
// body and no detail; the detail goes to the log.
func TestRecoverAndErrorHandler(t *testing.T) {
	var logs strings.Builder
	s := &Server{log: slog.New(slog.NewTextHandler(&logs, nil))}
	app := fiber.New(fiber.Config{ErrorHandler: s.errorHandler, DisableStartupMessage: true})
	app.Use(s.recoverer)
	app.Get("/panic", func(c *fiber.Ctx) error { panic("secret-detail-1") })
	app.Get("/error", func(c *fiber.Ctx) error { return errors.New("secret-detail-2") })
	for _, path := range []string{"/panic", "/error"} {
		resp, err := app.Test(httptest.NewRequest("GET", path, nil))
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		a := answer{status: resp.StatusCode, header: resp.Header, body: b}
		if a.status != 500 || a.errorCode(t) != codeInternal {
			t.Errorf("%s: %d %s", path, a.status, b)
		}
		if strings.Contains(string(b), "secret-detail") || strings.Contains(string(b), "goroutine") {
			t.Errorf("%s: body shows details: %s", path, b)
		}
	}
	if !strings.Contains(logs.String(), "secret-detail-1") || !strings.Contains(logs.String(), "secret-detail-2") ||
		!strings.Contains(logs.String(), "stack=") {
		t.Errorf("log lacks the details:\n%s", logs.String())
	}
}

// A panic on the Messages and Gemini paths is answered in that surface's
// error shape.
func TestRecoverInSurfaceShape(t *testing.T) {
	s := &Server{log: slog.New(slog.DiscardHandler)}
	app := fiber.New(fiber.Config{ErrorHandler: s.errorHandler, DisableStartupMessage: true})
	app.Use(s.recoverer)
	app.Post(PathMessages, func(c *fiber.Ctx) error { panic("secret-detail-3") })
	app.Post(PathGeminiBeta+"*", func(c *fiber.Ctx) error { panic("secret-detail-4") })
	for _, tc := range []struct{ path, want string }{
		{PathMessages, `{"type":"error","error":{"type":"api_error","message":"internal error; the server log has the details"}}`},
		{PathGeminiBeta + "m:generateContent", `{"error":{"code":500,"message":"internal error; the server log has the details","status":"INTERNAL"}}`},
	} {
		resp, err := app.Test(httptest.NewRequest("POST", tc.path, strings.NewReader("{}")))
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != 500 || string(b) != tc.want {
			t.Errorf("%s: %d %s", tc.path, resp.StatusCode, b)
		}
	}
}

func TestDebugLogPerRequest(t *testing.T) {
	var logs syncBuffer
	h := start(t, harnessOpt{options: func(o *Options) {
		o.Logger = slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}})
	h.chat(hello, nil)
	if !strings.Contains(logs.String(), `msg="chat request"`) || !strings.Contains(logs.String(), "channel=ch-a") {
		t.Errorf("no debug line:\n%s", logs.String())
	}
	for _, k := range []string{keyA, keyB, keyC} {
		if strings.Contains(logs.String(), k) {
			t.Error("the log shows an API key")
		}
	}
}
