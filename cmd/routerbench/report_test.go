package main

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
)

func TestRewriteMarked(t *testing.T) {
	const sec = "## Summary\n\nfigures\n"
	block := beginMarker + "\n## Summary\n\nfigures\n" + endMarker
	tests := []struct {
		name, doc, want string
		err             bool
	}{
		{"empty file", "", "# Benchmarks\n\n" + block + "\n", false},
		{"heading only", "# Benchmarks\n", "# Benchmarks\n\n" + block + "\n", false},
		{"heading and other sections kept", "# Benchmarks\n\n## Snapshot format\n\ntext\n",
			"# Benchmarks\n\n" + block + "\n\n## Snapshot format\n\ntext\n", false},
		{"heading without a final newline", "# Benchmarks", "# Benchmarks\n\n" + block + "\n", false},
		{"no heading", "## Other\n\ntext\n", "# Benchmarks\n\n" + block + "\n\n## Other\n\ntext\n", false},
		{"markers present: only their content changes", "# Benchmarks\n\nintro\n\n" + beginMarker + "\nold\nlines\n" + endMarker + "\n\n## Snapshot format\n",
			"# Benchmarks\n\nintro\n\n" + block + "\n\n## Snapshot format\n", false},
		{"two begin markers", beginMarker + "\n" + beginMarker + "\n" + endMarker, "", true},
		{"end marker alone", "# B\n" + endMarker + "\n", "", true},
		{"end before begin", endMarker + "\nx\n" + beginMarker + "\n", "", true},
	}
	for _, tt := range tests {
		got, err := rewriteMarked(tt.doc, sec)
		if (err != nil) != tt.err {
			t.Errorf("%s: err = %v, want error %v", tt.name, err, tt.err)
			continue
		}
		if got != tt.want {
			t.Errorf("%s:\n got %q\nwant %q", tt.name, got, tt.want)
		}
		if err == nil {
			// A second run with another section replaces only the marked part.
			again, err := rewriteMarked(got, "new\n")
			if err != nil {
				t.Errorf("%s: second rewrite: %v", tt.name, err)
				continue
			}
			if want := strings.Replace(got, block, beginMarker+"\nnew\n"+endMarker, 1); again != want {
				t.Errorf("%s: second rewrite\n got %q\nwant %q", tt.name, again, want)
			}
		}
	}
}

func TestFindKeyAndMetricSum(t *testing.T) {
	var v any
	if err := json.Unmarshal([]byte(`{"status":"healthy","snapshot":{"mode":"json-fallback","seq":3},"list":[{"pairs":4500}]}`), &v); err != nil {
		t.Fatal(err)
	}
	for key, want := range map[string]any{"mode": "json-fallback", "seq": 3.0, "pairs": 4500.0, "status": "healthy"} {
		if got, ok := findKey(v, key); !ok || got != want {
			t.Errorf("findKey(%s) = %v, %v; want %v", key, got, ok, want)
		}
	}
	if _, ok := findKey(v, "missing"); ok {
		t.Error("findKey found a missing key")
	}

	text := `# HELP smartrouter_snapshot_reloads_total Snapshot reloads.
# TYPE smartrouter_snapshot_reloads_total counter
smartrouter_snapshot_reloads_total{reason="",result="success"} 41
smartrouter_snapshot_reloads_total{reason="corrupt",result="failure"} 2
smartrouter_snapshot_reloads_total_extra{result="success"} 100
smartrouter_snapshot_seq 42
`
	if got, ok := metricSum(text, "smartrouter_snapshot_reloads_total", `result="success"`); !ok || got != 41 {
		t.Errorf("metricSum success = %v, %v", got, ok)
	}
	if got, ok := metricSum(text, "smartrouter_snapshot_reloads_total"); !ok || got != 43 {
		t.Errorf("metricSum all = %v, %v", got, ok)
	}
	if got, ok := metricSum(text, "smartrouter_snapshot_seq"); !ok || got != 42 {
		t.Errorf("metricSum unlabelled = %v, %v", got, ok)
	}
	if _, ok := metricSum(text, "smartrouter_nothing"); ok {
		t.Error("metricSum found a missing metric")
	}
}

