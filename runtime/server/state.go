package server

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"sync"
	"time"

	"smartrouter/format"
	"smartrouter/format/vocab"
	"smartrouter/runtime/metrics"
	"smartrouter/runtime/outcome"
	"smartrouter/runtime/route"
	"smartrouter/runtime/snapshot"
	"smartrouter/runtime/upstream"
)

// state is everything the server derives from one snapshot, built once in
// the snapshot manager's OnPublish and stored in Handle.Value. It is
// read-only after publish (except the lazily built /v1/models body), so
// requests read it without locks. Strings taken from the snapshot point into
// its mapping: use them only while holding the handle, and copy them before
// they outlive it.
type state struct {
	snap   *format.Snapshot
	set    *format.Settings
	router *route.Router
	client *upstream.Client
	chans  []chanRT

	authOn    bool
	apiHash   [32]byte
	adminOn   bool
	adminHash [32]byte

	maxRetry int
	maxBody  int
	strip    bool
	meta     bool

	enabled int               // enabled channels
	lab     *metrics.LabelSet // the channel and model metrics of this snapshot (usage.go)
	cors    corsPolicy

	modelsOnce sync.Once
	models     []byte // GET /v1/models answer, heap memory (outlives the handle safely)
}

// chanRT is the runtime side of one channel.
type chanRT struct {
	ep       *upstream.Endpoint // nil when the channel has no usable base URL
	epErr    string             // why ep is nil
	provider string             // provider key
}

// publish builds the state of a snapshot about to be published (the
// snapshot manager's OnPublish). An error refuses the snapshot; the message
// never contains a secret.
func (s *Server) publish(h *snapshot.Handle) error {
	snap := h.Snapshot()
	set := snap.Settings()
	st := &state{
		snap:     snap,
		set:      set,
		authOn:   set.AuthEnabled,
		adminOn:  set.AdminEnabled,
		maxRetry: int(set.MaxRetryAttempts),
		strip:    set.StripReasoning,
		meta:     set.ResponseMetadata,
		cors:     newCORSPolicy(set.CORSOrigins),
	}
	if st.maxRetry <= 0 {
		st.maxRetry = format.DefaultMaxRetryAttempts
	}
	st.maxBody = s.bodyLimit
	if set.MaxRequestSize > 0 && set.MaxRequestSize < uint64(s.bodyLimit) {
		st.maxBody = int(set.MaxRequestSize)
	}
	if st.authOn {
		tok := vocab.ResolveSecret(set.APIToken, s.lookupEnv)
		if tok == "" {
			return fmt.Errorf("auth.enabled is true but auth.api_token (%s) is empty or unset; set it (export the variable) or turn auth off", vocab.DescribeSecret(set.APIToken))
		}
		st.apiHash = sha256.Sum256([]byte(tok))
	}
	if st.adminOn {
		tok := vocab.ResolveSecret(set.AdminToken, s.lookupEnv)
		if tok == "" {
			return fmt.Errorf("auth.admin is enabled but auth.admin.admin_token (%s) is empty or unset; set it (export the variable) or disable the admin auth", vocab.DescribeSecret(set.AdminToken))
		}
		st.adminHash = sha256.Sum256([]byte(tok))
	}

	provs := snap.Providers()
	chans := snap.Channels()
	st.chans = make([]chanRT, len(chans))
	for i := range chans {
		c := &chans[i]
		rt := &st.chans[i]
		if c.Enabled {
			st.enabled++
		}
		var prov *format.Provider
		if int(c.Provider) < len(provs) {
			prov = &provs[c.Provider]
			rt.provider = prov.Key
		}
		base := ""
		if len(c.BaseURLs) > 0 {
			base = c.BaseURLs[0]
		} else if prov != nil {
			base = prov.BaseURL
		}
		if base == "" {
			rt.epErr = "channel has no base_url (neither its own nor its provider's)"
			continue
		}
		key := vocab.ResolveSecret(c.APIKey, s.lookupEnv)
		if vocab.IsPlaceholderKey(key) {
			key = "" // routing filters the channel (no_api_key); local servers may still answer
		}
		var authType uint8
		var openRouter bool
		if prov != nil {
			authType = prov.AuthType
			openRouter = upstream.IsOpenRouter(prov.Adapter, prov.Key)
		}
		ep, err := upstream.NewEndpoint(base, authType, key, openRouter)
		if err != nil {
			rt.epErr = "channel base URL is not usable: " + err.Error()
			if c.Enabled {
				s.log.Warn("channel cannot be called; its pairs fail at once", "channel", c.ID, "error", err)
			}
			continue
		}
		rt.ep = ep
	}

	st.lab = s.labelSet(snap)
	st.client = s.clientFor(set)
	st.router = route.New(snap, s.live, route.Options{LookupEnv: s.lookupEnv, Logger: s.log})
	s.live.Load(snap)
	h.Value = st
	s.met.Snapshot(h.Generation(), h.Seq())
	return nil
}

// clientFor returns the upstream client for the timeouts of set: the current
// one when they did not change, else a new one (the old one's idle
// connections are dropped; attempts in flight on it finish normally).
func (s *Server) clientFor(set *format.Settings) *upstream.Client {
	cfg := upstream.ConfigFromSettings(set)
	s.clientMu.Lock()
	defer s.clientMu.Unlock()
	if s.client != nil && cfg.ConnectTimeout == s.clientCfg.ConnectTimeout &&
		cfg.ReadTimeout == s.clientCfg.ReadTimeout && cfg.RequestTimeout == s.clientCfg.RequestTimeout {
		return s.client
	}
	if s.client != nil {
		s.client.Close()
	}
	s.client, s.clientCfg = upstream.New(cfg), cfg
	return s.client
}

// asUpstream returns err as an *upstream.Error, wrapping anything else as a
// connection failure.
func asUpstream(err error) *upstream.Error {
	var ue *upstream.Error
	if errors.As(err, &ue) {
		return ue
	}
	return &upstream.Error{Outcome: outcome.Of(outcome.Other), Message: err.Error()}
}

// seconds converts a duration for the metrics.
func seconds(d time.Duration) float64 { return d.Seconds() }
