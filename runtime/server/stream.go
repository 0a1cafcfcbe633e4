package server

import (
	"fmt"
	"io"
	"runtime/debug"
	"time"

	"smartrouter/runtime/body"
	"smartrouter/runtime/outcome"
	"smartrouter/runtime/snapshot"
	"smartrouter/runtime/upstream"
	"smartrouter/runtime/usage"
)

// relay copies one upstream SSE stream to the client. It is the response's
// body stream: fasthttp reads it after the handler has returned, on the
// connection's own goroutine, and writes (and flushes) every Read as one
// chunk. A Read waits for the next upstream event only when it has nothing
// to return, and then adds every further event already received, so events
// that arrive together leave in one write and none waits for a later one.
// The relay owns the snapshot handle and the upstream response until fasthttp
// closes it (after the last write, or when the client went away).
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

	anthropic bool                 // translate the chunks into Messages events (messages.go)
	as        body.AnthropicStream // the translation's state
	gemini    bool                 // translate the chunks into Gemini events (gemini.go)
	gs        body.GeminiStream    // the translation's state

	u       body.Usage
	out     []byte // events produced and not yet returned by Read
	off     int    // out[:off] was returned
	started bool   // first was produced
	last    bool   // out ends with the final [DONE]
	ended   bool   // the outcome was recorded (success or upstream failure)
	ucode   string // the usage record's error code ("" when the stream ended well)
	closed  bool

	ent    usage.Entry // the usage record (usage.go), filled at commit
	record bool        // ent is still to be handed to the recorder
}

var (
	sseData = []byte("data: ")
	sseEnd  = []byte("\n\n")
	sseDone = []byte("data: [DONE]\n\n")
)

// relayBatch is the most a Read gathers before returning, so that a fast
// upstream does not grow the buffer without bound.
const relayBatch = 32 << 10

// Read returns the next events. Once the final [DONE] was returned and
// written (fasthttp reads again only after a successful write), it records
// the success and returns io.EOF.
func (r *relay) Read(p []byte) (n int, err error) {
	if r.off == len(r.out) {
		if r.last {
			if !r.ended {
				r.ended = true
				r.s.report(r.st, r.pair, outcome.Outcome{}, r.ttfb)
				r.s.met.Tokens(r.u.PromptTokens, r.u.CompletionTokens)
			}
			return 0, io.EOF
		}
		r.out, r.off = r.out[:0], 0
		err := r.fill()
		if r.last {
			r.emitUsage(r.ucode) // before the last events are written
		}
		if err != nil {
			return 0, err
		}
	}
	n = copy(p, r.out[r.off:])
	r.off += n
	return n, nil
}

// errRelayPanic ends a stream whose relay panicked.
var errRelayPanic = fmt.Errorf("the stream relay failed; the stream was cut")

// fill produces at least one event into out: it waits for the next upstream
// event, then takes the ones already buffered.
func (r *relay) fill() (err error) {
	defer func() {
		if p := recover(); p != nil {
			r.s.log.Error("panic while relaying a stream; the stream was cut",
				"panic", fmt.Sprint(p), "stack", string(debug.Stack()))
			r.last, r.ended = true, true
			r.ucode = codeStreamCut
			err = errRelayPanic
		}
	}()
	for {
		var ch upstream.Chunk
		if !r.started {
			r.started = true
			ch = r.first
		} else {
			ch, err = r.us.Next()
			if err == io.EOF || (err == nil && ch.Done) {
				if r.gemini {
					if r.out, err = r.gs.End(r.out); err != nil {
						r.failed(err)
						return nil
					}
					r.u = r.gs.Usage()
					r.last = true
					return nil
				}
				if r.anthropic {
					r.out = r.as.End(r.out)
					r.u = r.as.Usage()
					r.last = true
					return nil
				}
				r.out = append(r.out, sseDone...)
				r.last = true
				return nil
			}
			if err != nil {
				r.failed(err)
				return nil
			}
		}
		if ch.Usage != nil {
			r.u = body.ParseOpenAIUsage(ch.Usage)
		}
		if r.gemini {
			if r.out, err = r.gs.Chunk(r.out, ch.Data); err != nil {
				r.failed(err)
				return nil
			}
		} else if r.anthropic {
			if r.out, err = r.as.Chunk(r.out, ch.Data); err != nil {
				r.failed(err)
				return nil
			}
		} else if !ch.UsageOnly || !r.added {
			r.out = append(r.out, sseData...)
			r.out = append(r.out, ch.Data...)
			r.out = append(r.out, sseEnd...)
		}
		if len(r.out) > 0 && (len(r.out) >= relayBatch || !r.us.Pending()) {
			return nil
		}
	}
}

// Close releases the upstream response and the snapshot handle. A stream
// closed before its end was written lost its client: nothing is the
// upstream's fault, so nothing cools down.
func (r *relay) Close() error {
	if r.closed {
		return nil
	}
	r.closed = true
	if !r.ended {
		r.ended = true
		r.s.report(r.st, r.pair, outcome.Of(outcome.Canceled), -1)
	}
	r.emitUsage(codeClientGone)
	r.resp.Close()
	r.s.met.StreamEnded()
	r.h.Release()
	return nil
}

// failed ends a stream whose upstream failed after data was relayed: too
// late to fail over, so the client gets an error event and the one final
// [DONE].
func (r *relay) failed(err error) {
	ue := asUpstream(err)
	r.s.report(r.st, r.pair, ue.Outcome, -1) // a canceled one cools nothing
	r.ended = true
	r.ucode = codeStreamCut
	if r.gemini {
		r.out = append(r.out, sseData...)
		r.out = body.AppendGeminiError(r.out, 500, "the upstream stream failed after the answer had started: "+ue.Message)
		r.out = append(r.out, sseEnd...)
		r.last = true
		return
	}
	if r.anthropic {
		r.out = body.AppendAnthropicStreamError(r.out, "api_error", "the upstream stream failed after the answer had started: "+ue.Message)
		r.last = true
		return
	}
	r.out = append(r.out, sseData...)
	r.out = appendErrorBody(r.out, typeUp, codeStreamCut, "", "the upstream stream failed after the answer had started: "+ue.Message)
	r.out = append(r.out, sseEnd...)
	r.out = append(r.out, sseDone...)
	r.last = true
}
