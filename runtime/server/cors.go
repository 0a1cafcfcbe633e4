package server

import (
	"strconv"
	"strings"

	"github.com/gofiber/fiber/v2"
)

// CORS for browser clients, from server.cors_origins of the current snapshot
// (default ["*"]). A request without an Origin header (every SDK, curl) skips
// all of this. For a request with an Origin:
//
//   - an allowed origin gets Access-Control-Allow-Origin (its own value,
//     never "*") and the exposed X-Router-* headers; its preflight (OPTIONS
//     with Access-Control-Request-Method) is answered here with 204;
//   - an origin not in the list gets no CORS header at all; its preflight is
//     refused 403, and so is any request other than GET, HEAD or OPTIONS
//     (403 origin_not_allowed, before any handler runs), because a browser
//     sends a "simple" cross-site POST (text/plain, form data) without a
//     preflight and would run it even though it hides the answer;
//   - "null" (sandboxed frames, file: pages, some redirects) is an origin
//     like the others but "*" does not cover it: it is allowed only when
//     cors_origins lists "null" itself.

// corsPolicy is the per-snapshot form of server.cors_origins.
type corsPolicy struct {
	any     bool
	null    bool            // "null" is listed
	origins map[string]bool // exact origins, lowercased
}

func newCORSPolicy(list []string) corsPolicy {
	p := corsPolicy{origins: make(map[string]bool, len(list))}
	for _, o := range list {
		o = strings.ToLower(strings.TrimRight(strings.TrimSpace(o), "/"))
		switch {
		case o == "*":
			p.any = true
		case o == "null":
			p.null = true
		case o != "":
			p.origins[o] = true
		}
	}
	return p
}

func (p corsPolicy) allows(origin string) bool {
	if strings.EqualFold(strings.TrimSpace(origin), "null") {
		return p.null
	}
	return p.any || p.origins[strings.ToLower(origin)]
}

func (s *Server) cors(c *fiber.Ctx) error {
	origin := c.Get(fiber.HeaderOrigin)
	if origin == "" {
		return c.Next()
	}
	allowed := false
	if h := s.mgr.Acquire(); h != nil {
		if st, ok := h.Value.(*state); ok {
			allowed = st.cors.allows(origin)
		}
		h.Release()
	}
	c.Vary(fiber.HeaderOrigin)
	preflight := c.Method() == fiber.MethodOptions && c.Get(fiber.HeaderAccessControlRequestMethod) != ""
	if !allowed {
		switch {
		case preflight:
			return c.SendStatus(fiber.StatusForbidden)
		case safeMethod(c.Method()):
			return c.Next()
		}
		writeError(c, fiber.StatusForbidden, typeInvalid, codeOrigin, "",
			"requests from origin "+strconvQuote(origin)+" are not allowed; add it to server.cors_origins to allow browser requests from it")
		return nil
	}
	c.Set(fiber.HeaderAccessControlAllowOrigin, origin)
	c.Set(fiber.HeaderAccessControlExposeHeaders, "X-Request-ID, X-Router-Channel, X-Router-Provider, X-Router-Model, X-Router-Strategy, X-Router-Score, X-Router-Attempts, X-Router-Overhead-Ms, X-Router-Status")
	if !preflight {
		return c.Next()
	}
	c.Set(fiber.HeaderAccessControlAllowMethods, "GET, POST, OPTIONS")
	if rh := c.Get(fiber.HeaderAccessControlRequestHeaders); rh != "" {
		c.Set(fiber.HeaderAccessControlAllowHeaders, rh)
	}
	c.Set(fiber.HeaderAccessControlMaxAge, "600")
	return c.SendStatus(fiber.StatusNoContent)
}

// safeMethod reports whether a method changes nothing on this server.
func safeMethod(m string) bool {
	return m == fiber.MethodGet || m == fiber.MethodHead || m == fiber.MethodOptions
}

// strconvQuote quotes an untrusted header value for a message, at most 100
// bytes of it.
func strconvQuote(s string) string {
	if len(s) > 100 {
		s = s[:100] + "..."
	}
	return strconv.Quote(s)
}
