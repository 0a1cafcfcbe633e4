package mockllm

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"smartrouter/runtime/jsonstr"
)

// Defaults of Config's zero fields.
const (
	DefaultAddr      = "127.0.0.1:0"
	DefaultChunks    = 8
	DefaultRecord    = 256
	DefaultSlowDelay = 2 * time.Second
	maxBody          = 64 << 20
	created          = 1700000000 // fixed "created" of every answer: answers are deterministic
)

// DefaultModels returns the ids /v1/models lists when Config.Models is nil.
func DefaultModels() []string {
	return []string{"mock-small", "mock-large", "gpt-4o-mini", "qwen/qwen3-30b-a3b:free", "fail-429", "fail-500"}
}

// Config tunes a Server. Zero fields take the defaults above.
type Config struct {
	Addr       string        // Start listens here
	Latency    time.Duration // wait before the first byte of every chat answer
	ChunkDelay time.Duration // wait before each content chunk of a stream
	Chunks     int           // content chunks per answer
	Record     int           // requests kept for inspection; negative keeps none
	SlowDelay  time.Duration // delay of "fail-slow" without a number
	Rules      []Rule        // checked before the fail-... naming convention
	Models     []string      // ids listed by GET /v1/models
}

// Server is the mock upstream. It is an http.Handler (New) or a running
// server on a loopback port (Start).
type Server struct {
	cfg     Config
	rules   atomic.Pointer[ruleSet]
	rec     recorder
	count   atomic.Uint64
	seq     atomic.Uint64
	pieces  []string // content of each chunk
	models  []byte   // GET /v1/models answer
	bufs    sync.Pool
	closing chan struct{}
	once    sync.Once

	hs  *http.Server
	url string

	// Shared read-only header values.
	hJSON, hSSE, hNoCache []string
}

// New returns a Server that is not listening: use it as an http.Handler.
func New(cfg Config) *Server {
	if cfg.Addr == "" {
		cfg.Addr = DefaultAddr
	}
	if cfg.Chunks <= 0 {
		cfg.Chunks = DefaultChunks
	}
	if cfg.Record == 0 {
		cfg.Record = DefaultRecord
	}
	if cfg.SlowDelay <= 0 {
		cfg.SlowDelay = DefaultSlowDelay
	}
	if cfg.Models == nil {
		cfg.Models = DefaultModels()
	}
	s := &Server{
		cfg:      cfg,
		pieces:   contentPieces(cfg.Chunks),
		closing:  make(chan struct{}),
		hJSON:    []string{"application/json"},
		hSSE:     []string{"text/event-stream"},
		hNoCache: []string{"no-cache"},
	}
	s.rec.init(max(cfg.Record, 0))
	s.rules.Store(newRuleSet(cfg.Rules))
	s.models = modelList(cfg.Models)
	return s
}

// Start listens on cfg.Addr (127.0.0.1:0 by default: a free port) and serves
// in the background until Close or Shutdown.
func Start(cfg Config) (*Server, error) {
	s := New(cfg)
	ln, err := net.Listen("tcp", s.cfg.Addr)
	if err != nil {
		return nil, fmt.Errorf("mock upstream: listen on %s: %w; pick a free address", s.cfg.Addr, err)
	}
	s.url = "http://" + ln.Addr().String()
	s.hs = &http.Server{Handler: s, ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 2 * time.Minute}
	go func() { _ = s.hs.Serve(ln) }()
	return s, nil
}

// URL returns the base URL of a started server, such as
// http://127.0.0.1:41234 (a channel base URL; the client appends /v1).
func (s *Server) URL() string { return s.url }

// Close ends hanging requests and closes the listener and every connection.
func (s *Server) Close() error {
	s.once.Do(func() { close(s.closing) })
	if s.hs == nil {
		return nil
	}
	return s.hs.Close()
}

// Shutdown ends hanging requests, stops accepting and waits for the other
// requests in flight until ctx ends.
func (s *Server) Shutdown(ctx context.Context) error {
	s.once.Do(func() { close(s.closing) })
	if s.hs == nil {
		return nil
	}
	return s.hs.Shutdown(ctx)
}

// SetRules replaces the rules (and restarts their Times counters).
func (s *Server) SetRules(rules []Rule) error {
	for i := range rules {
		if err := rules[i].validate(); err != nil {
			return fmt.Errorf("mock rule %d: %w", i, err)
		}
	}
	s.rules.Store(newRuleSet(rules))
	return nil
}

// Count returns how many chat completion requests arrived since the start or
// the last Reset, recorded or not.
func (s *Server) Count() uint64 { return s.count.Load() }

