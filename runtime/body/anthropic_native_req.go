package body

import (
	"bytes"
	"strconv"

	"smartrouter/runtime/jsonstr"
)

// The members of a chat request the translation to Messages reads.
var (
	oaiReqNames  = []string{"messages", "max_tokens", "max_completion_tokens", "temperature", "top_p", "stop", "stream", "tools", "tool_choice", "user"}
	oaiMsgNames  = []string{"role", "content", "tool_calls", "tool_call_id"}
	oaiPartNames = []string{"type", "text", "image_url"}
	oaiToolNames = []string{"type", "function"}
	oaiFuncNames = []string{"name", "description", "parameters"}
	urlNames     = []string{"url"}
	choiceFnName = []string{"function"}
	fnNameOnly   = []string{"name"}
)

const (
	orMessages = iota
	orMaxTokens
	orMaxCompletion
	orTemperature
	orTopP
	orStop
	orStream
	orTools
	orToolChoice
	orUser
	orCount
)

const (
	omRole = iota
	omContent
	omToolCalls
	omToolCallID
	omCount
)

// OpenAIToAnthropicRequest appends to dst the Messages request for an OpenAI
// chat completion request b, with model as its model. system and developer
// messages join into "system"; user content parts text and image_url
// (data: URLs as base64 sources, others as url sources) become blocks;
// assistant tool_calls become tool_use blocks and tool messages tool_result
// blocks of a user turn; consecutive turns of one role are merged.
// max_tokens (or max_completion_tokens) defaults to DefaultAnthropicMaxTokens;
// stop → stop_sequences, tools → input_schema, tool_choice auto/none/
// required/function → auto/none/any/tool, user → metadata.user_id. Other
// members are dropped. It reads b with the scanner, copying strings as
// they were sent; a request that cannot be read is a *RequestError and dst
// comes back unextended.
func OpenAIToAnthropicRequest(dst, b []byte, model string) ([]byte, error) {
	orig := len(dst)
	out, err := openAIToAnthropicRequest(dst, b, model)
	if err != nil {
		return dst[:orig], err
	}
	return out, nil
}

