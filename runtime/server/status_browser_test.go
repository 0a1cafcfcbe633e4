package server

import (
	"context"
	"flag"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"smartrouter/format"
	"smartrouter/runtime/internal/servertest"
)

// The status page in a real browser: Debian's chromium, headless, driven by
// chromedp, against routerd and the mock upstream on loopback ports.
//
//	go test ./runtime/server -run TestStatusPageInBrowser -screenshots
//
// also writes docs/images/status-overview.png and status-route.png (from
// TestStatusPageUsage, whose channels mirror the demo's).

var screenshots = flag.Bool("screenshots", false, "write the status page screenshots into docs/images")

// Strings from upstreams that must be shown as text, never run: a model id
// and a channel name, each setting window.__xss if it ever ran.
const (
	xssModel = `<script>window.__xss="model"</script>`
	xssName  = `<img src=x onerror="window.__xss='name'">Channel X`
)

// chromium returns the path of the browser, or skips the test when it is
// missing (fails under CI, which installs it).
func chromium(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("CI") != "" {
		t.Fatal("chromium is not installed: .ci/run installs Debian's chromium package; the status page browser tests need it")
	}
	t.Skip("chromium is not installed (apt-get install chromium); skipping the status page browser tests")
	return ""
}

// browser is one headless chromium with a temporary profile, and the console
// messages of its tab.
type browser struct {
	t   *testing.T
	ctx context.Context
	mu  sync.Mutex
	log []chromedp.ConsoleMessage
}

func newBrowser(t *testing.T) *browser {
	t.Helper()
	exe := chromium(t)
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(exe),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.NoSandbox, // tests run as root in CI containers
		chromedp.DisableGPU,
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.WindowSize(1280, 1100),
	)
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelTab := chromedp.NewContext(actx)
	// A bound against a hung browser, not a speed assertion.
	ctx, cancelTime := context.WithTimeout(ctx, 3*time.Minute)
	t.Cleanup(func() { cancelTime(); cancelTab(); cancelAlloc() })
	b := &browser{t: t, ctx: ctx}
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("start chromium (%s): %v", exe, err)
	}
	msgs := chromedp.Console(ctx)
	go func() {
		for m, err := range msgs {
			if err != nil {
				return
			}
			b.mu.Lock()
			b.log = append(b.log, m)
			b.mu.Unlock()
		}
	}()
	return b
}

// problems returns the console errors and uncaught exceptions so far. Failed
// loads (the 401 that makes the page ask for the token) are the network's
// log entries, not the page's, and are left out.
func (b *browser) problems() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []string
	for _, m := range b.log {
		if (m.Type == chromedp.ConsoleError || m.IsException()) && m.Source != "network" {
			out = append(out, m.String())
		}
	}
	return out
}

func (b *browser) do(what string, steps ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	if err := chromedp.Do(b.ctx, steps...); err != nil {
		b.t.Fatalf("%s: %v (console: %v)", what, err, b.problems())
	}
}

// wait polls a JavaScript expression until it is truthy.
func (b *browser) wait(what, expr string) {
	b.t.Helper()
	if _, err := chromedp.Run(b.ctx, chromedp.Poll[bool]("!!("+expr+")",
		chromedp.WithPollingInterval(50*time.Millisecond), chromedp.WithPollingTimeout(time.Minute))); err != nil {
		b.t.Fatalf("waiting for %s: %v (console: %v)", what, err, b.problems())
	}
}

func evalJS[T any](b *browser, expr string) T {
	b.t.Helper()
	v, err := chromedp.Run(b.ctx, chromedp.Evaluate[T](expr))
	if err != nil {
		b.t.Fatalf("evaluate %s: %v", expr, err)
	}
	return v
}

// rowText is the text of the channel table's row of a channel.
func rowText(b *browser, id string) string {
	return evalJS[string](b, `(() => { const r = [...document.querySelectorAll("#channels tbody tr")].find(r => r.dataset.channel === `+
		jsQuote(id)+`); return r ? r.textContent : "" })()`)
}

func jsQuote(s string) string {
	var sb strings.Builder
	sb.WriteByte('"')
	for _, r := range s {
		switch {
		case r == '"' || r == '\\':
			sb.WriteByte('\\')
			sb.WriteRune(r)
		case r < 0x20 || r == '<' || r == '>':
			sb.WriteString(`\u00`)
			sb.WriteByte("0123456789abcdef"[r>>4])
			sb.WriteByte("0123456789abcdef"[r&15])
		default:
			sb.WriteRune(r)
		}
	}
	sb.WriteByte('"')
	return sb.String()
}

