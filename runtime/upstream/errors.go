package upstream

import (
	"bytes"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"unicode/utf8"

	"smartrouter/runtime/body"
	"smartrouter/runtime/outcome"
)

// Error is a failed attempt. Nothing in it holds the channel's API key: the
// upstream's text is scrubbed of it.
type Error struct {
	Outcome outcome.Outcome
	Status  int    // upstream HTTP status (or the code of an in-stream error); 0 for transport failures
	Message string // the upstream's own message, or what went wrong on the wire
	// Body is the start of the upstream's error answer (at most
	// Config.MaxErrorBody bytes), for returning a BadRequest to the client.
	Body []byte
	Host string // host[:port] of the endpoint
	// Started reports that a stream had already delivered data when it
	// failed: too late to fail over.
	Started bool

	err error // transport cause
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString("upstream ")
	b.WriteString(e.Host)
	if e.Status != 0 {
		b.WriteString(" answered ")
		b.WriteString(strconv.Itoa(e.Status))
	}
	if e.Message != "" {
		b.WriteString(": ")
		b.WriteString(e.Message)
	}
	b.WriteString(" (")
	b.WriteString(e.Outcome.Kind.String())
	b.WriteString("; ")
	b.WriteString(hint(e.Outcome))
	b.WriteString(")")
	return b.String()
}

// Unwrap returns the transport cause, if any (context.Canceled,
// context.DeadlineExceeded, a net.Error, ...).
func (e *Error) Unwrap() error { return e.err }

func hint(c outcome.Outcome) string {
	switch c.Kind {
	case outcome.BadRequest:
		return "the request was refused as invalid; fix it before retrying"
	case outcome.Auth:
		return "check the channel's API key; the channel stays cooled until it works again"
	case outcome.Quota:
		return "top up or raise the provider account's quota; the pair cools for " + c.Cooldown.String()
	case outcome.RateLimit:
		return "the provider limits the request rate; the pair cools for " + c.Cooldown.String()
	case outcome.NotFound:
		return "the channel no longer serves this model; rerun model discovery; the pair cools for " + c.Cooldown.String()
	case outcome.Canceled:
		return "the client gave up"
	case outcome.OK:
		return "no failure"
	}
	return "the provider is failing or unreachable; the pair cools for " + c.Cooldown.String()
}

func transportError(ep *Endpoint, err error, started bool) *Error {
	return &Error{Outcome: classifyErr(err), Host: ep.host, Message: scrubString(err.Error(), ep.key),
		Started: started, err: err}
}

func statusError(ep *Endpoint, status int, h http.Header, body []byte) *Error {
	body = scrub(body, ep.key)
	return &Error{Outcome: Classify(status, h, body, nil), Status: status, Host: ep.host,
		Message: errorMessage(body), Body: body}
}

// inBodyError classifies an "error" object found in a 2xx answer or inside a
// stream. Its numeric code (or status) is used as the status when it is one;
// else the text decides between quota (402), rate limit (429) and server (500).
func inBodyError(ep *Endpoint, errVal []byte, started bool) *Error {
	errVal = scrub(errVal, ep.key)
	status := 0
	for _, k := range [...]string{"code", "status"} {
		if v, ok, _ := body.Field(errVal, k); ok {
			if n, err := strconv.Atoi(string(bytes.Trim(v, `"`))); err == nil && n >= 400 && n < 600 {
				status = n
				break
			}
		}
	}
	if status == 0 {
		switch {
		case mentionsQuota(errVal):
			status = http.StatusPaymentRequired
		case mentionsRateLimit(errVal):
			status = http.StatusTooManyRequests
		default:
			status = http.StatusInternalServerError
		}
	}
	msg := errorMessage(errVal)
	if msg == "" {
		msg = errorMessage(append(append([]byte(`{"error":`), errVal...), '}'))
	}
	return &Error{Outcome: Classify(status, nil, errVal, nil), Status: status, Host: ep.host,
		Message: msg, Body: errVal, Started: started}
}

const maxMessage = 512

// errorMessage pulls a human message out of an error answer:
// error.message, error (a string), message or detail; else the text itself.
func errorMessage(body []byte) string {
	var v struct {
		Error   json.RawMessage `json:"error"`
		Message any             `json:"message"`
		Detail  any             `json:"detail"`
	}
	if json.Unmarshal(body, &v) == nil {
		var inner struct {
			Message any `json:"message"`
		}
		if len(v.Error) > 0 {
			var s string
			if json.Unmarshal(v.Error, &s) == nil {
				return clean(s)
			}
			if json.Unmarshal(v.Error, &inner) == nil && inner.Message != nil {
				return clean(anyText(inner.Message))
			}
		}
		if v.Message != nil {
			return clean(anyText(v.Message))
		}
		if v.Detail != nil {
			return clean(anyText(v.Detail))
		}
	}
	return clean(string(body))
}

func anyText(v any) string {
	if s, ok := v.(string); ok {
		return s
	}
	b, _ := json.Marshal(v)
	return string(b)
}

// clean makes upstream text safe for one log line: valid UTF-8, no control
// characters, at most maxMessage bytes.
func clean(s string) string {
	s = strings.TrimSpace(s)
	var b strings.Builder
	for _, r := range s {
		if b.Len() >= maxMessage {
			b.WriteString("…")
			break
		}
		switch {
		case r == utf8.RuneError:
			b.WriteRune('?')
		case r < 0x20 || r == 0x7f:
			b.WriteByte(' ')
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}

const redacted = "[redacted]"

// scrub removes the API key from upstream text (some providers echo it).
func scrub(b []byte, key string) []byte {
	if len(key) < 4 || !bytes.Contains(b, []byte(key)) {
		return b
	}
	return bytes.ReplaceAll(b, []byte(key), []byte(redacted))
}

func scrubString(s, key string) string {
	if len(key) < 4 {
		return s
	}
	return strings.ReplaceAll(s, key, redacted)
}
