package mockllm

import (
	"context"
	"net/http"
	"strconv"

	"smartrouter/runtime/jsonstr"
)

// answer writes one successful (or deliberately cut) completion.
type answer struct {
	s      *Server
	model  string
	id     uint64
	prompt int  // prompt_tokens reported: body bytes / 4 + 1
	usage  bool // stream_options.include_usage
	cut    int  // content chunks before the connection is cut; -1 = never
}

func (a *answer) appendHead(b []byte, object string) []byte {
	b = append(b, `{"id":"chatcmpl-mock-`...)
	b = strconv.AppendUint(b, a.id, 10)
	b = append(b, `","object":"`...)
	b = append(b, object...)
	b = append(b, `","created":`...)
	b = strconv.AppendInt(b, created, 10)
	b = append(b, `,"model":`...)
	b = jsonstr.Append(b, a.model)
	return append(b, `,"system_fingerprint":"fp_mock"`...)
}

func (a *answer) appendUsage(b []byte) []byte {
	n := len(a.s.pieces)
	b = append(b, `"usage":{"prompt_tokens":`...)
	b = strconv.AppendInt(b, int64(a.prompt), 10)
	b = append(b, `,"completion_tokens":`...)
	b = strconv.AppendInt(b, int64(n), 10)
	b = append(b, `,"total_tokens":`...)
	b = strconv.AppendInt(b, int64(a.prompt+n), 10)
	return append(b, '}')
}

// whole writes a chat.completion JSON answer.
func (a *answer) whole(w http.ResponseWriter) {
	bp := a.s.getBuf()
	defer a.s.putBuf(bp)
	b := a.appendHead((*bp)[:0], "chat.completion")
	b = append(b, `,"choices":[{"index":0,"message":{"role":"assistant","content":"`...)
	for _, p := range a.s.pieces {
		b = append(b, p...) // plain ASCII words: no escaping needed
	}
	b = append(b, `","refusal":null},"logprobs":null,"finish_reason":"stop"}],`...)
	b = a.appendUsage(b)
	b = append(b, "}\n"...)
	*bp = b
	h := w.Header()
	h["Content-Type"] = a.s.hJSON
	if a.cut >= 0 {
		// Declare the whole length, send half, then cut: the client sees a
		// truncated body.
		h.Set("Content-Length", strconv.Itoa(len(b)))
		w.WriteHeader(http.StatusOK)
		_, _ = w.Write(b[:len(b)/2])
		a.s.abort(w)
		return
	}
	_, _ = w.Write(b) // net/http adds Content-Length to a small answer written at once
}

// stream writes SSE chunks the way OpenAI does: a role chunk, one chunk per
// content piece, a finish chunk, the usage chunk when asked, then [DONE].
func (a *answer) stream(w http.ResponseWriter, ctx context.Context) {
	h := w.Header()
	h["Content-Type"] = a.s.hSSE
	h["Cache-Control"] = a.s.hNoCache
	w.WriteHeader(http.StatusOK)
	fl, _ := w.(http.Flusher)
	bp := a.s.getBuf()
	defer a.s.putBuf(bp)
	send := func(b []byte) bool {
		*bp = b
		if _, err := w.Write(b); err != nil {
			return false
		}
		if fl != nil {
			fl.Flush()
		}
		return true
	}
	if !send(a.appendChunk((*bp)[:0], chunkRole, "")) {
		return
	}
	for i, p := range a.s.pieces {
		if i == a.cut {
			a.s.abort(w)
			return
		}
		if !a.s.wait(ctx, a.s.cfg.ChunkDelay) {
			return
		}
		if !send(a.appendChunk((*bp)[:0], chunkContent, p)) {
			return
		}
	}
	if a.cut >= len(a.s.pieces) {
		a.s.abort(w)
		return
	}
	b := a.appendChunk((*bp)[:0], chunkFinish, "")
	if a.usage {
		b = a.appendChunk(b, chunkUsage, "")
	}
	b = append(b, "data: [DONE]\n\n"...)
	*bp = b
	// No flush: the server sends this with the end of the chunked body, so
	// the client can reuse the connection at once.
	_, _ = w.Write(b)
}

// Kinds of stream chunk.
const (
	chunkRole    = iota // first: the assistant role, empty content
	chunkContent        // one content piece
	chunkFinish         // empty delta, finish_reason "stop"
	chunkUsage          // empty choices and the usage object
)

// appendChunk appends one "data: {...}\n\n" event.
func (a *answer) appendChunk(b []byte, kind int, piece string) []byte {
	b = append(b, "data: "...)
	b = a.appendHead(b, "chat.completion.chunk")
	if kind == chunkUsage {
		b = append(b, `,"choices":[],`...)
		b = a.appendUsage(b)
		return append(b, "}\n\n"...)
	}
	b = append(b, `,"choices":[{"index":0,"delta":`...)
	switch kind {
	case chunkRole:
		b = append(b, `{"role":"assistant","content":""},"logprobs":null,"finish_reason":null}]`...)
	case chunkContent:
		b = append(b, `{"content":"`...)
		b = append(b, piece...) // plain ASCII words: no escaping needed
		b = append(b, `"},"logprobs":null,"finish_reason":null}]`...)
	default:
		b = append(b, `{},"logprobs":null,"finish_reason":"stop"}]`...)
	}
	if a.usage {
		b = append(b, `,"usage":null`...)
	}
	return append(b, "}\n\n"...)
}

// abort flushes what was written and closes the connection without ending
// the body, the way a crashed upstream or a broken network does.
func (s *Server) abort(w http.ResponseWriter) {
	if fl, ok := w.(http.Flusher); ok {
		fl.Flush()
	}
	conn, _, err := http.NewResponseController(w).Hijack()
	if err != nil {
		return // not hijackable (HTTP/2, a test recorder): the body just ends early
	}
	_ = conn.Close()
}