func TestHolds(t *testing.T) {
	base := loadResult{Rate: 1000, Dur: 2 * time.Second, Requests: 2000, Lat: dist{P99: 3 * time.Millisecond}}
	slow, errs, short := base, base, base
	slow.Lat.P99 = 50 * time.Millisecond
	errs.Errors = 1
	short.Requests = 1800
	for _, tt := range []struct {
		name string
		r    loadResult
		ok   bool
	}{{"held", base, true}, {"p99 at 50 ms", slow, false}, {"one error", errs, false}, {"generator behind", short, false}} {
		if ok, why := holds(tt.r); ok != tt.ok {
			t.Errorf("%s: holds = %v (%s), want %v", tt.name, ok, why, tt.ok)
		}
	}
}

// A synthetic run: one target met, several missed, one not measured.
func TestEvaluateAndRender(t *testing.T) {
	ms := func(v float64) time.Duration { return time.Duration(v * float64(time.Millisecond)) }
	res := &results{
		Machine: machine{CPU: "Test CPU", Cores: 2, GoVersion: "go1.26.8", OS: "linux/amd64"},
		Started: time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC),
		Starts: []startResult{{
			Label: "scale", Fixture: "scale", Mode: "snapshot",
			Runs:   []startRun{{Health: ms(8), Chat: ms(12), IdleRSS: 20000, ChatHWM: 25000}},
			Health: dist{N: 1, Median: ms(8), Min: ms(8), Max: ms(8)},
			Chat:   dist{N: 1, Median: ms(35), Min: ms(35), Max: ms(35)},
		}},
		Overhead: []overheadPair{{
			Mock:    loadResult{Target: "mock", Rate: 1000, Dur: time.Second, Requests: 1000, Lat: dist{P50: ms(0.2), P99: ms(1)}},
			Routerd: loadResult{Target: "routerd", Rate: 1000, Dur: time.Second, Requests: 1000, Errors: 2, Lat: dist{P50: ms(0.6), P99: ms(1.5)}, CPUPerReq: 100 * time.Microsecond},
			Added:   addedLatency{P50: ms(0.4), P99: ms(0.5)},
			Rounds:  1,
		}},
		Compile: compileResult{Wall: dist{N: 1, Median: ms(2000), Min: ms(2000), Max: ms(2000)}, MaxRSSKB: []int64{100000}},
	}
	evaluate(res)
	joined := strings.Join(res.Missed, "\n")
	for _, want := range []string{
		"first chat completion answered (mock upstream, no delay): **missed** by 5.00 ms (1.2× the target)",
		"compile the scale fixture (about 50 MB of JSON caches) with routerc: **missed** by 500 ms (1.3× the target)",
		"p50 **missed** by 100 µs (1.3× the target)",
		"**missed**: 2 errors",
	} {
		if !strings.Contains(joined, want) {
			t.Errorf("missed list lacks %q:\n%s", want, joined)
		}
	}
	if strings.Contains(joined, "`/health` answers 200: **missed**") || strings.Contains(joined, "CPU per proxied request, plain") {
		t.Errorf("a met target is listed as missed:\n%s", joined)
	}
	out := renderReport(res)
	for _, want := range []string{"Machine: Test CPU, 2 cores", "| exec → `/health` answers 200 | ≤ 20 ms | 8.00 ms (8.00 ms–8.00 ms), 1 runs |", "not measured", "Targets missed in this run:"} {
		if !strings.Contains(out, want) {
			t.Errorf("report lacks %q", want)
		}
	}
	if strings.Contains(out, beginMarker) || strings.Contains(out, endMarker) {
		t.Error("the section itself contains a marker")
	}
}

