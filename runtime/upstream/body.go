package upstream

import (
	"encoding/json"
	"errors"
	"fmt"

	"smartrouter/runtime/jsonstr"
)

// ErrNoModel is returned by RewriteModel for a body without a top-level
// "model" member.
var ErrNoModel = errors.New(`request body has no top-level "model"; add the model to the request`)

// RewriteModel appends to dst the JSON object body with the value of every
// top-level "model" member replaced by model (a JSON string), and returns the
// extended slice. Every other byte is copied unchanged: no field is dropped,
// reordered or reformatted. The body is fully validated on the way; an
// invalid body gives a *SyntaxError and a body without "model" gives
// ErrNoModel, with dst returned unextended.
func RewriteModel(dst, body []byte, model string) ([]byte, error) {
	orig := len(dst)
	o, err := topObject(body)
	if err != nil {
		return dst, err
	}
	last, found := 0, false
	for {
		m, ok := o.next()
		if !ok {
			break
		}
		if m.key(body, "model") {
			found = true
			dst = append(dst, body[last:m.valStart]...)
			dst = jsonstr.Append(dst, model)
			last = m.valEnd
		}
	}
	if err := o.finish(); err != nil {
		return dst[:orig], err
	}
	if !found {
		return dst[:orig], ErrNoModel
	}
	return append(dst, body[last:]...), nil
}

// RequestUsage appends to dst the JSON object body changed so that it asks
// for a usage chunk at the end of a stream (stream_options.include_usage set
// to true), and reports whether the client had not asked for it itself; in
// that case the relay drops the usage-only chunk (see Chunk.UsageOnly) so the
// client sees the stream it asked for. Call it for streaming requests only.
// A stream_options that is neither an object nor null is left for the
// upstream to reject, and added is false.
func RequestUsage(dst, body []byte) (out []byte, added bool, err error) {
	const member = `"stream_options":{"include_usage":true}`
	orig := len(dst)
	o, err := topObject(body)
	if err != nil {
		return dst, false, err
	}
	last, found, asked, members := 0, false, false, 0
	for {
		m, ok := o.next()
		if !ok {
			break
		}
		members++
		if !m.key(body, "stream_options") {
			continue
		}
		found, asked = true, false
		switch body[m.valStart] {
		case 'n': // null
			dst = append(dst, body[last:m.valStart]...)
			dst = append(dst, `{"include_usage":true}`...)
			last = m.valEnd
		case '{':
			dst = append(dst, body[last:m.valStart]...)
			dst, asked = setIncludeUsage(dst, body, m.valStart)
			last = m.valEnd
		default:
			asked = true // not ours to fix: nothing added, nothing to drop
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

// setIncludeUsage appends the already validated stream_options object at
// body[start] with include_usage forced to true, and reports whether the last
// include_usage member was already the literal true.
func setIncludeUsage(dst, body []byte, start int) ([]byte, bool) {
	o, _ := openObject(body, start, 1)
	last, found, asked, members := start, false, false, 0
	for {
		m, ok := o.next()
		if !ok {
			break
		}
		members++
		if !m.key(body, "include_usage") {
			continue
		}
		found = true
		asked = string(body[m.valStart:m.valEnd]) == "true"
		dst = append(dst, body[last:m.valStart]...)
		dst = append(dst, "true"...)
		last = m.valEnd
	}
	if found {
		return append(dst, body[last:o.end]...), asked
	}
	dst = append(dst, body[last:o.close]...)
	if members > 0 {
		dst = append(dst, ',')
	}
	dst = append(dst, `"include_usage":true}`...)
	return dst, false
}

// Field returns the raw bytes of the value of the top-level member key of the
// JSON object body (the last one when the key repeats, as encoding/json
// decides), whether it is present, and a *SyntaxError when body is not a valid
// JSON object. Keys match exactly (case-sensitive), escapes decoded; key must
// be ASCII. The returned slice aliases body.
func Field(body []byte, key string) (value []byte, ok bool, err error) {
	o, err := topObject(body)
	if err != nil {
		return nil, false, err
	}
	for {
		m, more := o.next()
		if !more {
			break
		}
		if m.key(body, key) {
			value, ok = body[m.valStart:m.valEnd], true
		}
	}
	if err := o.finish(); err != nil {
		return nil, false, err
	}
	return value, ok, nil
}

// chunkInfo is what the relay needs to know about one streamed JSON chunk.
type chunkInfo struct {
	usage     []byte // raw "usage" value when it is an object
	usageOnly bool   // "choices" is an empty array and usage is an object
	errVal    []byte // raw "error" value when present and not null
}

// inspectChunk looks at the top-level members of a stream chunk. A chunk that
// is not a valid JSON object yields a zero chunkInfo: it is relayed as is.
func inspectChunk(data []byte) chunkInfo {
	var ci chunkInfo
	o, err := topObject(data)
	if err != nil {
		return chunkInfo{}
	}
	emptyChoices := false
	for {
		m, ok := o.next()
		if !ok {
			break
		}
		v := data[m.valStart:m.valEnd]
		switch {
		case m.key(data, "choices"):
			emptyChoices = v[0] == '[' && skipWS(v, 1) == len(v)-1
		case m.key(data, "usage"):
			ci.usage = nil
			if v[0] == '{' {
				ci.usage = v
			}
		case m.key(data, "error"):
			ci.errVal = nil
			if v[0] != 'n' {
				ci.errVal = v
			}
		}
	}
	if o.finish() != nil {
		return chunkInfo{}
	}
	ci.usageOnly = emptyChoices && ci.usage != nil
	return ci
}

// Usage is the token count of an answer's "usage" object.
type Usage struct {
	PromptTokens     int64 `json:"prompt_tokens"`
	CompletionTokens int64 `json:"completion_tokens"`
	TotalTokens      int64 `json:"total_tokens"`
}

// ParseUsage decodes a raw "usage" object (Chunk.Usage, or Field(body,
// "usage") of a non-stream answer). Unknown members are ignored.
func ParseUsage(raw []byte) (Usage, error) {
	var u Usage
	if err := json.Unmarshal(raw, &u); err != nil {
		return Usage{}, fmt.Errorf("upstream usage object: %w; the provider's answer is malformed", err)
	}
	return u, nil
}
