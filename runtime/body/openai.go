package body

import "bytes"

// This file reads and edits the bodies of the OpenAI chat completions API:
// requests, non-stream answers, stream chunks and error answers.

// maxTokensLimit bounds the max_tokens value taken from a request.
const maxTokensLimit = 1 << 30

// ParseOpenAIChat reads the Features of an OpenAI chat completions request
// in one pass, validating the whole body: a body that is not one valid JSON
// object gives a *SyntaxError. Model is the "model" member when it is a
// string; InputTokens counts the "content" of each of "messages" (a string,
// or the "text" of its parts); NeedVision is a part of type image_url;
// NeedTools a non-empty "tools" or "functions"; MaxTokens is "max_tokens",
// else "max_completion_tokens"; Stream is "stream": true. Duplicate members
// behave as in encoding/json: the last one wins. The only allocation is the
// model string.
func ParseOpenAIChat(b []byte) (Features, error) {
	o, err := topObject(b)
	if err != nil {
		return Features{}, err
	}
	var f Features
	modelAt, modelEnd, modelEsc := -1, 0, false // the last "model", when a string
	var maxTok, maxCompl uint64
	var haveMaxTok, haveMaxCompl, tools, functions bool
	var kb keyBuf
	for o.next() {
		c := b[o.val]
		switch string(o.keyName(&kb)) {
		case "model":
			modelAt = -1
			if c == '"' {
				if modelEnd, modelEsc, err = scanString(b, o.val); err != nil {
					return Features{}, err
				}
				modelAt = o.val
				o.took(modelEnd)
			}
		case "messages":
			f.Messages, f.InputTokens, f.NeedVision, f.HasMessages = 0, 0, false, c == '['
			if c == '[' {
				var end int
				if f.Messages, f.InputTokens, f.NeedVision, end, err = openAIMessages(b, o.val, o.depth+1); err != nil {
					return Features{}, err
				}
				o.took(end)
			}
		case "tools":
			tools = nonEmptyArray(b, o.val)
		case "functions":
			functions = nonEmptyArray(b, o.val)
		case "max_tokens":
			if maxTok, haveMaxTok, err = plainInt(&o, maxTokensLimit); err != nil {
				return Features{}, err
			}
		case "max_completion_tokens":
			if maxCompl, haveMaxCompl, err = plainInt(&o, maxTokensLimit); err != nil {
				return Features{}, err
			}
		case "stream":
			f.Stream = c == 't' // next checks that it is the literal true
		}
	}
	if err := o.finish(); err != nil {
		return Features{}, err
	}
	switch {
	case modelAt >= 0 && !modelEsc:
		f.Model = string(b[modelAt+1 : modelEnd-1])
	case modelAt >= 0:
		f.Model = unquote(b[modelAt:modelEnd])
	}
	f.NeedTools = tools || functions
	switch {
	case haveMaxTok:
		f.MaxTokens = int(maxTok)
	case haveMaxCompl:
		f.MaxTokens = int(maxCompl)
	}
	return f, nil
}

// OpenAIMessagesTokens estimates the input tokens of an OpenAI "messages"
// array as ParseOpenAIChat does. A value that is not an array counts 0; an
// invalid one gives a *SyntaxError.
func OpenAIMessagesTokens(messages []byte) (int, error) {
	i := skipWS(messages, 0)
	var end, n int
	var err error
	if i < len(messages) && messages[i] == '[' {
		_, n, _, end, err = openAIMessages(messages, i, 0)
	} else {
		end, err = skipValue(messages, i, 0)
	}
	if err != nil {
		return 0, err
	}
	if j := skipWS(messages, end); j != len(messages) {
		return 0, syntaxErr(j, "data after the messages")
	}
	return n, nil
}

// nonEmptyArray reports whether the value at b[i] is an array with an
// element (the walk checks the rest).
func nonEmptyArray(b []byte, i int) bool {
	if b[i] != '[' {
		return false
	}
	j := skipWS(b, i+1)
	return j < len(b) && b[j] != ']'
}

