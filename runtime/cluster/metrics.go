package cluster

import (
	"github.com/prometheus/client_golang/prometheus"
)

// nodeMetrics are the node's Prometheus series, read from its counters at
// scrape time.
type nodeMetrics struct{}

func newMetrics(n *Node, reg prometheus.Registerer) *nodeMetrics {
	if reg == nil {
		return nil
	}
	const ns, sub = "smartrouter", "shared_state"
	b := func(f func() bool) func() float64 {
		return func() float64 {
			if f() {
				return 1
			}
			return 0
		}
	}
	c := func(f func() uint64) func() float64 { return func() float64 { return float64(f()) } }
	reg.MustRegister(
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Namespace: ns, Subsystem: sub, Name: "degraded",
			Help: "1 when Redis did not answer the last ping: this replica serves on its local state only."}, b(n.Degraded)),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Namespace: ns, Subsystem: sub, Name: "leader",
			Help: "1 while this replica holds the leader lease and runs the background tasks."}, b(n.IsLeader)),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Namespace: ns, Subsystem: sub, Name: "messages_sent_total",
			Help: "Messages (batches of changes or signals, snapshot announcements) published."}, c(n.sent.Load)),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Namespace: ns, Subsystem: sub, Name: "messages_received_total",
			Help: "Messages of other replicas received."}, c(n.received.Load)),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Namespace: ns, Subsystem: sub, Name: "changes_dropped_total",
			Help: "Changes not published (queue full or Redis away); running cooldowns are republished at the next re-sync."}, c(n.dropped.Load)),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Namespace: ns, Subsystem: sub, Name: "changes_applied_total",
			Help: "Changes of other replicas applied to the local state."}, c(n.applied.Load)),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Namespace: ns, Subsystem: sub, Name: "resyncs_total",
			Help: "Re-syncs from Redis (at every (re)connection)."}, c(n.resyncs.Load)),
	)
	return &nodeMetrics{}
}
