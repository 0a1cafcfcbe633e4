package outcome

import (
	"strconv"
	"time"
)

// Kind is the class of one attempt's outcome. The zero Kind is success.
type Kind uint8

// Kinds of outcome.
const (
	OK         Kind = iota // 2xx
	BadRequest             // 400, 413, 422: the request is at fault; return it, no failover
	Auth                   // 401, 403: the channel's key is refused; cool the whole channel
	Quota                  // 402, or 429 that mentions quota, balance or insufficient
	RateLimit              // 429 (or 401/403 that mention a rate limit)
	NotFound               // 404: the model is gone from the channel
	Server                 // 5xx, or an error object inside a 200 answer
	Timeout                // connect, header, read or overall timeout; also 408
	Connection             // refused, reset, truncated answer, TLS or DNS failure
	Canceled               // the caller gave up (client disconnected): no cooldown
	Other                  // any other status (3xx, unlisted 4xx)
)

var kindNames = [...]string{"ok", "bad_request", "auth", "quota", "rate_limit", "not_found",
	"server", "timeout", "connection", "canceled", "other"}

// String returns a short snake_case name, usable as a metrics label.
func (k Kind) String() string {
	if int(k) < len(kindNames) {
		return kindNames[k]
	}
	return "kind(" + strconv.Itoa(int(k)) + ")"
}

// MarshalText makes a Kind print as its name in JSON.
func (k Kind) MarshalText() ([]byte, error) { return []byte(k.String()), nil }

// ChannelWide reports whether the failure cools the whole channel rather
// than one (channel, model) pair.
func (k Kind) ChannelWide() bool { return k == Auth }

// Neutral reports whether an outcome of this kind says nothing about the
// pair: the caller gave up (Canceled) or the request itself was refused
// (BadRequest). The live state ignores it.
func (k Kind) Neutral() bool { return k == Canceled || k == BadRequest }

// The cooldown table: the base period a first failure cools its pair for.
// The live state doubles it for each further incident of the same cooldown
// kind (see CooldownKind) before a success, up to a cap per kind, and never
// doubles a rate limit; routing.error_cooldown_period replaces
// ServerCooldown.
const (
	QuotaCooldown        = 1800 * time.Second
	RateLimitCooldown    = 10 * time.Second  // 429 without a usable hint
	MaxRateLimitCooldown = 300 * time.Second // cap on Retry-After and text hints
	NotFoundCooldown     = 300 * time.Second
	ServerCooldown       = 60 * time.Second
	NetworkCooldown      = 30 * time.Second // timeouts and connection errors
	OtherCooldown        = 60 * time.Second
)

// Cooldown returns the base cooldown of a failure of this kind. Auth has
// none (the channel cools until a reload or a successful recovery probe);
// neither have OK, BadRequest and Canceled.
func (k Kind) Cooldown() time.Duration {
	switch k {
	case Quota:
		return QuotaCooldown
	case RateLimit:
		return RateLimitCooldown
	case NotFound:
		return NotFoundCooldown
	case Server:
		return ServerCooldown
	case Timeout, Connection:
		return NetworkCooldown
	case Other:
		return OtherCooldown
	}
	return 0
}

// CooldownKind is the kind a cooldown of this failure is recorded under in
// the live state (and shown by the admin endpoints): timeouts and
// connection errors are one kind (Timeout), and a failure without a
// cooldown kind of its own (Other) counts as Server. A repeated failure
// doubles its period only when both are of one cooldown kind.
func (k Kind) CooldownKind() Kind {
	switch k {
	case Auth, Quota, RateLimit, NotFound, Server, Timeout:
		return k
	case Connection:
		return Timeout
	}
	return Server
}

// Outcome is the verdict on one attempt.
//
// Cooldown is the base period routing cools the pair for (the channel for
// Kind Auth). Auth has no timed end: its Cooldown is 0 and the channel stays
// cooled until a reload or a successful probe of its /models. OK,
// BadRequest and Canceled have no cooldown either; a zero Cooldown on any
// other failure means the table's (Kind.Cooldown).
//
// Failover reports whether routing should try the next pair.
type Outcome struct {
	Kind     Kind
	Cooldown time.Duration
	Failover bool
}

// Of returns the outcome of kind k with the table's cooldown: every failure
// fails over except BadRequest and Canceled.
func Of(k Kind) Outcome {
	return Outcome{Kind: k, Cooldown: k.Cooldown(), Failover: k != OK && !k.Neutral()}
}

// KeyError maps an error_type of the key-validation cache to the outcome
// that seeds the channel's state at start: invalid_key → Auth,
// quota_exceeded → Quota (1800 s), rate_limit → RateLimit (10 s), anything
// else → Server (60 s).
func KeyError(errorType string) Outcome {
	switch errorType {
	case "invalid_key":
		return Of(Auth)
	case "quota_exceeded":
		return Of(Quota)
	case "rate_limit":
		return Of(RateLimit)
	}
	return Of(Server)
}