func openAIToAnthropicRequest(dst, b []byte, model string) ([]byte, error) {
	var r [orCount]Span
	start := skipWS(b, 0)
	end, err := members(b, start, 0, oaiReqNames, r[:])
	if err != nil || skipWS(b, end) != len(b) {
		return dst, reqErr("", "request body is not a valid chat completion request: a JSON object is expected")
	}
	dst = append(dst, `{"model":`...)
	dst = jsonstr.Append(dst, model)
	dst = append(dst, `,"max_tokens":`...)
	maxTok := int64(DefaultAnthropicMaxTokens)
	for _, k := range [...]int{orMaxTokens, orMaxCompletion} { // the later wins
		s := r[k]
		if !present(s) || isNull(b, s) {
			continue
		}
		n, ok := plainCount(b[s.Start:s.End])
		if !ok {
			return dst, reqErr(oaiReqNames[k], oaiReqNames[k]+" must be an integer")
		}
		if n > 0 {
			maxTok = n
		}
	}
	dst = strconv.AppendInt(dst, maxTok, 10)
	if !isArr(b, r[orMessages]) {
		return dst, reqErr("messages", `the request has no "messages" array`)
	}
	msgs := r[orMessages]
	// The system prompt: every system and developer message, joined.
	at := len(dst)
	dst = append(dst, `,"system":"`...)
	textAt := len(dst)
	err = eachMessage(b, msgs, func(k int, m [omCount]Span) error {
		if !strEq(b, m[omRole], "system") && !strEq(b, m[omRole], "developer") {
			return nil
		}
		sep := len(dst) > textAt
		if sep {
			dst = append(dst, `\n\n`...)
		}
		n := len(dst)
		var err error
		if dst, err = appendContentText(dst, b, m[omContent], k); err != nil {
			return err
		}
		if sep && len(dst) == n {
			dst = dst[:n-4] // an empty one adds nothing
		}
		return nil
	})
	if err != nil {
		return dst, err
	}
	if len(dst) == textAt {
		dst = dst[:at]
	} else {
		dst = append(dst, '"')
	}
	// The conversation.
	dst = append(dst, `,"messages":[`...)
	turn := "" // the role of the open turn
	err = eachMessage(b, msgs, func(k int, m [omCount]Span) error {
		role := ""
		switch {
		case strEq(b, m[omRole], "system"), strEq(b, m[omRole], "developer"):
			return nil
		case strEq(b, m[omRole], "user"), strEq(b, m[omRole], "tool"):
			role = "user"
		case strEq(b, m[omRole], "assistant"):
			role = "assistant"
		default:
			name := "null"
			if present(m[omRole]) {
				name = string(b[m[omRole].Start:m[omRole].End])
			}
			return reqErr("messages", "messages["+strconv.Itoa(k)+"].role "+name+" is not supported; use system, developer, user, assistant or tool")
		}
		// Open a turn (or continue the open one of the same role), write
		// the blocks, and take the opening back when there were none.
		mark := len(dst)
		if turn == role {
			dst = append(dst, ',')
		} else {
			if turn != "" {
				dst = append(dst, "]},"...)
			}
			dst = append(dst, `{"role":"`...)
			dst = append(dst, role...)
			dst = append(dst, `","content":[`...)
		}
		blocks := len(dst)
		var err error
		switch {
		case strEq(b, m[omRole], "user"):
			dst, err = appendUserParts(dst, b, m[omContent], k)
		case strEq(b, m[omRole], "tool"):
			dst = append(dst, `{"type":"tool_result","tool_use_id":`...)
			dst = appendStrOr(dst, b, m[omToolCallID], `""`)
			dst = append(dst, `,"content":"`...)
			if dst, err = appendContentText(dst, b, m[omContent], k); err == nil {
				dst = append(dst, `"}`...)
			}
		default:
			dst, err = appendAssistant(dst, b, &m, k)
		}
		if err != nil {
			return err
		}
		if len(dst) == blocks {
			dst = dst[:mark]
		} else {
			turn = role
		}
		return nil
	})
	if err != nil {
		return dst, err
	}
	if turn == "" {
		return dst, reqErr("messages", "the request has no user or assistant message; send at least one")
	}
	dst = append(dst, "]}]"...)
	for _, k := range [...]int{orTemperature, orTopP} {
		s := r[k]
		if !present(s) || isNull(b, s) {
			continue
		}
		if !isNum(b, s) {
			return dst, reqErr(oaiReqNames[k], oaiReqNames[k]+" must be a number")
		}
		dst = append(dst, `,"`...)
		dst = append(dst, oaiReqNames[k]...)
		dst = append(dst, `":`...)
		dst = append(dst, b[s.Start:s.End]...)
	}
	if dst, err = appendStopSequences(dst, b, r[orStop]); err != nil {
		return dst, err
	}
	if s := r[orStream]; present(s) && b[s.Start] == 't' {
		dst = append(dst, `,"stream":true`...)
	}
	if dst, err = appendAnthropicTools(dst, b, r[orTools]); err != nil {
		return dst, err
	}
	if dst, err = appendAnthropicToolChoice(dst, b, r[orToolChoice]); err != nil {
		return dst, err
	}
	if s := r[orUser]; present(s) && !isNull(b, s) {
		if !isStr(b, s) {
			return dst, reqErr("user", "user must be a string")
		}
		if s.End-s.Start > 2 {
			dst = append(dst, `,"metadata":{"user_id":`...)
			dst = append(dst, b[s.Start:s.End]...)
			dst = append(dst, '}')
		}
	}
	return append(dst, '}'), nil
}

// plainCount reads a plain non-negative integer of at most 18 digits (a
// negative one reads as 0: no limit asked).
func plainCount(v []byte) (int64, bool) {
	neg := len(v) > 0 && v[0] == '-'
	if neg {
		v = v[1:]
	}
	if len(v) == 0 || len(v) > 18 {
		return 0, false
	}
	var n int64
	for _, c := range v {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int64(c-'0')
	}
	if neg {
		return 0, true
	}
	return n, true
}

