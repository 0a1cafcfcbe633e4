package server

import (
	"context"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/gofiber/fiber/v2"

	"smartrouter/runtime/patterns"
	"smartrouter/runtime/snapshot"
	"smartrouter/runtime/tasks"
)

// Background tasks and learned request patterns. Both are optional parts
// that routerd wires after New (SetTasks, SetPatterns); a server without
// them answers their admin endpoints with 404-like "not configured" errors.

// Paths of the task endpoints.
const (
	PathAdminRefresh  = "/v1/admin/refresh"
	PathAdminPatterns = "/v1/admin/patterns"
)

// DefaultRefreshWait is how long POST /v1/admin/refresh waits for the cycle
// before answering 202 (the cycle goes on; GET /v1/admin/snapshot shows its
// result). ?wait=<duration> overrides it, up to MaxRefreshWait.
const (
	DefaultRefreshWait = 60 * time.Second
	MaxRefreshWait     = 10 * time.Minute
)

const codeRefresh = "refresh_failed"

// extensions are the optional parts wired after New.
type extensions struct {
	tasks    atomic.Pointer[tasks.Runner]
	patterns atomic.Pointer[patterns.Sketch]
	// refreshing is set while an on-demand refresh runs (one at a time).
	refreshing atomic.Bool
	// shared reports the shared state (SetSharedState).
	shared atomic.Pointer[func() (any, bool)]
	// seedHold makes proxied requests wait for the seeded counters
	// (HoldForSeed, seedgate.go); ledger reports the usage ledger's state
	// (SetLedgerState).
	seedHold atomic.Pointer[seedHold]
	ledger   atomic.Pointer[func() any]
}

// SetSharedState makes GET /health show the replica's link to the others
// (runtime/cluster, wired by routerd when state.redis_url is set): fn returns
// what to show under "shared_state" and whether the replica is degraded (it
// serves on its local state only), which turns "status" into "degraded"
// with the answer still 200.
func (s *Server) SetSharedState(fn func() (status any, degraded bool)) { s.ext.shared.Store(&fn) }

// SetTasks makes POST /v1/admin/refresh run r's cycle and GET
// /v1/admin/snapshot show r's status.
func (s *Server) SetTasks(r *tasks.Runner) { s.ext.tasks.Store(r) }

// SetPatterns makes the proxy loop count every routed model string in p and
// GET /v1/admin/patterns show it.
func (s *Server) SetPatterns(p *patterns.Sketch) { s.ext.patterns.Store(p) }

// ProbeOnce runs the recovery probes once (the health_check task): every
// enabled channel that is cooling after an auth failure or unhealthy, and
// was not probed within the spacing. It returns how many were probed.
func (s *Server) ProbeOnce(ctx context.Context) int { return s.probeOnce(ctx) }

// recordModel counts a routed model string (no allocation).
func (s *Server) recordModel(model string) { s.ext.patterns.Load().Record(model) }

// snapshotAnswer is GET /v1/admin/snapshot: the manager's info and, when
// background tasks run, their status and the last refresh.
type snapshotAnswer struct {
	snapshot.Info
	Tasks *tasks.Status `json:"tasks,omitempty"`
}

func (s *Server) snapshotAnswer() snapshotAnswer {
	a := snapshotAnswer{Info: s.mgr.Info()}
	if r := s.ext.tasks.Load(); r != nil {
		st := r.Status()
		a.Tasks = &st
	}
	return a
}

// refreshAnswer is the answer of POST /v1/admin/refresh.
type refreshAnswer struct {
	Status  string        `json:"status"` // refreshed, unchanged (nothing to rebuild), running
	Refresh *tasks.Result `json:"refresh,omitempty"`
}

// refreshError is the answer of a failed refresh: an OpenAI-style error and
// the cycle's result.
type refreshError struct {
	Error struct {
		Message string `json:"message"`
		Type    string `json:"type"`
		Code    string `json:"code"`
		Param   any    `json:"param"`
	} `json:"error"`
	Refresh tasks.Result `json:"refresh"`
}

func (s *Server) adminRefresh(c *fiber.Ctx) error {
	h := s.authorized(c, true)
	if h == nil {
		return nil
	}
	h.Release()
	r := s.ext.tasks.Load()
	if r == nil {
		writeError(c, fiber.StatusNotImplemented, typeServer, codeRefresh, "",
			"refresh is not configured: start routerd with -config and -snapshot so it can compile and write the snapshot")
		return nil
	}
	wait := DefaultRefreshWait
	if v := c.Query("wait"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d < 0 || d > MaxRefreshWait {
			writeError(c, fiber.StatusBadRequest, typeInvalid, codeInvalid, "wait",
				"wait must be a duration such as 30s, at most "+MaxRefreshWait.String())
			return nil
		}
		wait = d
	}
	if !s.ext.refreshing.CompareAndSwap(false, true) {
		writeError(c, fiber.StatusConflict, typeInvalid, codeRefresh, "",
			"a refresh is already running; its result shows in GET /v1/admin/snapshot (tasks.last_refresh)")
		return nil
	}
	done := make(chan tasks.Result, 1)
	go func() {
		defer s.ext.refreshing.Store(false)
		done <- r.Refresh(s.baseCtx)
	}()
	t := time.NewTimer(wait)
	defer t.Stop()
	select {
	case res := <-done:
		if res.Result == tasks.ResultFailed {
			var e refreshError
			e.Error.Message = "refresh failed at the " + res.Stage + " step, the current snapshot keeps serving: " + res.Error
			e.Error.Type, e.Error.Code, e.Refresh = typeServer, codeRefresh, res
			status := fiber.StatusInternalServerError
			if res.Stage == "compile" || res.Stage == "validate" {
				status = fiber.StatusUnprocessableEntity // fix the config or caches and retry
			}
			return sendJSON(c, status, e)
		}
		status := "refreshed"
		if res.Result == tasks.ResultUnchanged {
			status = "unchanged" // no input changed: the snapshot serving stays
		}
		return sendJSON(c, fiber.StatusOK, refreshAnswer{Status: status, Refresh: &res})
	case <-t.C:
		c.Set(fiber.HeaderLocation, PathAdminSnap)
		return sendJSON(c, fiber.StatusAccepted, refreshAnswer{Status: "running"})
	}
}

// patternsAnswer is the answer of GET /v1/admin/patterns.
type patternsAnswer struct {
	patterns.Stats
	Models []patterns.Entry `json:"models"`
}

func (s *Server) adminPatterns(c *fiber.Ctx) error {
	h := s.authorized(c, true)
	if h == nil {
		return nil
	}
	h.Release()
	p := s.ext.patterns.Load()
	if p == nil {
		writeError(c, fiber.StatusNotImplemented, typeServer, codeNotFound, "",
			"request patterns are not kept: routerd keeps them when it has a cache folder (-cache or a cache/ beside -config)")
		return nil
	}
	n := 0
	if v := c.Query("limit"); v != "" {
		var err error
		if n, err = strconv.Atoi(v); err != nil || n < 0 {
			writeError(c, fiber.StatusBadRequest, typeInvalid, codeInvalid, "limit", "limit must be a non-negative integer")
			return nil
		}
	}
	return sendJSON(c, fiber.StatusOK, patternsAnswer{Stats: p.Stats(), Models: p.Entries(n)})
}
