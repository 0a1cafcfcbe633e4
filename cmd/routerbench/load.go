package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	vegeta "github.com/tsenart/vegeta/v12/lib"
)

// loadResult is one fixed-rate attack.
type loadResult struct {
	Target     string // "mock", "routerd", "nginx"
	Stream     bool
	Rate       int
	Dur        time.Duration
	Requests   int
	Errors     int
	ErrSamples []string
	Lat        dist
	CPU        time.Duration // CPU time of the process under test during the attack
	CPUPerReq  time.Duration
	Switches   int64 // context switches of the process under test during the attack (switches.go)
	Err        string
	lat        []time.Duration // every latency, for merging rounds
}

// merge combines rounds of the same load into one result: durations,
// requests, errors and CPU add up; percentiles are over all latencies.
func merge(rounds []loadResult) loadResult {
	if len(rounds) == 0 {
		return loadResult{}
	}
	out := rounds[0]
	out.lat = append([]time.Duration(nil), rounds[0].lat...)
	out.ErrSamples = append([]string(nil), rounds[0].ErrSamples...)
	for _, r := range rounds[1:] {
		out.Dur += r.Dur
		out.Requests += r.Requests
		out.Errors += r.Errors
		out.CPU += r.CPU
		out.Switches += r.Switches
		out.lat = append(out.lat, r.lat...)
		for _, e := range r.ErrSamples {
			if len(out.ErrSamples) < 3 && !slices.Contains(out.ErrSamples, e) {
				out.ErrSamples = append(out.ErrSamples, e)
			}
		}
		if out.Err == "" {
			out.Err = r.Err
		}
	}
	out.CPUPerReq = 0
	if out.Requests > 0 {
		out.CPUPerReq = out.CPU / time.Duration(out.Requests)
	}
	out.Lat = summarize(out.lat)
	return out
}

// attack runs a constant-rate attack on tgt for dur and checks every answer
// in full. When pid > 0 the CPU time of that process is measured around the
// attack. during, when set, runs concurrently until the attack ends.
func attack(ctx context.Context, name string, tgt vegeta.Target, rate int, dur time.Duration, stream bool, pid int, during func(stop <-chan struct{})) loadResult {
	return attackChecked(ctx, name, tgt, rate, dur, stream, pid, during, checkAnswer)
}

// attackChecked is attack with check judging each answer (checkAnswer for
// chat, checkMessages for Messages).
func attackChecked(ctx context.Context, name string, tgt vegeta.Target, rate int, dur time.Duration, stream bool, pid int, during func(stop <-chan struct{}),
	check func(code int, errStr string, body []byte, stream bool) string) loadResult {
	lc := newLoadClient()
	defer lc.done()
	return attackWith(ctx, lc.attacker(), name, tgt, rate, dur, stream, pid, during, check)
}

// loadClient is the load generator's HTTP client: the attackers it makes
// share its connections (a vegeta attacker serves one attack), so a
// warm-up leaves the next attack its connections; done closes the ones
// left open.
type loadClient struct {
	tr *http.Transport
	c  *http.Client
}