// eachMessage calls fn with the index and members of every message of the
// array at s; a message that is not an object is a *RequestError.
func eachMessage(b []byte, s Span, fn func(k int, m [omCount]Span) error) error {
	a, err := open(b, s.Start, 1, false)
	if err != nil {
		return reqErr("messages", "messages must be an array")
	}
	var m [omCount]Span
	for k := 0; a.next(); k++ {
		if b[a.val] != '{' {
			return reqErr("messages", "messages["+strconv.Itoa(k)+"] must be an object")
		}
		m = [omCount]Span{}
		end, err := members(b, a.val, 2, oaiMsgNames, m[:])
		if err != nil {
			return reqErr("messages", "messages["+strconv.Itoa(k)+"] is not valid JSON")
		}
		a.took(end)
		if err := fn(k, m); err != nil {
			return err
		}
	}
	if a.err != nil {
		return reqErr("messages", "messages is not valid JSON")
	}
	return nil
}

// eachPart calls fn with the members of every element of the content array
// at s; an element that is not an object is an error.
func eachPart(b []byte, s Span, k int, fn func(p [3]Span) error) error {
	a, err := open(b, s.Start, 3, false)
	if err != nil {
		return contentErr(k, "must be a string, null or an array of parts")
	}
	var p [3]Span
	for a.next() {
		if b[a.val] != '{' {
			return contentErr(k, "a content part must be an object")
		}
		p = [3]Span{}
		end, err := members(b, a.val, 4, oaiPartNames, p[:])
		if err != nil {
			return contentErr(k, "a content part is not valid JSON")
		}
		a.took(end)
		if err := fn(p); err != nil {
			return err
		}
	}
	if a.err != nil {
		return contentErr(k, "is not valid JSON")
	}
	return nil
}

func contentErr(k int, msg string) error {
	return reqErr("messages", "messages["+strconv.Itoa(k)+"].content: "+msg)
}

// appendContentText appends the text of a content (a string, null, or the
// text parts of an array, joined) as the inside of a JSON string.
func appendContentText(dst, b []byte, s Span, k int) ([]byte, error) {
	switch {
	case !present(s) || isNull(b, s):
		return dst, nil
	case isStr(b, s):
		return append(dst, innerOf(b, s)...), nil
	case !isArr(b, s):
		return dst, contentErr(k, "must be a string, null or an array of parts")
	}
	err := eachPart(b, s, k, func(p [3]Span) error {
		if !strEq(b, p[0], "text") || !present(p[1]) || isNull(b, p[1]) {
			return nil
		}
		if !isStr(b, p[1]) {
			return contentErr(k, "the text of a text part must be a string")
		}
		dst = append(dst, innerOf(b, p[1])...)
		return nil
	})
	return dst, err
}

// appendUserParts appends the blocks of a user content: a string is one
// text block; parts text and image_url become text and image blocks.
func appendUserParts(dst, b []byte, s Span, k int) ([]byte, error) {
	switch {
	case !present(s) || isNull(b, s):
		return dst, nil
	case isStr(b, s):
		if s.End-s.Start == 2 {
			return dst, nil // Anthropic refuses empty text blocks
		}
		dst = append(dst, `{"type":"text","text":`...)
		dst = append(dst, b[s.Start:s.End]...)
		return append(dst, '}'), nil
	case !isArr(b, s):
		return dst, contentErr(k, "must be a string, null or an array of parts")
	}
	n := 0
	err := eachPart(b, s, k, func(p [3]Span) error {
		if strEq(b, p[0], "text") && (!present(p[1]) || isNull(b, p[1]) || isStr(b, p[1]) && p[1].End-p[1].Start == 2) {
			return nil // no text: Anthropic refuses empty text blocks
		}
		if n > 0 {
			dst = append(dst, ',')
		}
		n++
		switch {
		case strEq(b, p[0], "text"):
			if !isStr(b, p[1]) {
				return contentErr(k, "the text of a text part must be a string")
			}
			dst = append(dst, `{"type":"text","text":`...)
			dst = append(dst, b[p[1].Start:p[1].End]...)
			dst = append(dst, '}')
		case strEq(b, p[0], "image_url"):
			var err error
			dst, err = appendImageBlock(dst, b, p[2], k)
			return err
		default:
			name := "null"
			if present(p[0]) {
				name = string(b[p[0].Start:p[0].End])
			}
			return contentErr(k, "content part type "+name+" is not supported; use text or image_url")
		}
		return nil
	})
	return dst, err
}