// Requests returns copies of the recorded requests, oldest first.
func (s *Server) Requests() []Request { return s.rec.list() }

// LastRequest returns a copy of the most recent recorded request.
func (s *Server) LastRequest() (Request, bool) { return s.rec.last() }

// Reset forgets the recorded requests, zeroes Count and restarts the Times
// counters of the rules.
func (s *Server) Reset() {
	s.rec.reset()
	s.count.Store(0)
	s.rules.Store(newRuleSet(s.rules.Load().rules))
}

// Content returns the assistant text of an answer of n chunks: the
// concatenation of the streamed deltas and the non-stream message content.
func Content(n int) string { return strings.Join(contentPieces(n), "") }

// contentWords cycle through the answers, one word per chunk.
const contentWords = "This is a deterministic answer from the mock upstream."

func contentPieces(n int) []string {
	words := strings.Fields(contentWords)
	p := make([]string, n)
	for i := range p {
		p[i] = words[i%len(words)] + " "
	}
	return p
}

func modelList(ids []string) []byte {
	type model struct {
		ID      string `json:"id"`
		Object  string `json:"object"`
		Created int64  `json:"created"`
		OwnedBy string `json:"owned_by"`
	}
	list := struct {
		Object string  `json:"object"`
		Data   []model `json:"data"`
	}{Object: "list", Data: []model{}}
	for _, id := range ids {
		list.Data = append(list.Data, model{ID: id, Object: "model", Created: created, OwnedBy: "mockllm"})
	}
	b, _ := json.Marshal(list) // plain strings and ints: cannot fail
	return b
}

// ServeHTTP routes: POST .../chat/completions, GET .../models (any prefix,
// so base URLs such as /api/v3 work), and the /_mock/ control endpoints.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	p := r.URL.Path
	switch {
	case strings.HasSuffix(p, "/chat/completions") && r.Method == http.MethodPost:
		s.chat(w, r)
	case strings.HasSuffix(p, "/models") && r.Method == http.MethodGet:
		s.listModels(w, r)
	case p == "/_mock/requests" && r.Method == http.MethodGet:
		s.serveRequests(w)
	case p == "/_mock/reset" && r.Method == http.MethodPost:
		s.Reset()
		w.WriteHeader(http.StatusNoContent)
	case p == "/_mock/rules" && r.Method == http.MethodPost:
		s.postRules(w, r)
	default:
		s.writeError(w, http.StatusNotFound, "No route "+r.Method+" "+p+" on the mock upstream.", "invalid_request_error", "not_found", "")
	}
}

// chatRequest is the little the mock needs from a request body.
type chatRequest struct {
	Model         string `json:"model"`
	Stream        bool   `json:"stream"`
	StreamOptions *struct {
		IncludeUsage bool `json:"include_usage"`
	} `json:"stream_options"`
}

func (s *Server) getBuf() *[]byte {
	if b, ok := s.bufs.Get().(*[]byte); ok {
		return b
	}
	b := make([]byte, 0, 16<<10)
	return &b
}

func (s *Server) putBuf(b *[]byte) {
	if cap(*b) <= 1<<20 {
		*b = (*b)[:0]
		s.bufs.Put(b)
	}
}

func (s *Server) chat(w http.ResponseWriter, r *http.Request) {
	s.count.Add(1)
	bp := s.getBuf()
	defer s.putBuf(bp)
	body, err := readBody(*bp, r)
	*bp = body
	key := apiKey(r.Header)
	var req chatRequest
	if err == nil {
		err = json.Unmarshal(body, &req)
	}
	s.rec.add(r, body, req.Model, key)
	switch {
	case err != nil:
		s.writeError(w, http.StatusBadRequest, "The request body is not valid JSON.", "invalid_request_error", "invalid_json", "")
		return
	case req.Model == "":
		s.writeError(w, http.StatusBadRequest, "You must provide a model parameter.", "invalid_request_error", "missing_model", "")
		return
	}
	rule, hasRule := s.rules.Load().match(req.Model, key, false)
	if !hasRule {
		var cr Rule
		if cr, hasRule = conventionRule(req.Model, s.cfg.Chunks, s.cfg.SlowDelay); !hasRule {
			cr, hasRule = conventionRule(key, s.cfg.Chunks, s.cfg.SlowDelay)
		}
		rule = &cr
	}
	ctx := r.Context()
	delay := s.cfg.Latency
	if hasRule {
		delay += rule.Delay
	}
	if !s.wait(ctx, delay) {
		return
	}
	var fault Fault
	if hasRule {
		fault = rule.fault()
	}
	switch fault {
	case FaultError:
		msg, typ, code := errorDefaults(rule.Status)
		msg, typ, code = or(rule.Message, msg), or(rule.Type, typ), or(rule.Code, code)
		s.writeError(w, rule.Status, msg, typ, code, rule.RetryAfter)
		return
	case FaultHang:
		s.wait(ctx, -1)
		return
	}
	a := answer{s: s, model: req.Model, id: s.seq.Add(1), prompt: len(body)/4 + 1, cut: -1}
	if fault == FaultDrop {
		a.cut = rule.AfterChunks
	}
	if req.Stream {
		a.usage = req.StreamOptions != nil && req.StreamOptions.IncludeUsage
		a.stream(w, ctx)
	} else {
		a.whole(w)
	}
}

