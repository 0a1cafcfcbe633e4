package upstream

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"unicode/utf8"

	"smartrouter/runtime/body"
	"smartrouter/runtime/jsonstr"
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
		return "top up or raise the provider account's quota; the pair cools down (" + c.Cooldown.String() + " at first)"
	case outcome.RateLimit:
		return "the provider limits the request rate; the pair cools for " + c.Cooldown.String()
	case outcome.NotFound:
		return "the channel no longer serves this model; rerun model discovery; the pair cools down (" + c.Cooldown.String() + " at first)"
	case outcome.Canceled:
		return "the client gave up"
	case outcome.OK:
		return "no failure"
	}
	return "the provider is failing or unreachable; the pair cools down until a trial request succeeds (GET /v1/admin/route shows when)"
}

func transportError(ep *Endpoint, err error, started bool) *Error {
	return &Error{Outcome: classifyErr(err), Host: ep.host, Message: scrubString(err.Error(), ep.key),
		Started: started, err: err}
}

func statusError(ep *Endpoint, status int, h http.Header, body []byte) *Error {
	body = scrub(body, ep.key)
	return &Error{Outcome: Classify(status, h, body, nil), Status: status, Host: ep.host,
		Message: scrubString(errorMessage(body), ep.key), Body: body}
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
	msg = scrubString(msg, ep.key)
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

// Scrubbing. Some providers echo the API key in an error ("Incorrect API key
// provided: sk-..."), and they may write it in any of several encodings. An
// upstream's text is scrubbed before anything reads it (classification,
// message extraction, Error.Body relayed to the client), and the extracted
// message once more after decoding. The forms removed are:
//
//   - the raw key;
//   - the key inside any JSON string literal, however escaped (\/, \uXXXX,
//     surrogate pairs, \"): every literal holding a backslash is decoded, and
//     rewritten when its decoded text holds the key in one of these forms;
//   - the key URL-encoded (query and path escaping, upper- or lower-case hex);
//   - the key in base64 (standard and URL alphabets, padded or not), also as
//     part of a longer encoded value such as a Basic credential "user:key":
//     the characters that encode only key bytes are matched, at each of the
//     three possible alignments (keys of 8 bytes or more).
//
// Keys shorter than 4 bytes are not scrubbed: they would match ordinary text.

// keyForms returns the encodings of key that are replaced in upstream text,
// longest first so that a form containing another is replaced whole.
func keyForms(key string) []string {
	forms := []string{key}
	add := func(f string) {
		if len(f) < 4 {
			return
		}
		for _, g := range forms {
			if g == f {
				return
			}
		}
		forms = append(forms, f)
	}
	js := jsonstr.Append(nil, key)
	add(string(js[1 : len(js)-1]))
	add(strings.ReplaceAll(string(js[1:len(js)-1]), "/", `\/`))
	for _, f := range []string{url.QueryEscape(key), url.PathEscape(key)} {
		add(f)
		add(lowerHex(f))
	}
	if len(key) >= 8 {
		for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.URLEncoding} {
			for pad := 0; pad < 3; pad++ {
				src := make([]byte, pad+len(key))
				copy(src[pad:], key)
				e := enc.EncodeToString(src)
				// Character i holds bits [6i, 6i+6) of src; keep the ones
				// made of key bits only.
				from, to := (8*pad+5)/6, 8*(pad+len(key))/6
				add(e[from:to])
			}
		}
	}
	sort.SliceStable(forms, func(i, j int) bool { return len(forms[i]) > len(forms[j]) })
	return forms
}

// lowerHex lowers the hex digits of the %XX escapes of s.
func lowerHex(s string) string {
	b := []byte(s)
	for i := 0; i+2 < len(b); i++ {
		if b[i] == '%' {
			for k := i + 1; k <= i+2; k++ {
				if b[k] >= 'A' && b[k] <= 'F' {
					b[k] += 'a' - 'A'
				}
			}
		}
	}
	return string(b)
}

// scrub removes the API key, in every form keyForms lists and inside JSON
// string literals however escaped, from upstream text. It returns b itself
// when there was nothing to remove.
func scrub(b []byte, key string) []byte {
	if len(key) < 4 {
		return b
	}
	forms := keyForms(key)
	b = scrubLiterals(b, key, forms)
	for _, f := range forms {
		if bytes.Contains(b, []byte(f)) {
			b = replaceOutsideEscapes(b, f)
		}
	}
	return b
}

// replaceOutsideEscapes replaces every occurrence of f in b with the
// redaction mark, except an occurrence that cuts through a backslash escape
// (the "0041" of \u0041): replacing it would break the JSON, and it does not
// spell the key once decoded (scrubLiterals handles decoded text).
func replaceOutsideEscapes(b []byte, f string) []byte {
	var out []byte
	last := 0
	for at := 0; ; {
		k := bytes.Index(b[at:], []byte(f))
		if k < 0 {
			break
		}
		p, q := at+k, at+k+len(f)
		if cutsEscape(b, p, q) {
			at = p + 1
			continue
		}
		out = append(out, b[last:p]...)
		out = append(out, redacted...)
		last, at = q, q
	}
	if out == nil {
		return b
	}
	return append(out, b[last:]...)
}

// cutsEscape reports whether [p, q) of b overlaps a backslash escape (\X or
// \uXXXX) without containing it whole.
func cutsEscape(b []byte, p, q int) bool {
	for i := 0; i < len(b) && i < q; i++ {
		if b[i] != '\\' {
			continue
		}
		e := i + 2
		if i+1 < len(b) && b[i+1] == 'u' {
			e = i + 6
		}
		e = min(e, len(b))
		if i < q && e > p && (i < p || e > q) {
			return true
		}
		i = e - 1
	}
	return false
}

// scrubLiterals rewrites the JSON string literals of b that hold a backslash
// and whose decoded text holds the key. Text that is not JSON is scanned the
// same way: a quoted run that does not decode is left alone.
func scrubLiterals(b []byte, key string, forms []string) []byte {
	if bytes.IndexByte(b, '\\') < 0 {
		return b
	}
	var out []byte
	last := 0
	for i := 0; i < len(b); i++ {
		if b[i] != '"' {
			continue
		}
		j, esc := i+1, false
		for ; j < len(b) && b[j] != '"'; j++ {
			if b[j] == '\\' {
				esc = true
				j++
			}
		}
		if j >= len(b) {
			break
		}
		if esc {
			var s string
			if json.Unmarshal(b[i:j+1], &s) == nil {
				if t := scrubText(s, forms); t != s {
					out = append(out, b[last:i]...)
					out = jsonstr.Append(out, t)
					last = j + 1
				}
			}
		}
		i = j
	}
	if out == nil {
		return b
	}
	return append(out, b[last:]...)
}

func scrubText(s string, forms []string) string {
	for _, f := range forms {
		s = strings.ReplaceAll(s, f, redacted)
	}
	return s
}

// scrubString is scrub for text already decoded (a message, an error's
// text).
func scrubString(s, key string) string {
	if len(key) < 4 {
		return s
	}
	return scrubText(s, keyForms(key))
}
