package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"time"

	vegeta "github.com/tsenart/vegeta/v12/lib"
)

// The in-flight phase measures the shapes of LLM traffic: an upstream that
// takes its time, so that a fixed rate of new requests holds many requests
// in flight. Each shape runs its own mock (mockllm with -latency or
// -chunk-delay), a routerd and an nginx in front of it, and the same load
// straight to the mock, through nginx and through routerd in alternating
// rounds.

// shape is one kind of slow upstream.
type shape struct {
	Name     string // for the report
	Key      string // short label
	Stream   bool
	MockArgs []string      // extra mockllm flags
	Answer   time.Duration // how long the mock takes per answer
	Rate     int
	Rounds   int
	RoundDur time.Duration
}

// Label is the shape's short name in the profile table.
func (s shape) Label() string {
	kind := "plain"
	if s.Stream {
		kind = "streamed"
	}
	return fmt.Sprintf("%s, %s answers, %d in flight", kind, s.Answer, s.InFlight())
}

// InFlight is the expected number of requests in flight: rate × answer time.
func (s shape) InFlight() int { return int(float64(s.Rate) * s.Answer.Seconds()) }

// shapeResult is one shape measured.
type shapeResult struct {
	Shape   shape
	Mock    loadResult
	Nginx   loadResult
	Routerd loadResult
	Added   addedLatency // routerd over the mock, paired rounds
	NAdded  addedLatency // nginx over the mock
	// Memory of routerd and nginx (workers summed) while the load was at
	// its plateau: the highest VmRSS seen, the idle VmRSS before the
	// load, and the connections open at that moment (fds).
	RouterdMem, NginxMem memSample
	Err                  string
}

// memSample is what a process held at the load's plateau.
type memSample struct {
	IdleKB    int64 // VmRSS before the load
	PeakKB    int64 // highest VmRSS sampled during the load
	PlateauKB int64 // VmRSS when the most descriptors were open
	Conns     int   // the most descriptors open at once, minus those before the load
}

// PerInFlight is the memory per request in flight, in bytes: (RSS at the
// plateau - idle) / (descriptors / 2), each request holding a client and an
// upstream socket.
func (m memSample) PerInFlight() float64 {
	if m.Conns < 2 {
		return 0
	}
	return float64(m.PlateauKB-m.IdleKB) * 1024 / (float64(m.Conns) / 2)
}

// shapes lists the shapes of the phase. maxInFlight caps the last one by
// the descriptors a process may open (a request in flight holds two in the
// proxy).
func shapes(quick bool, maxInFlight int) []shape {
	rounds, dur := 3, 4*time.Second
	if quick {
		rounds, dur = 1, 3*time.Second
	}
	long := min(10000, maxInFlight)
	if quick {
		long = min(2000, long)
	}
	return []shape{
		{Name: "plain answers, upstream answering in 1 s", Key: "plain-1s", MockArgs: []string{"-latency", "1s"},
			Answer: time.Second, Rate: 1000, Rounds: rounds, RoundDur: dur},
		{Name: "streamed answers, 1-second streams (8 chunks 125 ms apart)", Key: "stream-1s", Stream: true, MockArgs: []string{"-chunk-delay", "125ms"},
			Answer: time.Second, Rate: 1000, Rounds: rounds, RoundDur: dur},
		{Name: fmt.Sprintf("streamed answers, 10-second streams (8 chunks 1.25 s apart), %d in flight", long), Key: "stream-10s", Stream: true,
			MockArgs: []string{"-chunk-delay", "1250ms"}, Answer: 10 * time.Second, Rate: long / 10, Rounds: 1, RoundDur: 15 * time.Second},
	}
}

// maxInFlight is the most requests in flight a shape may plan for under
// the open-files limit: a proxy holds two descriptors per request, and its
// connection cap is about half the limit, which the load generator's
// connections must stay under with room to spare — the requests in flight
// are the rate times the answer time plus what the proxy adds (on a busy
// shared machine the mock alone took 10.5 s at the median for 10-second
// streams, and 9,000 planned became more than routerd's cap of 9,968), and
// the generator opens a new connection for a request whose connection is
// still being read. At 20,000 descriptors: 8,000.
func maxInFlight(limit uint64) int {
	if limit < 8000 {
		return int(limit) / 4
	}
	return int(limit-4000) / 2
}

// raiseNoFile raises the soft limit of open files to the hard limit, for
// this process and the processes it starts, and returns it.
func raiseNoFile() uint64 {
	var rl syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil {
		return 1024
	}
	if rl.Cur < rl.Max {
		rl.Cur = rl.Max
		if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil {
			_ = syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl)
		}
	}
	return rl.Cur
}

