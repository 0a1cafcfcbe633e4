package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// chatTarget is the model the chat and load measurements ask for, and where
// routerd sent it when probed.
type chatTarget struct {
	Model    string // what the client asks routerd for
	Upstream string // the model id routerd sent upstream (X-Router-Model)
	Channel  string
	Attempts string
	Tried    int
	Channels int // channel_count of the model in /v1/models
}

// chatBody is the request body of every chat measurement.
func chatBody(model string, stream bool) []byte {
	b, _ := json.Marshal(map[string]any{
		"model":      model,
		"messages":   []map[string]string{{"role": "user", "content": "Say hello in one short sentence."}},
		"max_tokens": 16,
		"stream":     stream,
	})
	return b
}

// messagesBody is chatBody as an Anthropic Messages request: the same
// user message and token limit, so that the two surfaces do the same work
// upstream and only the translation differs.
func messagesBody(model string, stream bool) []byte {
	b, _ := json.Marshal(map[string]any{
		"model":      model,
		"messages":   []map[string]string{{"role": "user", "content": "Say hello in one short sentence."}},
		"max_tokens": 16,
		"stream":     stream,
	})
	return b
}

// checkMessages is checkAnswer for a Messages answer: a message object, or
// a stream that ends with exactly one message_stop event.
func checkMessages(code int, errStr string, body []byte, stream bool) string {
	switch {
	case errStr != "":
		return errStr
	case code != http.StatusOK:
		return fmt.Sprintf("status %d: %s", code, tail(strings.TrimSpace(string(body)), 200))
	case stream:
		if n := bytes.Count(body, []byte("event: message_stop")); n != 1 {
			return fmt.Sprintf("stream with %d message_stop events (want 1): %s", n, tail(string(body), 200))
		}
		if !bytes.Contains(body, []byte("content_block_delta")) {
			return "stream without content_block_delta events"
		}
	default:
		if !bytes.Contains(body, []byte(`"type":"message"`)) || !bytes.Contains(body, []byte(`"content"`)) {
			return "answer is not a message: " + tail(string(body), 200)
		}
	}
	return ""
}

// checkAnswer returns "" when a chat answer is a complete success, else
// what is wrong with it. A stream must end with exactly one [DONE].
func checkAnswer(code int, errStr string, body []byte, stream bool) string {
	switch {
	case errStr != "":
		return errStr
	case code != http.StatusOK:
		return fmt.Sprintf("status %d: %s", code, tail(strings.TrimSpace(string(body)), 200))
	case stream:
		if n := bytes.Count(body, []byte("data: [DONE]")); n != 1 {
			return fmt.Sprintf("stream with %d [DONE] lines (want 1): %s", n, tail(string(body), 200))
		}
		if !bytes.Contains(body, []byte("chat.completion.chunk")) {
			return "stream without chat.completion.chunk events"
		}
	default:
		if !bytes.Contains(body, []byte(`"choices"`)) {
			return "answer without choices: " + tail(string(body), 200)
		}
	}
	return ""
}

