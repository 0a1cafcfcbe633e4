package upstream

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"syscall"
	"testing"
	"time"

	"smartrouter/runtime/outcome"
)

func TestClassify(t *testing.T) {
	hdr := func(kv ...string) http.Header {
		h := http.Header{}
		for i := 0; i < len(kv); i += 2 {
			h.Set(kv[i], kv[i+1])
		}
		return h
	}
	future := time.Now().Add(2 * time.Hour).UTC().Format(http.TimeFormat)
	past := time.Now().Add(-time.Hour).UTC().Format(http.TimeFormat)
	s := time.Second
	tests := []struct {
		name   string
		status int
		header http.Header
		body   string
		err    error
		want   outcome.Outcome
	}{
		{"200", 200, nil, "", nil, outcome.Outcome{Kind: outcome.OK}},
		{"204", 204, nil, "", nil, outcome.Outcome{Kind: outcome.OK}},
		{"400", 400, nil, `{"error":{"message":"bad"}}`, nil, outcome.Outcome{Kind: outcome.BadRequest}},
		{"400 even with quota text", 400, nil, "insufficient quota", nil, outcome.Outcome{Kind: outcome.BadRequest}},
		{"413", 413, nil, "", nil, outcome.Outcome{Kind: outcome.BadRequest}},
		{"422", 422, nil, "", nil, outcome.Outcome{Kind: outcome.BadRequest}},
		{"401", 401, nil, `{"error":{"message":"Incorrect API key"}}`, nil, outcome.Outcome{Kind: outcome.Auth, Failover: true}},
		{"403", 403, nil, "forbidden", nil, outcome.Outcome{Kind: outcome.Auth, Failover: true}},
		{"401 saying rate limit", 401, nil, "Rate limit exceeded", nil, outcome.Outcome{Kind: outcome.RateLimit, Cooldown: 10 * s, Failover: true}},
		{"403 saying rate_limit, with Retry-After", 403, hdr("Retry-After", "42"), `{"code":"rate_limit_exceeded"}`, nil, outcome.Outcome{Kind: outcome.RateLimit, Cooldown: 42 * s, Failover: true}},
		{"403 saying too many requests", 403, nil, "Too Many Requests", nil, outcome.Outcome{Kind: outcome.RateLimit, Cooldown: 10 * s, Failover: true}},
		{"402", 402, nil, "", nil, outcome.Outcome{Kind: outcome.Quota, Cooldown: 1800 * s, Failover: true}},
		{"429 quota", 429, hdr("Retry-After", "5"), "You exceeded your current quota", nil, outcome.Outcome{Kind: outcome.Quota, Cooldown: 1800 * s, Failover: true}},
		{"429 balance", 429, nil, "Account BALANCE too low", nil, outcome.Outcome{Kind: outcome.Quota, Cooldown: 1800 * s, Failover: true}},
		{"429 insufficient", 429, nil, `{"code":"insufficient_quota"}`, nil, outcome.Outcome{Kind: outcome.Quota, Cooldown: 1800 * s, Failover: true}},
		{"429 plain", 429, nil, "slow down", nil, outcome.Outcome{Kind: outcome.RateLimit, Cooldown: 10 * s, Failover: true}},
		{"429 Retry-After seconds", 429, hdr("Retry-After", "7"), "", nil, outcome.Outcome{Kind: outcome.RateLimit, Cooldown: 7 * s, Failover: true}},
		{"429 Retry-After decimal", 429, hdr("Retry-After", "2.5"), "", nil, outcome.Outcome{Kind: outcome.RateLimit, Cooldown: 2500 * time.Millisecond, Failover: true}},
		{"429 Retry-After capped", 429, hdr("Retry-After", "3600"), "", nil, outcome.Outcome{Kind: outcome.RateLimit, Cooldown: 300 * s, Failover: true}},
		{"429 Retry-After zero floored", 429, hdr("Retry-After", "0"), "", nil, outcome.Outcome{Kind: outcome.RateLimit, Cooldown: s, Failover: true}},
		{"429 Retry-After date capped", 429, hdr("Retry-After", future), "", nil, outcome.Outcome{Kind: outcome.RateLimit, Cooldown: 300 * s, Failover: true}},
		{"429 Retry-After past date floored", 429, hdr("Retry-After", past), "", nil, outcome.Outcome{Kind: outcome.RateLimit, Cooldown: s, Failover: true}},
		{"429 Retry-After garbage, text hint", 429, hdr("Retry-After", "soon"), "please retry after 12s", nil, outcome.Outcome{Kind: outcome.RateLimit, Cooldown: 12 * s, Failover: true}},
		{"429 header wins over text", 429, hdr("Retry-After", "3"), "retry after 20s", nil, outcome.Outcome{Kind: outcome.RateLimit, Cooldown: 3 * s, Failover: true}},
		{"429 text seconds word", 429, nil, "Rate limit reached. Please retry after 20 seconds.", nil, outcome.Outcome{Kind: outcome.RateLimit, Cooldown: 20 * s, Failover: true}},
		{"429 text try again in", 429, nil, "Please try again in 1.5s.", nil, outcome.Outcome{Kind: outcome.RateLimit, Cooldown: 1500 * time.Millisecond, Failover: true}},
		{"429 text go duration", 429, nil, "Please try again in 2m0s", nil, outcome.Outcome{Kind: outcome.RateLimit, Cooldown: 120 * s, Failover: true}},
		{"429 text minutes capped", 429, nil, "retry in 10 minutes", nil, outcome.Outcome{Kind: outcome.RateLimit, Cooldown: 300 * s, Failover: true}},
		{"429 text ms floored", 429, nil, "try again in 20ms", nil, outcome.Outcome{Kind: outcome.RateLimit, Cooldown: s, Failover: true}},
		{"429 json retry_after", 429, nil, `{"error":{"retry_after": 33}}`, nil, outcome.Outcome{Kind: outcome.RateLimit, Cooldown: 33 * s, Failover: true}},
		{"429 text without number", 429, nil, "retry after a while, or retry after 9", nil, outcome.Outcome{Kind: outcome.RateLimit, Cooldown: 9 * s, Failover: true}},
		{"404", 404, nil, "model not found", nil, outcome.Outcome{Kind: outcome.NotFound, Cooldown: 300 * s, Failover: true}},
		{"408", 408, nil, "", nil, outcome.Outcome{Kind: outcome.Timeout, Cooldown: 30 * s, Failover: true}},
		{"500", 500, nil, "", nil, outcome.Outcome{Kind: outcome.Server, Cooldown: 60 * s, Failover: true}},
		{"502", 502, nil, "", nil, outcome.Outcome{Kind: outcome.Server, Cooldown: 60 * s, Failover: true}},
		{"503 with quota text stays server", 503, nil, "quota", nil, outcome.Outcome{Kind: outcome.Server, Cooldown: 60 * s, Failover: true}},
		{"599", 599, nil, "", nil, outcome.Outcome{Kind: outcome.Server, Cooldown: 60 * s, Failover: true}},
		{"405 other", 405, nil, "", nil, outcome.Outcome{Kind: outcome.Other, Cooldown: 60 * s, Failover: true}},
		{"302 other", 302, nil, "", nil, outcome.Outcome{Kind: outcome.Other, Cooldown: 60 * s, Failover: true}},
		{"timeout: deadline", 0, nil, "", context.DeadlineExceeded, outcome.Outcome{Kind: outcome.Timeout, Cooldown: 30 * s, Failover: true}},
		{"timeout: os deadline", 0, nil, "", fmt.Errorf("read: %w", os.ErrDeadlineExceeded), outcome.Outcome{Kind: outcome.Timeout, Cooldown: 30 * s, Failover: true}},
		{"timeout: read timer", 0, nil, "", errReadTimeout, outcome.Outcome{Kind: outcome.Timeout, Cooldown: 30 * s, Failover: true}},
		{"timeout: net.Error", 0, nil, "", &net.DNSError{IsTimeout: true}, outcome.Outcome{Kind: outcome.Timeout, Cooldown: 30 * s, Failover: true}},
		{"connection refused", 0, nil, "", &net.OpError{Op: "dial", Err: syscall.ECONNREFUSED}, outcome.Outcome{Kind: outcome.Connection, Cooldown: 30 * s, Failover: true}},
		{"connection reset", 0, nil, "", syscall.ECONNRESET, outcome.Outcome{Kind: outcome.Connection, Cooldown: 30 * s, Failover: true}},
		{"truncated", 0, nil, "", io.ErrUnexpectedEOF, outcome.Outcome{Kind: outcome.Connection, Cooldown: 30 * s, Failover: true}},
		{"dns", 0, nil, "", &net.DNSError{Err: "no such host", IsNotFound: true}, outcome.Outcome{Kind: outcome.Connection, Cooldown: 30 * s, Failover: true}},
		{"canceled", 0, nil, "", fmt.Errorf("x: %w", context.Canceled), outcome.Outcome{Kind: outcome.Canceled}},
		{"error wins over status", 500, nil, "", errors.New("boom"), outcome.Outcome{Kind: outcome.Connection, Cooldown: 30 * s, Failover: true}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Classify(tt.status, tt.header, []byte(tt.body), tt.err)
			if got != tt.want {
				t.Errorf("Classify = %+v (%v), want %+v (%v)", got, got.Kind, tt.want, tt.want.Kind)
			}
		})
	}
}

func FuzzClassify(f *testing.F) {
	f.Add(429, "12", []byte("retry after 3 minutes"))
	f.Add(403, "", []byte("rate limit; try again in 6m0s"))
	f.Add(429, "Wed, 21 Oct 2015 07:28:00 GMT", []byte("quota"))
	f.Add(401, "NaN", []byte("retry_after: 1e308"))
	f.Fuzz(func(t *testing.T, status int, retryAfter string, body []byte) {
		h := http.Header{}
		h.Set("Retry-After", retryAfter)
		c := Classify(status, h, body, nil)
		if c.Cooldown < 0 || c.Cooldown > outcome.QuotaCooldown {
			t.Fatalf("cooldown %v out of range", c.Cooldown)
		}
		if c.Kind == outcome.RateLimit && (c.Cooldown < time.Second || c.Cooldown > outcome.MaxRateLimitCooldown) {
			t.Fatalf("rate-limit cooldown %v outside [1s, 300s]", c.Cooldown)
		}
		if c.Failover == (c.Kind == outcome.OK || c.Kind == outcome.BadRequest || c.Kind == outcome.Canceled) {
			t.Fatalf("failover %v for kind %v", c.Failover, c.Kind)
		}
	})
}