// inflightPhase runs every shape on the scale fixture.
func (h *harness) inflightPhase(ctx context.Context, ct chatTarget) {
	limit := raiseNoFile()
	h.res.NoFile = limit
	maxIn := maxInFlight(limit)
	for _, sh := range shapes(h.opt.quick, maxIn) {
		if ctx.Err() != nil {
			return
		}
		if h.opt.shape != "" && sh.Key != h.opt.shape {
			continue
		}
		r := h.runShape(ctx, sh, ct)
		h.log.Info("in flight", "shape", sh.Key, "mock_p99", r.Mock.Lat.P99, "nginx_p99", r.Nginx.Lat.P99, "routerd_p99", r.Routerd.Lat.P99,
			"errors", r.Mock.Errors+r.Nginx.Errors+r.Routerd.Errors, "routerd_peak_kb", r.RouterdMem.PeakKB, "routerd_idle_kb", r.RouterdMem.IdleKB,
			"routerd_conns", r.RouterdMem.Conns, "routerd_cpu", r.Routerd.CPUPerReq, "nginx_cpu", r.Nginx.CPUPerReq, "err", r.Err)
		h.res.InFlight = append(h.res.InFlight, r)
	}
}

// runShape starts the shape's mock, routerd and nginx and runs the rounds.
func (h *harness) runShape(ctx context.Context, sh shape, ct chatTarget) shapeResult {
	r := shapeResult{Shape: sh}
	addr, err := freeAddr()
	if err != nil {
		r.Err = err.Error()
		return r
	}
	dir := filepath.Join(h.tmp, "shape-"+sh.Key)
	mock, t0, err := h.ps.start("mockllm", filepath.Join(h.tmp, "logs", "mockllm-"+sh.Key+".log"), nil, filepath.Join(h.bin, "mockllm"),
		append([]string{"-addr", addr, "-record", "-1"}, sh.MockArgs...)...)
	if err != nil {
		r.Err = err.Error()
		return r
	}
	defer h.ps.stop(mock, 5*time.Second)
	if err := waitModels(ctx, mock, "http://"+addr, t0); err != nil {
		r.Err = "start mockllm: " + err.Error()
		return r
	}
	in, err := prepareInstall("scale", filepath.Join(h.opt.fixtures, "scale"), dir, "http://"+addr+"/v1")
	if err != nil {
		r.Err = err.Error()
		return r
	}
	snap := filepath.Join(dir, "router.snap")
	if _, _, _, err := h.compile(ctx, in.ConfigDir, in.CacheDir, snap, in.Env); err != nil {
		r.Err = err.Error()
		return r
	}
	p, base, t1, err := h.startRouterd(in, snap, sh.Key)
	if err != nil {
		r.Err = err.Error()
		return r
	}
	defer h.stopChecked(p, "after the "+sh.Key+" load")
	wctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	_, err = waitHealthy(wctx, p, base, t1)
	cancel()
	if err != nil {
		r.Err = err.Error()
		return r
	}
	var np *proc
	nbase := ""
	if bin := nginxPath(); bin != "" {
		np, nbase, err = h.startNginx(ctx, bin, addr, sh.Key)
		if err != nil {
			r.Err = "nginx did not start: " + err.Error()
			np = nil
		} else {
			defer h.ps.stop(np, 5*time.Second)
		}
	}
	direct := chatTargetFor("http://"+addr+"/v1/chat/completions", "bench-direct", chatBody(ct.Upstream, sh.Stream))
	routed := chatTargetFor(base+"/v1/chat/completions", in.Tokens.API, chatBody(ct.Model, sh.Stream))
	var viaNginx vegeta.Target
	if np != nil {
		viaNginx = chatTargetFor(nbase+"/v1/chat/completions", "bench-direct", chatBody(ct.Upstream, sh.Stream))
	}
	// Warm-up: connections, caches, the route cache entry (short: the
	// answers are slow, so only a few hundred requests).
	warm := min(h.opt.warmup, 2*time.Second)
	attack(ctx, "routerd", routed, 200, warm, sh.Stream, 0, nil)
	if np != nil {
		attack(ctx, "nginx", viaNginx, 200, warm, sh.Stream, 0, nil)
	}
	time.Sleep(sh.Answer + 500*time.Millisecond) // the warm-up's answers end
	r.RouterdMem.IdleKB = rssKB(p.Pid())
	baseFDs := countSockets(p.Pid())
	var nBaseFDs int
	if np != nil {
		r.NginxMem.IdleKB = treeRSSKB(np.Pid())
		nBaseFDs = treeSockets(np.Pid())
	}
	var mockR, routerR, nginxR []loadResult
	for i := 0; i < sh.Rounds && ctx.Err() == nil; i++ {
		mockR = append(mockR, attackWide(ctx, "mock", direct, sh, mock.Pid(), nil))
		h.settle(sh)
		routerR = append(routerR, attackWide(ctx, "routerd", routed, sh, p.Pid(), func(stop <-chan struct{}) {
			sampleMem(stop, func() (int64, int) { return rssKB(p.Pid()), countSockets(p.Pid()) - baseFDs }, &r.RouterdMem)
		}))
		h.settle(sh)
		if np != nil {
			nginxR = append(nginxR, attackWide(ctx, "nginx", viaNginx, sh, np.Pid(), func(stop <-chan struct{}) {
				sampleMem(stop, func() (int64, int) { return treeRSSKB(np.Pid()), treeSockets(np.Pid()) - nBaseFDs }, &r.NginxMem)
			}))
			h.settle(sh)
		}
	}
	if h.opt.profile && ctx.Err() == nil {
		if exe, err := os.Executable(); err == nil {
			cut := h.profileOne(ctx, exe, in, snap, ct, sh.Stream, sh.Rate, sh.RoundDur, sh.Label(), sh.RoundDur*3/4)
			h.res.Profile.Cuts = append(h.res.Profile.Cuts, cut)
		}
	}
	r.Mock, r.Routerd = merge(mockR), merge(routerR)
	r.Added = pairedAdded(mockR, routerR)
	if len(nginxR) > 0 {
		r.Nginx = merge(nginxR)
		r.NAdded = pairedAdded(mockR, nginxR)
	}
	return r
}

