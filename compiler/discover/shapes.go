package discover

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"time"

	"smartrouter/compiler/config"
	"smartrouter/format"
)

// Shape is the form of a provider's model list.
type Shape string

// Shapes.
const (
	ShapeOpenAI     Shape = "openai"     // GET {base}/v1/models, Bearer
	ShapeOpenRouter Shape = "openrouter" // OpenAI's, with pricing, context_length, architecture
	ShapeAnthropic  Shape = "anthropic"  // GET /v1/models, x-api-key, anthropic-version
	ShapeGemini     Shape = "gemini"     // GET /v1beta/models, x-goog-api-key
	ShapeOllama     Shape = "ollama"     // GET /api/tags, no key
)

// AnthropicVersion is the anthropic-version header sent to Anthropic.
const AnthropicVersion = "2023-06-01"

// shapeOf picks the shape of a channel's model list from its provider's
// adapter, auth type and key, and its base URL.
func shapeOf(p *config.Provider, ch *config.Channel, base string) Shape {
	host, port := "", ""
	if u, err := url.Parse(base); err == nil {
		host, port = strings.ToLower(u.Hostname()), u.Port()
	}
	key := strings.ToLower(ch.Provider)
	switch {
	case p.AdapterClass == "AnthropicAdapter" || strings.HasSuffix(host, "anthropic.com") || key == "anthropic":
		return ShapeAnthropic
	case strings.HasSuffix(host, "generativelanguage.googleapis.com") || key == "gemini" || key == "google":
		return ShapeGemini
	case p.AdapterClass == "OpenRouterAdapter" || strings.HasSuffix(host, "openrouter.ai") || key == "openrouter":
		return ShapeOpenRouter
	case key == "ollama" || port == "11434":
		return ShapeOllama
	}
	return ShapeOpenAI
}

var versioned = regexp.MustCompile(`/v[0-9]+[a-z0-9]*$`)

// listURL is where a shape's model list lives for a base URL. An OpenAI-style
// base that already ends in a version (/v1, /api/v3, /v1beta) gets /models,
// any other /v1/models; Ollama's base loses a /v1 suffix and gets /api/tags.
func listURL(sh Shape, base string) string {
	base = strings.TrimRight(strings.TrimSpace(base), "/")
	switch sh {
	case ShapeOllama:
		return strings.TrimSuffix(base, "/v1") + "/api/tags"
	case ShapeGemini:
		if strings.HasSuffix(base, "/v1beta") || strings.HasSuffix(base, "/v1") {
			return base + "/models"
		}
		return base + "/v1beta/models"
	}
	if versioned.MatchString(base) {
		return base + "/models"
	}
	return base + "/v1/models"
}

// headers builds the authentication of a shape.
func headers(sh Shape, authType uint8, key string) http.Header {
	h := http.Header{}
	if key == "" {
		return h
	}
	switch sh {
	case ShapeAnthropic:
		h.Set("x-api-key", key)
		h.Set("anthropic-version", AnthropicVersion)
	case ShapeGemini:
		h.Set("x-goog-api-key", key)
	default:
		switch authType {
		case format.AuthXAPIKey:
			h.Set("x-api-key", key)
		case format.AuthAPIKey:
			h.Set("api-key", key)
		default:
			h.Set("Authorization", "Bearer "+key)
		}
	}
	return h
}

// model is one listed model: its id and its models_data item.
type model struct {
	ID    string
	Data  map[string]any // the models_data item, in the discovery cache's field names
	Price *modelPrice    // the models_pricing item (OpenRouter), nil otherwise
}

type modelPrice struct {
	Prompt, Completion string
	IsFree             bool
}

// page is one parsed answer: its models and, for paginated lists, where the
// next page is ("" at the end).
type page struct {
	models []model
	next   string // Anthropic: after_id; Gemini: pageToken
}

// item is one entry of a model list, in any provider's shape. Loosely
// typed fields are decoded as any so that one odd value does not refuse the
// whole answer; large fields (descriptions, templates) are not decoded.
type item struct {
	ID               any             `json:"id"`
	Name             any             `json:"name"`
	Model            any             `json:"model"`
	Object           any             `json:"object"`
	Created          any             `json:"created"`
	CreatedAt        any             `json:"created_at"`
	ModifiedAt       any             `json:"modified_at"`
	OwnedBy          any             `json:"owned_by"`
	ContextLength    any             `json:"context_length"`
	InputTokenLimit  any             `json:"inputTokenLimit"`
	OutputTokenLimit any             `json:"outputTokenLimit"`
	TopProvider      json.RawMessage `json:"top_provider"`
	Pricing          json.RawMessage `json:"pricing"`
	Architecture     json.RawMessage `json:"architecture"`
	Details          json.RawMessage `json:"details"`
}

