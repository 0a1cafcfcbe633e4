package body

import (
	"encoding/json"
	"strconv"

	"smartrouter/runtime/jsonstr"
)

// Native Anthropic channels (docs/surfaces.md, "Native Anthropic
// channels"): an OpenAI chat request translated to a Messages request
// (OpenAIToAnthropicRequest), the Messages answer back to a chat completion
// (AnthropicToOpenAIResponse), Messages stream events to chat chunks
// (OpenAIStream), and the usage of a Messages answer or stream relayed as is
// (AnthropicUsage, AnthropicRelay). The request, the answer, the usage, the
// relay and the text deltas of a stream are read with the scanner, strings
// copied as they were sent (anthropic_native_req.go for the request); the
// rarer stream events are decoded with encoding/json into small typed
// structs.

// DefaultAnthropicMaxTokens is the max_tokens sent to a native Anthropic
// channel when the OpenAI request has neither max_tokens nor
// max_completion_tokens (Anthropic requires it).
const DefaultAnthropicMaxTokens = 4096

type antBlock struct {
	Type      string          `json:"type"`
	Text      string          `json:"text,omitempty"`
	Source    *antSource      `json:"source,omitempty"`
	ID        string          `json:"id,omitempty"`
	Name      string          `json:"name,omitempty"`
	Input     json.RawMessage `json:"input,omitempty"`
	ToolUseID string          `json:"tool_use_id,omitempty"`
	Content   json.RawMessage `json:"content,omitempty"`
}

type antSource struct {
	Type      string `json:"type"`
	MediaType string `json:"media_type,omitempty"`
	Data      string `json:"data,omitempty"`
	URL       string `json:"url,omitempty"`
}

type antUsage struct {
	InputTokens              int64 `json:"input_tokens"`
	OutputTokens             int64 `json:"output_tokens"`
	CacheCreationInputTokens int64 `json:"cache_creation_input_tokens"`
	CacheReadInputTokens     int64 `json:"cache_read_input_tokens"`
}

// usage is the Usage of an Anthropic usage object: the prompt counts the
// cached input too.
func (u *antUsage) usage() Usage {
	p := u.InputTokens + u.CacheCreationInputTokens + u.CacheReadInputTokens
	return Usage{PromptTokens: p, CompletionTokens: u.OutputTokens, TotalTokens: p + u.OutputTokens}
}

// finishReason maps an Anthropic stop_reason to OpenAI's finish_reason.
func finishReason(r string) string {
	switch r {
	case "max_tokens", "model_context_window_exceeded":
		return "length"
	case "tool_use":
		return "tool_calls"
	case "refusal":
		return "content_filter"
	}
	return "stop"
}

// AnthropicUsage reads the usage of a Messages answer (zero when it has
// none). It does not allocate.
func AnthropicUsage(out []byte) Usage {
	u, ok, _ := Field(out, "usage")
	if !ok || len(u) == 0 || u[0] != '{' {
		return Usage{}
	}
	au := scanAntUsage(u)
	return au.usage()
}

// scanAntUsage reads an Anthropic usage object with the scanner; a count
// that is missing or not a plain non-negative integer reads as 0.
func scanAntUsage(b []byte) antUsage {
	return antUsage{
		InputTokens:              intMember(b, "input_tokens"),
		OutputTokens:             intMember(b, "output_tokens"),
		CacheCreationInputTokens: intMember(b, "cache_creation_input_tokens"),
		CacheReadInputTokens:     intMember(b, "cache_read_input_tokens"),
	}
}

// intMember is the top-level member key of the object b as a plain
// non-negative integer of at most 18 digits, else 0.
func intMember(b []byte, key string) int64 {
	v, ok, _ := Field(b, key)
	if !ok || len(v) == 0 || len(v) > 18 {
		return 0
	}
	var n int64
	for _, c := range v {
		if c < '0' || c > '9' {
			return 0
		}
		n = n*10 + int64(c-'0')
	}
	return n
}

// The members read of a Messages answer and of its content blocks.
var (
	antAnswerNames = []string{"id", "type", "model", "content", "stop_reason", "usage"}
	antBlockNames  = []string{"type", "text", "id", "name", "input"}
)

