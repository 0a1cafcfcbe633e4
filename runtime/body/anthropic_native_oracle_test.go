package body

import (
	"bytes"
	"encoding/json"
	"reflect"
	"strconv"
	"strings"
	"testing"

	"smartrouter/runtime/jsonstr"
)

// The encoding/json translation of a chat request to Messages, kept as the
// reference of FuzzOpenAIToAnthropicRequestOracle.

type oaiReq struct {
	Messages            []oaiMsg        `json:"messages"`
	MaxTokens           *int64          `json:"max_tokens"`
	MaxCompletionTokens *int64          `json:"max_completion_tokens"`
	Temperature         *float64        `json:"temperature"`
	TopP                *float64        `json:"top_p"`
	Stop                json.RawMessage `json:"stop"`
	Stream              bool            `json:"stream"`
	Tools               []oaiTool       `json:"tools"`
	ToolChoice          json.RawMessage `json:"tool_choice"`
	User                string          `json:"user"`
}

type oaiMsg struct {
	Role       string          `json:"role"`
	Content    json.RawMessage `json:"content"`
	ToolCalls  []oaiToolCall   `json:"tool_calls"`
	ToolCallID string          `json:"tool_call_id"`
}

type oaiToolCall struct {
	ID       string `json:"id"`
	Function struct {
		Name      string `json:"name"`
		Arguments string `json:"arguments"`
	} `json:"function"`
}

type oaiTool struct {
	Type     string `json:"type"`
	Function struct {
		Name        string          `json:"name"`
		Description string          `json:"description"`
		Parameters  json.RawMessage `json:"parameters"`
	} `json:"function"`
}

type oaiPart struct {
	Type     string `json:"type"`
	Text     string `json:"text"`
	ImageURL struct {
		URL string `json:"url"`
	} `json:"image_url"`
}

type antMsg struct {
	Role    string     `json:"role"`
	Content []antBlock `json:"content"`
}

type antTool struct {
	Name        string          `json:"name"`
	Description string          `json:"description,omitempty"`
	InputSchema json.RawMessage `json:"input_schema"`
}

type antReq struct {
	Model         string          `json:"model"`
	MaxTokens     int64           `json:"max_tokens"`
	System        string          `json:"system,omitempty"`
	Messages      []antMsg        `json:"messages"`
	Temperature   *float64        `json:"temperature,omitempty"`
	TopP          *float64        `json:"top_p,omitempty"`
	StopSequences []string        `json:"stop_sequences,omitempty"`
	Stream        bool            `json:"stream,omitempty"`
	Tools         []antTool       `json:"tools,omitempty"`
	ToolChoice    json.RawMessage `json:"tool_choice,omitempty"`
	Metadata      *antMeta        `json:"metadata,omitempty"`
}

type antMeta struct {
	UserID string `json:"user_id"`
}

