package metrics

import "github.com/prometheus/client_golang/prometheus"

// Metrics of the server's protection against its own clients: the
// connection cap, accept back-off and memory shedding (see
// docs/operations.md, "Limits and timeouts").

// Reasons a connection is refused or closed by the server, as the values of
// the reason label of connections_refused_total.
const (
	RefusedLimit   = "limit"   // the connection cap was reached and no idle connection could be closed
	RefusedPerIP   = "per_ip"  // the client's address holds its maximum of connections
	RefusedEvicted = "evicted" // an idle connection closed to make room for a new one
)

// limitMetrics are created by New.
type limitMetrics struct {
	refused   *prometheus.CounterVec
	refusedBy map[string]prometheus.Counter
	backoffs  prometheus.Counter
	shed      prometheus.Counter
	memLimit  prometheus.Gauge
	memInUse  prometheus.Gauge
}

func (m *Metrics) newLimitMetrics(openConns func() float64) {
	l := &m.lim
	l.refused = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: Namespace, Name: "connections_refused_total",
		Help: "Client connections closed by the connection limits, by reason (limit, per_ip, evicted).",
	}, []string{"reason"})
	l.refusedBy = map[string]prometheus.Counter{}
	for _, r := range []string{RefusedLimit, RefusedPerIP, RefusedEvicted} {
		l.refusedBy[r] = l.refused.WithLabelValues(r)
	}
	l.backoffs = prometheus.NewCounter(prometheus.CounterOpts{
		Namespace: Namespace, Name: "accept_backoffs_total",
		Help: "Times accepting a connection failed temporarily (out of file descriptors) and the server backed off.",
	})
	l.shed = prometheus.NewCounter(prometheus.CounterOpts{
		Namespace: Namespace, Name: "shed_requests_total",
		Help: "Requests refused with 503 overloaded because memory use was above the high-water mark.",
	})
	l.memLimit = prometheus.NewGauge(prometheus.GaugeOpts{
		Namespace: Namespace, Name: "memory_limit_bytes",
		Help: "The memory limit requests are shed against (0: none).",
	})
	l.memInUse = prometheus.NewGauge(prometheus.GaugeOpts{
		Namespace: Namespace, Name: "memory_in_use_bytes",
		Help: "Memory the Go runtime holds and has not returned to the system, at the last shedding check.",
	})
	m.reg.MustRegister(l.refused, l.backoffs, l.shed, l.memLimit, l.memInUse)
	if openConns != nil {
		m.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Namespace: Namespace, Name: "connections_open",
			Help: "Client connections open now.",
		}, openConns))
	}
}

// ConnRefused counts a connection closed by a limit; reason is one of the
// Refused constants.
func (m *Metrics) ConnRefused(reason string) {
	if c := m.lim.refusedBy[reason]; c != nil {
		c.Inc()
	}
}

// AcceptBackoff counts one temporary accept failure.
func (m *Metrics) AcceptBackoff() { m.lim.backoffs.Inc() }

// Shed counts one request refused for memory.
func (m *Metrics) Shed() { m.lim.shed.Inc() }

// Memory records the memory limit and the last reading of memory in use.
func (m *Metrics) Memory(limit, inUse uint64) {
	m.lim.memLimit.Set(float64(limit))
	m.lim.memInUse.Set(float64(inUse))
}
