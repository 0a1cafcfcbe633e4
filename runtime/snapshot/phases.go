package snapshot

import (
	"context"
	"slices"
	"time"
)

// Start phases, as recorded in Info.StartPhases and exported as metrics.
// The manager records the snapshot phases itself; the JSON fallback build
// records its own through RecordPhase; routerd adds the total start time and
// the time to the first answered request with RecordStartPhase.
const (
	PhaseSnapshotRead     = "snapshot_read"     // open and copy the file (or bundle region) into memory
	PhaseSnapshotValidate = "snapshot_validate" // format.Open: every checksum, reference and bitmap
	PhaseFallbackConfig   = "fallback_config"   // JSON fallback: the YAML, pricing and capability files
	PhaseFallbackCaches   = "fallback_caches"   // JSON fallback: the discovery, pricing and key caches
	PhaseFallbackBuild    = "fallback_build"    // JSON fallback: joining the inputs into a model
	PhaseFallbackEncode   = "fallback_encode"   // JSON fallback: encoding and prewarm lists
	PhaseStartTotal       = "start_total"       // process start to listening
	PhaseFirstRequest     = "first_request"     // process start to the first answered request
)

// Phase is one timed step of the start.
type Phase struct {
	Name    string  `json:"name"`
	Seconds float64 `json:"seconds"`
}

// RecordStartPhase records (or replaces) a start phase.
func (m *Manager) RecordStartPhase(name string, d time.Duration) {
	m.statsMu.Lock()
	defer m.statsMu.Unlock()
	for i := range m.phases {
		if m.phases[i].Name == name {
			m.phases[i].Seconds = d.Seconds()
			return
		}
	}
	m.phases = append(m.phases, Phase{Name: name, Seconds: d.Seconds()})
	slices.SortStableFunc(m.phases, func(a, b Phase) int { return phaseRank(a.Name) - phaseRank(b.Name) })
}

// phaseOrder is the order of the start phases in Info; others go last.
var phaseOrder = []string{PhaseSnapshotRead, PhaseSnapshotValidate, PhaseFallbackConfig, PhaseFallbackCaches,
	PhaseFallbackBuild, PhaseFallbackEncode, PhaseStartTotal, PhaseFirstRequest}

func phaseRank(name string) int {
	if i := slices.Index(phaseOrder, name); i >= 0 {
		return i
	}
	return len(phaseOrder)
}

// StartPhases returns a copy of the recorded start phases, in the order of
// the start (read, validate, fallback phases, total, first request).
func (m *Manager) StartPhases() []Phase {
	m.statsMu.Lock()
	defer m.statsMu.Unlock()
	return append([]Phase(nil), m.phases...)
}

// phase records a snapshot phase while Load runs; reloads are not start
// phases. Called with m.mu held.
func (m *Manager) phase(name string, d time.Duration) {
	if m.loading {
		m.RecordStartPhase(name, d)
	}
}

// Limits are the bounds of the JSON fallback build.
type Limits struct {
	ConfigLoad time.Duration // reading the config files
	CacheLoad  time.Duration // reading the JSON caches
}

// Default bounds of the JSON fallback build, used when the snapshot does not
// set them (format 1.0 files, or performance.yaml without them).
const (
	DefaultConfigLoadTimeout = 15 * time.Second
	DefaultCacheLoadTimeout  = 30 * time.Second
)

// fallbackCtx is what the manager tells the fallback function through its
// context.
type fallbackCtx struct {
	m      *Manager
	limits Limits
	last   bool // limits come from a valid snapshot (else defaults)
}

type fallbackKey struct{}

// withFallback prepares the context of a fallback call. last is the valid
// snapshot that serves if the build fails (the stale file at Load, the
// current snapshot at Reload), or nil.
func (m *Manager) withFallback(ctx context.Context, last *Handle) context.Context {
	fc := &fallbackCtx{m: m, limits: Limits{ConfigLoad: DefaultConfigLoadTimeout, CacheLoad: DefaultCacheLoadTimeout}}
	if last != nil && last.snap != nil {
		st := last.snap.Settings()
		fc.last = true
		if st.ConfigLoadTimeoutMs > 0 {
			fc.limits.ConfigLoad = time.Duration(st.ConfigLoadTimeoutMs) * time.Millisecond
		}
		if st.CacheLoadTimeoutMs > 0 {
			fc.limits.CacheLoad = time.Duration(st.CacheLoadTimeoutMs) * time.Millisecond
		}
	}
	return context.WithValue(ctx, fallbackKey{}, fc)
}

// FallbackLimits returns, inside a call of Options.Fallback, the bounds the
// build should respect: those stored in the last good snapshot (the one that
// serves if the build fails), else the defaults. lastGood says whether such
// a snapshot exists. Outside a fallback call it returns the defaults.
func FallbackLimits(ctx context.Context) (l Limits, lastGood bool) {
	if fc, ok := ctx.Value(fallbackKey{}).(*fallbackCtx); ok {
		return fc.limits, fc.last
	}
	return Limits{ConfigLoad: DefaultConfigLoadTimeout, CacheLoad: DefaultCacheLoadTimeout}, false
}

// RecordPhase records a phase of the fallback build, called from inside
// Options.Fallback with its context; only the build made by Load counts as a
// start phase.
func RecordPhase(ctx context.Context, name string, d time.Duration) {
	if fc, ok := ctx.Value(fallbackKey{}).(*fallbackCtx); ok {
		fc.m.phase(name, d)
	}
}
