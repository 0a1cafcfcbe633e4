package server

import (
	"crypto/sha256"
	"crypto/subtle"
	"strconv"
	"time"

	"github.com/gofiber/fiber/v2"

	"smartrouter/format"
	"smartrouter/runtime/body"
	"smartrouter/runtime/tenant"
)

// Client keys (runtime/tenant) in the proxy loop. acquire identifies the
// key of the presented token (w.authorize); admit, between validate and
// route, checks the key's allowance and limits once the model and the
// estimated tokens are known; the surfaces charge the real usage where they
// learn it (w.charge; the stream relay at its end) and the request's
// in-flight slot is given back when the answer, streamed or not, is over
// (end, or the relay's Close). Every refusal is written in OpenAI's shape
// and turned into the surface's own by the surface (messages.go,
// gemini.go), like every other error of the loop.

// Error codes of the client key refusals.
const (
	codeModelNotAllowed = "model_not_allowed"
	codeRateLimit       = "rate_limit_exceeded"
	codeBudget          = "insufficient_quota"

	typePermission = "permission_error"
	typeRateLimit  = "rate_limit_error"
)

// hold is a request's claim on its client key's counters: the key found at
// acquire, and once admitted, the in-flight slot and the tokens estimated
// then. It moves from the work to the stream relay when a stream starts.
type hold struct {
	key      *tenant.Key // nil: no client key (the shared token, or auth off)
	est      int64       // tokens counted at admission
	admitted bool        // an in-flight slot is held
	charged  bool        // the real usage was charged
}

// keysOn reports whether the API needs a token: auth.enabled, or any client
// key configured (even when none of them is usable: a refused key never
// opens the API).
func (st *state) keysOn() bool { return st.authOn || st.keys.Configured() > 0 }

// identify checks the presented token against the shared api_token and the
// client keys. It answers 401 itself and reports false when neither
// matches or the key has expired; key is nil for the shared token.
func (st *state) identify(c *fiber.Ctx, now time.Time) (key *tenant.Key, ok bool) {
	tok := presentedToken(c)
	if len(tok) > 0 {
		sum := sha256.Sum256(tok)
		if st.authOn && subtle.ConstantTimeCompare(sum[:], st.apiHash[:]) == 1 {
			return nil, true
		}
		if k := st.keys.Lookup(&sum); k != nil {
			if k.Expired(now) {
				unauthorized(c, "client key \""+k.Name+"\" expired at "+time.Unix(k.Expires, 0).UTC().Format(time.RFC3339)+"; ask the router's operator for a new key")
				return nil, false
			}
			return k, true
		}
	}
	if st.keys.Configured() > 0 {
		unauthorized(c, "missing or wrong API key: send Authorization: Bearer <your client key> (or x-api-key)")
	} else {
		unauthorized(c, "missing or wrong API token: send Authorization: Bearer <auth.api_token> (or x-api-key)")
	}
	return nil, false
}

// authorize is acquire's token check: it notes the client key of the
// request.
func (w *work) authorize() bool {
	st := w.st
	if !st.keysOn() {
		return true
	}
	k, ok := st.identify(w.c, w.s.now())
	if !ok {
		return false
	}
	if k != nil {
		w.hold.key = k
		w.client = k.Name
	}
	return true
}

// strategy is the request's strategy: the X-Router-Strategy header, else
// the client key's default, else "" (the router's default).
func (w *work) strategy() string {
	if v := w.c.Get(HeaderStrategy); v != "" || w.hold.key == nil {
		return v
	}
	return w.hold.key.Strategy
}

