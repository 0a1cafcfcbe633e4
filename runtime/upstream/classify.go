package upstream

import (
	"context"
	"errors"
	"math"
	"net/http"
	"strconv"
	"time"

	"smartrouter/runtime/outcome"
)

// Classify turns one attempt's result into an outcome.Outcome: err is a transport error
// (nil when an HTTP status arrived), status the upstream status, header its
// headers (may be nil) and body the start of its error body (may be nil).
func Classify(status int, header http.Header, body []byte, err error) outcome.Outcome {
	if err != nil {
		return classifyErr(err)
	}
	switch {
	case status >= 200 && status < 300:
		return outcome.Of(outcome.OK)
	case status == 400 || status == 413 || status == 422:
		return outcome.Of(outcome.BadRequest)
	case status == 401 || status == 403:
		if mentionsRateLimit(body) {
			return rateLimitClass(header, body)
		}
		return outcome.Of(outcome.Auth)
	case status == 402:
		return outcome.Of(outcome.Quota)
	case status == 429:
		if mentionsQuota(body) {
			return outcome.Of(outcome.Quota)
		}
		return rateLimitClass(header, body)
	case status == 404:
		return outcome.Of(outcome.NotFound)
	case status == 408:
		return outcome.Of(outcome.Timeout)
	case status >= 500 && status < 600:
		return outcome.Of(outcome.Server)
	}
	return outcome.Of(outcome.Other)
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

func classifyErr(err error) outcome.Outcome {
	var te interface{ Timeout() bool }
	switch {
	case errors.Is(err, context.Canceled):
		return outcome.Of(outcome.Canceled)
	case errors.Is(err, context.DeadlineExceeded),
		errors.As(err, &te) && te.Timeout():
		return outcome.Of(outcome.Timeout)
	}
	return outcome.Of(outcome.Connection)
}

func rateLimitClass(header http.Header, body []byte) outcome.Outcome {
	d, ok := retryAfterHeader(header)
	if !ok {
		d, ok = retryHint(body)
	}
	if !ok {
		d = outcome.RateLimitCooldown
	}
	return outcome.Outcome{Kind: outcome.RateLimit, Cooldown: clampRetry(d), Failover: true}
}

func clampRetry(d time.Duration) time.Duration {
	switch {
	case d < time.Second:
		return time.Second // never zero: a "retry now" hint still deserves a pause
	case d > outcome.MaxRateLimitCooldown:
		return outcome.MaxRateLimitCooldown
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
