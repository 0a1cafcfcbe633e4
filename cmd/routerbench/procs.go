package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// proc is a child process the harness started (routerd, mockllm, nginx).
type proc struct {
	name    string
	cmd     *exec.Cmd
	logPath string
	done    chan struct{} // closed when the process has exited
	waitErr error         // valid after done
}

// Pid is the child's process id.
func (p *proc) Pid() int { return p.cmd.Process.Pid }

// exited reports whether the process has ended.
func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// logTail returns the end of the process's log, for error messages.
func (p *proc) logTail() string {
	b, err := os.ReadFile(p.logPath)
	if err != nil {
		return ""
	}
	return tail(string(b), 1200)
}

// lastLine returns the last non-empty line of s.
func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return strings.TrimSpace(lines[len(lines)-1])
}

// logError returns the error="..." value of a text-format slog line, or
// the line itself when it has none.
func logError(line string) string {
	_, rest, ok := strings.Cut(line, ` error="`)
	if !ok {
		return line
	}
	var b strings.Builder
	for i := 0; i < len(rest); i++ {
		switch c := rest[i]; {
		case c == '\\' && i+1 < len(rest):
			i++
			b.WriteByte(rest[i])
		case c == '"':
			return b.String()
		default:
			b.WriteByte(c)
		}
	}
	return line
}

// procs tracks the children still running so that every exit path stops
// them, by process id.
type procs struct {
	mu   sync.Mutex
	live map[*proc]bool
}

// start runs bin with args; stdout and stderr go to logPath (appended).
// It returns the process and the time taken just before the exec.
func (ps *procs) start(name, logPath string, env []string, bin string, args ...string) (*proc, time.Time, error) {
	lf, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, time.Time{}, fmt.Errorf("open the log of %s: %w", name, err)
	}
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = lf, lf
	cmd.Env = append(os.Environ(), env...)
	p := &proc{name: name, cmd: cmd, logPath: logPath, done: make(chan struct{})}
	t0 := time.Now()
	if err := cmd.Start(); err != nil {
		lf.Close()
		return nil, time.Time{}, fmt.Errorf("start %s: %w", name, err)
	}
	ps.mu.Lock()
	if ps.live == nil {
		ps.live = map[*proc]bool{}
	}
	ps.live[p] = true
	ps.mu.Unlock()
	go func() {
		p.waitErr = cmd.Wait()
		lf.Close()
		close(p.done)
	}()
	return p, t0, nil
}

// stop ends p: SIGTERM, then SIGKILL if it has not exited after grace. It
// returns how long the process took to exit after SIGTERM and whether it
// had to be killed.
func (ps *procs) stop(p *proc, grace time.Duration) (time.Duration, bool) {
	if p == nil {
		return 0, false
	}
	var took time.Duration
	killed := false
	if !p.exited() {
		t0 := time.Now()
		_ = p.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-p.done:
		case <-time.After(grace):
			_ = p.cmd.Process.Kill()
			<-p.done
			killed = true
		}
		took = time.Since(t0)
	}
	ps.mu.Lock()
	delete(ps.live, p)
	ps.mu.Unlock()
	return took, killed
}

// stopAll stops every process still tracked.
func (ps *procs) stopAll() {
	ps.mu.Lock()
	var all []*proc
	for p := range ps.live {
		all = append(all, p)
	}
	ps.mu.Unlock()
	for _, p := range all {
		ps.stop(p, 3*time.Second)
	}
}

// freeAddr returns a loopback address with a port that was free a moment
// ago.
func freeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", fmt.Errorf("find a free loopback port: %w", err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr, nil
}

// newClient returns an HTTP client with its own connection pool and no
// proxy, so each measured process gets fresh connections.
func newClient(timeout time.Duration) *http.Client {
	return &http.Client{
		Timeout: timeout,
		Transport: &http.Transport{
			Proxy:               nil,
			MaxIdleConnsPerHost: 64,
			DisableCompression:  true,
		},
	}
}

// errExited is returned when the polled process ended before answering.
var errExited = errors.New("process exited")

// pollUntil calls try back to back (no sleep: connection refused over
// loopback costs tens of microseconds) until it reports done, p exits, or
// ctx ends. It returns the time from t0 to the successful try's return.
func pollUntil(ctx context.Context, p *proc, t0 time.Time, try func(context.Context) (bool, error)) (time.Duration, error) {
	var last error
	for {
		if p.exited() {
			return 0, fmt.Errorf("%s %w (%v) before answering: %s", p.name, errExited, p.waitErr, logError(lastLine(p.logTail())))
		}
		if err := ctx.Err(); err != nil {
			if last != nil {
				return 0, fmt.Errorf("%s did not answer in time; last attempt: %w", p.name, last)
			}
			return 0, fmt.Errorf("%s did not answer in time: %w", p.name, err)
		}
		ok, err := try(ctx)
		if ok {
			return time.Since(t0), nil
		}
		last = err
	}
}

// get fetches url with optional bearer token and returns status and body.
func get(ctx context.Context, c *http.Client, url, token string) (int, []byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return 0, nil, err
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := c.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, b, err
}

// post sends a JSON body with optional bearer token.
func post(ctx context.Context, c *http.Client, url, token string, body []byte) (*http.Response, []byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return nil, nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := c.Do(req)
	if err != nil {
		return nil, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp, b, err
}

// sendSignal sends sig to p by its process id.
func sendSignal(p *proc, sig syscall.Signal) error {
	if err := p.cmd.Process.Signal(sig); err != nil {
		return fmt.Errorf("send %s to %s (pid %s): %w", sig, p.name, strconv.Itoa(p.Pid()), err)
	}
	return nil
}