// plainInt reads the walk's current value when it is a plain non-negative
// integer no larger than max; any other value is left for the walk to pass
// over and reported as absent.
func plainInt(w *walk, max uint64) (uint64, bool, error) {
	b, i := w.b, w.val
	if b[i] < '0' || b[i] > '9' {
		return 0, false, nil
	}
	end, err := scanNumber(b, i)
	if err != nil {
		return 0, false, err
	}
	w.took(end)
	v, ok := plainUint(b[i:end], max)
	return v, ok, nil
}

// openAIMessages reads the messages array at b[i]: how many, the token
// estimate, whether a content part is an image, and the end of the array.
func openAIMessages(b []byte, i, depth int) (n, toks int, vision bool, end int, err error) {
	a, err := open(b, i, depth, false)
	if err != nil {
		return 0, 0, false, 0, err
	}
	for a.next() {
		n++
		cjk, other, img, err := openAIMessage(&a)
		if err != nil {
			return 0, 0, false, 0, err
		}
		toks += tokens(cjk, other)
		vision = vision || img
	}
	if a.err != nil {
		return 0, 0, false, 0, a.err
	}
	return n, toks, vision, a.end, nil
}

// openAIMessage reads the message the walk is on: the characters of its
// text content (CJK and other) and whether it has an image part. A message
// that is not an object counts no text.
func openAIMessage(a *walk) (cjk, other int, vision bool, err error) {
	b := a.b
	if b[a.val] != '{' {
		return 0, 0, false, nil
	}
	m, err := a.inner(true)
	if err != nil {
		return 0, 0, false, err
	}
	for m.next() {
		if !m.key("content") {
			continue
		}
		cjk, other, vision = 0, 0, false // the last "content" wins
		switch b[m.val] {
		case '"':
			end, _, err := scanString(b, m.val)
			if err != nil {
				return 0, 0, false, err
			}
			cjk, other = countText(b[m.val+1 : end-1])
			m.took(end)
		case '[':
			p, err := m.inner(false)
			if err != nil {
				return 0, 0, false, err
			}
			for p.next() {
				c, o, img, err := openAIPart(&p)
				if err != nil {
					return 0, 0, false, err
				}
				cjk, other, vision = cjk+c, other+o, vision || img
			}
			if p.err != nil {
				return 0, 0, false, p.err
			}
			m.took(p.end)
		}
	}
	if m.err != nil {
		return 0, 0, false, m.err
	}
	a.took(m.end)
	return cjk, other, vision, nil
}

// openAIPart reads the content part the walk is on: the characters of its
// "text" and whether its "type" is image_url.
func openAIPart(a *walk) (cjk, other int, image bool, err error) {
	b := a.b
	if b[a.val] != '{' {
		return 0, 0, false, nil
	}
	p, err := a.inner(true)
	if err != nil {
		return 0, 0, false, err
	}
	var kb keyBuf
	for p.next() {
		switch string(p.keyName(&kb)) {
		case "type":
			image = false
			if b[p.val] == '"' {
				var end int
				if image, end, err = stringIs(b, p.val, "image_url"); err != nil {
					return 0, 0, false, err
				}
				p.took(end)
			}
		case "text":
			cjk, other = 0, 0
			if b[p.val] == '"' {
				end, _, err := scanString(b, p.val)
				if err != nil {
					return 0, 0, false, err
				}
				cjk, other = countText(b[p.val+1 : end-1])
				p.took(end)
			}
		}
	}
	if p.err != nil {
		return 0, 0, false, p.err
	}
	a.took(p.end)
	return cjk, other, image, nil
}

