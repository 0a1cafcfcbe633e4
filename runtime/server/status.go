package server

import (
	"embed"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"smartrouter/runtime/metrics"
	"smartrouter/runtime/route"
)

// The status page (GET /status): one HTML file, one stylesheet and one
// script, embedded in the binary, with no third-party asset, so the page
// works offline. The three files hold no data: the script reads everything
// from the admin endpoints (/v1/admin/snapshot, /v1/admin/channels,
// /v1/admin/route, /v1/admin/usage, /v1/admin/requests) with the admin
// token as a Bearer header when admin auth is on. The page asks for the
// token on the first 401 and keeps it in the tab's sessionStorage; it never
// puts it in a URL. See docs/operations.md, "Status page".

// Paths of the status page and of its channel endpoint.
const (
	PathStatus        = "/status"
	PathStatusCSS     = "/status/status.css"
	PathStatusJS      = "/status/status.js"
	PathAdminChannels = "/v1/admin/channels"
)

//go:embed status/index.html status/status.css status/status.js
var statusFiles embed.FS

// statusAsset is one embedded file with its content type.
type statusAsset struct {
	body  []byte
	ctype string
}

var statusAssets = func() map[string]statusAsset {
	read := func(name string) []byte {
		b, err := statusFiles.ReadFile(name)
		if err != nil {
			panic("status page asset missing from the binary: " + name) // a build error, not a runtime one
		}
		return b
	}
	return map[string]statusAsset{
		PathStatus:    {read("status/index.html"), "text/html; charset=utf-8"},
		PathStatusCSS: {read("status/status.css"), "text/css; charset=utf-8"},
		PathStatusJS:  {read("status/status.js"), "text/javascript; charset=utf-8"},
	}
}()

// statusCSP allows the page's own files and same-origin fetches only: no
// inline script can run, even if a string from an upstream ever reached
// the markup.
const statusCSP = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
	"connect-src 'self'; form-action 'none'; frame-ancestors 'none'; base-uri 'none'"

// statusPage serves the page's three files.
func (s *Server) statusPage(c *fiber.Ctx) error {
	p := c.Path()
	if p == PathStatus+"/" {
		p = PathStatus
	}
	a, ok := statusAssets[p]
	if !ok {
		return fiber.ErrNotFound
	}
	r := c.Response()
	r.SetStatusCode(fiber.StatusOK)
	r.Header.SetContentType(a.ctype)
	r.Header.Set("Content-Security-Policy", statusCSP)
	r.Header.Set("X-Content-Type-Options", "nosniff")
	r.Header.Set("Referrer-Policy", "no-referrer")
	r.Header.Set(fiber.HeaderCacheControl, "no-cache")
	r.SetBodyRaw(a.body)
	return nil
}

// channelsAnswer is the answer of GET /v1/admin/channels.
type channelsAnswer struct {
	Object     string        `json:"object"` // "list"
	Generation uint64        `json:"generation"`
	Now        time.Time     `json:"now"` // the live state's clock
	Traffic    trafficTotals `json:"traffic"`
	Data       []channelInfo `json:"data"`
}

// trafficTotals are the process's answered-request counters since start
// (the smartrouter_requests_total series summed): the page turns two
// readings into a rate.
type trafficTotals struct {
	Requests uint64       `json:"requests"`
	Errors   uint64       `json:"errors"` // status >= 400
	Uptime   jsonDuration `json:"uptime_s"`
}

// channelInfo is one channel: its configuration and its live state.
type channelInfo struct {
	ID         string   `json:"id"`
	Name       string   `json:"name"`
	Provider   string   `json:"provider"`
	Enabled    bool     `json:"enabled"`
	Priority   int32    `json:"priority"`
	Weight     float64  `json:"weight"`
	Tags       []string `json:"tags"`
	Models     int      `json:"models"`      // pairs of this channel
	DailyLimit uint64   `json:"daily_limit"` // requests per day; 0 = none
	RateLimit  uint32   `json:"rate_limit"`  // the provider's requests per minute; 0 = none
	route.ChannelState
}

// adminChannels lists every channel of the current snapshot with its live
// state: health, latency, cooldowns (channel-wide and per model, with kind
// and until-time), and the process's request totals.
func (s *Server) adminChannels(c *fiber.Ctx) error {
	h := s.authorized(c, true)
	if h == nil {
		return nil
	}
	defer h.Release()
	snap := h.Snapshot()
	chans := snap.Channels()
	provs := snap.Providers()
	models := make([]int, len(chans))
	for i, n := uint32(0), uint32(snap.NumPairs()); i < n; i++ {
		if ci := snap.Pair(i).Channel; int(ci) < len(models) {
			models[ci]++
		}
	}
	out := channelsAnswer{Object: "list", Generation: h.Generation(), Now: s.now().UTC(),
		Data: make([]channelInfo, 0, len(chans))}
	out.Traffic.Requests, out.Traffic.Errors = s.requestTotals()
	out.Traffic.Uptime = jsonDuration(time.Since(s.started))
	for i, ch := range chans {
		ci := channelInfo{
			ID: strings.Clone(ch.ID), Name: strings.Clone(ch.Name), Enabled: ch.Enabled,
			Priority: ch.Priority, Weight: ch.Weight, Models: models[i], DailyLimit: ch.DailyLimit,
			Tags: make([]string, 0, len(ch.Tags)), ChannelState: s.live.Channel(ch.ID),
		}
		for _, t := range ch.Tags {
			ci.Tags = append(ci.Tags, strings.Clone(t))
		}
		if int(ch.Provider) < len(provs) {
			p := provs[ch.Provider]
			ci.Provider, ci.RateLimit = strings.Clone(p.Key), p.RateLimit
		}
		out.Data = append(out.Data, ci)
	}
	return sendJSON(c, fiber.StatusOK, out)
}

// requestTotals sums the answered-request counter of the metrics registry:
// all requests, and those answered with a status of 400 or more.
func (s *Server) requestTotals() (all, errs uint64) {
	fams, err := s.met.Registry().Gather()
	if err != nil && len(fams) == 0 {
		return 0, 0
	}
	for _, f := range fams {
		if f.GetName() != metrics.Namespace+"_requests_total" {
			continue
		}
		for _, m := range f.GetMetric() {
			n := uint64(m.GetCounter().GetValue())
			all += n
			for _, l := range m.GetLabel() {
				if l.GetName() == "status" && len(l.GetValue()) == 3 && l.GetValue() >= "400" {
					errs += n
				}
			}
		}
	}
	return all, errs
}