// statusSpec adds ch-x to the base spec: a channel whose name and model id
// are HTML, tagged free, whose upstream key makes the mock answer 500.
func statusSpec(s *servertest.Spec) {
	s.Channels = append(s.Channels, servertest.Channel{ID: "ch-x", Name: xssName, Provider: "mock",
		BaseURL: s.Channels[0].BaseURL, Key: format.Secret{Env: "KEY_X"}, Priority: 5, Tags: []string{"free", "xss"},
		Models: []servertest.Model{{ID: xssModel, In: 0, Out: 0, Ctx: 32_000}}})
}

var statusEnv = map[string]string{"KEY_A": keyA, "KEY_B": keyB, "KEY_C": keyC, "KEY_X": "key-fail-500",
	"ROUTER_TOKEN": "client-token-1", "ADMIN_TOKEN": "admin-token-1"}

// The page loads without a console error, lists the channels, shows a
// cooldown after a failing request, explains tag:free, and shows HTML from
// upstreams as text without running it.
func TestStatusPageInBrowser(t *testing.T) {
	b := newBrowser(t)
	h := start(t, harnessOpt{env: statusEnv, spec: statusSpec})

	b.do("open the page", chromedp.Navigate(h.url+PathStatus))
	b.wait("the channel table", `document.querySelectorAll("#channels tbody tr[data-channel]").length === 4`)
	for _, id := range []string{"ch-a", "ch-b", "ch-c", "ch-x"} {
		if txt := rowText(b, id); !strings.Contains(txt, id) {
			t.Errorf("channel table row of %s: %q", id, txt)
		}
	}
	if txt := rowText(b, "ch-a"); !strings.Contains(txt, "Channel A") || !strings.Contains(txt, "mock") || !strings.Contains(txt, "none") {
		t.Errorf("ch-a row before any traffic: %q", txt)
	}
	b.wait("the snapshot summary", `document.querySelector("#snap").textContent.includes("Generation")`)

	// A failing request: its pair cools down and the table says so.
	if a := h.chat(`{"model":"tag:xss","messages":[{"role":"user","content":"hi"}]}`, nil); a.status < 500 {
		t.Fatalf("request to the failing channel: %d %s", a.status, a.body)
	}
	for range 3 {
		if a := h.chat(freeModel, nil); a.status != 200 {
			t.Fatalf("chat: %d %s", a.status, a.body)
		}
	}
	b.do("reload", chromedp.Navigate(h.url+PathStatus))
	b.wait("the cooldown of ch-x", `[...document.querySelectorAll("#channels tr[data-channel=ch-x] .cool")].some(e => e.textContent.includes("server"))`)
	if txt := rowText(b, "ch-x"); !strings.Contains(txt, xssModel+": server until ") || !strings.Contains(txt, xssName) {
		t.Errorf("ch-x row after a 500: %q", txt)
	}

	// The route explorer on tag:free: ch-c's models are the candidates (the
	// channel is tagged free), the cooling pair of ch-x is filtered with its
	// reason.
	b.do("explain tag:free",
		chromedp.SetValue(chromedp.ID("route-model"), "tag:free"),
		chromedp.Click(chromedp.CSS(`#route-form button[type=submit]`)))
	b.wait("the candidates", `!document.querySelector("#route-result").hidden && document.querySelectorAll("#route-candidates tbody tr").length > 0`)
	cands := evalJS[[]string](b, `[...document.querySelectorAll("#route-candidates tbody tr")].map(r => r.cells[1].textContent + " " + r.cells[2].textContent)`)
	if len(cands) != 2 || !slices.Contains(cands, "ch-c qwen/qwen3-8b:free") || !slices.Contains(cands, "ch-c text-only-1") {
		t.Errorf("candidates of tag:free: %q", cands)
	}
	filtered := evalJS[[]string](b, `[...document.querySelectorAll("#route-filtered tbody tr")].map(r => [...r.cells].map(c => c.textContent).join("|"))`)
	if len(filtered) != 1 || !strings.HasPrefix(filtered[0], "ch-x|"+xssModel+"|pair_cooling|server for ") {
		t.Errorf("filtered pairs of tag:free: %q", filtered)
	}
	if out := evalJS[string](b, `document.querySelector("#route-outcome").textContent`); !strings.HasPrefix(out, "routed: 2 candidates, 1 filtered") {
		t.Errorf("route outcome line: %q", out)
	}

	// The failed request in the recent requests: the model used shown as text.
	b.wait("the failed request in the tail", `[...document.querySelectorAll("#tail tbody td")].some(td => td.textContent === `+jsQuote(xssModel)+`)`)

	// Nothing from upstreams ran or became markup.
	if v := evalJS[string](b, `String(window.__xss)`); v != "undefined" {
		t.Errorf("a string from an upstream ran as code: window.__xss = %q", v)
	}
	if n := evalJS[int](b, `document.querySelectorAll("main img, main script").length + document.scripts.length`); n != 1 {
		t.Errorf("%d script or img elements, want only the page's own script", n)
	}

	if p := b.problems(); len(p) > 0 {
		t.Errorf("console errors or exceptions: %q", p)
	}
}

