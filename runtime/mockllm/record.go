package mockllm

import (
	"encoding/json"
	"net/http"
	"sync"
)

// Request is one chat completion request as the mock received it.
type Request struct {
	Seq    uint64      // 1 for the first request since the start or the last Reset
	Method string      //
	Path   string      // URL path, e.g. /v1/chat/completions
	Query  string      // raw query, without '?'
	Header http.Header // every header, canonical names (credentials included: this is a test tool)
	Body   []byte      // exactly the bytes received
	Model  string      // the body's "model", when it parsed
	Key    string      // API key from Authorization: Bearer, x-api-key or api-key
}

// MarshalJSON writes the body as a JSON string so that GET /_mock/requests
// shows it as sent.
func (r Request) MarshalJSON() ([]byte, error) {
	return json.Marshal(struct {
		Seq    uint64      `json:"seq"`
		Method string      `json:"method"`
		Path   string      `json:"path"`
		Query  string      `json:"query,omitempty"`
		Header http.Header `json:"header"`
		Body   string      `json:"body"`
		Model  string      `json:"model"`
		Key    string      `json:"key"`
	}{r.Seq, r.Method, r.Path, r.Query, r.Header, string(r.Body), r.Model, r.Key})
}

// recorder is a ring of the last requests. Slots keep their buffers and
// header maps, so recording costs no allocation once the ring is warm.
type recorder struct {
	mu    sync.Mutex
	slots []Request
	next  int // slot to write
	n     int // filled slots
	seq   uint64
}

func (rc *recorder) init(size int) { rc.slots = make([]Request, size) }

func (rc *recorder) add(r *http.Request, body []byte, model, key string) {
	if len(rc.slots) == 0 {
		return
	}
	rc.mu.Lock()
	defer rc.mu.Unlock()
	rc.seq++
	sl := &rc.slots[rc.next]
	sl.Seq, sl.Method, sl.Path, sl.Query, sl.Model, sl.Key = rc.seq, r.Method, r.URL.Path, r.URL.RawQuery, model, key
	if cap(sl.Body) > 4<<20 && len(body) < 1<<20 {
		sl.Body = nil // do not keep a huge buffer for small requests
	}
	sl.Body = append(sl.Body[:0], body...)
	if sl.Header == nil {
		sl.Header = make(http.Header, len(r.Header))
	}
	clear(sl.Header)
	for k, v := range r.Header {
		sl.Header[k] = v // the server never changes a request's header values
	}
	rc.next = (rc.next + 1) % len(rc.slots)
	rc.n = min(rc.n+1, len(rc.slots))
}

func copyRequest(r *Request) Request {
	c := *r
	c.Body = append([]byte(nil), r.Body...)
	c.Header = r.Header.Clone()
	return c
}

func (rc *recorder) list() []Request {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	out := make([]Request, 0, rc.n)
	for i := range rc.n {
		j := (rc.next - rc.n + i + len(rc.slots)) % len(rc.slots)
		out = append(out, copyRequest(&rc.slots[j]))
	}
	return out
}

func (rc *recorder) last() (Request, bool) {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	if rc.n == 0 {
		return Request{}, false
	}
	return copyRequest(&rc.slots[(rc.next-1+len(rc.slots))%len(rc.slots)]), true
}

func (rc *recorder) reset() {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	rc.next, rc.n, rc.seq = 0, 0, 0
}
