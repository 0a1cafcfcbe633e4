package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// The shared-state phase: the same chat load through two routerd of the
// scale installation in the same run, one alone (no state:) and one with
// state.redis_url on a redis-server the harness starts, in alternating
// rounds. Reported: CPU per proxied request of each, the ratio round by
// round, and the p50 routerd with Redis adds over routerd without.

// sharedResult is the shared-state measurement.
type sharedResult struct {
	Off, On  loadResult
	Ratios   []float64     // on / off CPU per request, round by round
	AddedP50 time.Duration // median over rounds of on's p50 minus off's
	AddedP99 time.Duration
	Rounds   int
	Err      string
}

// redisServerPath is the redis-server the phase runs ("" when missing).
func redisServerPath() string {
	if p, err := exec.LookPath("redis-server"); err == nil {
		return p
	}
	if _, err := os.Stat("/usr/bin/redis-server"); err == nil {
		return "/usr/bin/redis-server"
	}
	return ""
}

// withState is the routerd config text with a state: section naming
// redisURL appended (an existing state: section is refused).
func withState(cfg []byte, redisURL string) ([]byte, error) {
	for _, line := range strings.Split(string(cfg), "\n") {
		if strings.HasPrefix(line, "state:") {
			return nil, fmt.Errorf("the config already has a state: section")
		}
	}
	s := strings.TrimRight(string(cfg), "\n") + "\n\nstate:\n  redis_url: \"" + redisURL + "\"\n"
	return []byte(s), nil
}

func (h *harness) sharedUnderLoad(ctx context.Context, in *install, snapSrc string, ct chatTarget) sharedResult {
	var r sharedResult
	bin := redisServerPath()
	if bin == "" {
		r.Err = "redis-server is not installed (apt-get install redis-server)"
		return r
	}
	addr, err := freeAddr()
	if err != nil {
		r.Err = err.Error()
		return r
	}
	_, port, _ := net.SplitHostPort(addr)
	rdir := filepath.Join(h.tmp, "redis")
	if err := os.MkdirAll(rdir, 0o755); err != nil {
		r.Err = err.Error()
		return r
	}
	rp, _, err := h.ps.start("redis-server", filepath.Join(h.tmp, "logs", "redis.log"), nil, bin,
		"--port", port, "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", rdir)
	if err != nil {
		r.Err = err.Error()
		return r
	}
	defer h.ps.stop(rp, 2*time.Second)
	if err := waitRedis(ctx, addr); err != nil {
		r.Err = err.Error()
		return r
	}

	// The installation with state.redis_url, compiled to its own snapshot.
	on := *in
	on.ConfigDir = filepath.Join(h.tmp, "shared-config")
	if err := copyTree(in.ConfigDir, on.ConfigDir); err != nil {
		r.Err = err.Error()
		return r
	}
	mainCfg := filepath.Join(on.ConfigDir, "router_config.yaml")
	b, err := os.ReadFile(mainCfg)
	if err == nil {
		b, err = withState(b, "redis://"+addr+"/0")
	}
	if err == nil {
		err = os.WriteFile(mainCfg, b, 0o644)
	}
	if err != nil {
		r.Err = err.Error()
		return r
	}
	onSnap, offSnap := filepath.Join(h.tmp, "shared-on.snap"), filepath.Join(h.tmp, "shared-off.snap")
	if _, _, _, err := h.compile(ctx, on.ConfigDir, on.CacheDir, onSnap, on.Env); err != nil {
		r.Err = err.Error()
		return r
	}
	if err := copyFile(snapSrc, offSnap); err != nil {
		r.Err = err.Error()
		return r
	}
	pOff, baseOff, t0, err := h.startRouterd(in, offSnap, "shared-off")
	if err != nil {
		r.Err = err.Error()
		return r
	}
	defer h.stopChecked(pOff, "after the shared-state loads")
	wctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	_, err = waitHealthy(wctx, pOff, baseOff, t0)
	cancel()
	if err != nil {
		r.Err = "routerd without Redis: " + err.Error()
		return r
	}
	pOn, baseOn, t1, err := h.startRouterd(&on, onSnap, "shared-on")
	if err != nil {
		r.Err = err.Error()
		return r
	}
	defer h.stopChecked(pOn, "after the shared-state loads")
	wctx, cancel = context.WithTimeout(ctx, 20*time.Second)
	_, err = waitHealthy(wctx, pOn, baseOn, t1)
	if err == nil {
		err = waitShared(wctx, baseOn)
	}
	cancel()
	if err != nil {
		r.Err = "routerd with Redis: " + err.Error()
		return r
	}

	offT := chatTargetFor(baseOff+"/v1/chat/completions", in.Tokens.API, chatBody(ct.Model, false))
	onT := chatTargetFor(baseOn+"/v1/chat/completions", in.Tokens.API, chatBody(ct.Model, false))
	attack(ctx, "routerd", offT, h.opt.rate, h.opt.warmup, false, 0, nil)
	attack(ctx, "routerd-redis", onT, h.opt.rate, h.opt.warmup, false, 0, nil)
	var offRounds, onRounds []loadResult
	per := h.opt.loadDur / time.Duration(h.opt.rounds)
	for i := 0; i < h.opt.rounds && ctx.Err() == nil; i++ {
		offRounds = append(offRounds, attack(ctx, "routerd", offT, h.opt.rate, per, false, pOff.Pid(), nil))
		onRounds = append(onRounds, attack(ctx, "routerd-redis", onT, h.opt.rate, per, false, pOn.Pid(), nil))
	}
	r.Off, r.On, r.Rounds = merge(offRounds), merge(onRounds), len(onRounds)
	r.Ratios = cpuRatios(onRounds, offRounds)
	added := pairedAdded(offRounds, onRounds)
	r.AddedP50, r.AddedP99 = added.P50, added.P99
	return r
}

