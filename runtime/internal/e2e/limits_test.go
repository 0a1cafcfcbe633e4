package e2e

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"smartrouter/fixtures/mockllm"
)

// fdLimit is the open-file limit routerd runs under in the flood test.
const fdLimit = 256

// startLimited runs routerd under `ulimit -n fdLimit` (soft and hard, so
// that routerd cannot raise it).
func startLimited(t *testing.T, args ...string) *proc {
	t.Helper()
	args = append([]string{"-addr", "127.0.0.1:0", "-log-format", "json"}, args...)
	sh := "ulimit -n " + strconv.Itoa(fdLimit) + ` && exec "$0" "$@"`
	return startProc(t, exec.Command("sh", append([]string{"-c", sh, routerd}, args...)...))
}

// health asks GET /health on a fresh connection and returns the status.
func health(t *testing.T, url string) int {
	t.Helper()
	c, err := net.Dial("tcp", strings.TrimPrefix(url, "http://"))
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	defer c.Close()
	io.WriteString(c, "GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatalf("health: %v", err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}

// routerd survives four times its open-file limit in idle connections and
// keeps answering: with the default connection cap (under the limit), and
// with a cap above it (accepting then runs out of descriptors, and backs
// off instead of exiting).
func TestIdleConnectionFlood(t *testing.T) {
	mock, err := mockllm.Start(mockllm.Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer mock.Close()
	for _, tc := range []struct {
		name string
		args []string
	}{
		{"default cap", nil},
		{"cap above the fd limit", []string{"-max-conns", "100000"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			snap := filepath.Join(t.TempDir(), "router.snap")
			sp := spec(mock.URL(), 1)
			if err := sp.WriteFile(snap); err != nil {
				t.Fatal(err)
			}
			p := startLimited(t, append([]string{"-snapshot", snap}, tc.args...)...)
			if p.url == "" {
				t.Fatalf("routerd did not start:\n%s", p.logText())
			}
			addr := strings.TrimPrefix(p.url, "http://")
			var flood []net.Conn
			defer func() {
				for _, c := range flood {
					c.Close()
				}
			}()
			for range 4 * fdLimit {
				c, err := net.Dial("tcp", addr)
				if err != nil {
					t.Fatalf("dial %d: %v", len(flood), err)
				}
				flood = append(flood, c)
			}
			if st := health(t, p.url); st != http.StatusOK {
				t.Fatalf("health under the flood: %d\n%s", st, p.logText())
			}
			if tc.args == nil {
				st, _, body := p.chat(hello)
				if st != http.StatusOK || !strings.Contains(body, "chat.completion") {
					t.Fatalf("chat under the flood: %d %s", st, body)
				}
			}
			select {
			case <-p.done:
				t.Fatalf("routerd exited under the flood: %v\n%s", p.err, p.logText())
			default:
			}
			metrics := get(t, p.url+"/metrics")
			want := "smartrouter_connections_refused_total{reason=\"evicted\"}"
			if tc.args != nil {
				want = "smartrouter_accept_backoffs_total"
			}
			if !strings.Contains(metrics, want) || strings.Contains(metrics, want+" 0\n") {
				t.Errorf("metrics do not show %s:\n%s", want, grepLines(metrics, "smartrouter_connections|smartrouter_accept"))
			}
		})
	}
}

func get(t *testing.T, url string) string {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

func grepLines(s, any string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		for _, w := range strings.Split(any, "|") {
			if strings.HasPrefix(l, w) {
				out = append(out, l)
			}
		}
	}
	return fmt.Sprint(out)
}