// OpenAIToAnthropicRequest appends to dst the Messages request for an OpenAI
// chat completion request b, with model as its model. system and developer
// messages join into "system"; user content parts text and image_url
// (data: URLs as base64 sources, others as url sources) become blocks;
// assistant tool_calls become tool_use blocks and tool messages tool_result
// blocks of a user turn; consecutive turns of one role are merged.
// max_tokens (or max_completion_tokens) defaults to DefaultAnthropicMaxTokens;
// stop → stop_sequences, tools → input_schema, tool_choice auto/none/
// required/function → auto/none/any/tool, user → metadata.user_id. Other
// members are dropped. A request that cannot be read is a *RequestError.
func oldOpenAIToAnthropicRequest(dst, b []byte, model string) ([]byte, error) {
	var in oaiReq
	if err := json.Unmarshal(b, &in); err != nil {
		return dst, reqErr("", "request body is not a valid chat completion request: "+err.Error())
	}
	out := antReq{Model: model, MaxTokens: DefaultAnthropicMaxTokens, Temperature: in.Temperature, TopP: in.TopP, Stream: in.Stream}
	if in.MaxCompletionTokens != nil && *in.MaxCompletionTokens > 0 {
		out.MaxTokens = *in.MaxCompletionTokens
	} else if in.MaxTokens != nil && *in.MaxTokens > 0 {
		out.MaxTokens = *in.MaxTokens
	}
	if in.User != "" {
		out.Metadata = &antMeta{UserID: in.User}
	}
	var sys strings.Builder
	for k := range in.Messages {
		m := &in.Messages[k]
		var blocks []antBlock
		role := "user"
		switch m.Role {
		case "system", "developer":
			t, err := oldJoinedText(m.Content)
			if err != nil {
				return dst, reqErr("messages", "messages["+strconv.Itoa(k)+"].content: "+err.Error())
			}
			if sys.Len() > 0 {
				sys.WriteString("\n\n")
			}
			sys.WriteString(t)
			continue
		case "user":
			var err error
			if blocks, err = oldUserBlocks(m.Content); err != nil {
				return dst, reqErr("messages", "messages["+strconv.Itoa(k)+"].content: "+err.Error())
			}
		case "assistant":
			role = "assistant"
			t, err := oldJoinedText(m.Content)
			if err != nil {
				return dst, reqErr("messages", "messages["+strconv.Itoa(k)+"].content: "+err.Error())
			}
			if t != "" {
				blocks = append(blocks, antBlock{Type: "text", Text: t})
			}
			for _, tc := range m.ToolCalls {
				args := bytes.TrimSpace([]byte(tc.Function.Arguments))
				if len(args) == 0 {
					args = []byte("{}")
				}
				if !json.Valid(args) || args[0] != '{' {
					return dst, reqErr("messages", "messages["+strconv.Itoa(k)+"].tool_calls: arguments must be a JSON object")
				}
				blocks = append(blocks, antBlock{Type: "tool_use", ID: tc.ID, Name: tc.Function.Name, Input: args})
			}
		case "tool":
			t, err := oldJoinedText(m.Content)
			if err != nil {
				return dst, reqErr("messages", "messages["+strconv.Itoa(k)+"].content: "+err.Error())
			}
			c, _ := json.Marshal(t)
			blocks = []antBlock{{Type: "tool_result", ToolUseID: m.ToolCallID, Content: c}}
		default:
			return dst, reqErr("messages", "messages["+strconv.Itoa(k)+"].role "+strconv.Quote(m.Role)+" is not supported; use system, developer, user, assistant or tool")
		}
		if len(blocks) == 0 {
			continue
		}
		if n := len(out.Messages); n > 0 && out.Messages[n-1].Role == role {
			out.Messages[n-1].Content = append(out.Messages[n-1].Content, blocks...)
		} else {
			out.Messages = append(out.Messages, antMsg{Role: role, Content: blocks})
		}
	}
	if len(out.Messages) == 0 {
		return dst, reqErr("messages", "the request has no user or assistant message; send at least one")
	}
	out.System = sys.String()
	if len(in.Stop) > 0 && in.Stop[0] != 'n' {
		var one string
		if err := json.Unmarshal(in.Stop, &one); err == nil {
			out.StopSequences = []string{one}
		} else if err := json.Unmarshal(in.Stop, &out.StopSequences); err != nil {
			return dst, reqErr("stop", "stop must be a string or an array of strings")
		}
	}
	for _, t := range in.Tools {
		if t.Type != "" && t.Type != "function" {
			continue // only function tools translate
		}
		schema := t.Function.Parameters
		if len(schema) == 0 || schema[0] != '{' {
			schema = json.RawMessage(`{"type":"object"}`)
		}
		out.Tools = append(out.Tools, antTool{Name: t.Function.Name, Description: t.Function.Description, InputSchema: schema})
	}
	if len(in.ToolChoice) > 0 {
		tc, err := oldToolChoice(in.ToolChoice)
		if err != nil {
			return dst, err
		}
		out.ToolChoice = tc
	}
	enc, err := json.Marshal(&out)
	if err != nil {
		return dst, reqErr("", "the request could not be translated: "+err.Error())
	}
	return append(dst, enc...), nil
}

// joinedText is the text of an OpenAI content: a string, null, or the text
// parts of an array joined.
func oldJoinedText(c json.RawMessage) (string, error) {
	if len(c) == 0 || c[0] == 'n' {
		return "", nil
	}
	if c[0] == '"' {
		var s string
		err := json.Unmarshal(c, &s)
		return s, err
	}
	var parts []oaiPart
	if err := json.Unmarshal(c, &parts); err != nil {
		return "", err
	}
	var sb strings.Builder
	for _, p := range parts {
		if p.Type == "text" {
			sb.WriteString(p.Text)
		}
	}
	return sb.String(), nil
}