// admit checks the client key's allowance and limits for the validated
// request, and counts it: 403 for a model outside the key's allowance,
// 429 with Retry-After over a rate limit, and over a budget 429 (402 on
// /v1/messages, whose API has a billing error) with Retry-After until the
// budget's UTC day or month ends.
func (w *work) admit() bool {
	if h := w.s.ext.seedHold.Load(); h != nil && !w.waitSeed(h) {
		return false
	}
	k := w.hold.key
	if k == nil {
		return true
	}
	s := w.s
	if !k.Allows(w.f.Model) {
		s.chatError(w, fiber.StatusForbidden, typePermission, codeModelNotAllowed, "model",
			"client key \""+k.Name+"\" may not use model \""+w.f.Model+"\"; use one of the models its client_keys entry allows, or ask the router's operator to add it")
		return false
	}
	est := int64(max(w.f.InputTokens, 0))
	v := s.tenants.Admit(k.Name, &k.Limits, s.now(), est)
	if v.Denial == tenant.Admitted {
		w.hold.est, w.hold.admitted = est, true
		return true
	}
	w.meta = strconv.AppendInt(w.meta[:0], v.RetryAfterSeconds(), 10)
	w.c.Response().Header.SetBytesV(fiber.HeaderRetryAfter, w.meta)
	if v.Denial.Budget() {
		status := fiber.StatusTooManyRequests
		if w.sf == &messagesSurface {
			status = fiber.StatusPaymentRequired
		}
		s.chatError(w, status, codeBudget, codeBudget, "", budgetMessage(k, v))
		return false
	}
	s.chatError(w, fiber.StatusTooManyRequests, typeRateLimit, codeRateLimit, "", rateMessage(k, v))
	return false
}

func budgetMessage(k *tenant.Key, v tenant.Verdict) string {
	what, limit, field, resets := "daily budget", k.Limits.DailyUSD, "budget.daily_usd", "at 00:00 UTC"
	if v.Denial == tenant.MonthlyBudget {
		what, limit, field, resets = "monthly budget", k.Limits.MonthlyUSD, "budget.monthly_usd", "on the 1st of next month, 00:00 UTC"
	}
	return "client key \"" + k.Name + "\" has spent its " + what + " of " + strconv.FormatFloat(limit, 'f', -1, 64) +
		" USD (" + field + "); it resets " + resets
}

func rateMessage(k *tenant.Key, v tenant.Verdict) string {
	var what string
	switch v.Denial {
	case tenant.Concurrency:
		what = strconv.FormatUint(uint64(k.Limits.Concurrent), 10) + " concurrent requests (limits.concurrent)"
	case tenant.RequestRate:
		what = strconv.FormatUint(uint64(k.Limits.RPM), 10) + " requests per minute (limits.requests_per_minute)"
	default:
		what = strconv.FormatUint(k.Limits.TPM, 10) + " tokens per minute (limits.tokens_per_minute)"
	}
	return "client key \"" + k.Name + "\" is over its limit of " + what + "; retry after " +
		strconv.FormatInt(v.RetryAfterSeconds(), 10) + " s"
}

// charge counts the real usage of attempt i's answer against the client
// key: tokens per minute (the estimate corrected) and spend. Called where a
// surface learns the usage (contract: one call beside met.Tokens).
func (w *work) charge(i int, u *body.Usage) {
	w.hold.charge(w.s, w.st, w.dec.Pairs[i], u)
}

// charge implements work.charge for the work and the stream relay. An
// answer without usage is charged its estimated input tokens.
func (h *hold) charge(s *Server, st *state, pair uint32, u *body.Usage) {
	if h.key == nil || !h.admitted || h.charged {
		return
	}
	h.charged = true
	in, out := max(u.PromptTokens, 0), max(u.CompletionTokens, 0)
	if in+out == 0 {
		in = h.est
	}
	cost := st.router.Cost(pair, float64(in), float64(out))
	usd := (cost.Prompt + cost.Completion + cost.Request) / format.PicoUSDPerUSD
	s.tenants.Charge(h.key.Name, &h.key.Limits, s.now(), h.est, in+out, usd)
}

// release gives the in-flight slot back; a request that ended without
// being charged (it failed, or its client left) gives its estimated tokens
// back too.
func (h *hold) release(s *Server) {
	if h.key != nil && h.admitted {
		if !h.charged {
			s.tenants.Charge(h.key.Name, &h.key.Limits, s.now(), h.est, 0, 0)
		}
		s.tenants.Release(h.key.Name)
	}
	*h = hold{}
}

// handOver moves the work's hold to a stream relay, which releases it at
// the stream's end.
func (w *work) handOver() hold {
	h := w.hold
	w.hold = hold{}
	return h
}

// ClientCounters returns the counters behind the client keys' limits, for
// routerd to seed the spend so far at start (tenant.Counters.SeedSpend, from
// the usage ledger). Channel day counts are seeded through
// Live().SeedChannelDay.
func (s *Server) ClientCounters() tenant.Counters { return s.tenants }
