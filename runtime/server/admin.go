package server

import (
	"bytes"
	"encoding/json"
	"errors"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"smartrouter/format/query"
	"smartrouter/runtime/metrics"
	"smartrouter/runtime/route"
	"smartrouter/runtime/snapshot"

	"smartrouter/runtime/jsonstr"
)

// rootInfo is the answer of GET /.
type rootInfo struct {
	Name       string `json:"name"`
	Version    string `json:"version"`
	Ready      bool   `json:"ready"`
	Generation uint64 `json:"generation"`
	Seq        uint64 `json:"seq"`
	Mode       string `json:"mode"`
}

func (s *Server) root(c *fiber.Ctx) error {
	in := rootInfo{Name: Name, Version: s.version}
	if h := s.mgr.Acquire(); h != nil {
		in.Ready, in.Generation, in.Seq, in.Mode = true, h.Generation(), h.Seq(), string(h.Mode())
		h.Release()
	}
	return sendJSON(c, fiber.StatusOK, in)
}

// healthInfo is the answer of GET /health.
type healthInfo struct {
	Status          string       `json:"status"`
	Channels        int          `json:"channels"`
	ChannelsEnabled int          `json:"channels_enabled"`
	Models          int          `json:"models"`
	Pairs           int          `json:"pairs"`
	Tags            int          `json:"tags"`
	Snapshot        healthSnap   `json:"snapshot"`
	Uptime          jsonDuration `json:"uptime_s"`
	// SharedState is the replica's link to the others (SetSharedState);
	// absent for a single process.
	SharedState any `json:"shared_state,omitempty"`
	// UsageLedger is the usage ledger's state (SetLedgerState); absent
	// without a ledger.
	UsageLedger any `json:"usage_ledger,omitempty"`
}

type healthSnap struct {
	Generation     uint64    `json:"generation"`
	Seq            uint64    `json:"seq"`
	Mode           string    `json:"mode"`
	Path           string    `json:"path,omitempty"`
	Fingerprint    string    `json:"fingerprint"`
	BuiltAt        time.Time `json:"built_at,omitzero"`
	LoadedAt       time.Time `json:"loaded_at,omitzero"`
	Stale          bool      `json:"stale"`
	FallbackReason string    `json:"fallback_reason,omitempty"`
	Warning        string    `json:"warning,omitempty"` // demo or stale-snapshot: what to do
}

type jsonDuration time.Duration

func (d jsonDuration) MarshalJSON() ([]byte, error) {
	return appendFloat(nil, time.Duration(d).Seconds(), 3), nil
}

const healthNotReady = `{"status":"unavailable","error":{"message":"no snapshot is loaded","type":"` +
	typeServer + `","code":"` + codeNotReady + `","param":null}}`

func (s *Server) health(c *fiber.Ctx) error {
	h := s.mgr.Acquire()
	if h == nil {
		writeJSON(c, fiber.StatusServiceUnavailable, []byte(healthNotReady))
		return nil
	}
	defer h.Release()
	snap := h.Snapshot()
	st := h.Value.(*state)
	in := s.mgr.Info()
	out := healthInfo{
		Status: "healthy", Channels: len(snap.Channels()), ChannelsEnabled: st.enabled,
		Models: snap.NumModels(), Pairs: snap.NumPairs(), Tags: snap.NumTags(),
		Snapshot: healthSnap{
			Generation: h.Generation(), Seq: h.Seq(), Mode: string(h.Mode()), Path: h.Path(),
			Fingerprint: in.Fingerprint, BuiltAt: in.BuiltAt, LoadedAt: h.LoadedAt(), Stale: in.Stale,
			FallbackReason: string(in.FallbackReason), Warning: in.Warning,
		},
		Uptime: jsonDuration(time.Since(s.started)),
	}
	if fn := s.ext.shared.Load(); fn != nil {
		st, degraded := (*fn)()
		out.SharedState = st
		if degraded {
			// Still 200: the replica serves on its local state.
			out.Status = "degraded"
		}
	}
	if fn := s.ext.ledger.Load(); fn != nil {
		out.UsageLedger = (*fn)()
	}
	return sendJSON(c, fiber.StatusOK, out)
}