func newLoadClient() *loadClient {
	// Up to 20,000 connections: the in-flight shapes hold 10,000 requests
	// open at once (vegeta's default cap is 10,000 per host). The transport
	// is the harness's own so that its idle connections are closed when the
	// attack ends (done): vegeta's never times them out, and the next round
	// of an in-flight shape would find the open-files limit taken by the
	// thousands of connections of the round before.
	tr := &http.Transport{
		DialContext:         (&net.Dialer{KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConnsPerHost: 20000,
		MaxConnsPerHost:     20000,
		IdleConnTimeout:     30 * time.Second,
	}
	return &loadClient{tr: tr, c: &http.Client{Timeout: 30 * time.Second, Transport: tr}}
}

func (l *loadClient) attacker() *vegeta.Attacker {
	return vegeta.NewAttacker(vegeta.Client(l.c), vegeta.Workers(32))
}

func (l *loadClient) done() { l.tr.CloseIdleConnections() }

// attackWith is attackChecked with the attacker given.
func attackWith(ctx context.Context, atk *vegeta.Attacker, name string, tgt vegeta.Target, rate int, dur time.Duration, stream bool, pid int, during func(stop <-chan struct{}),
	check func(code int, errStr string, body []byte, stream bool) string) loadResult {
	r := loadResult{Target: name, Stream: stream, Rate: rate, Dur: dur}
	var cpu0 time.Duration
	var sw0 int64
	if pid > 0 {
		var err error
		if cpu0, err = procTreeCPU(pid); err != nil {
			r.Err = err.Error()
			return r
		}
		sw0, _ = procTreeSwitches(pid)
	}
	stop := make(chan struct{})
	duringDone := make(chan struct{})
	if during != nil {
		go func() { during(stop); close(duringDone) }()
	} else {
		close(duringDone)
	}
	pacer := vegeta.ConstantPacer{Freq: rate, Per: time.Second}
	lat := make([]time.Duration, 0, int(float64(rate)*dur.Seconds())+16)
	seen := map[string]bool{}
	results := atk.Attack(vegeta.NewStaticTargeter(tgt), pacer, dur, name)
	for res := range results {
		if ctx.Err() != nil {
			atk.Stop()
		}
		r.Requests++
		lat = append(lat, res.Latency)
		if why := check(int(res.Code), res.Error, res.Body, stream); why != "" {
			r.Errors++
			if key := tail(why, 160); !seen[key] && len(r.ErrSamples) < 3 {
				seen[key] = true
				r.ErrSamples = append(r.ErrSamples, key)
			}
		}
	}
	close(stop)
	<-duringDone
	if pid > 0 {
		cpu1, err := procTreeCPU(pid)
		if err != nil {
			r.Err = err.Error()
		} else if r.Requests > 0 {
			r.CPU = cpu1 - cpu0
			r.CPUPerReq = r.CPU / time.Duration(r.Requests)
		}
		if sw1, err := procTreeSwitches(pid); err == nil && sw0 > 0 {
			r.Switches = sw1 - sw0
		}
	}
	r.Lat, r.lat = summarize(lat), lat
	if ctx.Err() != nil {
		r.Err = "interrupted"
	}
	return r
}

// switchesPerReq is the context switches of the process under test per
// request ("" when not measured).
func (r loadResult) switchesPerReq() string {
	if r.Switches <= 0 || r.Requests == 0 {
		return ""
	}
	return fmt.Sprintf("%.1f", float64(r.Switches)/float64(r.Requests))
}

// chatTargetFor builds the vegeta target of a chat request.
func chatTargetFor(url, token string, body []byte) vegeta.Target {
	hdr := http.Header{"Content-Type": []string{"application/json"}}
	if token != "" {
		hdr.Set("Authorization", "Bearer "+token)
	}
	return vegeta.Target{Method: http.MethodPost, URL: url, Body: body, Header: hdr}
}

// overheadPair is the same load straight to the mock and through routerd.
type overheadPair struct {
	Stream  bool
	Mock    loadResult // all rounds merged
	Routerd loadResult
	// Messages is the same request as an Anthropic Messages one through
	// routerd (POST /v1/messages), in rounds alternating with the chat
	// ones; MsgRatios are its CPU per request over chat's, round by round.
	Messages  loadResult
	MsgRatios []float64
	// Nginx is the same load through nginx in front of the same mock, in
	// the same rounds; NginxAdded what it adds, like Added.
	Nginx      loadResult
	NginxAdded addedLatency
	// Added is the latency routerd adds: the median over the paired
	// rounds of (routerd's percentile - the mock's percentile in the round
	// just before), so that one noisy round does not decide the figure.
	Added  addedLatency
	Rounds int
}

// cpuRatios is, round by round, a's CPU per request over b's (rounds
// where either has no figure are skipped).
func cpuRatios(a, b []loadResult) []float64 {
	var out []float64
	for i := 0; i < min(len(a), len(b)); i++ {
		if a[i].CPUPerReq > 0 && b[i].CPUPerReq > 0 {
			out = append(out, float64(a[i].CPUPerReq)/float64(b[i].CPUPerReq))
		}
	}
	return out
}

// addedLatency is the median per-round difference of two percentiles.
type addedLatency struct {
	P50, P99 time.Duration
}

// pairedAdded computes the added latency from rounds run in pairs.
func pairedAdded(mock, router []loadResult) addedLatency {
	n := min(len(mock), len(router))
	var d50, d99 []time.Duration
	for i := 0; i < n; i++ {
		if mock[i].Requests == 0 || router[i].Requests == 0 {
			continue
		}
		d50 = append(d50, router[i].Lat.P50-mock[i].Lat.P50)
		d99 = append(d99, router[i].Lat.P99-mock[i].Lat.P99)
	}
	return addedLatency{P50: summarize(d50).Median, P99: summarize(d99).Median}
}

// stepResult is one step of the rate search.
type stepResult struct {
	Rate     int
	Requests int
	Errors   int
	P99      time.Duration
	Held     bool
	Why      string
}

// rateResult is the highest rate a target held.
type rateResult struct {
	Target  string
	StepDur time.Duration // measured part of each step
	Held    int
	Steps   []stepResult
	Err     string
}

// stepWarmup is the uncounted start of each step of the rate search.
const stepWarmup = time.Second

// searchRates are the steps of the rate search, requests per second.
func searchRates() []int {
	return []int{1000, 2000, 3000, 4000, 5000, 6000, 8000, 10000, 12000, 15000, 20000}
}

// holds judges one step: no error, p99 under 50 ms, and the generator
// delivered at least 95 % of the requests the rate asks for.
func holds(r loadResult) (bool, string) {
	want := float64(r.Rate) * r.Dur.Seconds()
	switch {
	case r.Errors > 0:
		return false, fmt.Sprintf("%d errors", r.Errors)
	case r.Lat.P99 >= 50*time.Millisecond:
		return false, "p99 " + fmtDur(r.Lat.P99)
	case float64(r.Requests) < 0.95*want:
		return false, fmt.Sprintf("only %d of %.0f requests sent", r.Requests, want)
	}
	return true, ""
}

// rateSearch raises the rate step by step until a step fails, then tries
// the midpoint between the last held and the first failed rate.
func rateSearch(ctx context.Context, name string, tgt vegeta.Target, dur time.Duration) rateResult {
	rr := rateResult{Target: name, StepDur: dur}
	step := func(rate int) bool {
		// Each step first runs stepWarmup at its rate, not counted, on
		// the connections the step then uses: the step measures the rate
		// held, not the opening of the connections a higher rate needs
		// (the same for the mock, nginx and routerd).
		lc := newLoadClient()
		attackWith(ctx, lc.attacker(), name, tgt, rate, stepWarmup, false, 0, nil, checkAnswer)
		r := attackWith(ctx, lc.attacker(), name, tgt, rate, dur, false, 0, nil, checkAnswer)
		lc.done()
		ok, why := holds(r)
		rr.Steps = append(rr.Steps, stepResult{Rate: rate, Requests: r.Requests, Errors: r.Errors, P99: r.Lat.P99, Held: ok, Why: why})
		if ok {
			rr.Held = max(rr.Held, rate)
		}
		// Let queues drain before the next step.
		time.Sleep(time.Second)
		return ok
	}
	failed := 0
	for _, rate := range searchRates() {
		if ctx.Err() != nil {
			rr.Err = "interrupted"
			return rr
		}
		if !step(rate) {
			failed = rate
			break
		}
	}
	if failed > 0 && rr.Held > 0 {
		if mid := (rr.Held + failed) / 2; mid > rr.Held && mid < failed {
			step(mid)
		}
	}
	return rr
}

// swapResult is the SIGHUP-under-load measurement.
type swapResult struct {
	Load      loadResult
	Signals   int
	SeqBefore float64
	SeqAfter  float64
	Swaps     int
	Source    string // where the swap count came from
	Err       string
}

// adminNumber reads a number named key from /v1/admin/snapshot.
func adminNumber(ctx context.Context, base, token, key string) (float64, error) {
	c := newClient(5 * time.Second)
	defer c.CloseIdleConnections()
	code, b, err := get(ctx, c, base+"/v1/admin/snapshot", token)
	if err != nil {
		return 0, err
	}
	if code != http.StatusOK {
		return 0, fmt.Errorf("/v1/admin/snapshot: status %d", code)
	}
	var v map[string]any
	if err := json.Unmarshal(b, &v); err != nil {
		return 0, fmt.Errorf("/v1/admin/snapshot: %w", err)
	}
	x, ok := findKey(v, key)
	if !ok {
		return 0, fmt.Errorf("/v1/admin/snapshot has no %q", key)
	}
	f, ok := x.(float64)
	if !ok {
		return 0, fmt.Errorf("/v1/admin/snapshot %q is not a number", key)
	}
	return f, nil
}

// metricSum adds the samples of metric name in Prometheus text whose labels
// contain every one of want (e.g. `result="success"`).
func metricSum(text, name string, want ...string) (float64, bool) {
	var sum float64
	found := false
	for _, line := range strings.Split(text, "\n") {
		if !strings.HasPrefix(line, name) {
			continue
		}
		rest := line[len(name):]
		labels := ""
		switch {
		case strings.HasPrefix(rest, "{"):
			end := strings.IndexByte(rest, '}')
			if end < 0 {
				continue
			}
			labels, rest = rest[1:end], rest[end+1:]
		case strings.HasPrefix(rest, " "):
		default:
			continue // a longer metric name
		}
		ok := true
		for _, w := range want {
			if !strings.Contains(labels, w) {
				ok = false
			}
		}
		if !ok {
			continue
		}
		f := strings.Fields(rest)
		if len(f) == 0 {
			continue
		}
		var v float64
		if _, err := fmt.Sscan(f[0], &v); err != nil {
			continue
		}
		sum += v
		found = true
	}
	return sum, found
}

// reloadCount reads the number of successful reloads: the seq of
// /v1/admin/snapshot (one per publish), else the reload counter of
// /metrics.
func reloadCount(ctx context.Context, base, adminToken string) (float64, string, error) {
	if v, err := adminNumber(ctx, base, adminToken, "seq"); err == nil {
		return v, "seq of /v1/admin/snapshot", nil
	}
	c := newClient(5 * time.Second)
	defer c.CloseIdleConnections()
	code, b, err := get(ctx, c, base+"/metrics", "")
	if err != nil || code != http.StatusOK {
		return 0, "", fmt.Errorf("neither /v1/admin/snapshot nor /metrics told the reload count (status %d, %v)", code, err)
	}
	v, ok := metricSum(string(b), "smartrouter_snapshot_reloads_total", `result="success"`)
	if !ok {
		return 0, "", fmt.Errorf("/metrics has no smartrouter_snapshot_reloads_total{result=\"success\"}")
	}
	return v, "smartrouter_snapshot_reloads_total{result=\"success\"}", nil
}

// swapUnderLoad sends SIGHUP to routerd every 100 ms while a fixed-rate load
// runs through it. Before each signal the snapshot path is replaced (by
// rename) with one of two copies of the file in turn, so every reload maps a
// different inode, as a deploy does.
func (h *harness) swapUnderLoad(ctx context.Context, p *proc, base string, snapPath string, tok authTokens, tgt vegeta.Target) swapResult {
	var sr swapResult
	copies := [2]string{snapPath + ".a", snapPath + ".b"}
	for _, c := range copies {
		if err := copyFile(snapPath, c); err != nil {
			sr.Err = err.Error()
			return sr
		}
	}
	before, src, err := reloadCount(ctx, base, tok.Admin)
	if err != nil {
		sr.Err = err.Error()
		return sr
	}
	sr.SeqBefore, sr.Source = before, src
	var swapErr error
	sr.Load = attack(ctx, "routerd", tgt, h.opt.rate, h.opt.loadDur, false, p.Pid(), func(stop <-chan struct{}) {
		t := time.NewTicker(100 * time.Millisecond)
		defer t.Stop()
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			case <-t.C:
			}
			link := snapPath + ".link"
			_ = os.Remove(link)
			if err := os.Link(copies[i%2], link); err != nil {
				swapErr = fmt.Errorf("link the snapshot copy: %w", err)
				return
			}
			if err := os.Rename(link, snapPath); err != nil {
				swapErr = fmt.Errorf("replace the snapshot: %w", err)
				return
			}
			if err := sendSignal(p, syscall.SIGHUP); err != nil {
				swapErr = err
				return
			}
			sr.Signals++
		}
	})
	time.Sleep(500 * time.Millisecond) // the last reload finishes
	after, _, err := reloadCount(ctx, base, tok.Admin)
	switch {
	case swapErr != nil:
		sr.Err = swapErr.Error()
	case err != nil:
		sr.Err = err.Error()
	}
	sr.SeqAfter = after
	sr.Swaps = int(after - before)
	return sr
}

