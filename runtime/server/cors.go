package server

import (
	"strings"

	"github.com/gofiber/fiber/v2"
)

// CORS for browser clients, from server.cors_origins of the current snapshot
// (default ["*"]). A request without an Origin header (every SDK, curl) skips
// all of this. A preflight (OPTIONS with Access-Control-Request-Method) is
// answered here with 204; an origin not in the list gets no CORS headers, so
// the browser refuses the answer.

// corsPolicy is the per-snapshot form of server.cors_origins.
type corsPolicy struct {
	any     bool
	origins map[string]bool // exact origins, lowercased
}

func newCORSPolicy(list []string) corsPolicy {
	p := corsPolicy{origins: make(map[string]bool, len(list))}
	for _, o := range list {
		o = strings.ToLower(strings.TrimRight(strings.TrimSpace(o), "/"))
		if o == "*" {
			p.any = true
		} else if o != "" {
			p.origins[o] = true
		}
	}
	return p
}

func (p corsPolicy) allows(origin string) bool {
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
		if preflight {
			return c.SendStatus(fiber.StatusForbidden)
		}
		return c.Next()
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