// findKey returns the first value stored under key in a decoded JSON
// value, searching objects depth first in sorted key order for
// determinism.
func findKey(v any, key string) (any, bool) {
	switch t := v.(type) {
	case map[string]any:
		if x, ok := t[key]; ok {
			return x, true
		}
		keys := make([]string, 0, len(t))
		for k := range t {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for _, k := range keys {
			if x, ok := findKey(t[k], key); ok {
				return x, true
			}
		}
	case []any:
		for _, e := range t {
			if x, ok := findKey(e, key); ok {
				return x, true
			}
		}
	}
	return nil, false
}

// startRouterd execs routerd on a fresh port with snapshot snap and in's
// config and cache folders.
func (h *harness) startRouterd(in *install, snap, label string, extra ...string) (*proc, string, time.Time, error) {
	return h.startRouterdEnv(in, snap, label, nil, extra...)
}

// startRouterdEnv is startRouterd with extra environment variables.
func (h *harness) startRouterdEnv(in *install, snap, label string, env []string, extra ...string) (*proc, string, time.Time, error) {
	addr, err := freeAddr()
	if err != nil {
		return nil, "", time.Time{}, err
	}
	h.runSeq++
	logPath := filepath.Join(h.tmp, "logs", fmt.Sprintf("routerd-%03d-%s.log", h.runSeq, label))
	args := append([]string{"-snapshot", snap, "-config", in.ConfigDir, "-cache", in.CacheDir, "-addr", addr}, extra...)
	p, t0, err := h.ps.start("routerd", logPath, append(slices.Clone(in.Env), env...), filepath.Join(h.bin, "routerd"), args...)
	if err != nil {
		return nil, "", time.Time{}, err
	}
	return p, "http://" + addr, t0, nil
}

// waitHealthy polls /health until it answers 200.
func waitHealthy(ctx context.Context, p *proc, base string, t0 time.Time) (time.Duration, error) {
	c := newClient(2 * time.Second)
	defer c.CloseIdleConnections()
	return pollUntil(ctx, p, t0, func(ctx context.Context) (bool, error) {
		code, body, err := get(ctx, c, base+"/health", "")
		if err != nil {
			return false, err
		}
		if code != http.StatusOK {
			return false, fmt.Errorf("/health: status %d: %s", code, tail(string(body), 200))
		}
		return true, nil
	})
}

// waitChat polls POST /v1/chat/completions until a complete answer arrives.
func waitChat(ctx context.Context, p *proc, base, token string, body []byte, t0 time.Time) (time.Duration, error) {
	c := newClient(5 * time.Second)
	defer c.CloseIdleConnections()
	return pollUntil(ctx, p, t0, func(ctx context.Context) (bool, error) {
		resp, b, err := post(ctx, c, base+"/v1/chat/completions", token, body)
		if err != nil {
			return false, err
		}
		if why := checkAnswer(resp.StatusCode, "", b, false); why != "" {
			return false, errors.New(why)
		}
		return true, nil
	})
}

// snapshotMode asks routerd which mode it serves in: /v1/admin/snapshot,
// else the mode field of /health.
func snapshotMode(ctx context.Context, base string, tok authTokens) (string, map[string]any) {
	c := newClient(5 * time.Second)
	defer c.CloseIdleConnections()
	for _, u := range []struct{ path, token string }{{"/v1/admin/snapshot", tok.Admin}, {"/health", ""}} {
		code, b, err := get(ctx, c, base+u.path, u.token)
		if err != nil || code != http.StatusOK {
			continue
		}
		var v map[string]any
		if json.Unmarshal(b, &v) != nil {
			continue
		}
		if m, ok := findKey(v, "mode"); ok {
			if s, ok := m.(string); ok {
				return s, v
			}
		}
	}
	return "", nil
}

// modelEntry is the part of a /v1/models entry the probe reads.
type modelEntry struct {
	ID           string   `json:"id"`
	ChannelCount int      `json:"channel_count"`
	Capabilities []string `json:"capabilities"`
}

// rankModels orders the candidates for the chat measurements: chat models
// first (an entry without capabilities counts as one), then those served by
// the most channels, so that routing has several pairs to filter, score
// and sort, then by id for a stable choice.
func rankModels(ms []modelEntry) []modelEntry {
	out := slices.Clone(ms)
	chat := func(m modelEntry) bool { return len(m.Capabilities) == 0 || slices.Contains(m.Capabilities, "chat") }
	slices.SortStableFunc(out, func(a, b modelEntry) int {
		if ca, cb := chat(a), chat(b); ca != cb {
			if ca {
				return -1
			}
			return 1
		}
		if a.ChannelCount != b.ChannelCount {
			return b.ChannelCount - a.ChannelCount
		}
		return strings.Compare(a.ID, b.ID)
	})
	return out
}

// healthCount reads a number of /health (pairs, models, ...) as text.
func healthCount(ctx context.Context, base, key string) string {
	c := newClient(5 * time.Second)
	defer c.CloseIdleConnections()
	code, b, err := get(ctx, c, base+"/health", "")
	if err != nil || code != http.StatusOK {
		return ""
	}
	var v map[string]any
	if json.Unmarshal(b, &v) != nil {
		return ""
	}
	if x, ok := v[key].(float64); ok {
		return fmt.Sprintf("%.0f", x)
	}
	return ""
}

// probe starts routerd once (an untimed warm-up as well) and finds a model
// that routes to the mock in one attempt.
func (h *harness) probe(ctx context.Context, in *install, snap string) (chatTarget, error) {
	p, base, t0, err := h.startRouterd(in, snap, "probe-"+in.Name)
	if err != nil {
		return chatTarget{}, err
	}
	defer h.ps.stop(p, 5*time.Second)
	wctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	if _, err := waitHealthy(wctx, p, base, t0); err != nil {
		return chatTarget{}, err
	}
	c := newClient(10 * time.Second)
	defer c.CloseIdleConnections()
	code, b, err := get(ctx, c, base+"/v1/models", in.Tokens.API)
	if err != nil || code != http.StatusOK {
		return chatTarget{}, fmt.Errorf("GET /v1/models: status %d, %v: %s", code, err, tail(string(b), 300))
	}
	var list struct {
		Data []modelEntry `json:"data"`
	}
	if err := json.Unmarshal(b, &list); err != nil || len(list.Data) == 0 {
		return chatTarget{}, fmt.Errorf("GET /v1/models: no model in the answer (%v)", err)
	}
	candidates := rankModels(list.Data)
	var firstOK *chatTarget
	var lastErr string
	tried := 0
	for _, m := range candidates {
		if tried >= 60 {
			break
		}
		tried++
		resp, body, err := post(ctx, c, base+"/v1/chat/completions", in.Tokens.API, chatBody(m.ID, false))
		if err != nil {
			lastErr = err.Error()
			continue
		}
		if why := checkAnswer(resp.StatusCode, "", body, false); why != "" {
			lastErr = m.ID + ": " + why
			continue
		}
		ct := chatTarget{Model: m.ID, Upstream: resp.Header.Get("X-Router-Model"), Channel: resp.Header.Get("X-Router-Channel"),
			Attempts: resp.Header.Get("X-Router-Attempts"), Tried: tried, Channels: m.ChannelCount}
		if ct.Upstream == "" {
			ct.Upstream = m.ID
		}
		if ct.Attempts == "" || ct.Attempts == "1" {
			return ct, nil
		}
		if firstOK == nil {
			firstOK = &ct
		}
	}
	if firstOK != nil {
		return *firstOK, nil
	}
	return chatTarget{}, fmt.Errorf("none of the first %d models of /v1/models got an answer through routerd; last: %s", tried, lastErr)
}

// startRun is one measured start.
type startRun struct {
	Health, Chat time.Duration
	HealthHWM    int64 // KiB, after /health answered
	ChatHWM      int64 // KiB, after the first chat answer
	IdleRSS      int64 // KiB, after the first chat answer and a pause
}

// startResult is a cold-start measurement of one installation and mode.
type startResult struct {
	Label    string
	Fixture  string
	Mode     string // as routerd reported it
	WantMode string
	SnapMB   float64
	CacheMB  float64
	Pairs    string
	Model    chatTarget
	Runs     []startRun
	Health   dist
	Chat     dist
	Err      string
}

// coldStart execs routerd opt.starts times for /health and as many times
// for the first chat answer, alternating. With perRun, snapSrc is copied to
// a fresh path before every run (a fallback start writes the rebuilt
// snapshot back over its path).
func (h *harness) coldStart(ctx context.Context, label string, in *install, snapSrc, wantMode string, perRun bool, ct chatTarget, timeout time.Duration) startResult {
	r := startResult{Label: label, Fixture: in.Name, WantMode: wantMode, CacheMB: in.CacheMB, SnapMB: fileMB(snapSrc), Model: ct}
	body := chatBody(ct.Model, false)
	snap := snapSrc
	prepare := func() error {
		if !perRun {
			return nil
		}
		snap = filepath.Join(h.tmp, "run-"+in.Name+".snap")
		return copyFile(snapSrc, snap)
	}
	// One untimed start warms the page cache for the binary and inputs and
	// reads the mode and counts.
	if err := prepare(); err != nil {
		r.Err = err.Error()
		return r
	}
	if err := h.oneStart(ctx, in, snap, label, timeout, func(ctx context.Context, p *proc, base string, t0 time.Time) error {
		if _, err := waitHealthy(ctx, p, base, t0); err != nil {
			return err
		}
		mode, _ := snapshotMode(ctx, base, in.Tokens)
		r.Mode = mode
		r.Pairs = healthCount(ctx, base, "pairs")
		if mode != wantMode {
			return fmt.Errorf("routerd serves in mode %q, want %q", mode, wantMode)
		}
		return nil
	}); err != nil {
		r.Err = err.Error()
		return r
	}
	for i := 0; i < h.opt.starts; i++ {
		var run startRun
		if err := prepare(); err != nil {
			r.Err = err.Error()
			return r
		}
		err := h.oneStart(ctx, in, snap, label, timeout, func(ctx context.Context, p *proc, base string, t0 time.Time) error {
			d, err := waitHealthy(ctx, p, base, t0)
			if err != nil {
				return err
			}
			run.Health = d
			m, err := procMem(p.Pid())
			run.HealthHWM = m.HWM
			return err
		})
		if err == nil {
			err = prepare()
		}
		if err == nil {
			err = h.oneStart(ctx, in, snap, label, timeout, func(ctx context.Context, p *proc, base string, t0 time.Time) error {
				d, err := waitChat(ctx, p, base, in.Tokens.API, body, t0)
				if err != nil {
					return err
				}
				run.Chat = d
				m, err := procMem(p.Pid())
				if err != nil {
					return err
				}
				run.ChatHWM = m.HWM
				time.Sleep(h.opt.idle)
				m, err = procMem(p.Pid())
				run.IdleRSS = m.RSS
				return err
			})
		}
		if err != nil {
			r.Err = fmt.Sprintf("run %d: %v", i+1, err)
			break
		}
		r.Runs = append(r.Runs, run)
	}
	var hd, cd []time.Duration
	for _, run := range r.Runs {
		hd = append(hd, run.Health)
		cd = append(cd, run.Chat)
	}
	r.Health, r.Chat = summarize(hd), summarize(cd)
	h.log.Info("cold start", "case", label, "runs", len(r.Runs), "health_median", r.Health.Median, "chat_median", r.Chat.Median, "err", r.Err)
	return r
}

// oneStart execs routerd, runs measure on it and stops it.
func (h *harness) oneStart(ctx context.Context, in *install, snap, label string, timeout time.Duration, measure func(ctx context.Context, p *proc, base string, t0 time.Time) error) error {
	p, base, t0, err := h.startRouterd(in, snap, strings.ReplaceAll(label, " ", "-"))
	if err != nil {
		return err
	}
	defer h.ps.stop(p, 5*time.Second)
	mctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	return measure(mctx, p, base, t0)
}

// hwmStats returns the median and maximum of the peak RSS values (KiB).
func hwmStats(runs []startRun, pick func(startRun) int64) (med, hi int64) {
	var v []int64
	for _, r := range runs {
		x := pick(r)
		v = append(v, x)
		hi = max(hi, x)
	}
	return medianInt64(v), hi
}

// fileMB is the size of a file in MB (1e6), 0 when it cannot be read.
func fileMB(path string) float64 {
	fi, err := os.Stat(path)
	if err != nil {
		return 0
	}
	return float64(fi.Size()) / 1e6
}
