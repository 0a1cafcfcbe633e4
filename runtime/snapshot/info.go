package snapshot

import (
	"fmt"
	"maps"
	"time"
)

// Info describes the manager's state for /health and /v1/admin/snapshot. It
// marshals to JSON as is.
type Info struct {
	Loaded         bool           `json:"loaded"`                    // false only after Close
	Path           string         `json:"path,omitempty"`            // the snapshot file
	Mode           Mode           `json:"mode,omitempty"`            // snapshot, json-fallback or embedded
	FormatVersion  string         `json:"format_version,omitempty"`  // "major.minor" of the file
	Generation     uint64         `json:"generation"`                // compile generation from the header
	Seq            uint64         `json:"seq"`                       // publishes by this process, the first load included
	Fingerprint    string         `json:"fingerprint,omitempty"`     // of the sources, 16 hex digits
	BuiltAt        time.Time      `json:"built_at,omitzero"`         // compile time
	LoadedAt       time.Time      `json:"loaded_at,omitzero"`        // when this process loaded it
	SizeBytes      int64          `json:"size_bytes"`                // mapped or in-memory size
	FallbackReason Reason         `json:"fallback_reason,omitempty"` // why json-fallback is serving
	FallbackDetail string         `json:"fallback_detail,omitempty"`
	Warning        string         `json:"warning,omitempty"` // demo or stale snapshot serving: what to do
	Stale          bool           `json:"stale"`             // some source is stale (served anyway)
	Unchecked      int            `json:"unchecked_sources"` // sources that could not be checked
	Sources        []SourceStatus `json:"sources"`           // checked at load/reload time
	Retired        int64          `json:"retired_undrained"` // older snapshots still held by requests
	Reloads        ReloadStats    `json:"reloads"`
	LastReloadErr  *ReloadError   `json:"last_reload_error,omitempty"`
	StartPhases    []Phase        `json:"start_phases,omitempty"` // how long each step of the start took
}

// ReloadStats counts the outcomes of Reload since Load.
type ReloadStats struct {
	Successes   uint64            `json:"successes"`
	LastSuccess time.Time         `json:"last_success,omitzero"`
	Failures    map[Reason]uint64 `json:"failures"` // by reason; only reasons seen
}

// ReloadError is the last failed Reload.
type ReloadError struct {
	Reason  Reason    `json:"reason"`
	Message string    `json:"message"`
	Time    time.Time `json:"time"`
}

// Info returns a fresh copy of the current state; it does not touch the disk.
func (m *Manager) Info() Info {
	var in Info
	m.statsMu.Lock()
	in.Reloads = ReloadStats{Successes: m.reloadOK, LastSuccess: m.lastOK, Failures: maps.Clone(m.reloadBad)}
	if m.lastErr != nil {
		e := *m.lastErr
		in.LastReloadErr = &e
	}
	in.StartPhases = append([]Phase(nil), m.phases...)
	m.statsMu.Unlock()

	in.Retired = m.retired.Load()
	h := m.Acquire()
	if h == nil {
		return in
	}
	defer h.Release()
	hdr := h.snap.Header()
	in.Loaded = true
	in.Path = h.path
	in.Mode = h.mode
	in.FormatVersion = fmt.Sprintf("%d.%d", hdr.Major, hdr.Minor)
	in.Generation = hdr.Generation
	in.Seq = h.seq
	in.Fingerprint = fmt.Sprintf("%016x", hdr.Fingerprint)
	in.BuiltAt = time.Unix(0, hdr.BuildTime).UTC()
	in.LoadedAt = h.loadedAt
	in.SizeBytes = h.size
	in.FallbackReason = h.fallbackReason
	in.FallbackDetail = h.fallbackDetail
	in.Warning = h.warning
	in.Stale = h.stale > 0
	in.Unchecked = h.unchecked
	in.Sources = append([]SourceStatus(nil), h.sources...)
	return in
}