// AnthropicToOpenAIResponse appends to dst the chat completion for a
// non-stream Messages answer out: text blocks joined into the content,
// tool_use blocks as tool_calls (input as the arguments string),
// stop_reason as finish_reason, usage as prompt/completion tokens. created
// is the completion's Unix time. Thinking blocks are dropped. It reads the
// answer with the scanner; an answer that is not a Messages object is
// ErrUpstreamAnswer.
func AnthropicToOpenAIResponse(dst, out []byte, created int64) ([]byte, Usage, error) {
	var r [6]Span
	if _, err := members(out, skipWS(out, 0), 0, antAnswerNames, r[:]); err != nil || !strEq(out, r[1], "message") {
		return dst, Usage{}, ErrUpstreamAnswer
	}
	var u Usage
	if isObj(out, r[5]) {
		au := scanAntUsage(out[r[5].Start:r[5].End])
		u = au.usage()
	}
	orig := len(dst)
	dst = append(dst, `{"id":`...)
	dst = appendStrOr(dst, out, r[0], `""`)
	dst = append(dst, `,"object":"chat.completion","created":`...)
	dst = strconv.AppendInt(dst, created, 10)
	dst = append(dst, `,"model":`...)
	dst = appendStrOr(dst, out, r[2], `""`)
	dst = append(dst, `,"choices":[{"index":0,"message":{"role":"assistant","content":`...)
	// Texts first, joined (the contents of JSON strings can be pasted
	// together as they are), then the tool calls.
	hasText, tools := false, 0
	err := eachBlock(out, r[3], func(bl [5]Span) error {
		switch {
		case strEq(out, bl[0], "text") && isStr(out, bl[1]):
			if !hasText {
				dst = append(dst, '"')
				hasText = true
			}
			dst = append(dst, innerOf(out, bl[1])...)
		case strEq(out, bl[0], "tool_use"):
			tools++
		}
		return nil
	})
	if err != nil {
		return dst[:orig], Usage{}, err
	}
	if hasText {
		dst = append(dst, '"')
	} else {
		dst = append(dst, "null"...)
	}
	if tools > 0 {
		dst = append(dst, `,"tool_calls":[`...)
		n := 0
		_ = eachBlock(out, r[3], func(bl [5]Span) error {
			if !strEq(out, bl[0], "tool_use") {
				return nil
			}
			if n > 0 {
				dst = append(dst, ',')
			}
			n++
			dst = append(dst, `{"id":`...)
			dst = appendStrOr(dst, out, bl[2], `""`)
			dst = append(dst, `,"type":"function","function":{"name":`...)
			dst = appendStrOr(dst, out, bl[3], `""`)
			dst = append(dst, `,"arguments":`...)
			if in := bl[4]; present(in) && !isNull(out, in) {
				dst = appendJSONString(dst, out[in.Start:in.End])
			} else {
				dst = append(dst, `"{}"`...)
			}
			dst = append(dst, "}}"...)
			return nil
		})
		dst = append(dst, ']')
	}
	dst = append(dst, `},"finish_reason":"`...)
	reason := ""
	if isStr(out, r[4]) {
		reason = string(innerOf(out, r[4])) // compared only: no allocation
	}
	dst = append(dst, finishReason(reason)...)
	dst = append(dst, `"}],"usage":`...)
	dst = appendOpenAIUsage(dst, u)
	return append(dst, '}'), u, nil
}

// appendStrOr appends the JSON string at s of b as it is, or def when s
// is not a string.
func appendStrOr(dst, b []byte, s Span, def string) []byte {
	if isStr(b, s) {
		return append(dst, b[s.Start:s.End]...)
	}
	return append(dst, def...)
}

// eachBlock calls fn with the members of every content block of the array
// at s of b (nothing when s is not an array); a block that is not an object
// is ErrUpstreamAnswer.
func eachBlock(b []byte, s Span, fn func(bl [5]Span) error) error {
	if !isArr(b, s) {
		return nil
	}
	a, err := open(b, s.Start, 1, false)
	if err != nil {
		return ErrUpstreamAnswer
	}
	for a.next() {
		if b[a.val] != '{' {
			return ErrUpstreamAnswer
		}
		var bl [5]Span
		end, err := members(b, a.val, 2, antBlockNames, bl[:])
		if err != nil {
			return ErrUpstreamAnswer
		}
		a.took(end)
		if err := fn(bl); err != nil {
			return err
		}
	}
	if a.err != nil {
		return ErrUpstreamAnswer
	}
	return nil
}

func appendOpenAIUsage(dst []byte, u Usage) []byte {
	dst = append(dst, `{"prompt_tokens":`...)
	dst = strconv.AppendInt(dst, u.PromptTokens, 10)
	dst = append(dst, `,"completion_tokens":`...)
	dst = strconv.AppendInt(dst, u.CompletionTokens, 10)
	dst = append(dst, `,"total_tokens":`...)
	dst = strconv.AppendInt(dst, u.TotalTokens, 10)
	return append(dst, '}')
}

// antEvent is one Messages stream event (its data payload).
type antEvent struct {
	Type    string `json:"type"`
	Message *struct {
		ID    string   `json:"id"`
		Model string   `json:"model"`
		Usage antUsage `json:"usage"`
	} `json:"message"`
	Index        int       `json:"index"`
	ContentBlock *antBlock `json:"content_block"`
	Delta        *struct {
		Type        string `json:"type"`
		Text        string `json:"text"`
		PartialJSON string `json:"partial_json"`
		StopReason  string `json:"stop_reason"`
	} `json:"delta"`
	Usage *antUsage `json:"usage"`
	Error *struct {
		Type    string `json:"type"`
		Message string `json:"message"`
	} `json:"error"`
}

