// Package metrics holds routerd's Prometheus metrics in a registry of their
// own (never the process-wide default), with recording methods cheap enough
// for the request path: every labelled series a request can touch is looked
// up once and kept, so recording is an atomic add or a histogram observation,
// without allocating. Write renders the registry in the Prometheus text
// format for GET /metrics.
package metrics

import (
	"bytes"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/common/expfmt"
)

// Namespace prefixes every metric name.
const Namespace = "smartrouter"

// ContentType is the Content-Type of Write's output.
var contentType = string(expfmt.NewFormat(expfmt.TypeTextPlain))

// ContentType returns the Content-Type of the text exposition format.
func ContentType() string { return contentType }

// Buckets of the latency histograms, in seconds. The overhead histogram
// starts much lower: router time is counted in microseconds.
var (
	upstreamBuckets = []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 120}
	overheadBuckets = []float64{.00005, .0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1}
)

// Metrics are the counters, gauges and histograms of one routerd process.
// All methods are safe for concurrent use.
type Metrics struct {
	reg *prometheus.Registry

	requests  *prometheus.CounterVec // status, code
	reqMu     sync.RWMutex
	reqCache  map[reqKey]prometheus.Counter
	attempts  *prometheus.CounterVec // result
	attemptBy sync.Map               // result string -> prometheus.Counter (rarely new)
	upstream  *prometheus.HistogramVec
	upBy      sync.Map // result string -> prometheus.Observer
	overhead  prometheus.Histogram
	tokens    *prometheus.CounterVec
	prompt    prometheus.Counter
	complet   prometheus.Counter
	streams   prometheus.Gauge
	gen       prometheus.Gauge
	seq       prometheus.Gauge
	reloads   *prometheus.CounterVec // result, reason
	lim       limitMetrics
	lab       labelMetrics         // by channel and model (labels.go)
	phases    *prometheus.GaugeVec // phase

	firstPending atomic.Bool // TrackFirstRequest armed and no request answered yet
	firstStart   time.Time
	firstDone    func(time.Duration)
}

type reqKey struct {
	status int
	code   string
}

// Options tune New.
type Options struct {
	// Cooldowns, when set, is called at every scrape for the number of
	// active cooldowns (channels plus pairs cooling down now).
	Cooldowns func() float64
	// OpenConns, when set, is called at every scrape for the number of open
	// client connections.
	OpenConns func() float64
	// ProcessCollectors adds the Go runtime and process collectors
	// (goroutines, memory, CPU, open files).
	ProcessCollectors bool
}

// New builds the metrics in a fresh registry.
func New(opts Options) *Metrics {
	m := &Metrics{reg: prometheus.NewRegistry(), reqCache: make(map[reqKey]prometheus.Counter)}
	m.requests = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: Namespace, Name: "requests_total",
		Help: "Chat completion requests answered, by HTTP status and error code (empty on success).",
	}, []string{"status", "code"})
	m.attempts = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: Namespace, Name: "upstream_attempts_total",
		Help: "Upstream attempts, by result (ok or the failure class).",
	}, []string{"result"})
	m.upstream = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Namespace: Namespace, Name: "upstream_latency_seconds",
		Help:    "Time from sending an attempt to its full answer (non-stream) or first chunk (stream), by result.",
		Buckets: upstreamBuckets,
	}, []string{"result"})
	m.overhead = prometheus.NewHistogram(prometheus.HistogramOpts{
		Namespace: Namespace, Name: "router_overhead_seconds",
		Help:    "Time spent in the router per chat request, upstream time excluded.",
		Buckets: overheadBuckets,
	})
	m.tokens = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: Namespace, Name: "tokens_total",
		Help: "Tokens reported by upstream usage objects, by type.",
	}, []string{"type"})
	m.prompt = m.tokens.WithLabelValues("prompt")
	m.complet = m.tokens.WithLabelValues("completion")
	m.streams = prometheus.NewGauge(prometheus.GaugeOpts{
		Namespace: Namespace, Name: "active_streams",
		Help: "Streaming answers being relayed now.",
	})
	m.gen = prometheus.NewGauge(prometheus.GaugeOpts{
		Namespace: Namespace, Name: "snapshot_generation",
		Help: "Compile generation of the snapshot serving now (0: none).",
	})
	m.seq = prometheus.NewGauge(prometheus.GaugeOpts{
		Namespace: Namespace, Name: "snapshot_seq",
		Help: "Snapshots published by this process, the first load included.",
	})
	m.reloads = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: Namespace, Name: "snapshot_reloads_total",
		Help: "Snapshot reloads, by result (success, failure) and failure reason.",
	}, []string{"result", "reason"})
	m.phases = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Namespace: Namespace, Name: "start_phase_seconds",
		Help: "Duration of each step of this process's start: snapshot_read, snapshot_validate, fallback_config, fallback_caches, fallback_build, fallback_encode, start_total, first_request.",
	}, []string{"phase"})
	m.reg.MustRegister(m.requests, m.attempts, m.upstream, m.overhead, m.tokens, m.streams, m.gen, m.seq, m.reloads, m.phases)
	m.newLimitMetrics(opts.OpenConns)
	m.newLabelMetrics()
	if opts.Cooldowns != nil {
		m.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Namespace: Namespace, Name: "active_cooldowns",
			Help: "Channels and (channel, model) pairs cooling down now.",
		}, opts.Cooldowns))
	}
	if opts.ProcessCollectors {
		m.reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	}
	return m
}

