package upstream

import (
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strings"

	"smartrouter/format"
)

// Endpoint is one channel base URL with its credentials, prepared once (at
// snapshot load) so that a call only copies precomputed strings.
type Endpoint struct {
	// The URLs keep any query string of the base URL, which may hold a
	// credential: log Host(), not these.
	ChatURL        string // <base>[/v1]/chat/completions
	ModelsURL      string // <base>[/v1]/models
	EmbeddingsURL  string // <base>[/v1]/embeddings
	CompletionsURL string // <base>[/v1]/completions
	MessagesURL    string // <base>[/v1]/messages (Anthropic Messages)

	// Anthropic marks a native Anthropic channel (IsAnthropic): its calls
	// carry anthropic-version (the client's, else DefaultAnthropicVersion)
	// and the client's anthropic-beta. Set it before the first call.
	Anthropic bool

	host       string   // for error messages; never carries credentials
	authName   string   // header name, empty when there is no key
	authValue  []string // shared, read-only
	openRouter bool
	key        string          // to scrub from upstream error text
	target     *target         // the chat URL prepared for non-stream calls (h1.go)
	uris       [opCount]string // the path and query of each Op's URL, for target's connections
}

// Op is the API operation a call makes: which URL of the endpoint it goes to.
type Op uint8

// The operations of an OpenAI-compatible upstream.
const (
	OpChat        Op = iota // POST <base>[/v1]/chat/completions
	OpEmbeddings            // POST <base>[/v1]/embeddings
	OpCompletions           // POST <base>[/v1]/completions (legacy text completions)
	OpMessages              // POST <base>[/v1]/messages (Anthropic Messages, native channels)
	opCount
)

// url returns the URL of op.
func (e *Endpoint) url(op Op) string {
	switch op {
	case OpEmbeddings:
		return e.EmbeddingsURL
	case OpCompletions:
		return e.CompletionsURL
	case OpMessages:
		return e.MessagesURL
	}
	return e.ChatURL
}

// NewEndpoint prepares calls to baseURL with the provider's auth type
// (format.AuthBearer, AuthXAPIKey or AuthAPIKey) and the resolved API key (an
// empty key sends no auth header, as local servers need). openRouter adds the
// HTTP-Referer and X-Title headers; see IsOpenRouter. Errors never contain
// the key.
func NewEndpoint(baseURL string, authType uint8, apiKey string, openRouter bool) (*Endpoint, error) {
	chat, err := ChatURL(baseURL)
	if err != nil {
		return nil, err
	}
	models, _ := ModelsURL(baseURL)
	u, _ := url.Parse(chat)
	ep := &Endpoint{ChatURL: chat, ModelsURL: models, host: u.Host, openRouter: openRouter, key: apiKey}
	ep.EmbeddingsURL, _ = apiURL(baseURL, "/embeddings")
	ep.CompletionsURL, _ = apiURL(baseURL, "/completions")
	ep.MessagesURL, _ = apiURL(baseURL, "/messages")
	ep.target, _ = newTarget(chat) // nil (net/http for every call) if it cannot be prepared
	for op := range opCount {
		if pu, err := url.Parse(ep.url(op)); err == nil {
			ep.uris[op] = pu.RequestURI()
		}
	}
	if apiKey != "" {
		switch authType {
		case format.AuthBearer:
			ep.authName, ep.authValue = "Authorization", []string{"Bearer " + apiKey}
		case format.AuthXAPIKey:
			ep.authName, ep.authValue = "X-Api-Key", []string{apiKey}
		case format.AuthAPIKey:
			ep.authName, ep.authValue = "Api-Key", []string{apiKey}
		default:
			return nil, fmt.Errorf("channel at %s: unknown auth type %d; use bearer, x-api-key or api-key", u.Host, authType)
		}
		if !validHeaderValue(apiKey) {
			return nil, fmt.Errorf("channel at %s: the API key holds a control character or newline; fix the key", u.Host)
		}
	}
	return ep, nil
}

// Host returns the host[:port] of the endpoint, safe to log.
func (e *Endpoint) Host() string { return e.host }

// String, GoString and LogValue show only the host, so that printing or
// logging an Endpoint never reveals its key.
func (e Endpoint) String() string { return "endpoint(" + e.host + ")" }

// GoString implements fmt.GoStringer like String.
func (e Endpoint) GoString() string { return e.String() }

// LogValue implements slog.LogValuer.
func (e Endpoint) LogValue() slog.Value { return slog.StringValue(e.host) }