func TestMerge(t *testing.T) {
	a := loadResult{Target: "routerd", Rate: 1000, Dur: time.Second, Requests: 3, Errors: 1, CPU: 30 * time.Millisecond,
		ErrSamples: []string{"status 503"}, lat: ds(1, 2, 3)}
	b := loadResult{Target: "routerd", Rate: 1000, Dur: time.Second, Requests: 2, CPU: 20 * time.Millisecond,
		ErrSamples: []string{"status 503", "EOF"}, lat: ds(10, 20)}
	m := merge([]loadResult{a, b})
	if m.Dur != 2*time.Second || m.Requests != 5 || m.Errors != 1 || m.CPU != 50*time.Millisecond || m.CPUPerReq != 10*time.Millisecond {
		t.Errorf("merge totals = %+v", m)
	}
	if m.Lat.N != 5 || m.Lat.Max != 20 || m.Lat.Median != 3 {
		t.Errorf("merge latencies = %+v", m.Lat)
	}
	if len(m.ErrSamples) != 2 || m.ErrSamples[1] != "EOF" {
		t.Errorf("merge error samples = %v", m.ErrSamples)
	}
	if len(a.lat) != 3 || len(a.ErrSamples) != 1 {
		t.Error("merge changed its first input")
	}
	if got := merge(nil); got.Requests != 0 {
		t.Errorf("merge(nil) = %+v", got)
	}
}

func TestParsePprofShare(t *testing.T) {
	tests := []struct {
		name  string
		out   string
		pct   float64
		total time.Duration
		err   bool
	}{
		{"share", "File: x\nType: cpu\nDuration: 21s, Total samples = 3.91s (18.62%)\nActive filters:\n   focus=a\nShowing nodes accounting for 0.87s, 22.25% of 3.91s total\n      flat  flat%\n", 22.25, 3910 * time.Millisecond, false},
		{"milliseconds", "Duration: 4s, Total samples = 900ms (22.48%)\nShowing nodes accounting for 10ms, 1.11% of 900ms total\n", 1.11, 900 * time.Millisecond, false},
		{"nothing matched", "Focus expression matched no samples\nFile: x\nDuration: 21s, Total samples = 3.91s (18.62%)\n", 0, 0, false},
		{"zero", "Duration: 2s, Total samples = 1s (50%)\nShowing nodes accounting for 0, 0% of 1s total\n", 0, time.Second, false},
		{"garbage", "no profile here", 0, 0, true},
	}
	for _, tt := range tests {
		pct, total, err := parsePprofShare(tt.out)
		if (err != nil) != tt.err || pct != tt.pct || total != tt.total {
			t.Errorf("%s: parsePprofShare = %v, %v, %v; want %v, %v, error %v", tt.name, pct, total, err, tt.pct, tt.total, tt.err)
		}
	}
}

func TestPairedAdded(t *testing.T) {
	ms := func(v float64) time.Duration { return time.Duration(v * float64(time.Millisecond)) }
	round := func(p50, p99 float64) loadResult {
		return loadResult{Requests: 100, Lat: dist{P50: ms(p50), P99: ms(p99)}}
	}
	mock := []loadResult{round(0.2, 1), round(0.2, 1), round(0.2, 1), {}}
	router := []loadResult{round(0.4, 1.5), round(0.5, 30), round(0.45, 1.8), round(9, 9)}
	got := pairedAdded(mock, router)
	// Differences 0.2, 0.3, 0.25 (p50) and 0.5, 29, 0.8 (p99); the empty
	// round is skipped and the noisy one does not decide the median.
	if got.P50 != ms(0.25) || got.P99 != ms(0.8) {
		t.Errorf("pairedAdded = %+v", got)
	}
	if got := pairedAdded(nil, router); got != (addedLatency{}) {
		t.Errorf("pairedAdded without mock rounds = %+v", got)
	}
}

