package metrics

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

func TestWriteAndLabels(t *testing.T) {
	cool := 3.0
	m := New(Options{Cooldowns: func() float64 { return cool }})
	m.PreRegisterReloadReasons([]string{"corrupt", "stale"})
	m.Request(200, "")
	m.Request(200, "")
	m.Request(404, "model_not_found")
	m.Attempt("ok", 0.01)
	m.Attempt("server", -1)
	m.Overhead(0.0002)
	m.Tokens(10, 5)
	m.Snapshot(7, 2)
	m.Reload(true, "")
	m.Reload(false, "corrupt")
	m.StreamStarted()
	var buf bytes.Buffer
	if err := m.Write(&buf); err != nil {
		t.Fatal(err)
	}
	text := buf.String()
	for _, line := range []string{
		`smartrouter_requests_total{code="",status="200"} 2`,
		`smartrouter_requests_total{code="model_not_found",status="404"} 1`,
		`smartrouter_upstream_attempts_total{result="ok"} 1`,
		`smartrouter_upstream_attempts_total{result="server"} 1`,
		`smartrouter_upstream_latency_seconds_count{result="ok"} 1`,
		`smartrouter_router_overhead_seconds_count 1`,
		`smartrouter_tokens_total{type="prompt"} 10`,
		`smartrouter_tokens_total{type="completion"} 5`,
		`smartrouter_snapshot_generation 7`,
		`smartrouter_snapshot_seq 2`,
		`smartrouter_snapshot_reloads_total{reason="",result="success"} 1`,
		`smartrouter_snapshot_reloads_total{reason="corrupt",result="failure"} 1`,
		`smartrouter_snapshot_reloads_total{reason="stale",result="failure"} 0`,
		`smartrouter_active_cooldowns 3`,
		`smartrouter_active_streams 1`,
	} {
		if !strings.Contains(text, line+"\n") {
			t.Errorf("missing %q in\n%s", line, text)
		}
	}
	if strings.Contains(text, `upstream_latency_seconds_count{result="server"}`) {
		t.Error("a negative latency was observed")
	}
	if !strings.HasPrefix(ContentType(), "text/plain") {
		t.Errorf("content type %q", ContentType())
	}
}

// The metrics live in their own registry: two instances do not collide and
// the process-wide default registry is untouched.
func TestOwnRegistry(t *testing.T) {
	a, b := New(Options{ProcessCollectors: true}), New(Options{ProcessCollectors: true})
	a.Request(200, "")
	if a.Registry() == b.Registry() {
		t.Fatal("shared registry")
	}
	mfs, err := prometheus.DefaultGatherer.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if strings.HasPrefix(mf.GetName(), Namespace+"_") {
			t.Errorf("%s registered in the default registry", mf.GetName())
		}
	}
}

func TestRecordingDoesNotAllocate(t *testing.T) {
	m := New(Options{})
	m.Request(200, "")
	m.Attempt("ok", 0.1)
	n := testing.AllocsPerRun(200, func() {
		m.Request(200, "")
		m.Attempt("ok", 0.1)
		m.Overhead(0.0001)
		m.Tokens(1, 1)
	})
	if n != 0 {
		t.Errorf("%v allocations per request recorded", n)
	}
}

// TestStartPhases: start phases, the first request (recorded once) and the
// snapshot mode read at scrape time.
func TestStartPhases(t *testing.T) {
	m := New(Options{})
	m.StartPhase("snapshot_validate", 0.0007)
	mode := "snapshot"
	m.SnapshotMode(func() string { return mode })
	var firsts []time.Duration
	m.TrackFirstRequest(time.Now().Add(-2*time.Second), func(d time.Duration) { firsts = append(firsts, d) })
	m.Request(200, "")
	m.Request(200, "")
	mode = "stale-snapshot"
	var buf bytes.Buffer
	if err := m.Write(&buf); err != nil {
		t.Fatal(err)
	}
	text := buf.String()
	for _, want := range []string{
		`smartrouter_start_phase_seconds{phase="snapshot_validate"} 0.0007`,
		`smartrouter_start_phase_seconds{phase="first_request"} `,
		`smartrouter_snapshot_mode{mode="stale-snapshot"} 1`,
	} {
		if !strings.Contains(text, want) {
			t.Errorf("metrics lack %q:\n%s", want, text)
		}
	}
	if len(firsts) != 1 || firsts[0] < 2*time.Second {
		t.Errorf("first request callbacks %v, want one of at least 2s", firsts)
	}
}