// IsOpenRouter reports whether a provider needs OpenRouter's attribution
// headers: its adapter is OpenRouterAdapter or its key is openrouter.
func IsOpenRouter(adapter, providerKey string) bool {
	return adapter == "OpenRouterAdapter" || strings.EqualFold(providerKey, "openrouter")
}

// IsAnthropic reports whether a provider speaks Anthropic's Messages API
// natively (a native Anthropic channel): its key is anthropic, its adapter
// AnthropicAdapter, or its auth type x-api-key. This is the one place that
// decides; the server calls such channels at /messages (OpMessages).
func IsAnthropic(adapter, providerKey string, authType uint8) bool {
	return adapter == "AnthropicAdapter" || strings.EqualFold(providerKey, "anthropic") || authType == format.AuthXAPIKey
}

// DefaultAnthropicVersion is the anthropic-version header sent to native
// Anthropic channels when the client sent none.
const DefaultAnthropicVersion = "2023-06-01"

// ChatURL builds the chat completions URL of a base URL: trailing slashes
// dropped, /v1 appended unless the last path segment already is a version
// (v1, v3, v1beta, ...) or is "openai" after one (Google's
// /v1beta/openai), then /chat/completions. A query string is kept.
func ChatURL(baseURL string) (string, error) { return apiURL(baseURL, "/chat/completions") }

// ModelsURL builds the model list URL of a base URL, like ChatURL.
func ModelsURL(baseURL string) (string, error) { return apiURL(baseURL, "/models") }

func apiURL(baseURL, suffix string) (string, error) {
	u, err := url.Parse(strings.TrimSpace(baseURL))
	if err != nil {
		return "", fmt.Errorf("base URL %q: %w; write it as https://host[/path]", redactURL(baseURL), errBadURL(err))
	}
	if u.Scheme != "http" && u.Scheme != "https" || u.Host == "" {
		return "", fmt.Errorf("base URL %q: need an http:// or https:// URL with a host", redactURL(baseURL))
	}
	if u.User != nil {
		return "", fmt.Errorf("base URL %q holds a user name or password; remove it and put the key in api_key", redactURL(baseURL))
	}
	u.Fragment, u.RawFragment = "", ""
	p := strings.TrimRight(u.EscapedPath(), "/")
	if !versioned(p) {
		p += "/v1"
	}
	p += suffix
	u.Path, u.RawPath = "", ""
	if pp, err := url.PathUnescape(p); err == nil {
		u.Path, u.RawPath = pp, p
	}
	return u.String(), nil
}

// errBadURL keeps url.Parse's reason without repeating the URL, which may
// hold credentials.
func errBadURL(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

// redactURL hides userinfo and the query of a URL for messages.
func redactURL(s string) string {
	if i := strings.IndexAny(s, "?#"); i >= 0 {
		s = s[:i] + "?…"
	}
	if i := strings.Index(s, "://"); i >= 0 {
		if at := strings.LastIndexByte(s[i+3:], '@'); at >= 0 {
			s = s[:i+3] + "…@" + s[i+3+at+1:]
		}
	}
	return s
}

// versioned reports whether a base path already names an API version: its
// last segment is one (v1, v1beta), or it is "openai" right after one
// (Google's OpenAI-compatible endpoint, /v1beta/openai).
func versioned(p string) bool {
	last := p[strings.LastIndexByte(p, '/')+1:]
	if isVersionSegment(last) {
		return true
	}
	if last != "openai" {
		return false
	}
	q := p[:len(p)-len(last)-1]
	return isVersionSegment(q[strings.LastIndexByte(q, '/')+1:])
}

// isVersionSegment matches v\d+ with an optional alpha/beta suffix (v1beta).
func isVersionSegment(s string) bool {
	if len(s) < 2 || s[0] != 'v' {
		return false
	}
	i := 1
	for i < len(s) && s[i] >= '0' && s[i] <= '9' {
		i++
	}
	if i == 1 {
		return false
	}
	rest := s[i:]
	for _, w := range [...]string{"alpha", "beta"} {
		if strings.HasPrefix(rest, w) {
			rest = rest[len(w):]
			for len(rest) > 0 && rest[0] >= '0' && rest[0] <= '9' {
				rest = rest[1:]
			}
			break
		}
	}
	return rest == ""
}

// validHeaderValue rejects bytes a request header must not carry.
func validHeaderValue(v string) bool {
	for i := 0; i < len(v); i++ {
		if c := v[i]; c < 0x20 && c != '\t' || c == 0x7f {
			return false
		}
	}
	return true
}
