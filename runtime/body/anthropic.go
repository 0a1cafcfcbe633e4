package body

import (
	"strconv"
	"unicode/utf8"

	"smartrouter/runtime/jsonstr"
)

// This file translates the Anthropic Messages API to and from OpenAI chat
// completions: a Messages request into a chat request
// (AnthropicToOpenAI), a chat completion into a Messages answer
// (OpenAIToAnthropic), and a chat completion stream into Messages stream
// events, one upstream chunk at a time (AnthropicStream). String values are
// copied as raw JSON (escapes and all), so text is never decoded and
// re-encoded; only tool arguments, which OpenAI sends as a JSON string
// holding JSON, are decoded. The fields that have no OpenAI counterpart are
// dropped (docs/surfaces.md lists them); a field whose value cannot be read
// as Anthropic defines it is refused with a *RequestError, never guessed.

// RequestError is a request that is valid JSON but not a valid request of its
// API: Param names the field, Msg says what to change.
type RequestError struct {
	Param string
	Msg   string
}

func (e *RequestError) Error() string { return e.Msg }

func reqErr(param, msg string) error { return &RequestError{Param: param, Msg: msg} }

// present reports whether a recorded member span holds a value (a value
// never ends at offset 0).
func present(s Span) bool { return s.End > 0 }

// members walks the object at b[i] and records in out[k] the span of the
// value of the last member named names[k]; other members are validated and
// passed over. It returns the end of the object.
func members(b []byte, i, depth int, names []string, out []Span) (int, error) {
	o, err := open(b, i, depth, true)
	if err != nil {
		return 0, err
	}
	var kb keyBuf
	for o.next() {
		k := o.keyName(&kb)
		at := -1
		for n, name := range names {
			if string(k) == name {
				at = n
				break
			}
		}
		end, err := o.skip()
		if err != nil {
			return 0, err
		}
		if at >= 0 {
			out[at] = Span{o.val, end}
		}
	}
	if o.err != nil {
		return 0, o.err
	}
	return o.end, nil
}

// inner returns the raw contents of the JSON string at span s (escapes
// kept): a span of bytes that can be pasted between quotes as it is.
func innerOf(b []byte, s Span) []byte { return b[s.Start+1 : s.End-1] }

func isStr(b []byte, s Span) bool  { return present(s) && b[s.Start] == '"' }
func isArr(b []byte, s Span) bool  { return present(s) && b[s.Start] == '[' }
func isObj(b []byte, s Span) bool  { return present(s) && b[s.Start] == '{' }
func isNull(b []byte, s Span) bool { return present(s) && b[s.Start] == 'n' }
func isNum(b []byte, s Span) bool {
	return present(s) && (b[s.Start] == '-' || b[s.Start] >= '0' && b[s.Start] <= '9')
}

// strEq reports whether the string at span s decodes to the ASCII name.
func strEq(b []byte, s Span, name string) bool {
	if !isStr(b, s) {
		return false
	}
	is, _, _ := stringIs(b, s.Start, name)
	return is
}

// The top-level members of a Messages request the translation reads.
var anthropicReqNames = []string{"model", "max_tokens", "system", "messages", "tools", "tool_choice",
	"stop_sequences", "temperature", "top_p", "metadata", "stream"}

const (
	arModel = iota
	arMaxTokens
	arSystem
	arMessages
	arTools
	arToolChoice
	arStop
	arTemperature
	arTopP
	arMetadata
	arStream
	arCount
)

var (
	blockNames  = []string{"type", "text", "source", "id", "name", "input", "tool_use_id", "content"}
	messageKeys = []string{"role", "content"}
	sourceNames = []string{"type", "media_type", "data", "url"}
	toolNames   = []string{"name", "description", "input_schema", "type"}
	choiceNames = []string{"type", "name", "disable_parallel_tool_use"}
	metaNames   = []string{"user_id"}
)

const (
	bType = iota
	bText
	bSource
	bID
	bName
	bInput
	bToolUseID
	bContent
	bCount
)

// AnthropicToOpenAI appends to dst the OpenAI chat completions request that
// asks what the Anthropic Messages request b asks, with model as its "model"
// (the request's own when model is empty), and returns the Features of b.
// A body that is not one JSON object gives a *SyntaxError; a missing or
// wrongly typed required field (model, max_tokens, messages), an unknown
// role or content block type, and a value of the wrong type give a
// *RequestError. A stream also asks for the usage chunk, which the stream
// translation reads.
func AnthropicToOpenAI(dst, b []byte, model string) ([]byte, Features, error) {
	return anthropicToOpenAI(dst, b, model, false)
}

// AnthropicCountTokens reads the Features of a Messages count_tokens
// request b (a Messages request without max_tokens) by translating it into
// scratch, which it returns for reuse; Features.InputTokens is the router's
// estimate, the same one routing uses.
func AnthropicCountTokens(scratch, b []byte) (Features, []byte, error) {
	out, f, err := anthropicToOpenAI(scratch[:0], b, "", true)
	return f, out, err
}

