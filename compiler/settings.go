package compiler

import (
	"math"
	"strconv"
	"strings"
	"time"

	"smartrouter/compiler/cache"
	"smartrouter/compiler/config"
	"smartrouter/compiler/diag"
	"smartrouter/format"
	"smartrouter/format/vocab"
)

// ms converts a duration to milliseconds, clamped to uint32.
func ms(d time.Duration) uint32 {
	v := d.Milliseconds()
	switch {
	case v <= 0:
		return 0
	case v > math.MaxUint32:
		return math.MaxUint32
	}
	return uint32(v)
}

// secs converts a duration to whole seconds (rounded), clamped to uint32.
func secs(d time.Duration) uint32 {
	v := (d + time.Second/2) / time.Second
	switch {
	case v <= 0:
		return 0
	case v > math.MaxUint32:
		return math.MaxUint32
	}
	return uint32(v)
}

func clampU32(v int64) uint32 {
	switch {
	case v <= 0:
		return 0
	case v > math.MaxUint32:
		return math.MaxUint32
	}
	return uint32(v)
}

func clampU64(v int64) uint64 {
	if v <= 0 {
		return 0
	}
	return uint64(v)
}

// perMillion converts a price in USD per million tokens (from YAML) to
// pico-USD per token with the cache package's rounding.
func perMillion(usd float64) uint64 {
	v, ok := cache.ConvertPrice(strconv.FormatFloat(usd, 'g', -1, 64), cache.ScalePerMillion, 1)
	if !ok {
		return format.PriceUnknown
	}
	return v
}

// qualityTable is the effective quality table: the config's rules in file
// order, then the built-in rules whose substring the config does not name.
// A config rule thus overrides the built-in one of the same substring and
// comes first, and built-ins the config does not mention still apply.
func qualityTable(cfg []format.QualityRule) []format.QualityRule {
	out := make([]format.QualityRule, 0, len(cfg)+16)
	seen := make(map[string]bool, len(cfg))
	for _, r := range cfg {
		k := strings.ToLower(r.Substring)
		if k == "" || seen[k] {
			continue
		}
		seen[k] = true
		out = append(out, format.QualityRule{Substring: k, Score: r.Score})
	}
	for _, r := range vocab.DefaultQuality() {
		if !seen[r.Substring] {
			out = append(out, format.QualityRule{Substring: r.Substring, Score: r.Score})
		}
	}
	return out
}

func settings(c *config.Config) format.Settings {
	s := format.Settings{
		Host:             c.Server.Host,
		Port:             uint16(min(max(c.Server.Port, 0), math.MaxUint16)),
		Debug:            c.Server.Debug,
		CORSOrigins:      append([]string(nil), c.Server.CORSOrigins...),
		RequestTimeoutMs: ms(c.Server.RequestTimeout),
		MaxRequestSize:   clampU64(c.Server.MaxRequestSize),
		ConnectTimeoutMs: ms(c.Server.ConnectTimeout),
		ReadTimeoutMs:    ms(c.Server.ReadTimeout),

		AuthEnabled:  c.Auth.Enabled,
		APIToken:     c.Auth.APIToken,
		AdminEnabled: c.Auth.Admin.Enabled,
		AdminToken:   c.Auth.Admin.Token,

		DefaultStrategy:        c.Routing.DefaultStrategy,
		EnableFallback:         c.Routing.EnableFallback,
		MaxRetryAttempts:       clampU32(int64(c.Routing.MaxRetryAttempts)),
		ErrorCooldownSec:       secs(c.Routing.ErrorCooldownPeriod),
		HealthCheckIntervalSec: secs(c.Routing.HealthCheckInterval),
		StripReasoning:         c.Routing.StripReasoning,
		ResponseMetadata:       c.Routing.ResponseMetadata,
		DefaultInputPrice:      perMillion(c.Routing.DefaultInputPrice),
		DefaultOutputPrice:     perMillion(c.Routing.DefaultOutputPrice),

		MinContextLength:        clampU64(c.Routing.ModelFilters.MinContextLength),
		MinParamsM:              clampU64(c.Routing.ModelFilters.MinParameterCount),
		ExcludeEmbeddingModels:  c.Routing.ModelFilters.ExcludeEmbeddingModels,
		ExcludeVisionOnlyModels: c.Routing.ModelFilters.ExcludeVisionOnlyModels,

		Quality:    qualityTable(c.Routing.QualityScores),
		Strategies: append([]format.Strategy(nil), c.Routing.SortingStrategies...),

		MemoryLimitBytes:    c.Performance.MemoryLimit,
		ConfigLoadTimeoutMs: ms(c.Performance.ConfigLoadTimeout),
		CacheLoadTimeoutMs:  ms(c.Performance.CacheLoadTimeout),

		Usage: format.UsageSettings{Configured: c.Usage.Present, Enabled: c.Usage.Enabled, Path: c.Usage.Path,
			RetentionDays: clampU32(int64(c.Usage.RetentionDays)), QueueSize: clampU32(int64(c.Usage.QueueSize))},
	}
	for _, t := range []struct {
		name string
		t    config.Task
	}{
		{"model_discovery", c.Tasks.ModelDiscovery},
		{"health_check", c.Tasks.HealthCheck},
		{"api_key_validation", c.Tasks.APIKeyValidation},
	} {
		s.Tasks = append(s.Tasks, format.Task{Name: t.name, Enabled: t.t.Enabled, IntervalSec: secs(t.t.Interval), RunOnStartup: t.t.RunOnStartup,
			MaxConcurrent: clampU32(t.t.MaxConcurrent)})
	}
	return s
}