// userBlocks is the blocks of a user content: text and image_url parts.
func oldUserBlocks(c json.RawMessage) ([]antBlock, error) {
	if len(c) == 0 || c[0] == 'n' {
		return nil, nil
	}
	if c[0] == '"' {
		var s string
		if err := json.Unmarshal(c, &s); err != nil {
			return nil, err
		}
		return []antBlock{{Type: "text", Text: s}}, nil
	}
	var parts []oaiPart
	if err := json.Unmarshal(c, &parts); err != nil {
		return nil, err
	}
	out := make([]antBlock, 0, len(parts))
	for _, p := range parts {
		switch p.Type {
		case "text":
			out = append(out, antBlock{Type: "text", Text: p.Text})
		case "image_url":
			u := p.ImageURL.URL
			if rest, ok := strings.CutPrefix(u, "data:"); ok {
				mt, data, ok := strings.Cut(rest, ";base64,")
				if !ok {
					return nil, oldErrString("an image data URL must be base64 (data:<type>;base64,<data>)")
				}
				out = append(out, antBlock{Type: "image", Source: &antSource{Type: "base64", MediaType: mt, Data: data}})
			} else {
				out = append(out, antBlock{Type: "image", Source: &antSource{Type: "url", URL: u}})
			}
		default:
			return nil, oldErrString("content part type " + strconv.Quote(p.Type) + " is not supported; use text or image_url")
		}
	}
	return out, nil
}

type oldErrString string

func (e oldErrString) Error() string { return string(e) }

// toolChoice translates an OpenAI tool_choice.
func oldToolChoice(c json.RawMessage) (json.RawMessage, error) {
	if c[0] == '"' {
		var s string
		_ = json.Unmarshal(c, &s)
		switch s {
		case "auto":
			return json.RawMessage(`{"type":"auto"}`), nil
		case "none":
			return json.RawMessage(`{"type":"none"}`), nil
		case "required":
			return json.RawMessage(`{"type":"any"}`), nil
		}
	} else if c[0] == '{' {
		var o struct {
			Function struct {
				Name string `json:"name"`
			} `json:"function"`
		}
		if json.Unmarshal(c, &o) == nil && o.Function.Name != "" {
			b := append([]byte(`{"type":"tool","name":`), jsonstr.Append(nil, o.Function.Name)...)
			return append(b, '}'), nil
		}
	} else if c[0] == 'n' {
		return nil, nil
	}
	return nil, reqErr("tool_choice", `tool_choice must be "auto", "none", "required" or {"type":"function","function":{"name":...}}`)
}

