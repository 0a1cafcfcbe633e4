package upstream

import (
	"context"
	"errors"
	"math"
	"net/http"
	"strconv"
	"time"
)

// Kind is the class of an upstream failure, as routing's cooldowns need it.
type Kind uint8

// Kinds of failure. The zero Kind means success.
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

// ChannelWide reports whether the failure cools the whole channel rather
// than one (channel, model) pair.
func (k Kind) ChannelWide() bool { return k == Auth }

// Base cooldown periods (routing doubles them on repeats).
const (
	QuotaCooldown        = 1800 * time.Second
	RateLimitCooldown    = 10 * time.Second  // 429 without a usable hint
	MaxRateLimitCooldown = 300 * time.Second // cap on Retry-After and text hints
	NotFoundCooldown     = 300 * time.Second
	ServerCooldown       = 60 * time.Second
	NetworkCooldown      = 30 * time.Second // timeouts and connection errors
	OtherCooldown        = 60 * time.Second
)

// Class is the verdict on one failed attempt.
//
// Cooldown is the base period routing cools the pair for (the channel for
// Kind Auth). Auth has no timed end: its Cooldown is 0 and the channel stays
// cooled until a reload or a successful probe of its /models. BadRequest, OK
// and Canceled have no cooldown either.
//
// Failover reports whether routing should try the next pair.
type Class struct {
	Kind     Kind
	Cooldown time.Duration
	Failover bool
}

// Classify turns one attempt's outcome into a Class: err is a transport error
// (nil when an HTTP status arrived), status the upstream status, header its
// headers (may be nil) and body the start of its error body (may be nil).
func Classify(status int, header http.Header, body []byte, err error) Class {
	if err != nil {
		return classifyErr(err)
	}
	switch {
	case status >= 200 && status < 300:
		return Class{Kind: OK}
	case status == 400 || status == 413 || status == 422:
		return Class{Kind: BadRequest}
	case status == 401 || status == 403:
		if mentionsRateLimit(body) {
			return rateLimitClass(header, body)
		}
		return Class{Kind: Auth, Failover: true}
	case status == 402:
		return Class{Kind: Quota, Cooldown: QuotaCooldown, Failover: true}
	case status == 429:
		if mentionsQuota(body) {
			return Class{Kind: Quota, Cooldown: QuotaCooldown, Failover: true}
		}
		return rateLimitClass(header, body)
	case status == 404:
		return Class{Kind: NotFound, Cooldown: NotFoundCooldown, Failover: true}
	case status == 408:
		return Class{Kind: Timeout, Cooldown: NetworkCooldown, Failover: true}
	case status >= 500 && status < 600:
		return Class{Kind: Server, Cooldown: ServerCooldown, Failover: true}
	}
	return Class{Kind: Other, Cooldown: OtherCooldown, Failover: true}
}

// KeyErrorClass maps an error_type of the key-validation cache to the class
// that seeds the channel's state at start: invalid_key → Auth,
// quota_exceeded → Quota, rate_limit → RateLimit (10 s), anything else →
// Server (60 s).
func KeyErrorClass(errorType string) Class {
	switch errorType {
	case "invalid_key":
		return Class{Kind: Auth, Failover: true}
	case "quota_exceeded":
		return Class{Kind: Quota, Cooldown: QuotaCooldown, Failover: true}
	case "rate_limit":
		return Class{Kind: RateLimit, Cooldown: RateLimitCooldown, Failover: true}
	}
	return Class{Kind: Server, Cooldown: ServerCooldown, Failover: true}
}

// timeoutError is the cause the client records when one of its own timers
// ends an attempt.
type timeoutError string

func (e timeoutError) Error() string { return string(e) }
func (e timeoutError) Timeout() bool { return true }

const (
	errReadTimeout    timeoutError = "no data from upstream within the read timeout"
	errRequestTimeout timeoutError = "upstream did not finish within the request timeout"
)

func classifyErr(err error) Class {
	var te interface{ Timeout() bool }
	switch {
	case errors.Is(err, context.Canceled):
		return Class{Kind: Canceled}
	case errors.Is(err, context.DeadlineExceeded),
		errors.As(err, &te) && te.Timeout():
		return Class{Kind: Timeout, Cooldown: NetworkCooldown, Failover: true}
	}
	return Class{Kind: Connection, Cooldown: NetworkCooldown, Failover: true}
}

func rateLimitClass(header http.Header, body []byte) Class {
	d, ok := retryAfterHeader(header)
	if !ok {
		d, ok = retryHint(body)
	}
	if !ok {
		d = RateLimitCooldown
	}
	return Class{Kind: RateLimit, Cooldown: clampRetry(d), Failover: true}
}

func clampRetry(d time.Duration) time.Duration {
	switch {
	case d < time.Second:
		return time.Second // never zero: a "retry now" hint still deserves a pause
	case d > MaxRateLimitCooldown:
		return MaxRateLimitCooldown
	}
	return d
}