// appendImageBlock appends the image block of an image_url object: a
// data: URL as a base64 source, any other URL as a url source.
func appendImageBlock(dst, b []byte, s Span, k int) ([]byte, error) {
	var u [1]Span
	if !isObj(b, s) {
		return dst, contentErr(k, "image_url must be an object with a url")
	}
	if _, err := members(b, s.Start, 4, urlNames, u[:]); err != nil || !isStr(b, u[0]) {
		return dst, contentErr(k, "image_url must be an object with a url")
	}
	raw := innerOf(b, u[0])
	if bytes.IndexByte(raw, '\\') >= 0 {
		// Escapes (a "\/" some encoders write): decode to read the URL.
		dec := appendUnescaped(nil, raw)
		if !bytes.HasPrefix(dec, []byte("data:")) {
			dst = append(dst, `{"type":"image","source":{"type":"url","url":`...)
			dst = append(dst, b[u[0].Start:u[0].End]...)
			return append(dst, "}}"...), nil
		}
		raw = dec
	}
	rest, ok := bytes.CutPrefix(raw, []byte("data:"))
	if !ok {
		dst = append(dst, `{"type":"image","source":{"type":"url","url":"`...)
		dst = append(dst, raw...)
		return append(dst, `"}}`...), nil
	}
	mt, data, ok := bytes.Cut(rest, []byte(";base64,"))
	if !ok {
		return dst, contentErr(k, "an image data URL must be base64 (data:<type>;base64,<data>)")
	}
	dst = append(dst, `{"type":"image","source":{"type":"base64","media_type":`...)
	dst = jsonstr.Append(dst, string(mt))
	dst = append(dst, `,"data":`...)
	dst = jsonstr.Append(dst, string(data))
	return append(dst, "}}"...), nil
}

// appendAssistant appends the blocks of an assistant message: its text,
// then a tool_use block per tool call.
func appendAssistant(dst, b []byte, m *[omCount]Span, k int) ([]byte, error) {
	at := len(dst)
	dst = append(dst, `{"type":"text","text":"`...)
	n := len(dst)
	var err error
	if dst, err = appendContentText(dst, b, m[omContent], k); err != nil {
		return dst, err
	}
	blocks := 1
	if len(dst) == n {
		dst, blocks = dst[:at], 0
	} else {
		dst = append(dst, `"}`...)
	}
	s := m[omToolCalls]
	if !present(s) || isNull(b, s) {
		return dst, nil
	}
	callErr := func() error {
		return reqErr("messages", "messages["+strconv.Itoa(k)+"].tool_calls: each call needs a function with a name and arguments that are a JSON object")
	}
	if !isArr(b, s) {
		return dst, callErr()
	}
	a, err := open(b, s.Start, 3, false)
	if err != nil {
		return dst, callErr()
	}
	for a.next() {
		var tc [3]Span
		if b[a.val] != '{' {
			return dst, callErr()
		}
		end, err := members(b, a.val, 4, callNames, tc[:])
		if err != nil || !isObj(b, tc[1]) {
			return dst, callErr()
		}
		a.took(end)
		var fn [2]Span
		if _, err := members(b, tc[1].Start, 5, funcNames, fn[:]); err != nil || (present(fn[0]) && !isStr(b, fn[0])) {
			return dst, callErr()
		}
		if blocks > 0 {
			dst = append(dst, ',')
		}
		blocks++
		dst = append(dst, `{"type":"tool_use","id":`...)
		dst = appendStrOr(dst, b, tc[0], `""`)
		dst = append(dst, `,"name":`...)
		dst = appendStrOr(dst, b, fn[0], `""`)
		dst = append(dst, `,"input":`...)
		if dst, err = appendArguments(dst, b, fn[1]); err != nil {
			return dst, callErr()
		}
		dst = append(dst, '}')
	}
	if a.err != nil {
		return dst, callErr()
	}
	return dst, nil
}

// appendStopSequences appends "stop" (a string or an array of strings) as
// stop_sequences.
func appendStopSequences(dst, b []byte, s Span) ([]byte, error) {
	switch {
	case !present(s) || isNull(b, s):
		return dst, nil
	case isStr(b, s):
		dst = append(dst, `,"stop_sequences":[`...)
		dst = append(dst, b[s.Start:s.End]...)
		return append(dst, ']'), nil
	case !isArr(b, s):
		return dst, reqErr("stop", "stop must be a string or an array of strings")
	}
	at := len(dst)
	dst = append(dst, `,"stop_sequences":[`...)
	a, err := open(b, s.Start, 1, false)
	if err != nil {
		return dst, reqErr("stop", "stop must be a string or an array of strings")
	}
	n := 0
	for a.next() {
		end, err := skipValue(b, a.val, 2)
		if err != nil || b[a.val] != '"' {
			return dst, reqErr("stop", "stop must be a string or an array of strings")
		}
		a.took(end)
		if n > 0 {
			dst = append(dst, ',')
		}
		n++
		dst = append(dst, b[a.val:end]...)
	}
	if a.err != nil {
		return dst, reqErr("stop", "stop must be a string or an array of strings")
	}
	if n == 0 {
		return dst[:at], nil
	}
	return append(dst, ']'), nil
}

