package server

import (
	"bufio"
	"fmt"
	"io"
	"runtime/debug"
	"time"

	"smartrouter/runtime/snapshot"
	"smartrouter/runtime/upstream"
)

// relay copies one upstream SSE stream to the client. It runs in the body
// stream writer of fasthttp, after the handler has returned, and owns the
// snapshot handle and the upstream response until the stream is completely
// written.
type relay struct {
	s     *Server
	h     *snapshot.Handle
	st    *state
	pair  uint32
	resp  *upstream.Response
	us    *upstream.Stream
	first upstream.Chunk
	added bool // usage was asked for by the router: drop the usage-only chunk
	ttfb  time.Duration
}

var (
	sseData = []byte("data: ")
	sseEnd  = []byte("\n\n")
	sseDone = []byte("data: [DONE]\n\n")
)

func (r *relay) run(bw *bufio.Writer) {
	defer r.h.Release()
	defer r.s.met.StreamEnded()
	defer r.resp.Close()
	defer func() {
		if p := recover(); p != nil {
			r.s.log.Error("panic while relaying a stream; the stream was cut",
				"panic", fmt.Sprint(p), "stack", string(debug.Stack()))
		}
	}()

	var u upstream.Usage
	ch := r.first
	for {
		if ch.Usage != nil {
			u = parseUsage(ch.Usage, -1)
		}
		if !ch.UsageOnly || !r.added {
			bw.Write(sseData)
			bw.Write(ch.Data)
			bw.Write(sseEnd)
			if err := bw.Flush(); err != nil {
				r.clientGone()
				return
			}
		}
		var err error
		ch, err = r.us.Next()
		if err == io.EOF || (err == nil && ch.Done) {
			bw.Write(sseDone)
			if bw.Flush() != nil {
				r.clientGone()
				return
			}
			r.st.router.Success(r.pair, r.ttfb)
			r.s.met.Attempt("ok", seconds(r.ttfb))
			r.s.met.Tokens(u.PromptTokens, u.CompletionTokens)
			return
		}
		if err != nil {
			r.failed(bw, err)
			return
		}
	}
}

// clientGone ends a stream whose client went away: nothing is the
// upstream's fault, so nothing cools down.
func (r *relay) clientGone() {
	r.s.met.Attempt(upstream.Canceled.String(), -1)
}

// failed ends a stream whose upstream failed after data was relayed: too
// late to fail over, so the client gets an error event and the one final
// [DONE].
func (r *relay) failed(bw *bufio.Writer, err error) {
	ue := asUpstream(err)
	if ue.Class.Kind != upstream.Canceled {
		pr := r.st.snap.Pair(r.pair)
		r.s.failure(r.st.snap.Channels()[pr.Channel].ID, r.st.snap.Model(pr.Model).Name, ue.Class)
	}
	r.s.met.Attempt(ue.Class.Kind.String(), -1)
	var buf [256]byte
	b := append(buf[:0], sseData...)
	b = appendErrorBody(b, typeUp, codeStreamCut, "", "the upstream stream failed after the answer had started: "+ue.Message)
	b = append(b, sseEnd...)
	b = append(b, sseDone...)
	bw.Write(b)
	bw.Flush()
}