// Registry returns the registry (for tests and extra collectors).
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// PreRegisterReloadReasons creates the failure series of every reason at
// zero, so dashboards see them before the first failure.
func (m *Metrics) PreRegisterReloadReasons(reasons []string) {
	m.reloads.WithLabelValues("success", "")
	for _, r := range reasons {
		m.reloads.WithLabelValues("failure", r)
	}
}

// Request counts one answered chat request.
func (m *Metrics) Request(status int, code string) {
	k := reqKey{status, code}
	m.reqMu.RLock()
	c := m.reqCache[k]
	m.reqMu.RUnlock()
	if c == nil {
		c = m.requests.WithLabelValues(strconv.Itoa(status), code)
		m.reqMu.Lock()
		m.reqCache[k] = c
		m.reqMu.Unlock()
	}
	c.Inc()
	if m.firstPending.Load() {
		m.firstRequest()
	}
}

// StartPhase records the duration of one step of the start, in seconds.
func (m *Metrics) StartPhase(phase string, seconds float64) {
	m.phases.WithLabelValues(phase).Set(seconds)
}

// TrackFirstRequest arms the first_request start phase: the first Request
// after it records the time since start and calls done (which may be nil)
// with it, once.
func (m *Metrics) TrackFirstRequest(start time.Time, done func(time.Duration)) {
	m.firstStart, m.firstDone = start, done
	m.firstPending.Store(true)
}

func (m *Metrics) firstRequest() {
	if !m.firstPending.CompareAndSwap(true, false) {
		return
	}
	d := time.Since(m.firstStart)
	m.StartPhase("first_request", d.Seconds())
	if m.firstDone != nil {
		m.firstDone(d)
	}
}

// SnapshotMode registers smartrouter_snapshot_mode{mode}: 1 for the mode of
// the snapshot serving, read from mode at every scrape (snapshot, bundled,
// json-fallback, stale-snapshot, demo, embedded). Call it once.
func (m *Metrics) SnapshotMode(mode func() string) {
	m.reg.MustRegister(&modeCollector{mode: mode, desc: prometheus.NewDesc(
		prometheus.BuildFQName(Namespace, "", "snapshot_mode"),
		"Where the snapshot serving now came from (1 for the current mode); stale-snapshot and demo deserve an alert.",
		[]string{"mode"}, nil)})
}

type modeCollector struct {
	mode func() string
	desc *prometheus.Desc
}

func (c *modeCollector) Describe(ch chan<- *prometheus.Desc) { ch <- c.desc }

func (c *modeCollector) Collect(ch chan<- prometheus.Metric) {
	if mode := c.mode(); mode != "" {
		ch <- prometheus.MustNewConstMetric(c.desc, prometheus.GaugeValue, 1, mode)
	}
}

// Attempt counts one upstream attempt and observes its latency in seconds
// (a negative latency is not observed: the attempt never reached the
// upstream). result is "ok" or a failure class name.
func (m *Metrics) Attempt(result string, seconds float64) {
	c, ok := m.attemptBy.Load(result)
	if !ok {
		c, _ = m.attemptBy.LoadOrStore(result, m.attempts.WithLabelValues(result))
	}
	c.(prometheus.Counter).Inc()
	if seconds < 0 {
		return
	}
	o, ok := m.upBy.Load(result)
	if !ok {
		o, _ = m.upBy.LoadOrStore(result, m.upstream.WithLabelValues(result))
	}
	o.(prometheus.Observer).Observe(seconds)
}

// Overhead observes the router time of one request, in seconds.
func (m *Metrics) Overhead(seconds float64) { m.overhead.Observe(seconds) }

// Tokens adds the usage of one answer.
func (m *Metrics) Tokens(prompt, completion int64) {
	if prompt > 0 {
		m.prompt.Add(float64(prompt))
	}
	if completion > 0 {
		m.complet.Add(float64(completion))
	}
}

// StreamStarted and StreamEnded track the streams being relayed.
func (m *Metrics) StreamStarted() { m.streams.Inc() }

// StreamEnded is the counterpart of StreamStarted.
func (m *Metrics) StreamEnded() { m.streams.Dec() }

// Snapshot records the snapshot now serving.
func (m *Metrics) Snapshot(generation, seq uint64) {
	m.gen.Set(float64(generation))
	m.seq.Set(float64(seq))
}

// Reload counts one reload; reason is empty on success.
func (m *Metrics) Reload(success bool, reason string) {
	if success {
		m.reloads.WithLabelValues("success", "").Inc()
		return
	}
	m.reloads.WithLabelValues("failure", reason).Inc()
}

// Write appends the registry in the Prometheus text format to buf.
func (m *Metrics) Write(buf *bytes.Buffer) error {
	m.RankModels()
	mfs, err := m.reg.Gather()
	if err != nil {
		return fmt.Errorf("gather metrics: %w", err)
	}
	enc := expfmt.NewEncoder(buf, expfmt.NewFormat(expfmt.TypeTextPlain))
	for _, mf := range mfs {
		if err := enc.Encode(mf); err != nil {
			return fmt.Errorf("encode metric family %s: %w", mf.GetName(), err)
		}
	}
	return nil
}
