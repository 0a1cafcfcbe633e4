package server

import (
	"bytes"
	"strconv"

	"smartrouter/runtime/upstream"
)

// This file holds the small byte-level JSON tools of the response path: a
// walker that finds members and array elements by offset (so that an answer
// can be edited by copying spans, never by decoding and re-encoding it), the
// reasoning-block stripper and a string escaper.

// jwalk walks a JSON text by offsets. Methods return -1 on malformed input;
// callers then leave the text alone.
type jwalk struct{ b []byte }

func (w jwalk) ws(i int) int {
	for i < len(w.b) {
		switch w.b[i] {
		case ' ', '\t', '\n', '\r':
			i++
		default:
			return i
		}
	}
	return i
}

// str returns the end (one past the closing quote) of the string at i.
func (w jwalk) str(i int) int {
	if i >= len(w.b) || w.b[i] != '"' {
		return -1
	}
	for i++; i < len(w.b); i++ {
		switch w.b[i] {
		case '\\':
			i++
		case '"':
			return i + 1
		}
	}
	return -1
}

// skip returns the end of the value at i (leading whitespace allowed).
func (w jwalk) skip(i int) int {
	i = w.ws(i)
	if i >= len(w.b) {
		return -1
	}
	switch c := w.b[i]; c {
	case '"':
		return w.str(i)
	case '{', '[':
		depth := 0
		for ; i < len(w.b); i++ {
			switch w.b[i] {
			case '"':
				e := w.str(i)
				if e < 0 {
					return -1
				}
				i = e - 1
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					return i + 1
				}
			}
		}
		return -1
	default:
		j := i
		for j < len(w.b) {
			switch w.b[j] {
			case ',', '}', ']', ' ', '\t', '\n', '\r':
				if j == i {
					return -1
				}
				return j
			}
			j++
		}
		if j == i {
			return -1
		}
		return j
	}
}

// member returns the value span [vs, ve) of the member key of the object
// starting at i (the last one when the key repeats). Keys are compared as
// raw bytes (escaped keys do not match), which is enough for the answers of
// OpenAI-compatible servers.
func (w jwalk) member(i int, key string) (vs, ve int) {
	vs, ve = -1, -1
	i = w.ws(i)
	if i >= len(w.b) || w.b[i] != '{' {
		return -1, -1
	}
	i = w.ws(i + 1)
	if i < len(w.b) && w.b[i] == '}' {
		return
	}
	for i < len(w.b) {
		ke := w.str(i)
		if ke < 0 {
			return -1, -1
		}
		k := w.b[i+1 : ke-1]
		i = w.ws(ke)
		if i >= len(w.b) || w.b[i] != ':' {
			return -1, -1
		}
		s := w.ws(i + 1)
		e := w.skip(s)
		if e < 0 {
			return -1, -1
		}
		if string(k) == key {
			vs, ve = s, e
		}
		i = w.ws(e)
		if i >= len(w.b) {
			return -1, -1
		}
		switch w.b[i] {
		case ',':
			i = w.ws(i + 1)
		case '}':
			return vs, ve
		default:
			return -1, -1
		}
	}
	return -1, -1
}

// elems calls f with the start of every element of the array at i; it
// returns false on malformed input.
func (w jwalk) elems(i int, f func(start int)) bool {
	i = w.ws(i)
	if i >= len(w.b) || w.b[i] != '[' {
		return false
	}
	i = w.ws(i + 1)
	if i < len(w.b) && w.b[i] == ']' {
		return true
	}
	for i < len(w.b) {
		s := w.ws(i)
		e := w.skip(s)
		if e < 0 {
			return false
		}
		f(s)
		i = w.ws(e)
		if i >= len(w.b) {
			return false
		}
		switch w.b[i] {
		case ',':
			i++
		case ']':
			return true
		default:
			return false
		}
	}
	return false
}

// span is a byte range [s, e) to drop from an answer.
type span struct{ s, e int }

var (
	thinkOpen  = []byte("<think>")
	thinkClose = []byte("</think>")
)

// reasoningSpans appends to dst the spans of <think>...</think> blocks inside
// choices[].message.content of a chat completion, each with the whitespace
// (raw or escaped as \n, \r, \t) that follows it. Removing them keeps the JSON
// valid: the markers are plain ASCII and cannot be part of an escape.
func reasoningSpans(dst []span, body []byte) []span {
	w := jwalk{body}
	cs, _ := w.member(0, "choices")
	if cs < 0 {
		return dst
	}
	w.elems(cs, func(el int) {
		ms, _ := w.member(el, "message")
		if ms < 0 {
			return
		}
		vs, ve := w.member(ms, "content")
		if vs < 0 || body[vs] != '"' {
			return
		}
		dst = thinkSpans(dst, body, vs+1, ve-1)
	})
	return dst
}

// thinkSpans finds the reasoning blocks in body[s:e] (the raw inside of a
// JSON string).
func thinkSpans(dst []span, body []byte, s, e int) []span {
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
		dst = append(dst, span{o, end})
		s = end
	}
	return dst
}

// appendWithout appends b to dst without the given ascending, disjoint spans.
func appendWithout(dst, b []byte, cut []span) []byte {
	at := 0
	for _, c := range cut {
		dst = append(dst, b[at:c.s]...)
		at = c.e
	}
	return append(dst, b[at:]...)
}

// spliceEnd returns the offset of the closing '}' of the object b and whether
// the object has members (a ',' is needed before a new one).
func spliceEnd(b []byte) (at int, nonEmpty bool) {
	i := len(b) - 1
	for i >= 0 && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i--
	}
	if i < 1 || b[i] != '}' {
		return -1, false
	}
	j := i - 1
	for j >= 0 && (b[j] == ' ' || b[j] == '\t' || b[j] == '\n' || b[j] == '\r') {
		j--
	}
	return i, j >= 0 && b[j] != '{'
}

// appendFloat appends f with at most prec decimals, trailing zeros dropped.
func appendFloat(dst []byte, f float64, prec int) []byte {
	n := len(dst)
	dst = strconv.AppendFloat(dst, f, 'f', prec, 64)
	if bytes.IndexByte(dst[n:], '.') >= 0 {
		for dst[len(dst)-1] == '0' {
			dst = dst[:len(dst)-1]
		}
		if dst[len(dst)-1] == '.' {
			dst = dst[:len(dst)-1]
		}
	}
	return dst
}

// parseUsage reads the token counts of a usage object: the "usage" member of
// the answer b when at >= 0 (b is the answer), else b itself. Missing or
// malformed counts read as 0. Unlike encoding/json it does not allocate.
func parseUsage(b []byte, at int) upstream.Usage {
	w := jwalk{b}
	start := 0
	if at >= 0 {
		vs, _ := w.member(at, "usage")
		if vs < 0 {
			return upstream.Usage{}
		}
		start = vs
	}
	count := func(key string) int64 {
		vs, ve := w.member(start, key)
		if vs < 0 {
			return 0
		}
		var n int64
		for _, c := range b[vs:ve] {
			if c < '0' || c > '9' || n > (1<<62)/10 {
				return 0
			}
			n = n*10 + int64(c-'0')
		}
		return n
	}
	return upstream.Usage{PromptTokens: count("prompt_tokens"), CompletionTokens: count("completion_tokens"),
		TotalTokens: count("total_tokens")}
}