// StreamError is an error event of an upstream Messages stream.
type StreamError struct{ Type, Message string }

func (e *StreamError) Error() string { return "upstream stream error " + e.Type + ": " + e.Message }

// OpenAIStream translates the events of a Messages stream into chat
// completion chunks. Set Created (and IncludeUsage when the client asked
// for the usage chunk) before the first Event.
type OpenAIStream struct {
	Created      int64
	IncludeUsage bool

	id, model string
	u         antUsage
	tools     int   // tool_use blocks started
	toolAt    []int // content block index → tool call index + 1
}

// Usage is the usage the stream reported so far.
func (s *OpenAIStream) Usage() Usage { return s.u.usage() }

func (s *OpenAIStream) open(dst []byte) []byte {
	dst = append(dst, `data: {"id":`...)
	dst = jsonstr.Append(dst, s.id)
	dst = append(dst, `,"object":"chat.completion.chunk","created":`...)
	dst = strconv.AppendInt(dst, s.Created, 10)
	dst = append(dst, `,"model":`...)
	dst = jsonstr.Append(dst, s.model)
	return append(dst, `,"choices":[`...)
}

func (s *OpenAIStream) delta(dst []byte, delta string, finish string) []byte {
	dst = s.open(dst)
	dst = append(dst, `{"index":0,"delta":`...)
	dst = append(dst, delta...)
	dst = append(dst, `,"finish_reason":`...)
	if finish == "" {
		dst = append(dst, "null"...)
	} else {
		dst = append(dst, '"')
		dst = append(dst, finish...)
		dst = append(dst, '"')
	}
	return append(dst, "}]}\n\n"...)
}

// Event appends the chunks (as SSE "data:" events) for one Messages event
// data payload. An error event returns a *StreamError.
func (s *OpenAIStream) Event(dst, data []byte) ([]byte, error) {
	// The common events, text and tool input deltas, are read with the
	// scanner and their string copied as it is (valid JSON): no decoding,
	// no allocation.
	switch kind, raw, index := blockDelta(data); kind {
	case "text_delta":
		dst = s.open(dst)
		dst = append(dst, `{"index":0,"delta":{"content":`...)
		dst = append(dst, raw...)
		return append(dst, `},"finish_reason":null}]}`+"\n\n"...), nil
	case "input_json_delta":
		if index < 0 || index >= len(s.toolAt) || s.toolAt[index] == 0 {
			return dst, ErrUpstreamAnswer
		}
		dst = s.open(dst)
		dst = append(dst, `{"index":0,"delta":{"tool_calls":[{"index":`...)
		dst = strconv.AppendInt(dst, int64(s.toolAt[index]-1), 10)
		dst = append(dst, `,"function":{"arguments":`...)
		dst = append(dst, raw...)
		return append(dst, `}}]},"finish_reason":null}]}`+"\n\n"...), nil
	}
	var e antEvent
	if err := json.Unmarshal(data, &e); err != nil {
		return dst, ErrUpstreamAnswer
	}
	switch e.Type {
	case "message_start":
		if e.Message != nil {
			s.id, s.model = e.Message.ID, e.Message.Model
			s.u = e.Message.Usage
		}
		return s.delta(dst, `{"role":"assistant","content":""}`, ""), nil
	case "content_block_start":
		if e.ContentBlock == nil {
			return dst, nil
		}
		switch e.ContentBlock.Type {
		case "tool_use":
			if e.Index < 0 || e.Index > 1<<12 {
				return dst, ErrUpstreamAnswer
			}
			for len(s.toolAt) <= e.Index {
				s.toolAt = append(s.toolAt, 0)
			}
			s.tools++
			s.toolAt[e.Index] = s.tools
			d := append([]byte(`{"tool_calls":[{"index":`), strconv.Itoa(s.tools-1)...)
			d = append(d, `,"id":`...)
			d = jsonstr.Append(d, e.ContentBlock.ID)
			d = append(d, `,"type":"function","function":{"name":`...)
			d = jsonstr.Append(d, e.ContentBlock.Name)
			d = append(d, `,"arguments":""}}]}`...)
			return s.delta(dst, string(d), ""), nil
		case "text":
			if e.ContentBlock.Text != "" {
				return s.delta(dst, string(jsonstr.Append([]byte(`{"content":`), e.ContentBlock.Text))+"}", ""), nil
			}
		}
	case "content_block_delta":
		if e.Delta == nil {
			return dst, nil
		}
		switch e.Delta.Type {
		case "text_delta":
			return s.delta(dst, string(jsonstr.Append([]byte(`{"content":`), e.Delta.Text))+"}", ""), nil
		case "input_json_delta":
			if e.Index < 0 || e.Index >= len(s.toolAt) || s.toolAt[e.Index] == 0 {
				return dst, ErrUpstreamAnswer
			}
			d := append([]byte(`{"tool_calls":[{"index":`), strconv.Itoa(s.toolAt[e.Index]-1)...)
			d = append(d, `,"function":{"arguments":`...)
			d = jsonstr.Append(d, e.Delta.PartialJSON)
			d = append(d, "}}]}"...)
			return s.delta(dst, string(d), ""), nil
		}
	case "message_delta":
		if e.Usage != nil {
			s.u.OutputTokens = e.Usage.OutputTokens
			if e.Usage.InputTokens > 0 {
				s.u.InputTokens = e.Usage.InputTokens
			}
		}
		if e.Delta != nil && e.Delta.StopReason != "" {
			return s.delta(dst, `{}`, finishReason(e.Delta.StopReason)), nil
		}
	case "error":
		se := &StreamError{Type: "api_error", Message: "the upstream stream failed"}
		if e.Error != nil {
			se.Type, se.Message = e.Error.Type, e.Error.Message
		}
		return dst, se
	}
	return dst, nil // ping, content_block_stop, message_stop, thinking deltas
}