func TestMessagesRow(t *testing.T) {
	us := func(v int) time.Duration { return time.Duration(v) * time.Microsecond }
	chat := loadResult{Target: "routerd", Requests: 1000, CPUPerReq: us(100)}
	tests := []struct {
		name          string
		msgs          loadResult
		ratios        []float64
		verdict, meas string
	}{
		{"within the target", loadResult{Target: "routerd-messages", Requests: 1000, CPUPerReq: us(110)}, []float64{1.05, 1.15},
			"met", "1.10× (110 µs vs 100 µs per request; per round 1.05×–1.15× over 2 rounds), 0 errors"},
		{"over the target", loadResult{Target: "routerd-messages", Requests: 1000, CPUPerReq: us(150)}, []float64{1.5},
			"**missed** by 0.30× (1.2× the target)", "1.50× (150 µs vs 100 µs per request), 0 errors"},
		{"errors miss whatever the CPU", loadResult{Target: "routerd-messages", Requests: 1000, Errors: 3, CPUPerReq: us(90)}, nil,
			"**missed**: 3 errors", "0.90× (90.0 µs vs 100 µs per request), 3 errors"},
		{"did not run", loadResult{Err: "interrupted"}, nil, notMeasured, notMeasured + ": interrupted"},
	}
	for _, tt := range tests {
		p := &overheadPair{Routerd: chat, Messages: tt.msgs, MsgRatios: tt.ratios}
		r := messagesRow(p, "plain", 1000)
		if r.Verdict != tt.verdict || r.Measured != tt.meas || r.Target != "≤ 1.2×" {
			t.Errorf("%s: verdict %q, measured %q", tt.name, r.Verdict, r.Measured)
		}
	}
	// The row is part of the summary and its miss is listed.
	res := &results{Overhead: []overheadPair{{Mock: loadResult{Requests: 1}, Routerd: chat,
		Messages: loadResult{Target: "routerd-messages", Rate: 1000, Dur: time.Second, Requests: 1000, CPUPerReq: us(150)}}}}
	evaluate(res)
	if joined := strings.Join(res.Missed, "\n"); !strings.Contains(joined, "`/v1/messages` request over chat completions', plain") {
		t.Errorf("missed list lacks the Messages row:\n%s", joined)
	}
	if out := renderReport(res); !strings.Contains(out, "| plain | through routerd, as `/v1/messages` | 1000/s for 1.00 s | 1000 | 0 |") {
		t.Errorf("overhead table lacks the Messages load:\n%s", out)
	}
}

func TestCPURatios(t *testing.T) {
	us := func(v int) loadResult { return loadResult{CPUPerReq: time.Duration(v) * time.Microsecond} }
	got := cpuRatios([]loadResult{us(120), us(90), {}, us(50)}, []loadResult{us(100), us(100), us(100)})
	if len(got) != 2 || got[0] != 1.2 || got[1] != 0.9 {
		t.Errorf("cpuRatios = %v, want [1.2 0.9] (the empty and the unpaired round skipped)", got)
	}
}

func TestCheckMessages(t *testing.T) {
	tests := []struct {
		name   string
		code   int
		body   string
		stream bool
		ok     bool
	}{
		{"message", 200, `{"id":"msg_1","type":"message","role":"assistant","content":[{"type":"text","text":"hi"}]}`, false, true},
		{"chat answer is not a message", 200, `{"choices":[]}`, false, false},
		{"error status", 400, `{"type":"error","error":{"type":"invalid_request_error","message":"x"}}`, false, false},
		{"stream", 200, "event: message_start\ndata: {}\n\nevent: content_block_delta\ndata: {}\n\nevent: message_stop\ndata: {\"type\":\"message_stop\"}\n\n", true, true},
		{"stream cut before message_stop", 200, "event: message_start\ndata: {}\n\nevent: content_block_delta\ndata: {}\n\n", true, false},
		{"stream without deltas", 200, "event: message_start\ndata: {}\n\nevent: message_stop\ndata: {}\n\n", true, false},
	}
	for _, tt := range tests {
		if why := checkMessages(tt.code, "", []byte(tt.body), tt.stream); (why == "") != tt.ok {
			t.Errorf("%s: checkMessages = %q, want ok %v", tt.name, why, tt.ok)
		}
	}
	if why := checkMessages(0, "connection refused", nil, false); why != "connection refused" {
		t.Errorf("transport error: %q", why)
	}
}