func anthropicToOpenAI(dst, b []byte, model string, count bool) ([]byte, Features, error) {
	var f Features
	var m [arCount]Span
	start := skipWS(b, 0)
	end, err := members(b, start, 0, anthropicReqNames, m[:])
	if err != nil {
		return dst, f, err
	}
	if j := skipWS(b, end); j != len(b) {
		return dst, f, syntaxErr(j, "data after the top-level object")
	}
	if !isStr(b, m[arModel]) || m[arModel].End-m[arModel].Start == 2 {
		return dst, f, reqErr("model", `"model" is required and must be a string: name a model, a tag query (tag:free) or an alias`)
	}
	ms := m[arModel]
	if raw := innerOf(b, ms); bytesPlain(raw) {
		f.Model = string(raw)
	} else {
		f.Model = unquote(b[ms.Start:ms.End])
	}
	var mt uint64
	if !count || present(m[arMaxTokens]) {
		if !isNum(b, m[arMaxTokens]) {
			return dst, f, reqErr("max_tokens", `"max_tokens" is required and must be a positive integer`)
		}
		var ok bool
		mt, ok = plainUint(b[m[arMaxTokens].Start:m[arMaxTokens].End], maxTokensLimit)
		if !ok || mt == 0 {
			return dst, f, reqErr("max_tokens", `"max_tokens" must be a positive integer no larger than 1073741824`)
		}
		f.MaxTokens = int(mt)
	}
	if !isArr(b, m[arMessages]) {
		return dst, f, reqErr("messages", `"messages" is required and must be an array of {"role","content"} objects`)
	}
	f.HasMessages = true
	if s := m[arStream]; present(s) {
		switch b[s.Start] {
		case 't':
			f.Stream = true
		case 'f', 'n':
		default:
			return dst, f, reqErr("stream", `"stream" must be true or false`)
		}
	}
	for _, k := range []int{arTemperature, arTopP} {
		if present(m[k]) && !isNum(b, m[k]) && !isNull(b, m[k]) {
			return dst, f, reqErr(anthropicReqNames[k], `"`+anthropicReqNames[k]+`" must be a number`)
		}
	}

	dst = append(dst, `{"model":`...)
	if model != "" {
		dst = jsonstr.Append(dst, model)
	} else {
		dst = append(dst, b[ms.Start:ms.End]...)
	}
	dst = append(dst, `,"messages":[`...)
	n := 0 // messages written
	if s := m[arSystem]; present(s) && !isNull(b, s) {
		c, o := 0, 0
		if dst, c, o, err = appendSystem(dst, b, s); err != nil {
			return dst, f, err
		}
		f.InputTokens += tokens(c, o)
		f.Messages++
		n++
	}
	if dst, _, err = appendMessages(dst, b, m[arMessages], n, &f); err != nil {
		return dst, f, err
	}
	dst = append(dst, `],"max_tokens":`...)
	dst = strconv.AppendUint(dst, mt, 10)
	if s := m[arTemperature]; isNum(b, s) {
		dst = append(dst, `,"temperature":`...)
		dst = append(dst, b[s.Start:s.End]...)
	}
	if s := m[arTopP]; isNum(b, s) {
		dst = append(dst, `,"top_p":`...)
		dst = append(dst, b[s.Start:s.End]...)
	}
	if s := m[arStop]; present(s) && !isNull(b, s) {
		if dst, err = appendStop(dst, b, s); err != nil {
			return dst, f, err
		}
	}
	if s := m[arMetadata]; present(s) && !isNull(b, s) {
		if !isObj(b, s) {
			return dst, f, reqErr("metadata", `"metadata" must be an object`)
		}
		var mm [1]Span
		if _, err := members(b, s.Start, 1, metaNames, mm[:]); err != nil {
			return dst, f, err
		}
		if isStr(b, mm[0]) {
			dst = append(dst, `,"user":`...)
			dst = append(dst, b[mm[0].Start:mm[0].End]...)
		} else if present(mm[0]) && !isNull(b, mm[0]) {
			return dst, f, reqErr("metadata.user_id", `"metadata.user_id" must be a string`)
		}
	}
	if s := m[arTools]; present(s) && !isNull(b, s) {
		if dst, err = appendTools(dst, b, s, &f); err != nil {
			return dst, f, err
		}
	}
	if s := m[arToolChoice]; present(s) && !isNull(b, s) {
		if dst, err = appendToolChoice(dst, b, s); err != nil {
			return dst, f, err
		}
	}
	if f.Stream {
		dst = append(dst, `,"stream":true,"stream_options":{"include_usage":true}`...)
	}
	return append(dst, '}'), f, nil
}

// bytesPlain reports whether raw string contents hold no escape.
func bytesPlain(raw []byte) bool {
	for _, c := range raw {
		if c == '\\' {
			return false
		}
	}
	return true
}

