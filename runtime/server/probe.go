package server

import (
	"context"
	"strings"
	"sync"
	"time"
)

// Recovery probes. A channel cooled by an auth failure has no end of its own,
// a channel cooled as a whole for a network failure may wait long, and a
// channel whose health fell below route.MinHealth gets no traffic (but
// panic-routed requests), so none of them can count on serving requests to
// come back. A background loop probes such a channel's /models (free: never a
// completion) at most once per ProbeSpacing, and a success ends the channel
// cooldown and the channel's network and server pair cooldowns, and lifts the
// health (route.Live.Recover). The health_check task of the config turns it off
// (tasks.health_check.enabled: false).

// Probe defaults.
const (
	DefaultProbeTick    = 30 * time.Second // how often the loop looks for channels to probe
	DefaultProbeSpacing = 5 * time.Minute  // at most one probe per channel in this time
	probeTimeout        = 10 * time.Second
)

// prober remembers when each channel was last probed (heap copies of the ids).
type prober struct {
	mu   sync.Mutex
	last map[string]time.Time
}

func (s *Server) probeLoop(ctx context.Context, tick time.Duration) {
	t := time.NewTicker(tick)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			s.probeOnce(ctx)
		}
	}
}

// probeOnce probes every enabled channel of the current snapshot that needs
// it and was not probed within the spacing. It holds the snapshot for the
// duration (probes are bounded by probeTimeout each).
func (s *Server) probeOnce(ctx context.Context) int {
	h := s.mgr.Acquire()
	if h == nil {
		return 0
	}
	defer h.Release()
	st, ok := h.Value.(*state)
	if !ok {
		return 0
	}
	for _, task := range st.set.Tasks {
		if task.Name == "health_check" && !task.Enabled {
			return 0
		}
	}
	spacing := s.opts.ProbeSpacing
	if spacing <= 0 {
		spacing = DefaultProbeSpacing
	}
	probed := 0
	chans := st.snap.Channels()
	for i := range chans {
		c, rt := &chans[i], &st.chans[i]
		if !c.Enabled || rt.ep == nil || !s.live.NeedsProbe(c.ID) {
			continue
		}
		now := s.now()
		s.probes.mu.Lock()
		last, seen := s.probes.last[c.ID]
		if !seen || now.Sub(last) >= spacing {
			s.probes.last[strings.Clone(c.ID)] = now
		}
		s.probes.mu.Unlock()
		if seen && now.Sub(last) < spacing {
			continue
		}
		pctx, cancel := context.WithTimeout(ctx, probeTimeout)
		err := st.client.Probe(pctx, rt.ep)
		cancel()
		probed++
		if err != nil {
			s.log.Info("recovery probe failed", "channel", c.ID, "error", err)
			continue
		}
		s.live.Recover(c.ID)
		s.log.Info("channel recovered by probe", "channel", c.ID)
	}
	return probed
}

// now is the live state's clock.
func (s *Server) now() time.Time {
	if s.opts.Clock != nil {
		return s.opts.Clock()
	}
	return time.Now()
}