func or(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// wait sleeps d (forever when negative) unless the client leaves or the
// server closes; it reports whether the full time passed.
func (s *Server) wait(ctx context.Context, d time.Duration) bool {
	if d == 0 {
		return true
	}
	var tc <-chan time.Time
	if d > 0 {
		t := time.NewTimer(d)
		defer t.Stop()
		tc = t.C
	}
	select {
	case <-tc:
		return true
	case <-ctx.Done():
	case <-s.closing:
	}
	return false
}

func readBody(buf []byte, r *http.Request) ([]byte, error) {
	if r.ContentLength > maxBody {
		return buf, errors.New("body too large")
	}
	if n := int(r.ContentLength); n > cap(buf) {
		buf = make([]byte, 0, n)
	}
	for {
		if len(buf) == cap(buf) {
			if len(buf) >= maxBody {
				return buf, errors.New("body too large")
			}
			buf = append(buf, 0)[:len(buf)]
		}
		n, err := r.Body.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if err == io.EOF {
			return buf, nil
		}
		if err != nil {
			return buf, err
		}
	}
}

// apiKey finds the key the way providers accept it.
func apiKey(h http.Header) string {
	if v := h.Get("Authorization"); v != "" {
		if len(v) > 7 && strings.EqualFold(v[:7], "bearer ") {
			return v[7:]
		}
		return v
	}
	if v := h.Get("X-Api-Key"); v != "" {
		return v
	}
	return h.Get("Api-Key")
}

func (s *Server) listModels(w http.ResponseWriter, r *http.Request) {
	key := apiKey(r.Header)
	rule, ok := s.rules.Load().match("", key, true)
	if !ok {
		var cr Rule
		cr, ok = conventionRule(key, s.cfg.Chunks, s.cfg.SlowDelay)
		rule = &cr
	}
	if ok {
		switch rule.fault() {
		case FaultError:
			msg, typ, code := errorDefaults(rule.Status)
			s.writeError(w, rule.Status, or(rule.Message, msg), or(rule.Type, typ), or(rule.Code, code), rule.RetryAfter)
			return
		case FaultHang:
			s.wait(r.Context(), -1)
			return
		}
	}
	w.Header()["Content-Type"] = s.hJSON
	w.Header().Set("Content-Length", strconv.Itoa(len(s.models)))
	_, _ = w.Write(s.models)
}

func (s *Server) writeError(w http.ResponseWriter, status int, msg, typ, code, retryAfter string) {
	bp := s.getBuf()
	defer s.putBuf(bp)
	b := append((*bp)[:0], `{"error":{"message":`...)
	b = jsonstr.Append(b, msg)
	b = append(b, `,"type":`...)
	b = jsonstr.Append(b, typ)
	b = append(b, `,"param":null,"code":`...)
	if code == "" {
		b = append(b, "null"...)
	} else {
		b = jsonstr.Append(b, code)
	}
	b = append(b, "}}\n"...)
	*bp = b
	h := w.Header()
	h["Content-Type"] = s.hJSON
	if retryAfter != "" {
		h.Set("Retry-After", retryAfter)
	}
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

func (s *Server) serveRequests(w http.ResponseWriter) {
	b, err := json.MarshalIndent(s.Requests(), "", "  ")
	if err != nil {
		s.writeError(w, http.StatusInternalServerError, "cannot encode the recorded requests", "server_error", "", "")
		return
	}
	w.Header()["Content-Type"] = s.hJSON
	_, _ = w.Write(b)
}

func (s *Server) postRules(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	var rules []Rule
	if err == nil {
		rules, err = ParseRules(body)
	}
	if err == nil {
		err = s.SetRules(rules)
	}
	if err != nil {
		s.writeError(w, http.StatusBadRequest, err.Error(), "invalid_request_error", "invalid_rules", "")
		return
	}
	w.WriteHeader(http.StatusNoContent)
}