// OpenAIRequestUsage appends to dst the chat request body changed so that a
// stream ends with a usage chunk (stream_options.include_usage set to true),
// and reports whether the client had not asked for it itself; in that case
// the relay drops the usage-only chunk (see OpenAIResponse.UsageOnly) so the
// client sees the stream it asked for. Call it for streaming requests only.
// A stream_options that is neither an object nor null is left for the
// upstream to reject, and added is false. An invalid body gives a
// *SyntaxError with dst returned unextended.
func OpenAIRequestUsage(dst, body []byte) (out []byte, added bool, err error) {
	const member = `"stream_options":{"include_usage":true}`
	orig := len(dst)
	o, err := topObject(body)
	if err != nil {
		return dst, false, err
	}
	last, found, asked, members := 0, false, false, 0
	for o.next() {
		members++
		if !o.key("stream_options") {
			continue
		}
		found, asked = true, false
		switch body[o.val] {
		case 'n': // null
			dst = append(dst, body[last:o.val]...)
			dst = append(dst, `{"include_usage":true}`...)
			last, err = o.skip()
		case '{':
			dst = append(dst, body[last:o.val]...)
			dst, asked, last, err = setIncludeUsage(dst, body, o.val, o.depth+1)
			o.took(last)
		default:
			asked = true // not ours to fix: nothing added, nothing to drop
		}
		if err != nil {
			return dst[:orig], false, err
		}
	}
	if err := o.finish(); err != nil {
		return dst[:orig], false, err
	}
	if found {
		return append(dst, body[last:]...), !asked, nil
	}
	dst = append(dst, body[:o.close]...)
	if members > 0 {
		dst = append(dst, ',')
	}
	dst = append(dst, member...)
	return append(dst, body[o.close:]...), true, nil
}

// setIncludeUsage appends the stream_options object at body[start] with
// include_usage forced to true, and reports whether the last include_usage
// member was already the literal true, and the end of the object.
func setIncludeUsage(dst, body []byte, start, depth int) (out []byte, asked bool, end int, err error) {
	o, err := open(body, start, depth, true)
	if err != nil {
		return dst, false, 0, err
	}
	last, found, members := start, false, 0
	for o.next() {
		members++
		if !o.key("include_usage") {
			continue
		}
		found = true
		dst = append(dst, body[last:o.val]...)
		dst = append(dst, "true"...)
		if last, err = o.skip(); err != nil {
			return dst, false, 0, err
		}
		asked = string(body[o.val:last]) == "true"
	}
	if o.err != nil {
		return dst, false, 0, o.err
	}
	if found {
		return append(dst, body[last:o.end]...), asked, o.end, nil
	}
	dst = append(dst, body[last:o.close]...)
	if members > 0 {
		dst = append(dst, ',')
	}
	return append(dst, `"include_usage":true}`...), false, o.end, nil
}

// OpenAIResponse is what the router reads of an OpenAI chat completion or
// stream chunk: the raw values of its top-level members (slices of the body).
type OpenAIResponse struct {
	Usage     []byte // "usage" when it is an object
	Error     []byte // "error" when present and not null: an error sent as an answer or inside a stream
	UsageOnly bool   // "choices" is an empty array and Usage is set: the chunk OpenAIRequestUsage asked for
}

// ScanOpenAIResponse reads the top-level members of an answer or stream
// chunk. A body that is not one valid JSON object yields the zero value: it
// is relayed as it is.
func ScanOpenAIResponse(b []byte) OpenAIResponse {
	var r OpenAIResponse
	o, err := topObject(b)
	if err != nil {
		return OpenAIResponse{}
	}
	emptyChoices := false
	var kb keyBuf
	for o.next() {
		name := string(o.keyName(&kb))
		if name != "choices" && name != "usage" && name != "error" {
			continue
		}
		end, err := o.skip()
		if err != nil {
			break
		}
		v := b[o.val:end]
		switch name {
		case "choices":
			emptyChoices = v[0] == '[' && skipWS(v, 1) == len(v)-1
		case "usage":
			r.Usage = nil
			if v[0] == '{' {
				r.Usage = v
			}
		case "error":
			r.Error = nil
			if v[0] != 'n' {
				r.Error = v
			}
		}
	}
	if o.finish() != nil {
		return OpenAIResponse{}
	}
	r.UsageOnly = emptyChoices && r.Usage != nil
	return r
}

// ParseOpenAIUsage reads the token counts of an OpenAI "usage" object: the
// Usage of a stream chunk, or of a whole answer. A count that is missing or
// not a plain non-negative integer reads as 0; a usage that is not a valid
// object reads as all 0. It does not allocate.
func ParseOpenAIUsage(usage []byte) Usage {
	const maxCount = (1<<62)/10*10 + 9
	o, err := open(usage, skipWS(usage, 0), 0, true)
	if err != nil {
		return Usage{}
	}
	var u Usage
	var kb keyBuf
	for o.next() {
		var n *int64
		switch string(o.keyName(&kb)) {
		case "prompt_tokens":
			n = &u.PromptTokens
		case "completion_tokens":
			n = &u.CompletionTokens
		case "total_tokens":
			n = &u.TotalTokens
		default:
			continue
		}
		end, err := o.skip()
		if err != nil {
			break
		}
		v, _ := plainUint(usage[o.val:end], maxCount)
		*n = int64(v)
	}
	if o.finish() != nil {
		return Usage{}
	}
	return u
}

