package discover

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// Limits of one provider call.
const (
	// MaxBody is the largest model-list answer read; a larger one is an
	// error (real lists are a few MB; OpenRouter's is about 1 MB).
	MaxBody = 32 << 20
	// MaxRedirects is how many redirects one call follows.
	MaxRedirects = 5
	// DefaultTimeout bounds one call (connection, headers and body).
	DefaultTimeout = 30 * time.Second
	// DefaultConcurrency is how many channels are asked at once.
	DefaultConcurrency = 8
	// maxPages bounds the pages of a paginated list (Anthropic, Gemini).
	maxPages = 20
)

// Error kinds of a failed call, as the key-validation cache names them.
const (
	KindInvalidKey    = "invalid_key"
	KindQuotaExceeded = "quota_exceeded"
	KindRateLimit     = "rate_limit"
	KindServerError   = "server_error"
	KindNetworkError  = "network_error"
	KindUnknown       = "unknown"
)

// callError is a failed provider call: what happened, in words a user can
// act on, and its kind. Its text never holds the key.
type callError struct {
	Kind   string
	Status int // HTTP status, 0 when there was no answer
	Msg    string
}

func (e *callError) Error() string { return e.Msg }

// NewClient returns the HTTP client used when Options.Client is nil: no
// overall timeout (each call has its own), at most MaxRedirects redirects.
func NewClient() *http.Client {
	return limitRedirects(&http.Client{Transport: http.DefaultTransport})
}

// limitRedirects returns c, or a copy of it that follows at most
// MaxRedirects redirects when c has no redirect policy of its own.
func limitRedirects(c *http.Client) *http.Client {
	if c.CheckRedirect != nil {
		return c
	}
	cc := *c
	cc.CheckRedirect = func(req *http.Request, via []*http.Request) error {
		if len(via) >= MaxRedirects {
			return errTooManyRedirects
		}
		return nil
	}
	return &cc
}

var errTooManyRedirects = errors.New("too many redirects")

// request is one GET to a provider.
type request struct {
	url    string
	header http.Header
	key    string // redacted from every error text
}

// get performs r within timeout and returns the body of a 2xx answer, read
// up to MaxBody bytes. Every failure is a *callError.
func get(ctx context.Context, c *http.Client, r request, timeout time.Duration) ([]byte, int, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	where := "GET " + safeURL(r.url)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, r.url, nil)
	if err != nil {
		return nil, 0, &callError{Kind: KindUnknown, Msg: fmt.Sprintf("%s: not a usable URL; check base_url or models_url", where)}
	}
	req.Header = r.header
	req.Header.Set("Accept", "application/json")
	resp, err := c.Do(req)
	if err != nil {
		return nil, 0, netError(where, err, timeout)
	}
	defer resp.Body.Close()
	if resp.ContentLength > MaxBody {
		return nil, resp.StatusCode, tooLarge(where, resp.StatusCode)
	}
	buf := bytes.NewBuffer(make([]byte, 0, max(min(resp.ContentLength, MaxBody)+1, 512)))
	_, err = buf.ReadFrom(io.LimitReader(resp.Body, MaxBody+1))
	body := buf.Bytes()
	if err != nil {
		if ctx.Err() != nil {
			return nil, resp.StatusCode, &callError{Kind: KindNetworkError, Status: resp.StatusCode,
				Msg: fmt.Sprintf("%s: the answer did not end within %v; raise -timeout or check the provider", where, timeout)}
		}
		return nil, resp.StatusCode, &callError{Kind: KindNetworkError, Status: resp.StatusCode,
			Msg: fmt.Sprintf("%s: the answer was cut after %d bytes (%s); try again later", where, len(body), redact(err.Error(), r.key))}
	}
	if len(body) > MaxBody {
		return nil, resp.StatusCode, tooLarge(where, resp.StatusCode)
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return body, resp.StatusCode, statusError(where, resp.StatusCode, body, r.key)
	}
	return body, resp.StatusCode, nil
}

func tooLarge(where string, status int) error {
	return &callError{Kind: KindUnknown, Status: status,
		Msg: fmt.Sprintf("%s: the answer is larger than %d MB; this is not a model list (check the URL)", where, MaxBody>>20)}
}