// appendSystem writes the system message: a string as it is, text blocks
// joined with a blank line.
func appendSystem(dst, b []byte, s Span) ([]byte, int, int, error) {
	dst = append(dst, `{"role":"system","content":`...)
	if isStr(b, s) {
		c, o := countText(innerOf(b, s))
		return append(append(dst, b[s.Start:s.End]...), '}'), c, o, nil
	}
	if !isArr(b, s) {
		return dst, 0, 0, reqErr("system", `"system" must be a string or an array of text blocks`)
	}
	dst = append(dst, '"')
	dst, c, o, err := appendJoinedText(dst, b, s, "system")
	if err != nil {
		return dst, 0, 0, err
	}
	return append(dst, `"}`...), c, o, nil
}

// appendJoinedText appends the raw contents of the text of each text block
// of the array at s, separated by a blank line (the caller writes the
// quotes). Another block type is refused.
func appendJoinedText(dst, b []byte, s Span, param string) ([]byte, int, int, error) {
	a, err := open(b, s.Start, 1, false)
	if err != nil {
		return dst, 0, 0, err
	}
	cjk, other, first := 0, 0, true
	for a.next() {
		var bl [bCount]Span
		end, err := members(b, a.val, 2, blockNames, bl[:])
		if err != nil {
			return dst, 0, 0, reqErr(param, `each block of "`+param+`" must be an object {"type":"text","text":...}`)
		}
		a.took(end)
		if !strEq(b, bl[bType], "text") || !isStr(b, bl[bText]) {
			return dst, 0, 0, reqErr(param, `only text blocks ({"type":"text","text":...}) are supported in "`+param+`"`)
		}
		if !first {
			dst = append(dst, `\n\n`...)
		}
		first = false
		t := innerOf(b, bl[bText])
		c, o := countText(t)
		cjk, other = cjk+c, other+o
		dst = append(dst, t...)
	}
	if a.err != nil {
		return dst, 0, 0, a.err
	}
	return dst, cjk, other, nil
}

// appendMessages writes the conversation: each Messages message becomes one
// or more chat messages (a user turn's tool results become tool messages
// ahead of its other content).
func appendMessages(dst, b []byte, s Span, n int, f *Features) ([]byte, int, error) {
	a, err := open(b, s.Start, 1, false)
	if err != nil {
		return dst, n, err
	}
	for a.next() {
		var mk [2]Span
		if b[a.val] != '{' {
			return dst, n, reqErr("messages", `each message must be an object {"role":"user"|"assistant","content":...}`)
		}
		end, err := members(b, a.val, 2, messageKeys, mk[:])
		if err != nil {
			return dst, n, err
		}
		a.took(end)
		role, content := mk[0], mk[1]
		user := strEq(b, role, "user")
		if !user && !strEq(b, role, "assistant") {
			return dst, n, reqErr("messages.role", `each message's "role" must be "user" or "assistant"`)
		}
		f.Messages++
		switch {
		case isStr(b, content):
			if n > 0 {
				dst = append(dst, ',')
			}
			n++
			dst = append(dst, `{"role":`...)
			dst = append(dst, b[role.Start:role.End]...)
			dst = append(dst, `,"content":`...)
			dst = append(dst, b[content.Start:content.End]...)
			dst = append(dst, '}')
			c, o := countText(innerOf(b, content))
			f.InputTokens += tokens(c, o)
		case isArr(b, content):
			if user {
				dst, n, err = appendUserBlocks(dst, b, content, n, f)
			} else {
				dst, n, err = appendAssistantBlocks(dst, b, content, n, f)
			}
			if err != nil {
				return dst, n, err
			}
		default:
			return dst, n, reqErr("messages.content", `each message's "content" must be a string or an array of content blocks`)
		}
	}
	if a.err != nil {
		return dst, n, a.err
	}
	return dst, n, nil
}

// blocks walks the content array at s, handing each block's members to fn.
func blocks(b []byte, s Span, fn func(bl [bCount]Span) error) error {
	a, err := open(b, s.Start, 2, false)
	if err != nil {
		return err
	}
	for a.next() {
		if b[a.val] != '{' {
			return reqErr("messages.content", `each content block must be an object with a "type"`)
		}
		var bl [bCount]Span
		end, err := members(b, a.val, 3, blockNames, bl[:])
		if err != nil {
			return err
		}
		a.took(end)
		if !isStr(b, bl[bType]) {
			return reqErr("messages.content.type", `each content block needs a string "type"`)
		}
		if err := fn(bl); err != nil {
			return err
		}
	}
	return a.err
}