var (
	thinkOpen  = []byte("<think>")
	thinkClose = []byte("</think>")
)

// OpenAIReasoningSpans appends to dst the spans of <think>...</think> blocks
// inside choices[].message.content of a chat completion, each with the
// whitespace (raw or escaped as \n, \r, \t) that follows it. Removing them
// keeps the JSON valid: the markers are plain ASCII and cannot be part of an
// escape. An answer that is not a valid JSON object is left alone. It reads
// the answer in one pass; where a member repeats, the last one counts.
func OpenAIReasoningSpans(dst []Span, b []byte) []Span {
	orig := len(dst)
	o, err := topObject(b)
	if err != nil {
		return dst
	}
	for o.next() {
		if !o.key("choices") {
			continue
		}
		dst = dst[:orig]
		if b[o.val] != '[' {
			continue
		}
		a, err := o.inner(false)
		if err != nil {
			return dst[:orig]
		}
		for a.next() {
			if dst, err = choiceReasoning(dst, &a); err != nil {
				return dst[:orig]
			}
		}
		if a.err != nil {
			return dst[:orig]
		}
		o.took(a.end)
	}
	if o.finish() != nil {
		return dst[:orig]
	}
	return dst
}

// choiceReasoning appends the reasoning spans of the choice the walk is on:
// those of its last "message", in that of its last "content".
func choiceReasoning(dst []Span, a *walk) ([]Span, error) {
	b := a.b
	if b[a.val] != '{' {
		return dst, nil
	}
	c, err := a.inner(true)
	if err != nil {
		return dst, err
	}
	mark := len(dst)
	for c.next() {
		if !c.key("message") {
			continue
		}
		dst = dst[:mark]
		if b[c.val] != '{' {
			continue
		}
		m, err := c.inner(true)
		if err != nil {
			return dst, err
		}
		for m.next() {
			if !m.key("content") {
				continue
			}
			dst = dst[:mark]
			if b[m.val] != '"' {
				continue
			}
			end, _, err := scanString(b, m.val)
			if err != nil {
				return dst, err
			}
			dst = thinkSpans(dst, b, m.val+1, end-1)
			m.took(end)
		}
		if m.err != nil {
			return dst, m.err
		}
		c.took(m.end)
	}
	if c.err != nil {
		return dst, c.err
	}
	a.took(c.end)
	return dst, nil
}

// thinkSpans finds the reasoning blocks in body[s:e] (the raw inside of a
// JSON string).
func thinkSpans(dst []Span, body []byte, s, e int) []Span {
	for s < e {
		o := bytes.Index(body[s:e], thinkOpen)
		if o < 0 {
			return dst
		}
		o += s
		c := bytes.Index(body[o+len(thinkOpen):e], thinkClose)
		if c < 0 {
			return dst // an unclosed block is left as is
		}
		end := o + len(thinkOpen) + c + len(thinkClose)
	trail:
		for end < e {
			switch {
			case body[end] == ' ' || body[end] == '\t':
				end++
			case body[end] == '\\' && end+1 < e && (body[end+1] == 'n' || body[end+1] == 'r' || body[end+1] == 't'):
				end += 2
			default:
				break trail
			}
		}
		dst = append(dst, Span{o, end})
		s = end
	}
	return dst
}

// IsOpenAIError reports whether b is exactly one JSON object (no space
// around it) with a top-level "error" member: an error answer in the OpenAI
// shape that can be relayed to the client as it is.
func IsOpenAIError(b []byte) bool {
	if len(b) == 0 || b[0] != '{' || b[len(b)-1] != '}' {
		return false
	}
	vs, _, err := field(b, "error")
	return err == nil && vs >= 0
}

// The members read of an OpenAI answer or chunk.
var (
	respNames    = []string{"id", "choices", "usage", "error"}
	choiceKeys   = []string{"message", "delta", "finish_reason", "index"}
	messageNames = []string{"content", "tool_calls"}
	callNames    = []string{"id", "function", "index"}
	funcNames    = []string{"name", "arguments"}
)