// With admin auth on, the page asks for the token, refuses a wrong one, and
// works with the right one, which it sends as a header, never in a URL.
func TestStatusPageAdminAuth(t *testing.T) {
	b := newBrowser(t)
	h := start(t, harnessOpt{env: statusEnv, spec: func(s *servertest.Spec) {
		statusSpec(s)
		s.Settings.AdminEnabled, s.Settings.AdminToken = true, format.Secret{Env: "ADMIN_TOKEN"}
	}})
	b.do("open the page", chromedp.Navigate(h.url+PathStatus))
	b.wait("the login form", `!document.querySelector("#login").hidden && document.querySelector("#main").hidden`)
	if n := evalJS[int](b, `document.querySelectorAll("#channels tbody tr").length`); n != 0 {
		t.Errorf("the channel table has %d rows before the token was given", n)
	}
	b.do("a wrong token",
		chromedp.SetValue(chromedp.ID("token"), "wrong-token"),
		chromedp.Click(chromedp.CSS(`#login-form button[type=submit]`)))
	b.wait("the refusal", `document.querySelector("#login-error").textContent.includes("refused")`)
	b.do("the admin token",
		chromedp.SetValue(chromedp.ID("token"), "admin-token-1"),
		chromedp.Click(chromedp.CSS(`#login-form button[type=submit]`)))
	b.wait("the channel table", `document.querySelectorAll("#channels tbody tr[data-channel]").length === 4`)
	if loc := evalJS[string](b, `location.href`); strings.Contains(loc, "admin-token-1") {
		t.Errorf("the token is in the URL: %s", loc)
	}
	// A reload keeps the token of this tab.
	b.do("reload", chromedp.Navigate(h.url+PathStatus))
	b.wait("the channel table after a reload", `document.querySelectorAll("#channels tbody tr[data-channel]").length === 4`)
	if p := b.problems(); len(p) > 0 {
		t.Errorf("console errors or exceptions: %q", p)
	}
}

// write writes a screenshot.
func (b *browser) write(path string, png []byte) {
	b.t.Helper()
	if err := os.WriteFile(path, png, 0o644); err != nil {
		b.t.Fatal(err)
	}
	b.t.Logf("wrote %s", path)
}

// demoSpec mirrors the channels of the demo installation (fixtures/demo) on
// the test's mock: mock_flaky answers 500, mock_free is tagged free.
func demoSpec(s *servertest.Spec) {
	url := s.Channels[0].BaseURL
	mini := servertest.Model{ID: "gpt-4o-mini", In: 150_000, Out: 600_000, Ctx: 128_000}
	large := servertest.Model{ID: "mock-large", In: 1_000_000, Out: 3_000_000, Ctx: 200_000}
	s.Channels = []servertest.Channel{
		{ID: "mock_flaky", Name: "Mock (always 500)", Provider: "mock", BaseURL: url, Key: format.Secret{Env: "KEY_X"},
			Priority: 1, Tags: []string{"demo", "cheap"}, Models: []servertest.Model{{ID: "gpt-4o-mini", In: 100_000, Out: 400_000, Ctx: 128_000}}},
		{ID: "mock_main", Name: "Mock main", Provider: "mock", BaseURL: url, Key: format.Secret{Env: "KEY_A"},
			Priority: 1, Weight: 2, Tags: []string{"demo", "main"}, Models: []servertest.Model{mini, large}},
		{ID: "mock_free", Name: "Mock free tier", Provider: "mock", BaseURL: url, Key: format.Secret{Env: "KEY_C"},
			Priority: 2, Tags: []string{"demo", "free"}, Models: []servertest.Model{
				{ID: "qwen/qwen3-8b:free", Ctx: 32_000}, {ID: "llama-3.1-8b-instant:free", Ctx: 128_000}}},
	}
}

