package server

import (
	"bytes"
	"errors"
	"net"
	rtmetrics "runtime/metrics"
	"strconv"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/gofiber/fiber/v2"
)

// Limits that keep the server up whatever its clients do (see
// docs/operations.md, "Limits and timeouts"):
//
//   - a cap on open client connections (Options.MaxConns). At the cap, the
//     oldest connection without a request in progress is closed to make room
//     (idle connections cost a descriptor and serve nobody); when every
//     connection is busy the new one is answered 503 and closed;
//   - an optional cap per client address (Options.MaxConnsPerIP);
//   - accept failures for want of descriptors (EMFILE, ENFILE) are
//     temporary: the oldest idle connection is closed, accepting backs off
//     (5 ms doubling to 1 s) and resumes, instead of ending Serve;
//   - a write timeout per write (Options.WriteTimeout), so a client that
//     stops reading releases its stream and the upstream connection;
//   - memory shedding (Options.MemoryLimit): new chat requests are answered
//     503 overloaded with Retry-After while the memory the Go runtime holds is
//     above a high-water fraction of the limit.

// Defaults of the limits.
const (
	DefaultWriteTimeout = 60 * time.Second
	// DefaultMemoryHighWater is the fraction of Options.MemoryLimit above
	// which new chat requests are shed.
	DefaultMemoryHighWater = 0.9
	// DefaultShedInterval is how often memory use is read.
	DefaultShedInterval = 100 * time.Millisecond
	// fdReserve is the descriptors kept out of the connection cap for the
	// process itself (listeners, snapshot, logs, the runtime).
	fdReserve = 64
	// evictScan bounds the search for an idle connection to close.
	evictScan  = 256
	maxBackoff = time.Second
)

// Error codes of the limits.
const (
	codeOverloaded    = "overloaded"
	codeOrigin        = "origin_not_allowed"
	codeMediaType     = "unsupported_media_type"
	retryAfterSeconds = "1"
)

// DefaultMaxConns is the connection cap for a process allowed nofile open
// descriptors: half of what is left after a reserve, since a streamed
// request holds two (the client's and the upstream's).
func DefaultMaxConns(nofile uint64) int {
	if nofile <= 2*fdReserve {
		return 16
	}
	n := (nofile - fdReserve) / 2
	if n > 1<<30 {
		n = 1 << 30
	}
	return int(n)
}

// FileLimit returns the process's soft limit on open descriptors (0 when
// unknown).
func FileLimit() uint64 {
	var rl syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil {
		return 0
	}
	return rl.Cur
}

// connLimits are the connection limits in force.
type connLimits struct {
	max          int // 0: no cap
	perIP        int // 0: no cap
	writeTimeout time.Duration
}

func (s *Server) connLimits() connLimits {
	l := connLimits{max: s.opts.MaxConns, perIP: s.opts.MaxConnsPerIP, writeTimeout: s.opts.WriteTimeout}
	if l.max == 0 {
		if n := FileLimit(); n > 0 {
			l.max = DefaultMaxConns(n)
		}
	}
	if l.max < 0 {
		l.max = 0
	}
	if l.perIP < 0 {
		l.perIP = 0
	}
	if l.writeTimeout == 0 {
		l.writeTimeout = DefaultWriteTimeout
	}
	return l
}

// MaxConns returns the connection cap in force (0: none).
func (s *Server) MaxConns() int { return s.conns.lim.max }

// temporaryAcceptError reports whether accepting failed for a reason that
// passes: no descriptor left, or a connection gone before it was accepted.
func temporaryAcceptError(err error) bool {
	if errors.Is(err, net.ErrClosed) {
		return false
	}
	if errors.Is(err, syscall.EMFILE) || errors.Is(err, syscall.ENFILE) || errors.Is(err, syscall.ENOBUFS) ||
		errors.Is(err, syscall.ENOMEM) || errors.Is(err, syscall.ECONNABORTED) || errors.Is(err, syscall.ECONNRESET) {
		return true
	}
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

func nextBackoff(d time.Duration) time.Duration {
	if d == 0 {
		return 5 * time.Millisecond
	}
	if d *= 2; d > maxBackoff {
		d = maxBackoff
	}
	return d
}

// sleepOrDone waits d and reports false when done closed first.
func sleepOrDone(d time.Duration, done <-chan struct{}) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-done:
		return false
	}
}

func remoteIP(c net.Conn) string {
	if a, ok := c.RemoteAddr().(*net.TCPAddr); ok {
		return string(a.IP.To16())
	}
	host, _, err := net.SplitHostPort(c.RemoteAddr().String())
	if err != nil {
		return c.RemoteAddr().String()
	}
	return host
}

const (
	msgTooMany = "the server has too many open connections; retry shortly"
	msgPerIP   = "too many open connections from your address; close some or retry shortly"
)

// refuse answers 503 on a connection the limits do not admit, and closes
// it. The write goes to an empty socket buffer and does not block; the
// deadline is there in case it would.
func refuse(c net.Conn, msg string) {
	b := appendErrorBody(nil, typeServer, codeOverloaded, "", msg)
	head := "HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\nRetry-After: " + retryAfterSeconds +
		"\r\nConnection: close\r\nContent-Length: " + strconv.Itoa(len(b)) + "\r\n\r\n"
	_ = c.SetWriteDeadline(time.Now().Add(100 * time.Millisecond))
	_, _ = c.Write(append([]byte(head), b...))
	_ = c.Close()
}

