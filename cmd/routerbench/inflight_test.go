package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// The nginx configuration is a keep-alive reverse proxy: the directives
// the comparison depends on are there, and nginx itself accepts the file
// (when it is installed).
func TestNginxConf(t *testing.T) {
	dir := t.TempDir()
	conf := nginxConf(dir, "127.0.0.1:18080", "127.0.0.1:18081", 20000)
	for _, want := range []string{
		"worker_processes auto;", "access_log off;", "error_log " + dir + "/error.log",
		"keepalive 1024;", "proxy_http_version 1.1;", `proxy_set_header Connection "";`,
		"proxy_buffering off;", "keepalive_requests 1000000;", "worker_rlimit_nofile 20000;",
	} {
		if !strings.Contains(conf, want) {
			t.Errorf("the nginx config lacks %q:\n%s", want, conf)
		}
	}
	bin := nginxPath()
	if bin == "" {
		if os.Getenv("CI") != "" {
			t.Fatal("nginx is not installed (CI is set): install the nginx package")
		}
		t.Skip("nginx is not installed; the syntax check needs it")
	}
	path := filepath.Join(dir, "nginx.conf")
	if err := os.WriteFile(path, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(bin, "-t", "-e", filepath.Join(dir, "error.log"), "-p", dir, "-c", path).CombinedOutput()
	if err != nil {
		t.Fatalf("nginx -t refused the config: %v\n%s", err, out)
	}
}

func TestShapes(t *testing.T) {
	full := shapes(false, 9750)
	if len(full) != 3 {
		t.Fatalf("%d shapes", len(full))
	}
	if full[0].InFlight() != 1000 || full[1].InFlight() != 1000 || full[2].InFlight() != 9750 || full[2].Rate != 975 {
		t.Errorf("in flight: %d %d %d (rate %d)", full[0].InFlight(), full[1].InFlight(), full[2].InFlight(), full[2].Rate)
	}
	if got := shapes(false, 20000)[2].InFlight(); got != 10000 {
		t.Errorf("the long streams hold %d in flight with room for more, want 10000", got)
	}
	if got := shapes(true, 9750)[2].InFlight(); got != 2000 {
		t.Errorf("quick: %d in flight, want 2000", got)
	}
	// The open-files limit of this machine (20,000) leaves room above the
	// requests in flight for routerd's connection cap ((20,000 - 64) / 2)
	// and the load generator's extra connections.
	for _, tt := range []struct {
		limit uint64
		want  int
	}{{20000, 8000}, {1024, 256}, {65536, 30768}} {
		if got := maxInFlight(tt.limit); got != tt.want {
			t.Errorf("maxInFlight(%d) = %d, want %d", tt.limit, got, tt.want)
		}
	}
}

func TestMemSample(t *testing.T) {
	m := memSample{IdleKB: 20000, PeakKB: 60000, PlateauKB: 50000, Conns: 2000}
	// (50000-20000) KiB over 1000 requests.
	if got := m.PerInFlight(); got != 30000*1024/1000.0 {
		t.Errorf("per request in flight %v", got)
	}
	if (memSample{}).PerInFlight() != 0 {
		t.Error("no descriptors: no figure")
	}
}

// The in-flight rows show routerd and nginx side by side, with the
// verdicts of the targets.
func TestInflightRows(t *testing.T) {
	sh := shapes(false, 9750)
	lr := func(name string, p99 time.Duration, cpu time.Duration) loadResult {
		return loadResult{Target: name, Requests: 3000, Rate: 1000, Dur: 3 * time.Second, Lat: dist{P50: time.Second, P99: p99}, CPUPerReq: cpu}
	}
	res := &results{InFlight: []shapeResult{{
		Shape: sh[0], Mock: lr("mock", time.Second, 0), Routerd: lr("routerd", time.Second+time.Millisecond, 200*time.Microsecond),
		Nginx: lr("nginx", time.Second, 100*time.Microsecond), Added: addedLatency{P99: time.Millisecond}, NAdded: addedLatency{P99: 500 * time.Microsecond},
		RouterdMem: memSample{IdleKB: 20000, PeakKB: 60000, PlateauKB: 50000, Conns: 2000},
	}, {
		Shape: sh[2], Mock: lr("mock", 10*time.Second, 0), Routerd: lr("routerd", 10*time.Second+5*time.Millisecond, 300*time.Microsecond),
		Added:      addedLatency{P99: 5 * time.Millisecond},
		RouterdMem: memSample{IdleKB: 20000, PeakKB: 400000, PlateauKB: 390000, Conns: 19500},
	}}}
	rows := inflightRows(res)
	if len(rows) != 4 {
		t.Fatalf("%d rows", len(rows))
	}
	if rows[0].Verdict != "met; CPU 2.0× nginx's" || !strings.Contains(rows[0].Measured, "**nginx**") {
		t.Errorf("latency row: %+v", rows[0])
	}
	if rows[1].Verdict != "met" {
		t.Errorf("memory at 1,000 in flight: %+v", rows[1])
	}
	if !strings.Contains(rows[2].Verdict, "missed") || !strings.Contains(rows[3].Verdict, "missed") {
		t.Errorf("10-second streams: %+v %+v", rows[2], rows[3])
	}
	var b strings.Builder
	renderInFlight(&b, res)
	if out := b.String(); !strings.Contains(out, "through nginx") || !strings.Contains(out, "added by routerd") {
		t.Errorf("table:\n%s", out)
	}
}