func (s *Server) metrics(c *fiber.Ctx) error {
	var buf bytes.Buffer
	if err := s.met.Write(&buf); err != nil {
		return err
	}
	r := c.Response()
	r.SetStatusCode(fiber.StatusOK)
	r.Header.SetContentType(metrics.ContentType())
	r.SetBodyRaw(buf.Bytes())
	return nil
}

// authorized acquires the snapshot and checks the client token (or, with
// admin, the admin token). It answers the error itself and returns nil then;
// else the caller releases the handle.
func (s *Server) authorized(c *fiber.Ctx, admin bool) *snapshot.Handle {
	h := s.mgr.Acquire()
	if h == nil {
		writeError(c, fiber.StatusServiceUnavailable, typeServer, codeNotReady, "", "no snapshot is loaded; retry shortly")
		return nil
	}
	if !h.Value.(*state).authorize(c, admin) {
		h.Release()
		return nil
	}
	return h
}

func (s *Server) adminSnapshot(c *fiber.Ctx) error {
	h := s.authorized(c, true)
	if h == nil {
		return nil
	}
	h.Release()
	return sendJSON(c, fiber.StatusOK, s.snapshotAnswer())
}

// reloadAnswer is the answer of a successful POST /v1/admin/reload.
type reloadAnswer struct {
	Status     string `json:"status"`
	Generation uint64 `json:"generation"`
	Seq        uint64 `json:"seq"`
	Mode       string `json:"mode"`
	TookMs     jsonMs `json:"took_ms"`
}

type jsonMs time.Duration

func (d jsonMs) MarshalJSON() ([]byte, error) { return appendMs(nil, time.Duration(d)), nil }

func (s *Server) adminReload(c *fiber.Ctx) error {
	h := s.authorized(c, true)
	if h == nil {
		return nil
	}
	h.Release()
	start := time.Now()
	gen, err := s.mgr.Reload(s.baseCtx)
	if err != nil {
		reason := snapshot.ReasonOf(err)
		b := appendErrorOpen(nil, typeServer, codeReload, "", "reload failed, the previous snapshot keeps serving: "+err.Error())
		b = append(b, `,"reason":`...)
		b = jsonstr.Append(b, string(reason))
		b = append(b, `,"generation":`...)
		b = strconv.AppendUint(b, gen, 10)
		b = append(b, "}}"...)
		writeJSON(c, reloadStatus(reason), b)
		return nil
	}
	out := reloadAnswer{Status: "reloaded", Generation: gen, TookMs: jsonMs(time.Since(start))}
	if h := s.mgr.Acquire(); h != nil {
		out.Seq, out.Mode = h.Seq(), string(h.Mode())
		h.Release()
	}
	return sendJSON(c, fiber.StatusOK, out)
}

// reloadStatus maps a reload failure to an HTTP status: the file's fault is
// a 4xx (fix the file and retry), the server's a 5xx.
func reloadStatus(r snapshot.Reason) int {
	switch r {
	case snapshot.ReasonNotFound:
		return fiber.StatusNotFound
	case snapshot.ReasonCorrupt, snapshot.ReasonVersion, snapshot.ReasonPublish:
		return fiber.StatusUnprocessableEntity
	case snapshot.ReasonStale:
		return fiber.StatusConflict
	case snapshot.ReasonClosed:
		return fiber.StatusServiceUnavailable
	default:
		return fiber.StatusInternalServerError
	}
}

// routeExplain is the answer of GET /v1/admin/route.
type routeExplain struct {
	Outcome      string               `json:"outcome"` // routed, model_not_found, no_channels_available
	RouterStatus string               `json:"router_status,omitempty"`
	Explain      *route.Explain       `json:"explain"`
	Channels     []route.ChannelState `json:"channels"` // live state of the channels involved
}