// netError describes a call that got no answer.
func netError(where string, err error, timeout time.Duration) error {
	var ne net.Error
	switch {
	case errors.Is(err, errTooManyRedirects):
		return &callError{Kind: KindUnknown, Msg: fmt.Sprintf("%s: more than %d redirects (a redirect loop?); check the URL", where, MaxRedirects)}
	case errors.Is(err, context.DeadlineExceeded) || errors.As(err, &ne) && ne.Timeout():
		return &callError{Kind: KindNetworkError, Msg: fmt.Sprintf("%s: no answer within %v; raise -timeout or check that the provider is up", where, timeout)}
	case errors.Is(err, context.Canceled):
		return &callError{Kind: KindNetworkError, Msg: where + ": canceled"}
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err // its text repeats the URL, query included
	}
	return &callError{Kind: KindNetworkError, Msg: fmt.Sprintf("%s: %v; check the address and the network", where, err)}
}

// statusError classifies a non-2xx answer.
func statusError(where string, status int, body []byte, key string) error {
	msg := providerMessage(body)
	low := strings.ToLower(msg)
	quota := strings.Contains(low, "quota") || strings.Contains(low, "balance") || strings.Contains(low, "billing") || strings.Contains(low, "credit")
	kind := KindUnknown
	hint := "check the channel's settings"
	switch {
	case status == 401 || status == 403 && !quota && !strings.Contains(low, "rate limit"):
		kind, hint = KindInvalidKey, "check the channel's api_key"
	case status == 402 || quota && (status == 429 || status == 403):
		kind, hint = KindQuotaExceeded, "top up the account or use another key"
	case status == 429 || status == 403:
		kind, hint = KindRateLimit, "try again later"
	case status >= 500:
		kind, hint = KindServerError, "the provider has a problem; try again later"
	}
	text := fmt.Sprintf("%s: HTTP %d", where, status)
	if msg != "" {
		text += ": " + redact(msg, key)
	}
	return &callError{Kind: kind, Status: status, Msg: text + "; " + hint}
}

// providerMessage extracts a short error message from an error answer:
// error.message or message of a JSON body, else nothing (an HTML page says
// nothing useful).
func providerMessage(body []byte) string {
	var v struct {
		Error   json.RawMessage `json:"error"`
		Message string          `json:"message"`
	}
	if json.Unmarshal(body, &v) != nil {
		return ""
	}
	msg := v.Message
	var inner struct {
		Message string `json:"message"`
	}
	if json.Unmarshal(v.Error, &inner) == nil && inner.Message != "" {
		msg = inner.Message
	} else if s := ""; json.Unmarshal(v.Error, &s) == nil && s != "" {
		msg = s
	}
	msg = strings.Join(strings.Fields(msg), " ")
	if len(msg) > 200 {
		msg = msg[:200] + "…"
	}
	return msg
}

// safeURL drops the user info and query of u for messages.
func safeURL(u string) string {
	p, err := url.Parse(u)
	if err != nil {
		return "(unparsable URL)"
	}
	p.User, p.RawQuery, p.Fragment = nil, "", ""
	return p.String()
}

// redact removes key from s.
func redact(s, key string) string {
	if len(key) >= 4 {
		s = strings.ReplaceAll(s, key, "[redacted]")
	}
	return s
}

// notJSON describes a 2xx answer that is not the expected JSON.
func notJSON(where string, body []byte) error {
	t := strings.TrimLeft(string(body[:min(len(body), 512)]), " \t\r\n\ufeff")
	what := "not JSON"
	switch {
	case len(body) == 0:
		what = "empty"
	case strings.HasPrefix(t, "<"):
		what = "an HTML page, not JSON (a login or error page? check the URL and the key)"
	case strings.HasPrefix(t, "{") || strings.HasPrefix(t, "["):
		what = "incomplete or malformed JSON"
	}
	return &callError{Kind: KindUnknown, Status: 200, Msg: fmt.Sprintf("%s: the answer is %s", where, what)}
}