// nginxPath returns the nginx binary on PATH (or Debian's
// /usr/sbin/nginx, which a non-root PATH may lack), or "".
func nginxPath() string {
	if p, err := exec.LookPath("nginx"); err == nil {
		return p
	}
	if fi, err := os.Stat("/usr/sbin/nginx"); err == nil && fi.Mode().IsRegular() {
		return "/usr/sbin/nginx"
	}
	return ""
}

// nginxConf is a keep-alive reverse proxy to the mock: upstream keep-alive
// connections (HTTP/1.1, the client's Connection header cleared), no
// logging, no buffering (streams pass through as they come), one worker
// per core. Keep-alive requests per connection are not capped (nginx
// closes a connection after 1,000 requests by default, on both sides;
// see docs/benchmarks.md, "The nginx comparison"), and the workers may
// open as many sockets as the in-flight loads need.
func nginxConf(prefix, listen, upstream string, nofile uint64) string {
	conns := max(1024, min(nofile-200, 65536)) // one worker may get most connections
	return fmt.Sprintf(`worker_processes auto;
worker_rlimit_nofile %[4]d;
daemon off;
pid %[1]s/nginx.pid;
error_log %[1]s/error.log warn;
events { worker_connections %[5]d; }
http {
  access_log off;
  client_body_temp_path %[1]s/body;
  proxy_temp_path %[1]s/proxy;
  fastcgi_temp_path %[1]s/fastcgi;
  uwsgi_temp_path %[1]s/uwsgi;
  scgi_temp_path %[1]s/scgi;
  keepalive_requests 1000000;
  keepalive_timeout 120s;
  upstream mock {
    server %[3]s;
    keepalive 1024;
    keepalive_requests 1000000;
    keepalive_timeout 60s;
  }
  server {
    listen %[2]s backlog=4096;
    location / {
      proxy_pass http://mock;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_buffering off;
      proxy_read_timeout 120s;
    }
  }
}
`, prefix, listen, upstream, nofile, conns)
}