// errBadTools is the refusal of a tools member that cannot be read.
var errBadTools = reqErr("tools", `tools must be an array of {"type":"function","function":{"name":...}}`)

// appendAnthropicTools appends the function tools as Messages tools (the
// parameters as input_schema); tools of other types are dropped.
func appendAnthropicTools(dst, b []byte, s Span) ([]byte, error) {
	if !present(s) || isNull(b, s) {
		return dst, nil
	}
	bad := errBadTools
	if !isArr(b, s) {
		return dst, bad
	}
	a, err := open(b, s.Start, 1, false)
	if err != nil {
		return dst, bad
	}
	at := len(dst)
	dst = append(dst, `,"tools":[`...)
	n := 0
	for a.next() {
		var t [2]Span
		if b[a.val] != '{' {
			return dst, bad
		}
		end, err := members(b, a.val, 2, oaiToolNames, t[:])
		if err != nil {
			return dst, bad
		}
		a.took(end)
		if isStr(b, t[0]) && !strEq(b, t[0], "function") && !strEq(b, t[0], "") {
			continue // only function tools translate
		}
		var fn [3]Span
		if present(t[1]) && !isNull(b, t[1]) {
			if !isObj(b, t[1]) {
				return dst, bad
			}
			if _, err := members(b, t[1].Start, 3, oaiFuncNames, fn[:]); err != nil {
				return dst, bad
			}
		}
		if (present(fn[0]) && !isStr(b, fn[0]) && !isNull(b, fn[0])) || (present(fn[1]) && !isStr(b, fn[1]) && !isNull(b, fn[1])) {
			return dst, bad
		}
		if n > 0 {
			dst = append(dst, ',')
		}
		n++
		dst = append(dst, `{"name":`...)
		dst = appendStrOr(dst, b, fn[0], `""`)
		if d := fn[1]; isStr(b, d) && d.End-d.Start > 2 {
			dst = append(dst, `,"description":`...)
			dst = append(dst, b[d.Start:d.End]...)
		}
		dst = append(dst, `,"input_schema":`...)
		if p := fn[2]; isObj(b, p) {
			dst = append(dst, b[p.Start:p.End]...)
		} else {
			dst = append(dst, `{"type":"object"}`...)
		}
		dst = append(dst, '}')
	}
	if a.err != nil {
		return dst, bad
	}
	if n == 0 {
		return dst[:at], nil
	}
	return append(dst, ']'), nil
}

// appendAnthropicToolChoice appends an OpenAI tool_choice as Messages'.
func appendAnthropicToolChoice(dst, b []byte, s Span) ([]byte, error) {
	if !present(s) || isNull(b, s) {
		return dst, nil
	}
	switch {
	case strEq(b, s, "auto"):
		return append(dst, `,"tool_choice":{"type":"auto"}`...), nil
	case strEq(b, s, "none"):
		return append(dst, `,"tool_choice":{"type":"none"}`...), nil
	case strEq(b, s, "required"):
		return append(dst, `,"tool_choice":{"type":"any"}`...), nil
	case isObj(b, s):
		var f, name [1]Span
		if _, err := members(b, s.Start, 1, choiceFnName, f[:]); err == nil && isObj(b, f[0]) {
			if _, err := members(b, f[0].Start, 2, fnNameOnly, name[:]); err == nil && isStr(b, name[0]) && name[0].End-name[0].Start > 2 {
				dst = append(dst, `,"tool_choice":{"type":"tool","name":`...)
				dst = append(dst, b[name[0].Start:name[0].End]...)
				return append(dst, '}'), nil
			}
		}
	}
	return dst, reqErr("tool_choice", `tool_choice must be "auto", "none", "required" or {"type":"function","function":{"name":...}}`)
}