// appendUserBlocks writes a user turn given as blocks: its tool_result
// blocks as tool messages, then its text and image blocks as one user
// message.
func appendUserBlocks(dst, b []byte, s Span, n int, f *Features) ([]byte, int, error) {
	parts := 0
	cjk, other := 0, 0
	// First the tool results: OpenAI wants them right after the assistant
	// message that called the tools.
	err := blocks(b, s, func(bl [bCount]Span) error {
		t := bl[bType]
		switch {
		case strEq(b, t, "tool_result"):
			if !isStr(b, bl[bToolUseID]) {
				return reqErr("tool_result.tool_use_id", `a tool_result block needs a string "tool_use_id"`)
			}
			if n > 0 {
				dst = append(dst, ',')
			}
			n++
			dst = append(dst, `{"role":"tool","tool_call_id":`...)
			dst = append(dst, b[bl[bToolUseID].Start:bl[bToolUseID].End]...)
			dst = append(dst, `,"content":`...)
			c := bl[bContent]
			switch {
			case isStr(b, c):
				dst = append(dst, b[c.Start:c.End]...)
				cc, oo := countText(innerOf(b, c))
				cjk, other = cjk+cc, other+oo
			case isArr(b, c):
				dst = append(dst, '"')
				var cc, oo int
				var err error
				if dst, cc, oo, err = appendJoinedText(dst, b, c, "tool_result.content"); err != nil {
					return err
				}
				cjk, other = cjk+cc, other+oo
				dst = append(dst, '"')
			case !present(c) || isNull(b, c):
				dst = append(dst, `""`...)
			default:
				return reqErr("tool_result.content", `a tool_result "content" must be a string or an array of text blocks`)
			}
			dst = append(dst, '}')
		case strEq(b, t, "text"), strEq(b, t, "image"):
			parts++
		case strEq(b, t, "thinking"), strEq(b, t, "redacted_thinking"):
		default:
			return reqErr("messages.content.type", `unsupported content block type in a user message; use text, image or tool_result`)
		}
		return nil
	})
	if err != nil || parts == 0 {
		f.InputTokens += tokens(cjk, other)
		return dst, n, err
	}
	if n > 0 {
		dst = append(dst, ',')
	}
	n++
	dst = append(dst, `{"role":"user","content":[`...)
	first := true
	err = blocks(b, s, func(bl [bCount]Span) error {
		t := bl[bType]
		switch {
		case strEq(b, t, "text"):
			if !isStr(b, bl[bText]) {
				return reqErr("messages.content.text", `a text block needs a string "text"`)
			}
			if !first {
				dst = append(dst, ',')
			}
			first = false
			dst = append(dst, `{"type":"text","text":`...)
			dst = append(dst, b[bl[bText].Start:bl[bText].End]...)
			dst = append(dst, '}')
			cc, oo := countText(innerOf(b, bl[bText]))
			cjk, other = cjk+cc, other+oo
		case strEq(b, t, "image"):
			if !first {
				dst = append(dst, ',')
			}
			first = false
			var err error
			if dst, err = appendImage(dst, b, bl[bSource]); err != nil {
				return err
			}
			f.NeedVision = true
		}
		return nil
	})
	f.InputTokens += tokens(cjk, other)
	return append(dst, "]}"...), n, err
}

// appendImage writes an image block's source as an image_url part: base64
// data as a data: URL, a url as it is.
func appendImage(dst, b []byte, s Span) ([]byte, error) {
	if !isObj(b, s) {
		return dst, reqErr("image.source", `an image block needs a "source" object`)
	}
	var src [4]Span
	if _, err := members(b, s.Start, 4, sourceNames, src[:]); err != nil {
		return dst, err
	}
	dst = append(dst, `{"type":"image_url","image_url":{"url":`...)
	switch {
	case strEq(b, src[0], "base64") && isStr(b, src[1]) && isStr(b, src[2]):
		dst = append(dst, `"data:`...)
		dst = append(dst, innerOf(b, src[1])...)
		dst = append(dst, `;base64,`...)
		dst = append(dst, innerOf(b, src[2])...)
		dst = append(dst, '"')
	case strEq(b, src[0], "url") && isStr(b, src[3]):
		dst = append(dst, b[src[3].Start:src[3].End]...)
	default:
		return dst, reqErr("image.source", `an image "source" must be {"type":"base64","media_type","data"} or {"type":"url","url"}`)
	}
	return append(dst, "}}"...), nil
}