// shedder decides whether new chat requests are shed for memory. A reader
// goroutine samples memory use every interval; requests read one atomic
// flag.
type shedder struct {
	limit     atomic.Uint64 // 0: never shed
	high      atomic.Uint64
	highWater float64
	read      func() uint64
	over      atomic.Bool
	inUse     atomic.Uint64
	started   atomic.Bool // the sampler runs
}

func newShedder(limit int64, highWater float64, read func() uint64) *shedder {
	if highWater <= 0 || highWater > 1 {
		highWater = DefaultMemoryHighWater
	}
	sh := &shedder{read: read, highWater: highWater}
	if sh.read == nil {
		sh.read = ReadMemoryInUse
	}
	sh.setLimit(limit)
	return sh
}

func (sh *shedder) setLimit(limit int64) {
	if limit <= 0 {
		sh.limit.Store(0)
		sh.over.Store(false)
		return
	}
	sh.high.Store(uint64(float64(limit) * sh.highWater))
	sh.limit.Store(uint64(limit))
}

// sample reads memory use once and sets the shedding flag.
func (sh *shedder) sample() uint64 {
	if sh.limit.Load() == 0 {
		sh.over.Store(false)
		return 0
	}
	n := sh.read()
	sh.inUse.Store(n)
	sh.over.Store(n >= sh.high.Load())
	return n
}

// SetMemoryLimit changes the limit new chat requests are shed against
// (bytes; 0: no shedding), for a limit known only once the snapshot is
// loaded (performance.yaml's memory_usage_limit). It starts the sampler
// when none runs (unless Options.ShedInterval < 0). It does not set the Go
// runtime's limit.
func (s *Server) SetMemoryLimit(limit int64) {
	s.shed.setLimit(limit)
	s.startShedding()
}

// MemoryLimit returns the limit requests are shed against (0: none).
func (s *Server) MemoryLimit() int64 { return int64(s.shed.limit.Load()) }

func (s *Server) startShedding() {
	if s.shed.limit.Load() == 0 || s.opts.ShedInterval < 0 || !s.shed.started.CompareAndSwap(false, true) {
		return
	}
	every := s.opts.ShedInterval
	if every == 0 {
		every = DefaultShedInterval
	}
	go s.shedLoop(s.baseCtx.Done(), every)
}

// memSamples names what ReadMemoryInUse reads: all memory mapped by the Go
// runtime, minus the heap memory returned to the system. This is what
// GOMEMLIMIT limits.
var memSamples = [...]string{"/memory/classes/total:bytes", "/memory/classes/heap/released:bytes"}

// ReadMemoryInUse returns the bytes of memory the Go runtime holds and has
// not returned to the system (the quantity GOMEMLIMIT bounds).
func ReadMemoryInUse() uint64 {
	var s [len(memSamples)]rtmetrics.Sample
	for i, n := range memSamples {
		s[i].Name = n
	}
	rtmetrics.Read(s[:])
	if s[0].Value.Kind() != rtmetrics.KindUint64 || s[1].Value.Kind() != rtmetrics.KindUint64 {
		return 0
	}
	total, released := s[0].Value.Uint64(), s[1].Value.Uint64()
	if released > total {
		return 0
	}
	return total - released
}

// shedLoop samples memory use until the server shuts down.
func (s *Server) shedLoop(done <-chan struct{}, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		n := s.shed.sample()
		s.met.Memory(s.shed.limit.Load(), n)
		select {
		case <-done:
			return
		case <-t.C:
		}
	}
}

// admitJSON runs before the handlers of JSON endpoints: it sheds new
// requests while memory use is above the high-water mark, and refuses a
// body that is not declared JSON (415). A request without Content-Type is
// accepted: some HTTP clients send none, and a browser cannot send a body
// without one, so it opens no cross-site path.
func (s *Server) admitJSON(c *fiber.Ctx) error {
	if s.shed.over.Load() {
		s.met.Shed()
		c.Set(fiber.HeaderRetryAfter, retryAfterSeconds)
		writeError(c, fiber.StatusServiceUnavailable, typeServer, codeOverloaded, "",
			"the server is low on memory and sheds new requests; retry shortly")
		return nil
	}
	if ct := c.Request().Header.ContentType(); len(ct) > 0 && !isJSONType(ct) {
		writeError(c, fiber.StatusUnsupportedMediaType, typeInvalid, codeMediaType, "",
			"the body must be JSON: send Content-Type: application/json (with curl: -H 'Content-Type: application/json')")
		return nil
	}
	return c.Next()
}

// isJSONType reports whether a Content-Type value declares JSON:
// application/json or application/<anything>+json, any case, with any
// parameters. It does not allocate.
func isJSONType(ct []byte) bool {
	if i := bytes.IndexByte(ct, ';'); i >= 0 {
		ct = ct[:i]
	}
	ct = bytes.TrimSpace(ct)
	const app = "application/"
	if len(ct) < len(app) || !bytes.EqualFold(ct[:len(app)], []byte(app)) {
		return false
	}
	sub := ct[len(app):]
	return bytes.EqualFold(sub, []byte("json")) ||
		(len(sub) > len("+json") && bytes.EqualFold(sub[len(sub)-len("+json"):], []byte("+json")))
}