// retryAfterHeader reads Retry-After as seconds (decimals tolerated) or as an
// HTTP date.
func retryAfterHeader(h http.Header) (time.Duration, bool) {
	v := h.Get("Retry-After")
	if v == "" {
		return 0, false
	}
	if f, err := strconv.ParseFloat(v, 64); err == nil {
		if f < 0 || math.IsNaN(f) {
			return 0, false
		}
		return secondsDur(f), true
	}
	if t, err := http.ParseTime(v); err == nil {
		return time.Until(t), true
	}
	return 0, false
}

func secondsDur(f float64) time.Duration {
	if f > 1e6 {
		return time.Duration(1e6) * time.Second
	}
	return time.Duration(f * float64(time.Second))
}

func mentionsRateLimit(b []byte) bool {
	return containsFold(b, "rate limit") || containsFold(b, "rate_limit") ||
		containsFold(b, "rate-limit") || containsFold(b, "ratelimit") ||
		containsFold(b, "too many requests")
}

func mentionsQuota(b []byte) bool {
	return containsFold(b, "quota") || containsFold(b, "balance") || containsFold(b, "insufficient")
}

// retryHint finds "retry after 20s", "retry-after: 20", "retry_after": 20,
// "try again in 1.5s", "retry in 2 minutes" or "try again in 6m0s" in text.
func retryHint(b []byte) (time.Duration, bool) {
	for _, phrase := range [...]string{"retry after", "retry-after", "retry_after", "try again in", "retry in"} {
		from := 0
		for {
			i := indexFold(b[from:], phrase)
			if i < 0 {
				break
			}
			from += i + len(phrase)
			if d, ok := parseHintDuration(b[from:]); ok {
				return d, true
			}
		}
	}
	return 0, false
}

// parseHintDuration reads a duration at the start of b after separators:
// a Go-style duration (6m0s, 1.5s, 20ms) or a number and an optional unit word
// (seconds when absent).
func parseHintDuration(b []byte) (time.Duration, bool) {
	i := 0
	for i < len(b) && i < 8 && (b[i] == ' ' || b[i] == ':' || b[i] == '"' || b[i] == '=' || b[i] == '\'') {
		i++
	}
	j := i
	for j < len(b) && (b[j] >= '0' && b[j] <= '9' || b[j] == '.' || b[j] >= 'a' && b[j] <= 'z' || b[j] >= 'A' && b[j] <= 'Z') {
		j++
	}
	tok := b[i:j]
	if len(tok) == 0 || tok[0] < '0' || tok[0] > '9' {
		return 0, false
	}
	if len(tok) < 32 {
		if d, err := time.ParseDuration(string(lowerASCII(tok))); err == nil {
			return d, true
		}
	}
	n := 0
	for n < len(tok) && (tok[n] >= '0' && tok[n] <= '9' || tok[n] == '.') {
		n++
	}
	f, err := strconv.ParseFloat(string(tok[:n]), 64)
	if err != nil || n > 16 {
		return 0, false
	}
	unit := tok[n:]
	if len(unit) == 0 { // "20 seconds": the unit is the next word
		k := j
		for k < len(b) && b[k] == ' ' {
			k++
		}
		e := k
		for e < len(b) && (b[e] >= 'a' && b[e] <= 'z' || b[e] >= 'A' && b[e] <= 'Z') {
			e++
		}
		unit = b[k:e]
	}
	switch u := string(lowerASCII(unit)); {
	case u == "ms" || hasPrefix(u, "milli"):
		return time.Duration(f * float64(time.Millisecond)), true
	case u == "m" || hasPrefix(u, "min"):
		return secondsDur(f * 60), true
	case u == "h" || hasPrefix(u, "hour"):
		return secondsDur(f * 3600), true
	}
	return secondsDur(f), true
}

func hasPrefix(s, p string) bool { return len(s) >= len(p) && s[:len(p)] == p }

func lowerASCII(b []byte) []byte {
	out := make([]byte, len(b))
	for i, c := range b {
		if c >= 'A' && c <= 'Z' {
			c += 'a' - 'A'
		}
		out[i] = c
	}
	return out
}

// indexFold is an ASCII case-insensitive bytes.Index for a lowercase needle.
func indexFold(b []byte, needle string) int {
	if len(needle) == 0 {
		return 0
	}
	first := needle[0]
	for i := 0; i+len(needle) <= len(b); i++ {
		c := b[i]
		if c >= 'A' && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != first {
			continue
		}
		k := 1
		for ; k < len(needle); k++ {
			c := b[i+k]
			if c >= 'A' && c <= 'Z' {
				c += 'a' - 'A'
			}
			if c != needle[k] {
				break
			}
		}
		if k == len(needle) {
			return i
		}
	}
	return -1
}

func containsFold(b []byte, needle string) bool { return indexFold(b, needle) >= 0 }