// appendAssistantBlocks writes an assistant turn given as blocks: its text
// joined as the content, its tool_use blocks as tool_calls.
func appendAssistantBlocks(dst, b []byte, s Span, n int, f *Features) ([]byte, int, error) {
	if n > 0 {
		dst = append(dst, ',')
	}
	n++
	dst = append(dst, `{"role":"assistant","content":`...)
	texts, calls, cjk, other := 0, 0, 0, 0
	err := blocks(b, s, func(bl [bCount]Span) error {
		t := bl[bType]
		switch {
		case strEq(b, t, "text"):
			if !isStr(b, bl[bText]) {
				return reqErr("messages.content.text", `a text block needs a string "text"`)
			}
			if texts == 0 {
				dst = append(dst, '"')
			} else {
				dst = append(dst, `\n\n`...)
			}
			texts++
			raw := innerOf(b, bl[bText])
			dst = append(dst, raw...)
			c, o := countText(raw)
			cjk, other = cjk+c, other+o
		case strEq(b, t, "tool_use"):
			if !isStr(b, bl[bID]) || !isStr(b, bl[bName]) || !isObj(b, bl[bInput]) {
				return reqErr("tool_use", `a tool_use block needs a string "id", a string "name" and an object "input"`)
			}
			calls++
		case strEq(b, t, "thinking"), strEq(b, t, "redacted_thinking"):
		default:
			return reqErr("messages.content.type", `unsupported content block type in an assistant message; use text or tool_use`)
		}
		return nil
	})
	if err != nil {
		return dst, n, err
	}
	if texts == 0 {
		dst = append(dst, "null"...)
	} else {
		dst = append(dst, '"')
	}
	if calls > 0 {
		dst = append(dst, `,"tool_calls":[`...)
		first := true
		_ = blocks(b, s, func(bl [bCount]Span) error {
			if !strEq(b, bl[bType], "tool_use") {
				return nil
			}
			if !first {
				dst = append(dst, ',')
			}
			first = false
			dst = append(dst, `{"id":`...)
			dst = append(dst, b[bl[bID].Start:bl[bID].End]...)
			dst = append(dst, `,"type":"function","function":{"name":`...)
			dst = append(dst, b[bl[bName].Start:bl[bName].End]...)
			dst = append(dst, `,"arguments":`...)
			in := b[bl[bInput].Start:bl[bInput].End]
			dst = appendJSONString(dst, in)
			c, o := countText(in)
			cjk, other = cjk+c, other+o
			dst = append(dst, "}}"...)
			return nil
		})
		dst = append(dst, ']')
	}
	f.InputTokens += tokens(cjk, other)
	return append(dst, '}'), n, nil
}

// appendJSONString appends raw (JSON text) as a JSON string. Raw is valid
// JSON, so it is valid UTF-8 where it matters; jsonstr escapes the rest.
func appendJSONString(dst, raw []byte) []byte {
	return jsonstr.Append(dst, string(raw)) // a conversion in a call argument does not allocate when it does not escape
}

// appendStop writes stop_sequences as "stop".
func appendStop(dst, b []byte, s Span) ([]byte, error) {
	if !isArr(b, s) {
		return dst, reqErr("stop_sequences", `"stop_sequences" must be an array of strings`)
	}
	a, err := open(b, s.Start, 1, false)
	if err != nil {
		return dst, err
	}
	for a.next() {
		if b[a.val] != '"' {
			return dst, reqErr("stop_sequences", `"stop_sequences" must be an array of strings`)
		}
	}
	if a.err != nil {
		return dst, a.err
	}
	dst = append(dst, `,"stop":`...)
	return append(dst, b[s.Start:s.End]...), nil
}

// appendTools writes tools as function tools; a server tool (a "type"
// other than "custom") cannot run on an OpenAI channel and is refused.
func appendTools(dst, b []byte, s Span, f *Features) ([]byte, error) {
	if !isArr(b, s) {
		return dst, reqErr("tools", `"tools" must be an array of {"name","description","input_schema"}`)
	}
	a, err := open(b, s.Start, 1, false)
	if err != nil {
		return dst, err
	}
	first := true
	for a.next() {
		if b[a.val] != '{' {
			return dst, reqErr("tools", `each tool must be an object {"name","description","input_schema"}`)
		}
		var t [4]Span
		end, err := members(b, a.val, 2, toolNames, t[:])
		if err != nil {
			return dst, err
		}
		a.took(end)
		if present(t[3]) && !strEq(b, t[3], "custom") {
			return dst, reqErr("tools.type", `server tools (a tool "type" other than "custom") are not supported; define the tool with "name" and "input_schema"`)
		}
		if !isStr(b, t[0]) || !isObj(b, t[2]) {
			return dst, reqErr("tools", `each tool needs a string "name" and an object "input_schema"`)
		}
		if first {
			dst = append(dst, `,"tools":[`...)
		} else {
			dst = append(dst, ',')
		}
		first = false
		dst = append(dst, `{"type":"function","function":{"name":`...)
		dst = append(dst, b[t[0].Start:t[0].End]...)
		if isStr(b, t[1]) {
			dst = append(dst, `,"description":`...)
			dst = append(dst, b[t[1].Start:t[1].End]...)
		}
		dst = append(dst, `,"parameters":`...)
		dst = append(dst, b[t[2].Start:t[2].End]...)
		dst = append(dst, "}}"...)
		f.NeedTools = true
	}
	if a.err != nil {
		return dst, a.err
	}
	if !first {
		dst = append(dst, ']')
	}
	return dst, nil
}