// blockDelta reads a content_block_delta event: the delta's type
// ("text_delta" or "input_json_delta"; "" for any other payload), its raw
// JSON string (text or partial_json), and the block index (0 when absent,
// -1 when it is not a small plain integer).
func blockDelta(data []byte) (kind string, raw []byte, index int) {
	t, ok, err := Field(data, "type")
	if err != nil || !ok || string(t) != `"content_block_delta"` {
		return "", nil, -1
	}
	d, ok, _ := Field(data, "delta")
	if !ok || len(d) == 0 || d[0] != '{' {
		return "", nil, -1
	}
	dt, _, _ := Field(d, "type")
	member := ""
	switch string(dt) {
	case `"text_delta"`:
		kind, member = "text_delta", "text"
	case `"input_json_delta"`:
		kind, member = "input_json_delta", "partial_json"
	default:
		return "", nil, -1
	}
	raw, ok, _ = Field(d, member)
	if !ok || len(raw) == 0 || raw[0] != '"' {
		return "", nil, -1
	}
	v, ok, _ := Field(data, "index")
	if !ok {
		return kind, raw, 0
	}
	if n, ok := plainCount(v); ok && len(v) <= 6 && v[0] != '-' {
		return kind, raw, int(n)
	}
	return kind, raw, -1
}

// End appends the usage chunk (when asked) and the final [DONE].
func (s *OpenAIStream) End(dst []byte) []byte {
	if s.IncludeUsage {
		dst = s.open(dst)
		dst = append(dst, `],"usage":`...)
		dst = appendOpenAIUsage(dst, s.u.usage())
		dst = append(dst, "}\n\n"...)
	}
	return append(dst, "data: [DONE]\n\n"...)
}

// AnthropicRelay relays the events of a Messages stream as they are (the
// "event:" line rebuilt from the data's "type") and reads their usage:
// message_start's message.usage and message_delta's usage.
type AnthropicRelay struct{ u antUsage }

// Usage is the usage the stream reported so far.
func (r *AnthropicRelay) Usage() Usage { return r.u.usage() }

// Event appends the SSE event of one data payload. It reads the payload
// with the scanner and does not allocate.
func (r *AnthropicRelay) Event(dst, data []byte) []byte {
	var name []byte
	if t, ok, err := Field(data, "type"); err == nil && ok && len(t) >= 2 && t[0] == '"' {
		name = t[1 : len(t)-1]
	}
	switch string(name) {
	case "message_start":
		if m, ok, _ := Field(data, "message"); ok && len(m) > 0 && m[0] == '{' {
			if u, ok, _ := Field(m, "usage"); ok && len(u) > 0 && u[0] == '{' {
				r.u = scanAntUsage(u)
			}
		}
	case "message_delta":
		if u, ok, _ := Field(data, "usage"); ok && len(u) > 0 && u[0] == '{' {
			d := scanAntUsage(u)
			r.u.OutputTokens = d.OutputTokens
			if d.InputTokens > 0 {
				r.u.InputTokens = d.InputTokens
			}
		}
	}
	if len(name) > 0 && validEventName(name) {
		dst = append(dst, "event: "...)
		dst = append(dst, name...)
		dst = append(dst, '\n')
	}
	dst = append(dst, "data: "...)
	dst = append(dst, data...)
	return append(dst, "\n\n"...)
}

func validEventName(s []byte) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x21 || c > 0x7e {
			return false
		}
	}
	return true
}