// waitRedis waits until the server at addr answers PING.
func waitRedis(ctx context.Context, addr string) error {
	for {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			_ = c.SetDeadline(time.Now().Add(time.Second))
			_, err = c.Write([]byte("PING\r\n"))
			line := ""
			if err == nil {
				line, err = bufio.NewReader(c).ReadString('\n')
			}
			_ = c.Close()
			if err == nil && strings.HasPrefix(line, "+PONG") {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("redis-server on %s did not answer PING", addr)
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// waitShared waits until routerd's /health says it is connected to Redis.
func waitShared(ctx context.Context, base string) error {
	c := newClient(2 * time.Second)
	defer c.CloseIdleConnections()
	for {
		code, body, err := get(ctx, c, base+"/health", "")
		if err == nil && code == 200 {
			var m struct {
				Shared *struct {
					Degraded bool `json:"degraded"`
				} `json:"shared_state"`
			}
			if json.Unmarshal(body, &m) == nil {
				if m.Shared == nil {
					return fmt.Errorf("/health has no shared_state: the snapshot does not carry state.redis_url")
				}
				if !m.Shared.Degraded {
					return nil
				}
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("routerd did not connect to Redis: %s", tail(string(body), 200))
		case <-time.After(50 * time.Millisecond):
		}
	}
}

func renderShared(b *strings.Builder, res *results) {
	r := res.Shared
	fmt.Fprintf(b, "### Shared state (Redis) on and off\n\n")
	fmt.Fprintf(b, "Two routerd of the scale installation in the same run, one without `state:` and one with `state.redis_url` on a redis-server the harness starts on loopback (docs/scaling.md), each loaded with the plain chat request at %d req/s in alternating rounds (%d of each). A successful request does no Redis work, so the difference is the background goroutines (ping, lease, signals) and noise; the machine is shared, so small differences are not significant.\n\n", firstRate(res), r.Rounds)
	if r.On.Requests == 0 {
		fmt.Fprintf(b, "Not measured: %s\n\n", orDash(r.Err))
		return
	}
	fmt.Fprintf(b, "| routerd | requests | errors | p50 (ms) | p99 (ms) | CPU per request |\n|---|---|---|---|---|---|\n")
	for _, x := range []struct {
		name string
		l    loadResult
	}{{"without Redis", r.Off}, {"with Redis", r.On}} {
		fmt.Fprintf(b, "| %s | %d | %d | %s | %s | %s |\n", x.name, x.l.Requests, x.l.Errors, fmtMs(x.l.Lat.P50), fmtMs(x.l.Lat.P99), fmtDur(x.l.CPUPerReq))
	}
	ratios := make([]string, len(r.Ratios))
	for i, v := range r.Ratios {
		ratios[i] = fmt.Sprintf("%.2f", v)
	}
	fmt.Fprintf(b, "\nCPU per request with Redis over without, round by round: %s. p50 added by Redis (median over rounds): %s; p99: %s.\n\n",
		orDash(strings.Join(ratios, ", ")), fmtMs(r.AddedP50), fmtMs(r.AddedP99))
}