// appendToolChoice writes tool_choice: auto, any (required), tool (that
// function), none; disable_parallel_tool_use as parallel_tool_calls false.
func appendToolChoice(dst, b []byte, s Span) ([]byte, error) {
	if !isObj(b, s) {
		return dst, reqErr("tool_choice", `"tool_choice" must be an object {"type":"auto"|"any"|"tool"|"none"}`)
	}
	var c [3]Span
	if _, err := members(b, s.Start, 1, choiceNames, c[:]); err != nil {
		return dst, err
	}
	dst = append(dst, `,"tool_choice":`...)
	switch {
	case strEq(b, c[0], "auto"):
		dst = append(dst, `"auto"`...)
	case strEq(b, c[0], "any"):
		dst = append(dst, `"required"`...)
	case strEq(b, c[0], "none"):
		dst = append(dst, `"none"`...)
	case strEq(b, c[0], "tool") && isStr(b, c[1]):
		dst = append(dst, `{"type":"function","function":{"name":`...)
		dst = append(dst, b[c[1].Start:c[1].End]...)
		dst = append(dst, "}}"...)
	default:
		return dst, reqErr("tool_choice", `"tool_choice" must be {"type":"auto"}, {"type":"any"}, {"type":"none"} or {"type":"tool","name":...}`)
	}
	if p := c[2]; present(p) && b[p.Start] == 't' {
		dst = append(dst, `,"parallel_tool_calls":false`...)
	}
	return dst, nil
}

// ErrUpstreamAnswer is an OpenAI answer that cannot be translated: not a
// JSON object, or tool arguments that are not a JSON object.
var ErrUpstreamAnswer = reqErr("", "the upstream answer is not a chat completion that can be translated")

// stopReason maps an OpenAI finish_reason to a Messages stop_reason.
// OpenAI's "stop" covers both a natural end and a stop sequence; it cannot
// tell which, so it maps to end_turn.
func stopReason(b []byte, s Span) string {
	switch {
	case strEq(b, s, "length"):
		return "max_tokens"
	case strEq(b, s, "tool_calls"), strEq(b, s, "function_call"):
		return "tool_use"
	case strEq(b, s, "content_filter"):
		return "refusal"
	}
	return "end_turn"
}

// OpenAIToAnthropic appends to dst the Messages answer for the OpenAI chat
// completion out, naming model, and returns its usage. Only the first
// choice is translated.
func OpenAIToAnthropic(dst, out []byte, model string) ([]byte, Usage, error) {
	ch, err := readOpenAIChoice(out)
	u := ch.u
	if err != nil {
		return dst, u, err
	}
	dst = append(dst, `{"id":`...)
	if isStr(out, ch.id) {
		dst = append(dst, out[ch.id.Start:ch.id.End]...)
	} else {
		dst = append(dst, `"msg_router"`...)
	}
	dst = append(dst, `,"type":"message","role":"assistant","model":`...)
	dst = jsonstr.Append(dst, model)
	dst = append(dst, `,"content":[`...)
	dst, _, err = ch.appendParts(dst, out, `{"type":"text","text":`, func(dst []byte, n int, id, name, args Span) ([]byte, error) {
		dst = append(dst, `{"type":"tool_use","id":`...)
		if isStr(out, id) {
			dst = append(dst, out[id.Start:id.End]...)
		} else {
			dst = append(dst, `"toolu_`...)
			dst = strconv.AppendInt(dst, int64(n), 10)
			dst = append(dst, '"')
		}
		dst = append(dst, `,"name":`...)
		dst = append(dst, out[name.Start:name.End]...)
		dst = append(dst, `,"input":`...)
		dst, err := appendArguments(dst, out, args)
		if err != nil {
			return dst, err
		}
		return append(dst, '}'), nil
	})
	if err != nil {
		return dst, u, err
	}
	dst = append(dst, `],"stop_reason":"`...)
	dst = append(dst, stopReason(out, ch.finish)...)
	dst = append(dst, `","stop_sequence":null,"usage":{"input_tokens":`...)
	dst = strconv.AppendInt(dst, u.PromptTokens, 10)
	dst = append(dst, `,"output_tokens":`...)
	dst = strconv.AppendInt(dst, u.CompletionTokens, 10)
	return append(dst, "}}"...), u, nil
}

// appendArguments writes the tool arguments at s (a JSON string holding a
// JSON object; empty or absent is {}) as the object itself.
func appendArguments(dst, b []byte, s Span) ([]byte, error) {
	if !isStr(b, s) || s.End-s.Start == 2 {
		return append(dst, "{}"...), nil
	}
	at := len(dst)
	dst = appendUnescaped(dst, innerOf(b, s))
	v := dst[at:]
	i := skipWS(v, 0)
	if i >= len(v) || v[i] != '{' {
		return dst[:at], ErrUpstreamAnswer
	}
	end, err := skipValue(v, i, 0)
	if err != nil || skipWS(v, end) != len(v) {
		return dst[:at], ErrUpstreamAnswer
	}
	return dst, nil
}

