package server

import (
	"bytes"
	"crypto/sha256"
	"crypto/subtle"

	"github.com/gofiber/fiber/v2"
)

// presentedToken returns the client's token: Authorization: Bearer <token>,
// else x-api-key. The slice aliases the request headers.
func presentedToken(c *fiber.Ctx) []byte {
	h := &c.Request().Header
	if a := bytes.TrimSpace(h.Peek(fiber.HeaderAuthorization)); len(a) > 7 && (a[6] == ' ' || a[6] == '\t') &&
		bytes.EqualFold(a[:6], []byte("bearer")) {
		return bytes.TrimSpace(a[7:])
	}
	return bytes.TrimSpace(h.Peek("X-Api-Key"))
}

// tokenMatches compares a presented token with a stored SHA-256 digest in
// constant time (hashing first hides the token's length too).
func tokenMatches(tok []byte, want *[32]byte) bool {
	if len(tok) == 0 {
		return false
	}
	got := sha256.Sum256(tok)
	return subtle.ConstantTimeCompare(got[:], want[:]) == 1
}

// authorize checks the client token of a /v1/* request: the admin token for
// /v1/admin/* when the admin auth is on, else the API token or a client key
// (tenants.go) when auth is on or client keys are configured.
// It writes the 401 itself and reports false then.
func (st *state) authorize(c *fiber.Ctx, admin bool) bool {
	switch {
	case admin && st.adminOn:
		if tokenMatches(presentedToken(c), &st.adminHash) {
			return true
		}
		unauthorized(c, "admin endpoints need the admin token: send Authorization: Bearer <auth.admin.admin_token>")
		return false
	case admin:
		// Without an admin token the admin paths follow the shared token
		// alone: a client key never opens them.
		if !st.authOn || tokenMatches(presentedToken(c), &st.apiHash) {
			return true
		}
		unauthorized(c, "missing or wrong API token: send Authorization: Bearer <auth.api_token> (or x-api-key)")
		return false
	case st.keysOn():
		_, ok := st.identify(c, st.now())
		return ok
	}
	return true
}

func unauthorized(c *fiber.Ctx, msg string) {
	c.Response().Header.Set(fiber.HeaderWWWAuthenticate, `Bearer realm="smartrouter"`)
	writeError(c, fiber.StatusUnauthorized, typeAuth, codeAuth, "", msg)
}