// FuzzOpenAIToAnthropicRequestOracle checks the scanner translation against
// the encoding/json one: what the reference accepts, the scanner accepts,
// with the same meaning.
func FuzzOpenAIToAnthropicRequestOracle(f *testing.F) {
	for _, s := range []string{
		`{"model":"x","messages":[{"role":"system","content":"be brief"},{"role":"developer","content":[{"type":"text","text":"a"},{"type":"text","text":"<b>"}]},` +
			`{"role":"user","content":[{"type":"text","text":"hi\u00e9"},{"type":"image_url","image_url":{"url":"data:image/png;base64,ivbo\/w=="}},{"type":"image_url","image_url":{"url":"https://x/a.png"}}]},` +
			`{"role":"assistant","content":"ok","tool_calls":[{"id":"c1","type":"function","function":{"name":"f","arguments":"{\"a\": [1, 2]}"}}]},` +
			`{"role":"tool","tool_call_id":"c1","content":"42"},{"role":"user","content":"more"}],"stop":["end","x"],"user":"u","tool_choice":{"type":"function","function":{"name":"f"}},` +
			`"tools":[{"type":"function","function":{"name":"f","description":"d","parameters":{"type":"object"}}},{"type":"web"}],"max_tokens":50,"temperature":0.50,"top_p":1,"stream":true}`,
		`{"messages":[{"role":"user","content":""},{"role":"assistant","content":null},{"role":"user","content":"b"}],"max_completion_tokens":9,"stop":"s","tool_choice":"none"}`,
		`{"messages":[{"role":"assistant","content":[{"type":"text","text":""}],"tool_calls":[{"function":{"name":"g","arguments":""}}]}],"max_tokens":-1}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		if bytes.ContainsFunc(b, func(r rune) bool { return r >= 'A' && r <= 'Z' }) {
			return // encoding/json matches member names regardless of case; the API does not
		}
		want, errOld := oldOpenAIToAnthropicRequest(nil, b, "m")
		got, errNew := OpenAIToAnthropicRequest([]byte("pre"), b, "m")
		if errNew != nil {
			if string(got) != "pre" {
				t.Fatalf("dst extended on error: %q", got)
			}
			var w map[string]any
			_ = json.Unmarshal(want, &w)
			if errOld == nil && !lenientOld(b) && !namelessCall(want) && !normalize(w) {
				t.Fatalf("refused what the reference accepts: %v\n%s\nreference: %s", errNew, b, want)
			}
			return
		}
		got = got[3:]
		if !json.Valid(got) {
			t.Fatalf("invalid JSON %s", got)
		}
		if errOld != nil {
			return // the scanner is more lenient with some types
		}
		var g, w map[string]any
		_ = json.Unmarshal(got, &g)
		_ = json.Unmarshal(want, &w)
		if normalize(w) {
			return // the reference sent nothing but empty turns: the scanner refuses that
		}
		normalize(g)
		if !reflect.DeepEqual(g, w) {
			t.Fatalf("differs for %s\n got  %s\n want %s", b, got, want)
		}
	})
}

// lenientOld reports inputs encoding/json accepts by reading null into a
// string (a stop sequence, a role, a text): the scanner refuses them.
func lenientOld(b []byte) bool { return bytes.Contains(b, []byte("null")) }

// normalize removes what the reference writes and the scanner does not (or
// the other way round), on purpose: text blocks without text (Anthropic
// refuses them; the scanner drops them), the turns left empty, and empty
// ids (the reference omits them). Turns of one role left adjacent are
// merged. It reports whether no turn is left.
func normalize(m map[string]any) bool {
	// The reference joins an empty system message with a separator.
	if sys, ok := m["system"].(string); ok {
		var parts []string
		for _, p := range strings.Split(sys, "\n\n") {
			if p != "" {
				parts = append(parts, p)
			}
		}
		if m["system"] = strings.Join(parts, "\n\n"); m["system"] == "" {
			delete(m, "system")
		}
	}
	msgs, _ := m["messages"].([]any)
	var out []any
	for _, x := range msgs {
		turn, _ := x.(map[string]any)
		blocks, _ := turn["content"].([]any)
		var keep []any
		for _, bl := range blocks {
			o, _ := bl.(map[string]any)
			if o["type"] == "text" && (o["text"] == nil || o["text"] == "") {
				continue
			}
			for _, k := range []string{"id", "tool_use_id", "name"} {
				if o[k] == "" {
					delete(o, k)
				}
			}
			if src, ok := o["source"].(map[string]any); ok {
				for _, k := range []string{"url", "data", "media_type"} {
					if src[k] == "" {
						delete(src, k)
					}
				}
			}
			keep = append(keep, o)
		}
		if len(keep) == 0 {
			continue
		}
		if n := len(out); n > 0 && out[n-1].(map[string]any)["role"] == turn["role"] {
			prev := out[n-1].(map[string]any)
			prev["content"] = append(prev["content"].([]any), keep...)
			continue
		}
		turn["content"] = keep
		out = append(out, turn)
	}
	m["messages"] = out
	return len(out) == 0
}

// namelessCall reports a reference translation with a block Anthropic
// cannot take and the scanner refuses: a tool_use without a name (a tool
// call without a function), an image without a url (an image_url part
// without one).
func namelessCall(want []byte) bool {
	var m struct {
		Messages []struct {
			Content []map[string]any `json:"content"`
		} `json:"messages"`
	}
	_ = json.Unmarshal(want, &m)
	for _, t := range m.Messages {
		for _, bl := range t.Content {
			if _, ok := bl["name"]; bl["type"] == "tool_use" && !ok {
				return true
			}
			if src, _ := bl["source"].(map[string]any); bl["type"] == "image" && src["url"] == nil && src["data"] == nil {
				return true
			}
		}
	}
	return false
}