// appendUnescaped appends the decoding of raw JSON string contents that the
// scanner has checked.
func appendUnescaped(dst, raw []byte) []byte {
	for i := 0; i < len(raw); {
		c := raw[i]
		if c != '\\' {
			dst = append(dst, c)
			i++
			continue
		}
		switch raw[i+1] {
		case 'u':
			r := hex4(raw[i+2 : i+6])
			i += 6
			if r >= 0xD800 && r < 0xDC00 && i+6 <= len(raw) && raw[i] == '\\' && raw[i+1] == 'u' {
				if lo := hex4(raw[i+2 : i+6]); lo >= 0xDC00 && lo < 0xE000 {
					r = 0x10000 + (r-0xD800)<<10 + (lo - 0xDC00)
					i += 6
				}
			}
			dst = utf8.AppendRune(dst, r)
			continue
		case 'b':
			c = '\b'
		case 'f':
			c = '\f'
		case 'n':
			c = '\n'
		case 'r':
			c = '\r'
		case 't':
			c = '\t'
		default:
			c = raw[i+1]
		}
		dst = append(dst, c)
		i += 2
	}
	return dst
}

// AppendAnthropicError appends {"type":"error","error":{"type":typ,"message":msg}}.
func AppendAnthropicError(dst []byte, typ, msg string) []byte {
	dst = append(dst, `{"type":"error","error":{"type":`...)
	dst = jsonstr.Append(dst, typ)
	dst = append(dst, `,"message":`...)
	dst = jsonstr.Append(dst, msg)
	return append(dst, "}}"...)
}

// AnthropicStream translates an OpenAI chat completion stream into
// Messages stream events, one upstream chunk at a time, with state bounded
// by a fixed-size id: message_start (and a ping) before the first content,
// a content block per text run and per tool call (content_block_start,
// content_block_delta with text_delta or input_json_delta,
// content_block_stop), and at the end message_delta (stop_reason, usage)
// and message_stop. The zero value is ready once Model is set.
type AnthropicStream struct {
	Model       string // the model the answer names
	InputTokens int    // the estimate message_start reports; the upstream's count follows in message_delta

	started bool
	blocks  int   // content blocks started
	open    uint8 // the open block: 0 none, 1 text, 2 tool_use
	tool    int64 // the OpenAI index of the open tool call
	stop    string
	u       Usage
}

// Usage is the usage the stream reported so far.
func (s *AnthropicStream) Usage() Usage { return s.u }

func appendEvent(dst []byte, name string) []byte {
	dst = append(dst, "event: "...)
	dst = append(dst, name...)
	return append(dst, "\ndata: "...)
}

func (s *AnthropicStream) start(dst, data []byte, id Span) []byte {
	s.started = true
	dst = appendEvent(dst, "message_start")
	dst = append(dst, `{"type":"message_start","message":{"id":`...)
	if isStr(data, id) && id.End-id.Start <= 256 {
		dst = append(dst, data[id.Start:id.End]...)
	} else {
		dst = append(dst, `"msg_router"`...)
	}
	dst = append(dst, `,"type":"message","role":"assistant","model":`...)
	dst = jsonstr.Append(dst, s.Model)
	dst = append(dst, `,"content":[],"stop_reason":null,"stop_sequence":null,"usage":{"input_tokens":`...)
	dst = strconv.AppendInt(dst, int64(s.InputTokens), 10)
	dst = append(dst, `,"output_tokens":0}}}`+"\n\n"...)
	dst = appendEvent(dst, "ping")
	return append(dst, `{"type":"ping"}`+"\n\n"...)
}

func (s *AnthropicStream) closeBlock(dst []byte) []byte {
	if s.open == 0 {
		return dst
	}
	s.open = 0
	dst = appendEvent(dst, "content_block_stop")
	dst = append(dst, `{"type":"content_block_stop","index":`...)
	dst = strconv.AppendInt(dst, int64(s.blocks-1), 10)
	return append(dst, "}\n\n"...)
}

func (s *AnthropicStream) delta(dst []byte, kind, field string, raw []byte) []byte {
	dst = appendEvent(dst, "content_block_delta")
	dst = append(dst, `{"type":"content_block_delta","index":`...)
	dst = strconv.AppendInt(dst, int64(s.blocks-1), 10)
	dst = append(dst, `,"delta":{"type":"`...)
	dst = append(dst, kind...)
	dst = append(dst, `","`...)
	dst = append(dst, field...)
	dst = append(dst, `":`...)
	dst = append(dst, raw...)
	return append(dst, "}}\n\n"...)
}