// parseList reads one model-list answer of a shape. It accepts the OpenAI
// shape ({"data":[...]}) from any provider, a bare list, and the shape's own.
// An answer with no recognisable list is refused (ok=false).
func parseList(sh Shape, body []byte) (page, bool) {
	var raw struct {
		Data          []item `json:"data"`
		Models        []item `json:"models"`
		HasMore       any    `json:"has_more"`
		LastID        any    `json:"last_id"`
		NextPageToken any    `json:"nextPageToken"`
	}
	// One decode: a value of the wrong type (an item that is not an
	// object, a list that is a string) is left zero and the rest is read;
	// a syntax error refuses the answer.
	var err error
	trim := bytes.TrimSpace(body)
	if len(trim) > 0 && trim[0] == '[' {
		err = json.Unmarshal(trim, &raw.Data)
	} else {
		err = json.Unmarshal(body, &raw)
	}
	var te *json.UnmarshalTypeError
	if err != nil && !errors.As(err, &te) {
		return page{}, false
	}
	list := raw.Data
	if list == nil {
		list = raw.Models
	}
	if list == nil {
		return page{}, false
	}
	var p page
	p.models = make([]model, 0, len(list))
	for i := range list {
		if m, ok := toModel(sh, &list[i]); ok {
			p.models = append(p.models, m)
		}
	}
	more, _ := raw.HasMore.(bool)
	last, _ := raw.LastID.(string)
	tok, _ := raw.NextPageToken.(string)
	switch {
	case sh == ShapeAnthropic && more && last != "":
		p.next = last
	case sh == ShapeGemini && tok != "":
		p.next = tok
	}
	return p, true
}

// count reads a non-negative count (tokens, seconds).
func count(v any) (int64, bool) {
	f, ok := v.(float64)
	if !ok || f < 0 || f >= 1e15 {
		return 0, false
	}
	return int64(f), true
}

func str(v any) string { s, _ := v.(string); return s }

// toModel turns one list item into a model; ok=false when it has no id.
func toModel(sh Shape, it *item) (model, bool) {
	id := str(it.ID)
	if sh == ShapeGemini || sh == ShapeOllama || id == "" {
		if n := str(it.Name); n != "" {
			id = strings.TrimPrefix(n, "models/")
		}
		if id == "" {
			id = str(it.Model)
		}
	}
	id = strings.TrimSpace(id)
	if id == "" {
		return model{}, false
	}
	d := map[string]any{"id": id, "object": "model", "created": int64(0), "owned_by": nil}
	if o := str(it.Object); o != "" {
		d["object"] = o
	}
	if c, ok := count(it.Created); ok {
		d["created"] = c
	} else if t, err := time.Parse(time.RFC3339Nano, str(it.CreatedAt)); err == nil {
		d["created"] = t.Unix()
	} else if t, err := time.Parse(time.RFC3339Nano, str(it.ModifiedAt)); err == nil {
		d["created"] = t.Unix()
	}
	if o := str(it.OwnedBy); o != "" {
		d["owned_by"] = o
	}
	m := model{ID: id, Data: d}
	switch sh {
	case ShapeAnthropic:
		d["owned_by"] = "anthropic"
	case ShapeGemini:
		d["owned_by"] = "google"
		if v, ok := count(it.InputTokenLimit); ok {
			d["context_length"], d["max_input_tokens"] = v, v
		}
		if v, ok := count(it.OutputTokenLimit); ok {
			d["max_output_tokens"] = v
		}
	case ShapeOllama:
		var det struct {
			ParameterSize any `json:"parameter_size"`
		}
		if json.Unmarshal(it.Details, &det) == nil {
			if s := strings.ToLower(strings.TrimSpace(str(det.ParameterSize))); s != "" {
				d["parameter_size_text"] = strings.Replace(s, ".0b", "b", 1)
			}
		}
	}
	if v, ok := count(it.ContextLength); ok {
		d["context_length"], d["max_input_tokens"] = v, v
	}
	var tp struct {
		MaxCompletionTokens any `json:"max_completion_tokens"`
	}
	if json.Unmarshal(it.TopProvider, &tp) == nil {
		if v, ok := count(tp.MaxCompletionTokens); ok && v > 0 {
			d["max_output_tokens"] = v
		}
	}
	var pr map[string]any
	if json.Unmarshal(it.Pricing, &pr) == nil && pr != nil {
		out := map[string]any{}
		for _, k := range []string{"prompt", "completion", "request", "image"} {
			switch v := pr[k].(type) {
			case string, float64:
				out[k] = v
			}
		}
		if len(out) > 0 {
			d["pricing"] = out
			ps, cs := str(out["prompt"]), str(out["completion"])
			if ps != "" && cs != "" {
				m.Price = &modelPrice{Prompt: ps, Completion: cs, IsFree: isZero(ps) && isZero(cs)}
			}
		}
	}
	if len(it.Architecture) > 0 && it.Architecture[0] == '{' {
		d["architecture"] = it.Architecture
	}
	return m, true
}

func isZero(s string) bool {
	s = strings.TrimSpace(s)
	return strings.Trim(s, "0.") == "" && s != ""
}