func (s *Server) adminRoute(c *fiber.Ctx) error {
	h := s.authorized(c, true)
	if h == nil {
		return nil
	}
	defer h.Release()
	st := h.Value.(*state)
	model := c.Query("model")
	if model == "" {
		writeError(c, fiber.StatusBadRequest, typeInvalid, codeInvalid, "model", "add ?model=<model string> (and optionally &strategy=, &max_tokens=, &input_tokens=, &vision=1, &tools=1, &embeddings=1)")
		return nil
	}
	req := route.Request{Model: model, Strategy: c.Query("strategy"), Explain: true,
		NeedVision: c.QueryBool("vision"), NeedTools: c.QueryBool("tools"), Embeddings: c.QueryBool("embeddings")}
	for _, q := range [...]struct {
		name string
		dst  *int
	}{{"max_tokens", &req.MaxTokens}, {"input_tokens", &req.InputTokens}} {
		if v := c.Query(q.name); v != "" {
			n, err := strconv.Atoi(v)
			if err != nil || n < 0 {
				writeError(c, fiber.StatusBadRequest, typeInvalid, codeInvalid, q.name, q.name+" must be a non-negative integer")
				return nil
			}
			*q.dst = n
		}
	}
	var dec route.Decision
	err := st.router.Route(req, &dec)
	out := routeExplain{Outcome: "routed", Explain: dec.Explain}
	status := fiber.StatusOK
	var (
		nf *route.NotFoundError
		cl *route.ContextLengthError
		ne *route.NotEmbeddingError
		nc *route.NoChannelsError
		se *route.StrategyError
		pe *query.ParseError
	)
	switch {
	case err == nil:
	case errors.As(err, &nf):
		status, out.Outcome, out.RouterStatus = fiber.StatusNotFound, codeModel, nf.RouterStatus()
	case errors.As(err, &cl):
		status, out.Outcome, out.RouterStatus = fiber.StatusBadRequest, codeContextLength, cl.RouterStatus()
	case errors.As(err, &ne):
		status, out.Outcome, out.RouterStatus = fiber.StatusBadRequest, codeNotEmbedding, ne.RouterStatus()
	case errors.As(err, &nc):
		status, out.Outcome, out.RouterStatus = fiber.StatusServiceUnavailable, codeNoChannels, nc.RouterStatus()
	case errors.As(err, &se):
		writeError(c, fiber.StatusBadRequest, typeInvalid, codeStrategy, "strategy", se.Error())
		return nil
	case errors.As(err, &pe):
		writeError(c, fiber.StatusBadRequest, typeInvalid, codeInvalid, "model", pe.Error())
		return nil
	default:
		return err
	}
	var ids []string
	if ex := out.Explain; ex != nil {
		for _, p := range ex.Candidates {
			ids = append(ids, p.Channel)
		}
		for _, p := range ex.Filtered {
			ids = append(ids, p.Channel)
		}
	}
	slices.Sort(ids)
	ids = slices.Compact(ids)
	out.Channels = make([]route.ChannelState, 0, len(ids))
	for _, id := range ids {
		out.Channels = append(out.Channels, s.live.Channel(id))
	}
	// Marshal before the deferred release: the explain points into the
	// snapshot; sendJSON copies the result into the response.
	return sendJSON(c, status, out)
}

// sendJSON marshals v and copies it into the response.
func sendJSON(c *fiber.Ctx, status int, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	writeJSON(c, status, b)
	return nil
}

// PathAdminCooldownsReset ends cooldowns on demand (admin auth).
const PathAdminCooldownsReset = "/v1/admin/cooldowns/reset"

// cooldownsReset is the answer of POST /v1/admin/cooldowns/reset.
type cooldownsReset struct {
	Status  string `json:"status"`
	Channel string `json:"channel,omitempty"` // the filter; absent = every channel
	Cleared int    `json:"cleared"`           // cooldowns that were running
}

// adminCooldownsReset ends every cooldown and failure streak, of one channel
// (?channel=ID) or of all, and lifts their health to at least
// route.RecoveredHealth (route.Live.Reset): the operator's "the upstream is
// back, try it now".
func (s *Server) adminCooldownsReset(c *fiber.Ctx) error {
	h := s.authorized(c, true)
	if h == nil {
		return nil
	}
	defer h.Release()
	ch := c.Query("channel")
	if ch != "" {
		known := false
		for _, x := range h.Snapshot().Channels() {
			if x.ID == ch {
				known = true
				break
			}
		}
		if !known {
			writeError(c, fiber.StatusNotFound, typeInvalid, codeInvalid, "channel",
				"no channel "+strconv.Quote(ch)+" in the current snapshot; see GET /v1/admin/route or /health for the channels, or omit ?channel= to reset all")
			return nil
		}
	}
	n := s.live.Reset(ch)
	s.log.Info("cooldowns reset by an admin request", "channel", ch, "cleared", n)
	return sendJSON(c, fiber.StatusOK, cooldownsReset{Status: "reset", Channel: strings.Clone(ch), Cleared: n})
}
