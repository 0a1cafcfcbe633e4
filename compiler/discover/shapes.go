package discover

import (
	"bytes"
	"encoding/json"
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

// parseList reads one model-list answer of a shape. It accepts the OpenAI
// shape ({"data":[...]}) from any provider, a bare list, and the shape's own.
// An answer with no recognisable list is an error.
func parseList(sh Shape, body []byte) (page, bool) {
	var raw struct {
		Data          json.RawMessage `json:"data"`
		Models        json.RawMessage `json:"models"`
		HasMore       bool            `json:"has_more"`
		LastID        string          `json:"last_id"`
		NextPageToken string          `json:"nextPageToken"`
	}
	trim := bytes.TrimSpace(body)
	if len(trim) > 0 && trim[0] == '[' {
		raw.Data = trim
	} else if json.Unmarshal(body, &raw) != nil {
		return page{}, false
	}
	var items []map[string]any
	switch {
	case len(raw.Data) > 0 && string(raw.Data) != "null":
		if json.Unmarshal(raw.Data, &items) != nil {
			return page{}, false
		}
	case len(raw.Models) > 0 && string(raw.Models) != "null":
		if json.Unmarshal(raw.Models, &items) != nil {
			return page{}, false
		}
	default:
		return page{}, false
	}
	var p page
	for _, it := range items {
		if m, ok := toModel(sh, it); ok {
			p.models = append(p.models, m)
		}
	}
	switch {
	case sh == ShapeAnthropic && raw.HasMore && raw.LastID != "":
		p.next = raw.LastID
	case sh == ShapeGemini && raw.NextPageToken != "":
		p.next = raw.NextPageToken
	}
	return p, true
}

// toModel turns one list item into a model; ok=false when it has no id.
func toModel(sh Shape, it map[string]any) (model, bool) {
	str := func(k string) string { s, _ := it[k].(string); return s }
	num := func(k string) (float64, bool) { f, ok := it[k].(float64); return f, ok && f >= 0 && f < 1e15 }
	id := str("id")
	if sh == ShapeGemini || sh == ShapeOllama || id == "" {
		if n := str("name"); n != "" && (id == "" || sh == ShapeGemini || sh == ShapeOllama) {
			id = strings.TrimPrefix(n, "models/")
		}
		if id == "" {
			id = str("model")
		}
	}
	id = strings.TrimSpace(id)
	if id == "" {
		return model{}, false
	}
	d := map[string]any{"id": id, "object": "model"}
	if o := str("object"); o != "" {
		d["object"] = o
	}
	d["created"] = int64(0)
	if c, ok := num("created"); ok {
		d["created"] = int64(c)
	} else if s := str("created_at"); s != "" {
		if t, err := time.Parse(time.RFC3339, s); err == nil {
			d["created"] = t.Unix()
		}
	} else if s := str("modified_at"); s != "" {
		if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
			d["created"] = t.Unix()
		}
	}
	d["owned_by"] = nil
	if o := str("owned_by"); o != "" {
		d["owned_by"] = o
	}
	m := model{ID: id, Data: d}
	switch sh {
	case ShapeAnthropic:
		d["owned_by"] = "anthropic"
	case ShapeGemini:
		d["owned_by"] = "google"
		if v, ok := num("inputTokenLimit"); ok {
			d["context_length"], d["max_input_tokens"] = int64(v), int64(v)
		}
		if v, ok := num("outputTokenLimit"); ok {
			d["max_output_tokens"] = int64(v)
		}
	case ShapeOllama:
		if det, ok := it["details"].(map[string]any); ok {
			if s, ok := det["parameter_size"].(string); ok && s != "" {
				s = strings.ToLower(strings.TrimSpace(s))
				d["parameter_size_text"] = strings.Replace(s, ".0b", "b", 1)
			}
		}
	}
	if v, ok := num("context_length"); ok {
		d["context_length"], d["max_input_tokens"] = int64(v), int64(v)
	}
	if tp, ok := it["top_provider"].(map[string]any); ok {
		if v, ok := tp["max_completion_tokens"].(float64); ok && v > 0 && v < 1e15 {
			d["max_output_tokens"] = int64(v)
		}
	}
	if pr, ok := it["pricing"].(map[string]any); ok {
		out := map[string]any{}
		for _, k := range []string{"prompt", "completion", "request", "image"} {
			switch v := pr[k].(type) {
			case string:
				out[k] = v
			case float64:
				out[k] = v
			}
		}
		if len(out) > 0 {
			d["pricing"] = out
			ps, _ := out["prompt"].(string)
			cs, _ := out["completion"].(string)
			if ps != "" && cs != "" {
				m.Price = &modelPrice{Prompt: ps, Completion: cs, IsFree: isZero(ps) && isZero(cs)}
			}
		}
	}
	if a, ok := it["architecture"].(map[string]any); ok {
		d["architecture"] = a
	}
	return m, true
}

func isZero(s string) bool {
	s = strings.TrimSpace(s)
	return strings.Trim(s, "0.") == "" && s != ""
}