// Chunk appends the events for one OpenAI stream chunk (its data payload).
// A chunk that is not a JSON object, or carries an "error", gives
// ErrUpstreamAnswer: the caller ends the stream with an error event.
func (s *AnthropicStream) Chunk(dst, data []byte) ([]byte, error) {
	var r [4]Span
	if _, err := members(data, skipWS(data, 0), 0, respNames, r[:]); err != nil {
		return dst, ErrUpstreamAnswer
	}
	if present(r[3]) && !isNull(data, r[3]) {
		return dst, ErrUpstreamAnswer
	}
	if isObj(data, r[2]) {
		s.u = ParseOpenAIUsage(data[r[2].Start:r[2].End])
	}
	var c [4]Span
	if err := firstChoice(data, r[1], &c); err != nil {
		return dst, ErrUpstreamAnswer
	}
	if !s.started {
		dst = s.start(dst, data, r[0])
	}
	if isObj(data, c[1]) {
		var d [2]Span
		if _, err := members(data, c[1].Start, 2, messageNames, d[:]); err != nil {
			return dst, ErrUpstreamAnswer
		}
		if t := d[0]; isStr(data, t) && t.End-t.Start > 2 {
			if s.open != 1 {
				dst = s.closeBlock(dst)
				dst = appendEvent(dst, "content_block_start")
				dst = append(dst, `{"type":"content_block_start","index":`...)
				dst = strconv.AppendInt(dst, int64(s.blocks), 10)
				dst = append(dst, `,"content_block":{"type":"text","text":""}}`+"\n\n"...)
				s.blocks++
				s.open = 1
			}
			dst = s.delta(dst, "text_delta", "text", data[t.Start:t.End])
		}
		if isArr(data, d[1]) {
			var err error
			if dst, err = s.toolCalls(dst, data, d[1]); err != nil {
				return dst, err
			}
		}
	}
	if isStr(data, c[2]) {
		s.stop = stopReason(data, c[2])
	}
	return dst, nil
}

func (s *AnthropicStream) toolCalls(dst, data []byte, at Span) ([]byte, error) {
	a, err := open(data, at.Start, 3, false)
	if err != nil {
		return dst, ErrUpstreamAnswer
	}
	for a.next() {
		if data[a.val] != '{' {
			return dst, ErrUpstreamAnswer
		}
		var tc [3]Span
		end, err := members(data, a.val, 4, callNames, tc[:])
		if err != nil {
			return dst, ErrUpstreamAnswer
		}
		a.took(end)
		var fn [2]Span
		if isObj(data, tc[1]) {
			if _, err := members(data, tc[1].Start, 5, funcNames, fn[:]); err != nil {
				return dst, ErrUpstreamAnswer
			}
		}
		idx := int64(-1)
		if isNum(data, tc[2]) {
			v, _ := plainUint(data[tc[2].Start:tc[2].End], 1<<20)
			idx = int64(v)
		}
		if s.open != 2 || (idx >= 0 && idx != s.tool) || isStr(data, tc[0]) && s.open == 2 && idx < 0 {
			dst = s.closeBlock(dst)
			dst = appendEvent(dst, "content_block_start")
			dst = append(dst, `{"type":"content_block_start","index":`...)
			dst = strconv.AppendInt(dst, int64(s.blocks), 10)
			dst = append(dst, `,"content_block":{"type":"tool_use","id":`...)
			if isStr(data, tc[0]) {
				dst = append(dst, data[tc[0].Start:tc[0].End]...)
			} else {
				dst = append(dst, `"toolu_`...)
				dst = strconv.AppendInt(dst, int64(s.blocks), 10)
				dst = append(dst, '"')
			}
			dst = append(dst, `,"name":`...)
			if isStr(data, fn[0]) {
				dst = append(dst, data[fn[0].Start:fn[0].End]...)
			} else {
				dst = append(dst, `""`...)
			}
			dst = append(dst, `,"input":{}}}`+"\n\n"...)
			s.blocks++
			s.open, s.tool = 2, idx
		}
		if g := fn[1]; isStr(data, g) && g.End-g.Start > 2 {
			dst = s.delta(dst, "input_json_delta", "partial_json", data[g.Start:g.End])
		}
	}
	if a.err != nil {
		return dst, ErrUpstreamAnswer
	}
	return dst, nil
}

// End appends the events that close the answer: the open block's stop,
// message_delta with the stop reason and usage, message_stop.
func (s *AnthropicStream) End(dst []byte) []byte {
	if !s.started {
		dst = s.start(dst, nil, Span{})
	}
	dst = s.closeBlock(dst)
	stop := s.stop
	if stop == "" {
		stop = "end_turn"
	}
	dst = appendEvent(dst, "message_delta")
	dst = append(dst, `{"type":"message_delta","delta":{"stop_reason":"`...)
	dst = append(dst, stop...)
	dst = append(dst, `","stop_sequence":null},"usage":{"input_tokens":`...)
	in := s.u.PromptTokens
	if in == 0 {
		in = int64(s.InputTokens)
	}
	dst = strconv.AppendInt(dst, in, 10)
	dst = append(dst, `,"output_tokens":`...)
	dst = strconv.AppendInt(dst, s.u.CompletionTokens, 10)
	dst = append(dst, "}}\n\n"...)
	dst = appendEvent(dst, "message_stop")
	return append(dst, `{"type":"message_stop"}`+"\n\n"...)
}

// AppendAnthropicStreamError appends an "event: error" with the error body.
func AppendAnthropicStreamError(dst []byte, typ, msg string) []byte {
	dst = appendEvent(dst, "error")
	dst = AppendAnthropicError(dst, typ, msg)
	return append(dst, "\n\n"...)
}