// firstChoice returns the members of the first element of the choices
// array at s.
func firstChoice(b []byte, s Span, c *[4]Span) error {
	if !isArr(b, s) {
		return nil
	}
	a, err := open(b, s.Start, 1, false)
	if err != nil {
		return err
	}
	if a.next() {
		if b[a.val] != '{' {
			return ErrUpstreamAnswer
		}
		if _, err := members(b, a.val, 2, choiceKeys, c[:]); err != nil {
			return err
		}
	}
	return nil
}

// openAIChoice is what the translations of a non-stream chat completion
// into other wire formats (OpenAIToAnthropic, OpenAIToGemini) read of it:
// spans of its id, of the first choice's text (a non-empty JSON string),
// tool_calls array and finish_reason, and its usage.
type openAIChoice struct {
	id, text, calls, finish Span
	u                       Usage
}

// readOpenAIChoice reads a chat completion; one that is not a JSON object
// of that shape is ErrUpstreamAnswer.
func readOpenAIChoice(out []byte) (openAIChoice, error) {
	var ch openAIChoice
	var r [4]Span
	if _, err := members(out, skipWS(out, 0), 0, respNames, r[:]); err != nil {
		return ch, ErrUpstreamAnswer
	}
	ch.id = r[0]
	if isObj(out, r[2]) {
		ch.u = ParseOpenAIUsage(out[r[2].Start:r[2].End])
	}
	var c [4]Span
	if err := firstChoice(out, r[1], &c); err != nil {
		return ch, ErrUpstreamAnswer
	}
	ch.finish = c[2]
	if isObj(out, c[0]) {
		var msg [2]Span
		if _, err := members(out, c[0].Start, 2, messageNames, msg[:]); err != nil {
			return ch, ErrUpstreamAnswer
		}
		if s := msg[0]; isStr(out, s) && s.End-s.Start > 2 {
			ch.text = s
		}
		if isArr(out, msg[1]) {
			ch.calls = msg[1]
		}
	}
	return ch, nil
}

// appendParts appends the choice's content parts, comma-separated: its
// text, when present, as textOpen + the JSON string + '}', then each tool
// call as call writes it (n is the number of parts before it). It returns
// how many parts it wrote.
func (ch *openAIChoice) appendParts(dst, out []byte, textOpen string, call func(dst []byte, n int, id, name, args Span) ([]byte, error)) ([]byte, int, error) {
	n := 0
	if s := ch.text; present(s) {
		dst = append(dst, textOpen...)
		dst = append(dst, out[s.Start:s.End]...)
		dst = append(dst, '}')
		n++
	}
	err := ch.eachToolCall(out, func(id, name, args Span) error {
		if n > 0 {
			dst = append(dst, ',')
		}
		n++
		var err error
		dst, err = call(dst, n, id, name, args)
		return err
	})
	return dst, n, err
}

// eachToolCall calls fn, in order, with the spans of the id, the function
// name (a JSON string) and the arguments of every tool call of the choice
// read from out, and stops at fn's first error. A call that is not an
// object with a function named by a string is ErrUpstreamAnswer.
func (ch *openAIChoice) eachToolCall(out []byte, fn func(id, name, args Span) error) error {
	if !present(ch.calls) {
		return nil
	}
	a, err := open(out, ch.calls.Start, 3, false)
	if err != nil {
		return ErrUpstreamAnswer
	}
	for a.next() {
		var tc [3]Span
		if out[a.val] != '{' {
			return ErrUpstreamAnswer
		}
		end, err := members(out, a.val, 4, callNames, tc[:])
		if err != nil || !isObj(out, tc[1]) {
			return ErrUpstreamAnswer
		}
		a.took(end)
		var f [2]Span
		if _, err := members(out, tc[1].Start, 5, funcNames, f[:]); err != nil || !isStr(out, f[0]) {
			return ErrUpstreamAnswer
		}
		if err := fn(tc[0], f[0], f[1]); err != nil {
			return err
		}
	}
	if a.err != nil {
		return ErrUpstreamAnswer
	}
	return nil
}