// startNginx runs nginx in front of the mock at mockAddr (its config and
// files in a folder of the temporary folder named after label) and waits
// until it proxies.
func (h *harness) startNginx(ctx context.Context, bin, mockAddr, label string) (*proc, string, error) {
	prefix := filepath.Join(h.tmp, "nginx-"+label)
	if err := os.MkdirAll(prefix, 0o755); err != nil {
		return nil, "", err
	}
	addr, err := freeAddr()
	if err != nil {
		return nil, "", err
	}
	conf := filepath.Join(prefix, "nginx.conf")
	if err := os.WriteFile(conf, []byte(nginxConf(prefix, addr, mockAddr, raiseNoFile())), 0o600); err != nil {
		return nil, "", err
	}
	p, t0, err := h.ps.start("nginx", filepath.Join(h.tmp, "logs", "nginx-"+label+".log"), nil, bin, "-e", filepath.Join(prefix, "error.log"), "-p", prefix, "-c", conf)
	if err != nil {
		return nil, "", err
	}
	base := "http://" + addr
	wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	c := newClient(2 * time.Second)
	defer c.CloseIdleConnections()
	_, err = pollUntil(wctx, p, t0, func(ctx context.Context) (bool, error) {
		code, _, err := get(ctx, c, base+"/v1/models", "")
		return err == nil && code == http.StatusOK, err
	})
	if err != nil {
		h.ps.stop(p, 3*time.Second)
		return nil, "", err
	}
	return p, base, nil
}