// After a few requests the usage charts, the channels' counts of today and
// the recent requests show them, as the usage API has them.
func TestStatusPageUsage(t *testing.T) {
	b := newBrowser(t)
	h := start(t, harnessOpt{env: statusEnv, spec: demoSpec})
	sent := []struct {
		model   string
		channel string
	}{
		{"gpt-4o-mini", "mock_main"}, // after mock_flaky's 500
		{"tag:free", "mock_free"}, {"qwen/qwen3-8b:free", "mock_free"}, {"mock-large", "mock_main"},
		{"gpt-4o-mini", "mock_main"}, {"llama-3.1-8b-instant:free", "mock_free"}, {"tag:free", "mock_free"},
	}
	perChannel, perModel := map[string]int{}, map[string]int{}
	for _, r := range sent {
		a := h.chat(`{"model":"`+r.model+`","messages":[{"role":"user","content":"hi"}]}`, nil)
		if a.status != 200 || a.header.Get(HeaderChannel) != r.channel {
			t.Fatalf("%s: %d via %q %s", r.model, a.status, a.header.Get(HeaderChannel), a.body)
		}
		perChannel[r.channel]++
		perModel[a.header.Get(HeaderModel)]++
	}

	b.do("open the page", chromedp.Navigate(h.url+PathStatus))
	b.wait("the usage chart by channel", `document.querySelectorAll("#chart-channel rect.bar").length > 0`)
	b.wait("the recent requests", `document.querySelectorAll("#tail tbody tr td.id").length > 0`)
	series := evalJS[[]string](b, `[...new Set([...document.querySelectorAll("#chart-channel rect.bar")].map(r => r.dataset.series))].sort()`)
	if !slices.Equal(series, []string{"mock_free", "mock_main"}) {
		t.Errorf("chart series by channel: %q", series)
	}
	legend := evalJS[string](b, `document.querySelector("#chart-channel .legend").textContent`)
	for ch, n := range perChannel {
		if want := ch + " " + strconv.Itoa(n) + " req"; !strings.Contains(legend, want) {
			t.Errorf("legend by channel %q lacks %q", legend, want)
		}
	}
	models := evalJS[string](b, `document.querySelector("#chart-model .legend").textContent`)
	for m, n := range perModel {
		if want := m + " " + strconv.Itoa(n) + " req"; !strings.Contains(models, want) {
			t.Errorf("legend by model %q lacks %q", models, want)
		}
	}
	b.wait("today's counts", `document.querySelector("#channels tr[data-channel=mock_free]").cells[5].textContent === "`+strconv.Itoa(perChannel["mock_free"])+`"`)
	tail := evalJS[[]string](b, `[...document.querySelectorAll("#tail tbody tr")].map(r => r.cells[3].textContent + ">" + r.cells[4].textContent)`)
	if len(tail) != len(sent) {
		t.Fatalf("recent requests: %q, want %d rows", tail, len(sent))
	}
	for i, r := range sent { // newest first
		if got, want := tail[len(sent)-1-i], r.model+">"+r.channel; got != want {
			t.Errorf("recent request %d: %q, want %q", i, got, want)
		}
	}
	b.wait("the request totals", `document.querySelector("#traffic").textContent.includes("7 requests, 0 errors") && `+
		`document.querySelector("#traffic").textContent.includes("Last 24 h7 requests, 0 errors")`)
	// Two more requests, one failing: the next reading gives the rates.
	if a := h.chat(freeModel, nil); a.status != 200 {
		t.Fatalf("chat: %d %s", a.status, a.body)
	}
	if a := h.chat(`{"model":"no-such-model","messages":[{"role":"user","content":"hi"}]}`, nil); a.status != 404 {
		t.Fatalf("unknown model: %d %s", a.status, a.body)
	}
	b.wait("the rates", `document.querySelector("#traffic").textContent.includes("9 requests, 1 errors")`)
	if txt := evalJS[string](b, `document.querySelector("#traffic").textContent`); !strings.Contains(txt, "req/min (last ") ||
		!strings.Contains(txt, "50.0 % of them") {
		t.Errorf("traffic after a second reading: %q", txt)
	}
	if txt := rowText(b, "mock_flaky"); !strings.Contains(txt, "gpt-4o-mini: server until ") {
		t.Errorf("mock_flaky after its 500: %q", txt)
	}
	b.do("explain tag:free",
		chromedp.SetValue(chromedp.ID("route-model"), "tag:free"),
		chromedp.Click(chromedp.CSS(`#route-form button[type=submit]`)))
	b.wait("the candidates", `document.querySelectorAll("#route-candidates tbody tr").length === 2`)

	if *screenshots {
		dir := filepath.Join("..", "..", "docs", "images")
		png, err := chromedp.Run(b.ctx, chromedp.Screenshot(chromedp.CSS(`body`)))
		if err != nil {
			t.Fatal(err)
		}
		b.write(filepath.Join(dir, "status-overview.png"), png)
		png, err = chromedp.Run(b.ctx, chromedp.Screenshot(chromedp.CSS(`section[aria-labelledby=route-h]`)))
		if err != nil {
			t.Fatal(err)
		}
		b.write(filepath.Join(dir, "status-route.png"), png)
	}

	// A phone-sized window: the page does not scroll sideways (wide tables
	// scroll inside their own box).
	b.do("a narrow window", chromedp.EmulateViewport(360, 740))
	b.wait("the narrow layout", `window.innerWidth === 360`)
	if w := evalJS[int](b, `document.documentElement.scrollWidth`); w > 360 {
		t.Errorf("at 360 px the page is %d px wide", w)
	}
	if p := b.problems(); len(p) > 0 {
		t.Errorf("console errors or exceptions: %q", p)
	}
}