// settle waits for the answers of a round to end before the next one.
func (h *harness) settle(sh shape) { time.Sleep(sh.Answer + time.Second) }

// attackWide is attack for the in-flight shapes: as many connections as
// requests in flight.
func attackWide(ctx context.Context, name string, tgt vegeta.Target, sh shape, pid int, during func(stop <-chan struct{})) loadResult {
	return attackChecked(ctx, name, tgt, sh.Rate, sh.RoundDur, sh.Stream, pid, during, checkAnswer)
}

// sampleMem samples RSS and descriptors every 250 ms until stop: the
// highest RSS, and the RSS when the most descriptors were open (the
// plateau of requests in flight).
func sampleMem(stop <-chan struct{}, read func() (int64, int), into *memSample) {
	tickUntil(stop, 250*time.Millisecond, func() {
		kb, conns := read()
		into.PeakKB = max(into.PeakKB, kb)
		if conns >= into.Conns {
			into.PlateauKB, into.Conns = kb, conns
		}
	})
}

// tickUntil calls fn every d until stop is closed.
func tickUntil(stop <-chan struct{}, d time.Duration, fn func()) {
	t := time.NewTicker(d)
	defer t.Stop()
	for {
		select {
		case <-stop:
			return
		case <-t.C:
			fn()
		}
	}
}

// waitModels polls GET /v1/models of a mock until it answers 200.
func waitModels(ctx context.Context, p *proc, base string, t0 time.Time) error {
	wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	c := newClient(2 * time.Second)
	defer c.CloseIdleConnections()
	_, err := pollUntil(wctx, p, t0, func(ctx context.Context) (bool, error) {
		code, _, err := get(ctx, c, base+"/v1/models", "")
		return err == nil && code == 200, err
	})
	return err
}

// rssKB is the VmRSS of pid, 0 when unknown.
func rssKB(pid int) int64 {
	m, err := procMem(pid)
	if err != nil {
		return 0
	}
	return m.RSS
}

// countSockets counts the descriptors pid has open. It only lists
// /proc/PID/fd (no readlink per entry: with thousands of connections that
// costs the harness, which also generates the load, enough CPU to show in
// the latencies); the load's figures subtract the count taken before it,
// so the few descriptors that are not sockets cancel out.
func countSockets(pid int) int {
	f, err := os.Open(fmt.Sprintf("/proc/%d/fd", pid))
	if err != nil {
		return 0
	}
	defer f.Close()
	names, _ := f.Readdirnames(-1)
	return len(names)
}

// treeRSSKB is the VmRSS of pid and its children.
func treeRSSKB(pid int) int64 {
	t := rssKB(pid)
	for _, c := range childPIDs(pid) {
		t += rssKB(c)
	}
	return t
}

// treeSockets counts the sockets of pid's children (nginx's workers hold
// the connections; the master only its listener).
func treeSockets(pid int) int {
	t := 0
	for _, c := range childPIDs(pid) {
		t += countSockets(c)
	}
	return t
}

// procTreeCPU is the CPU time of pid and of its children still running.
func procTreeCPU(pid int) (time.Duration, error) { return overTree(pid, procCPU) }

// overTree is f of pid plus f of each of its children (nginx's workers); a
// child that exited since is left out.
func overTree[T int64 | time.Duration](pid int, f func(int) (T, error)) (T, error) {
	t, err := f(pid)
	if err != nil {
		return 0, err
	}
	for _, c := range childPIDs(pid) {
		if d, err := f(c); err == nil {
			t += d
		}
	}
	return t, nil
}