func providers(c *config.Config) ([]format.Provider, map[string]uint32) {
	out := make([]format.Provider, len(c.Providers))
	idx := make(map[string]uint32, len(c.Providers))
	for i, p := range c.Providers {
		out[i] = format.Provider{
			Key:          p.Key,
			Name:         p.Name,
			DisplayName:  p.DisplayName,
			Adapter:      p.AdapterClass,
			BaseURL:      p.BaseURL,
			AuthType:     p.AuthType,
			RateLimit:    clampU32(int64(p.RateLimit)),
			Capabilities: append([]string(nil), p.Capabilities...),
		}
		idx[p.Key] = uint32(i)
	}
	return out, idx
}

// lowerTags lowercases and trims tags, dropping empty ones and repeats, in
// the order written.
func lowerTags(in []string) []string {
	var out []string
	for _, t := range in {
		t = strings.ToLower(strings.TrimSpace(t))
		if t != "" && !contains(out, t) {
			out = append(out, t)
		}
	}
	return out
}

func contains(l []string, s string) bool {
	for _, x := range l {
		if x == s {
			return true
		}
	}
	return false
}

func channel(c *config.Config, ch *config.Channel, prov uint32) format.Channel {
	out := format.Channel{
		ID:                   ch.ID,
		Name:                 ch.Name,
		Provider:             prov,
		ModelName:            ch.ModelName,
		APIKey:               ch.APIKey,
		BaseURLs:             append([]string(nil), c.BaseURLs(ch)...),
		Enabled:              ch.Enabled,
		Priority:             int32(min(max(ch.Priority, math.MinInt32), math.MaxInt32)),
		Weight:               ch.Weight,
		DailyLimit:           clampU64(ch.DailyLimit),
		MinRequestIntervalMs: ms(ch.MinRequestInterval),
		SpeedScore:           float32(ch.SpeedScore),
		Tags:                 lowerTags(ch.Tags),
		Capabilities:         append([]string(nil), ch.Capabilities...),
		Aliases:              append([]format.Alias(nil), ch.Aliases...),
	}
	if ch.KeyPlaceholder {
		out.APIKey = format.Secret{}
	}
	if ch.Currency != nil {
		out.CurrencyRate = ch.Currency.Rate
	}
	return out
}

// keyStates maps the key-validation verdicts to channel ordinals; verdicts of
// channels not in the config are warned about and left out.
func keyStates(in *inputs, w *diag.Warnings) []format.KeyState {
	if in.kv == nil {
		return nil
	}
	var out []format.KeyState
	for _, v := range in.kv.Verdicts {
		ci, ok := in.chanIdx[v.ChannelID]
		if !ok {
			w.Add(v.Pos, groupKeyUnknown, "verdict for channel %q, which the config does not have; it is left out", v.ChannelID)
			continue
		}
		valid := v.Valid || !v.ValidKnown
		ks := format.KeyState{
			Channel:             uint32(ci),
			Valid:               valid,
			StatusCode:          v.StatusCode,
			LatencyMs:           v.LatencyMs,
			Timestamp:           v.Timestamp,
			ConsecutiveFailures: v.ConsecutiveFailures,
			HealthScore:         v.HealthScore,
		}
		if !valid {
			ks.ErrorType = v.ErrorType
			if ks.ErrorType == "" {
				ks.ErrorType = "unknown"
			}
		}
		if ks.Timestamp == 0 {
			ks.Timestamp = v.LastValidated
		}
		out = append(out, ks)
	}
	return out
}
