package server

import (
	"fmt"
	"io"
	"runtime/debug"
	"sync"
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

	tr translator // nil: OpenAI chunks relayed as they are

	hold    hold // the client key's claim, released at Close (tenants.go)
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

	conn *trackedConn // the client's connection (nil when not accepted by the server's listener)
}

// translator turns the data payloads of an upstream stream into the
// events of the client's wire format, when the two differ: Messages events
// from chat chunks (messages.go), Gemini events (gemini.go), and for native
// Anthropic channels Messages events relayed or chat chunks from them
// (native.go).
type translator interface {
	// chunk appends the events of one upstream data payload.
	chunk(dst, data []byte) ([]byte, error)
	// end appends the events that close a complete stream.
	end(dst []byte) ([]byte, error)
	// usage is the usage the stream reported.
	usage() body.Usage
	// fail appends the events that end a stream cut by an upstream
	// failure: an error in the client's format.
	fail(dst []byte, msg string) []byte
}

var (
	sseData = []byte("data: ")
	sseEnd  = []byte("\n\n")
	sseDone = []byte("data: [DONE]\n\n")
)

// relayBatch is the most a Read gathers before returning, so that a fast
// upstream does not grow the buffer without bound.
const relayBatch = 32 << 10

// relays pools relay values with their event buffer, so that a stream
// does not grow a new buffer event by event.
var relays = sync.Pool{New: func() any { return new(relay) }}

// newRelay returns a relay from the pool, its buffer kept and emptied.
func newRelay() *relay {
	r := relays.Get().(*relay)
	out := r.out[:0]
	*r = relay{out: out}
	return r
}

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
				r.hold.charge(r.s, r.st, r.pair, &r.u)
			}
			return 0, io.EOF
		}
		r.out, r.off = r.out[:0], 0
		err := r.fill()
		if r.last {
			r.emitUsage(r.ucode) // before the last events are written
			if r.conn != nil {
				// The last events, the end of the chunked body and the
				// trailer leave in one write (conns.go).
				r.conn.holdEnd()
			}
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
				if r.tr != nil {
					if r.out, err = r.tr.end(r.out); err != nil {
						r.failed(err)
						return nil
					}
					r.u = r.tr.usage()
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
		if r.tr != nil {
			if r.out, err = r.tr.chunk(r.out, ch.Data); err != nil {
				r.failed(err)
				return nil
			}
		} else {
			if ch.Usage != nil {
				r.u = body.ParseOpenAIUsage(ch.Usage)
			}
			if !ch.UsageOnly || !r.added {
				r.out = append(r.out, sseData...)
				r.out = append(r.out, ch.Data...)
				r.out = append(r.out, sseEnd...)
			}
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
	r.hold.release(r.s)
	r.s.met.StreamEnded()
	r.h.Release()
	// fasthttp reads no more after Close: the relay goes back to the pool,
	// without what it pointed to (a buffer grown by a very long event is
	// dropped).
	out := r.out[:0]
	if cap(out) > 2*relayBatch {
		out = nil
	}
	*r = relay{out: out}
	relays.Put(r)
	return nil
}

// failed ends a stream whose upstream failed after data was relayed: too
// late to fail over, so the client gets an error event and the one final
// [DONE].
func (r *relay) failed(err error) {
	ue := asUpstream(err)
	r.s.report(r.st, r.pair, ue.Outcome, -1) // a canceled one cools nothing
	r.ended = true
	msg := "the upstream stream failed after the answer had started: " + ue.Message
	if r.tr != nil {
		r.out = r.tr.fail(r.out, msg)
	} else {
		r.out = appendStreamCut(r.out, msg)
	}
	r.last = true
}

// appendStreamCut appends the end of an OpenAI stream cut by an upstream
// failure: an error event and the final [DONE].
func appendStreamCut(dst []byte, msg string) []byte {
	dst = append(dst, sseData...)
	dst = appendErrorBody(dst, typeUp, codeStreamCut, "", msg)
	dst = append(dst, sseEnd...)
	return append(dst, sseDone...)
}
