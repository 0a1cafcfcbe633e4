package config

import (
	"fmt"
	"math"
	"net/url"
	"strings"

	"smartrouter/compiler/diag"
	"smartrouter/format"
	"smartrouter/format/vocab"
)

// sections are the top-level parts of the config after the overlays.
type sections struct {
	server, auth, channels, tasks *entry
	clients                       *entry
	state                         *entry
	usage                         *entry
	providers, routing, pricing   []entry
	perf                          []entry
}

// decode merges the parsed files (main, providers, pricing, routing,
// performance) and decodes them into a Config.
func (s *state) decode(docs [5]doc) *Config {
	main := docs[0]
	if main.root == nil {
		s.fail(diag.Pos{File: main.file}, "", "no YAML document (only comments or blank lines); the file needs at least a channels: list")
		return nil
	}
	var sec sections
	for _, e := range s.mapping(main.file, "", main.root) {
		e := e
		switch e.key {
		case "server":
			sec.server = &e
		case "auth":
			sec.auth = &e
		case "channels":
			sec.channels = &e
		case "tasks":
			sec.tasks = &e
		case "client_keys":
			sec.clients = &e
		case "state":
			sec.state = &e
		case "usage":
			sec.usage = &e
		case "providers":
			sec.providers = s.mapping(e.file, e.key, e.vn)
		case "routing":
			sec.routing = s.mapping(e.file, e.key, e.vn)
		case "pricing":
			sec.pricing = s.mapping(e.file, e.key, e.vn)
		case "system", "caching", "monitoring", "cost_control":
			s.warn(at(e.file, e.kn), "ignored section", e.key, "section not used by this router, ignored")
		default:
			s.warn(at(e.file, e.kn), "unknown key", e.key, "unknown key, ignored")
		}
	}
	if sec.channels == nil {
		s.fail(at(main.file, main.root), "", "missing required key \"channels\" (the list of channels)")
	}
	sec.providers = merge(sec.providers, s.overlay(docs[1], "providers", true))
	sec.pricing = merge(sec.pricing, s.overlay(docs[2], "pricing", false))
	sec.routing = merge(sec.routing, s.overlay(docs[3], "routing", false))
	sec.perf = s.overlay(docs[4], "async_config", true)
	if s.err != nil {
		return nil
	}

	c := defaults()
	if sec.server != nil {
		s.server(*sec.server, &c.Server)
	}
	s.auth(main.file, sec.auth, &c.Auth)
	s.providers(sec.providers, c)
	s.channels(*sec.channels, c)
	s.pricing(sec.pricing, &c.Pricing)
	prewarmSet := s.routing(sec.routing, c)
	if sec.clients != nil {
		s.clientKeys(*sec.clients, c)
	}
	if sec.tasks != nil {
		s.tasks(*sec.tasks, &c.Tasks)
	}
	if sec.usage != nil {
		s.usage(*sec.usage, &c.Usage)
	}
	if docs[4].root != nil {
		s.performance(sec.perf, &c.Performance)
	}
	if sec.state != nil {
		s.state(*sec.state, &c.State)
	}
	if !prewarmSet && c.Performance.Present {
		if !c.Performance.PrewarmingEnabled {
			c.Routing.Prewarm = nil
		} else {
			for _, t := range c.Performance.PriorityTags {
				if q := "tag:" + strings.ToLower(strings.TrimSpace(t)); q != "tag:" && !contains(c.Routing.Prewarm, q) {
					c.Routing.Prewarm = append(c.Routing.Prewarm, q)
				}
			}
		}
	}
	if s.err != nil {
		return nil
	}
	return c
}

// overlay returns the section entries an overlay file brings. The section may
// be wrapped in a top-level key of its own name; the wrapper is required when
// wrapped is true (providers:, async_config:), otherwise a bare document is
// the section itself, as the Python router merges it.
func (s *state) overlay(d doc, section string, wrapped bool) []entry {
	if d.root == nil {
		if d.file != "" {
			s.warn(diag.Pos{File: d.file}, "empty overlay", "", "no YAML document, file ignored")
		}
		return nil
	}
	es := s.mapping(d.file, "", d.root)
	if e := find(es, section); e != nil {
		for _, o := range es {
			if o.key != section {
				s.warn(at(o.file, o.kn), "unknown key", o.key, "unknown key, ignored")
			}
		}
		return s.mapping(e.file, section, e.vn)
	}
	if wrapped {
		s.warn(at(d.file, d.root), "empty overlay", "", "no top-level %q key, file ignored", section)
		return nil
	}
	return es
}

// merge applies src over dst per key: a key of src replaces the same key of
// dst in place, new keys are appended.
func merge(dst, src []entry) []entry {
	for _, e := range src {
		if old := find(dst, e.key); old != nil {
			*old = e
		} else {
			dst = append(dst, e)
		}
	}
	return dst
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func (s *state) server(e entry, c *Server) {
	s.fields("server", s.mapping(e.file, "server", e.vn), func(k string, v val) bool {
		switch k {
		case "host":
			c.Host = v.nonEmpty()
		case "port":
			c.Port = int(v.integer(1, 65535))
		case "debug":
			c.Debug = v.boolean()
		case "cors_origins":
			c.CORSOrigins = v.strs()
		case "request_timeout":
			c.RequestTimeout = v.seconds(true)
		case "max_request_size":
			c.MaxRequestSize = v.integer(1, 1<<40)
		case "connect_timeout":
			c.ConnectTimeout = v.seconds(true)
		case "read_timeout":
			c.ReadTimeout = v.seconds(true)
		default:
			return false
		}
		return true
	})
}

// state decodes state: (shared live state of routerd replicas).
func (s *state) state(e entry, st *State) {
	s.fields("state", s.mapping(e.file, "state", e.vn), func(k string, v val) bool {
		if k != "redis_url" {
			return false
		}
		if !v.scalar("a redis:// URL or ${ENV_VAR}") {
			return true
		}
		raw := strings.TrimSpace(v.n.Value)
		if name, ok, valid := envRef(raw); ok {
			if !valid {
				v.fail("not a valid ${ENV_VAR} reference: the name must be letters, digits and _, not starting with a digit")
				return true
			}
			st.RedisURL = format.Secret{Env: name}
			return true
		}
		if raw == "" {
			return true // as absent: nothing shared
		}
		if err := vocab.CheckRedisURL(raw); err != nil {
			v.fail("%v", err)
			return true
		}
		if vocab.RedisURLHasPassword(raw) {
			if s.opts.ForbidLiteralSecrets {
				v.fail("carries a password, which is not allowed here: write redis_url: ${ROUTER_REDIS_URL} and set that variable for the server")
				return true
			}
			s.warn(v.pos(), "literal secret", v.path, "password written in the file; prefer ${ROUTER_REDIS_URL} so the snapshot does not carry it")
		}
		st.RedisURL = format.Secret{Literal: raw}
		return true
	})
}

// auth decodes auth (e is nil when the section is absent) and checks that
// every enabled token check has a token.
func (s *state) auth(file string, e *entry, a *Auth) {
	enabledAt, adminAt := diag.Pos{File: file}, diag.Pos{File: file}
	if e == nil {
		e = &entry{file: file}
	} else {
		enabledAt, adminAt = at(e.file, e.kn), at(e.file, e.kn)
	}
	s.fields("auth", s.mapping(e.file, "auth", e.vn), func(k string, v val) bool {
		switch k {
		case "enabled":
			a.Enabled, enabledAt = v.boolean(), v.pos()
		case "api_token":
			a.APIToken, _ = v.secret()
		case "admin":
			adminAt = v.pos()
			s.fields(v.path, s.mapping(v.file, v.path, v.n), func(k string, v val) bool {
				switch k {
				case "enabled":
					a.Admin.Enabled, adminAt = v.boolean(), v.pos()
				case "admin_token":
					a.Admin.Token, _ = v.secret()
				default:
					return false
				}
				return true
			})
		default:
			return false
		}
		return true
	})
	if a.Enabled && a.APIToken.IsZero() {
		s.fail(enabledAt, "auth.enabled", "is true but auth.api_token is missing or a placeholder; set api_token: ${ROUTER_API_TOKEN} (a compiled config cannot generate a token)")
	}
	if a.Admin.Enabled && a.Admin.Token.IsZero() {
		if a.Enabled {
			s.fail(adminAt, "auth.admin.enabled", "is true but auth.admin.admin_token is missing or a placeholder; set admin_token: ${ROUTER_ADMIN_TOKEN} or admin.enabled: false")
			return
		}
		s.warn(adminAt, "open admin endpoints", "auth.admin", "enabled without admin_token: the admin endpoints stay open; set admin_token: ${ROUTER_ADMIN_TOKEN}")
		a.Admin.Enabled = false
	}
}

func knownAdapter(a string) bool {
	switch a {
	case "OpenAIAdapter", "AnthropicAdapter", "GroqAdapter", "OpenRouterAdapter", "SiliconFlowAdapter":
		return true
	}
	return false
}

func (s *state) providers(es []entry, c *Config) {
	for _, e := range es {
		path := join("providers", e.key)
		p := Provider{Key: e.key, AdapterClass: DefaultAdapterClass, AuthType: format.AuthBearer, Pos: at(e.file, e.kn)}
		s.fields(path, s.mapping(e.file, path, e.vn), func(k string, v val) bool {
			switch k {
			case "name":
				p.Name = v.str()
			case "display_name":
				p.DisplayName = v.str()
			case "adapter_class":
				p.AdapterClass = v.nonEmpty()
				if !knownAdapter(p.AdapterClass) && s.err == nil {
					s.warn(v.pos(), "unknown adapter", v.path, "adapter %q is not known; the provider is treated as OpenAI-compatible", p.AdapterClass)
				}
			case "base_url":
				p.BaseURL = v.url()
			case "auth_type":
				switch t := strings.ToLower(strings.TrimSpace(v.str())); t {
				case "bearer":
					p.AuthType = format.AuthBearer
				case "x-api-key":
					p.AuthType = format.AuthXAPIKey
				case "api-key":
					p.AuthType = format.AuthAPIKey
				default:
					v.fail("expected bearer, x-api-key or api-key, got %s", describe(v.n))
				}
			case "rate_limit":
				p.RateLimit = int(v.integer(0, math.MaxInt32))
			case "capabilities":
				p.Capabilities = v.strs()
			default:
				return false
			}
			return true
		})
		if p.Name == "" {
			p.Name = p.Key
		}
		if p.DisplayName == "" {
			p.DisplayName = p.Name
		}
		c.Providers = append(c.Providers, p)
	}
}

func (s *state) channels(e entry, c *Config) {
	items := s.seq(e.file, "channels", e.vn)
	if len(items) == 0 && s.err == nil {
		s.warn(at(e.file, e.kn), "no channels", "channels", "the list is empty: nothing can be routed")
	}
	first := make(map[string]int, len(items))
	for i, it := range items {
		path := index("channels", i)
		es := s.mapping(e.file, path, it)
		s.require(e.file, path, it, es, "id", "provider", "model_name", "api_key")
		if s.err != nil {
			return
		}
		ch := s.channel(path, es)
		ch.Pos = at(e.file, it)
		ch.KeyPlaceholder = ch.KeyPlaceholder || isNull(find(es, "api_key").vn)
		if j, dup := first[ch.ID]; dup {
			idAt := at(e.file, find(es, "id").vn)
			s.fail(idAt, join(path, "id"), "duplicate channel id %q, first used by channels[%d] at %s; ids must be unique", ch.ID, j, c.Channels[j].Pos)
			return
		}
		first[ch.ID] = i
		if c.Provider(ch.Provider) == nil {
			s.warn(at(e.file, find(es, "provider").vn), "unknown provider", join(path, "provider"),
				"provider %q is not declared under providers; treated as OpenAI-compatible", ch.Provider)
			c.Providers = append(c.Providers, Provider{Key: ch.Provider, Name: ch.Provider, DisplayName: ch.Provider,
				AdapterClass: DefaultAdapterClass, AuthType: format.AuthBearer, Implicit: true})
		}
		if ch.Enabled && len(c.BaseURLs(&ch)) == 0 {
			s.fail(ch.Pos, path, "no base URL: set base_url on the channel or on providers.%s", ch.Provider)
			return
		}
		if ch.Enabled && ch.KeyPlaceholder {
			s.warn(at(e.file, find(es, "api_key").vn), "placeholder api key", join(path, "api_key"),
				"empty or a placeholder: the channel is kept but has no key until you set one (${ENV_VAR} preferred)")
		}
		c.Channels = append(c.Channels, ch)
	}
}

func (s *state) channel(path string, es []entry) Channel {
	ch := Channel{Enabled: true, Priority: DefaultPriority, Weight: DefaultWeight}
	s.fields(path, es, func(k string, v val) bool {
		switch k {
		case "id":
			ch.ID = v.nonEmpty()
		case "name":
			ch.Name = v.str()
		case "provider":
			ch.Provider = v.nonEmpty()
		case "model_name":
			ch.ModelName = v.nonEmpty()
		case "api_key":
			ch.APIKey, ch.KeyPlaceholder = v.secret()
		case "base_url":
			ch.BaseURLs = v.urls()
		case "models_url":
			ch.ModelsURL = v.url()
		case "fallback_urls":
			ch.FallbackURLs = v.urls()
		case "enabled":
			ch.Enabled = v.boolean()
		case "priority":
			ch.Priority = int(v.integer(0, math.MaxInt32))
		case "weight":
			ch.Weight = v.nonNeg("a relative weight")
		case "daily_limit":
			ch.DailyLimit = v.integer(0, math.MaxInt64)
		case "capabilities":
			ch.Capabilities = v.strs()
		case "tags":
			ch.Tags = v.strs()
		case "configured_models":
			ch.ConfiguredModels = v.strs()
		case "cost_per_token":
			s.prices(v, &ch.CostPerToken, "input", "output", 1)
		case "pricing":
			s.prices(v, &ch.PricePer1K, "input_cost_per_1k", "output_cost_per_1k", 1000)
		case "model_aliases":
			for _, a := range s.mapping(v.file, v.path, v.n) {
				av := val{s: s, file: a.file, path: join(v.path, a.key), n: a.vn}
				if strings.TrimSpace(a.key) == "" {
					s.fail(at(a.file, a.kn), v.path, "an alias name must not be empty")
				}
				if isNull(a.vn) {
					s.fail(at(a.file, a.kn), av.path, "missing the channel's model id")
					break
				}
				ch.Aliases = append(ch.Aliases, format.Alias{Standard: a.key, Target: av.nonEmpty()})
			}
		case "performance":
			ch.Performance = map[string]float64{}
			s.fields(v.path, s.mapping(v.file, v.path, v.n), func(k string, v val) bool {
				f := v.number()
				if k == "speed_score" {
					if f < 0 || f > 1 {
						v.fail("must be between 0 and 1, got %g", f)
					}
					ch.SpeedScore = f
				}
				ch.Performance[k] = f
				return true
			})
		case "currency_exchange":
			ch.Currency = s.currency(v)
		case "min_request_interval":
			ch.MinRequestInterval = v.seconds(false)
		default:
			return false
		}
		return true
	})
	if ch.Name == "" {
		ch.Name = ch.ID
	}
	return ch
}

// prices reads a {in: x, out: y} price mapping; values are divided by per.
func (s *state) prices(v val, p *TokenPrices, in, out string, per float64) {
	unit := "USD per token"
	if per != 1 {
		unit = fmt.Sprintf("USD per %g tokens", per)
	}
	s.fields(v.path, s.mapping(v.file, v.path, v.n), func(k string, v val) bool {
		var dst **float64
		switch k {
		case in:
			dst = &p.Input
		case out:
			dst = &p.Output
		default:
			return false
		}
		f := v.nonNeg(unit) / per
		*dst = &f
		return true
	})
}

func (s *state) currency(v val) *CurrencyExchange {
	es := s.mapping(v.file, v.path, v.n)
	s.require(v.file, v.path, v.n, es, "rate")
	cx := &CurrencyExchange{}
	s.fields(v.path, es, func(k string, v val) bool {
		switch k {
		case "from":
			cx.From = v.str()
		case "to":
			cx.To = v.str()
		case "description":
			cx.Description = v.str()
		case "rate":
			cx.Rate = v.number()
			if cx.Rate <= 0 {
				v.fail("must be more than 0 (it multiplies every price of the channel), got %s", describe(v.n))
			}
		default:
			return false
		}
		return true
	})
	if cx.Rate == 0 && s.err == nil { // rate: null
		s.fail(v.pos(), v.path, "rate must be set and more than 0")
	}
	return cx
}

func builtinStrategy(name string) bool {
	switch name {
	case "cost_first", "free_first", "local_first", "cost_optimized", "speed_optimized", "quality_optimized", "balanced":
		return true
	}
	return false
}

// scoreFields are the score names a sorting strategy may weight.
const scoreFields = "cost, speed, quality, reliability, parameter, context, free, local"

func scoreField(f string) bool {
	switch f {
	case "cost", "speed", "quality", "reliability", "parameter", "context", "free", "local":
		return true
	}
	return false
}

// routing decodes the merged routing section; it reports whether prewarm was
// set explicitly.
func (s *state) routing(es []entry, c *Config) (prewarmSet bool) {
	r := &c.Routing
	var strategyAt diag.Pos
	var inSet, outSet bool
	s.fields("routing", es, func(k string, v val) bool {
		switch k {
		case "default_strategy":
			r.DefaultStrategy, strategyAt = v.nonEmpty(), v.pos()
		case "enable_fallback":
			r.EnableFallback = v.boolean()
		case "max_retry_attempts":
			r.MaxRetryAttempts = int(v.integer(1, 1000))
		case "error_cooldown_period":
			r.ErrorCooldownPeriod = v.seconds(false)
		case "health_check_interval":
			r.HealthCheckInterval = v.seconds(true)
		case "model_filters":
			f := &r.ModelFilters
			s.fields(v.path, s.mapping(v.file, v.path, v.n), func(k string, v val) bool {
				switch k {
				case "min_context_length":
					f.MinContextLength = v.integer(0, math.MaxInt64)
				case "min_parameter_count":
					f.MinParameterCount = v.integer(0, math.MaxInt64)
				case "exclude_embedding_models":
					f.ExcludeEmbeddingModels = v.boolean()
				case "exclude_vision_only_models":
					f.ExcludeVisionOnlyModels = v.boolean()
				default:
					return false
				}
				return true
			})
		case "sorting_strategies":
			for _, se := range s.mapping(v.file, v.path, v.n) {
				r.SortingStrategies = append(r.SortingStrategies, s.strategy(se, join(v.path, se.key)))
			}
		case "prewarm":
			r.Prewarm, prewarmSet = v.strs(), true
		case "learned_prewarm":
			r.LearnedPrewarm = int(v.integer(0, MaxLearnedPrewarm))
		case "strip_reasoning":
			r.StripReasoning = v.boolean()
		case "response_metadata":
			r.ResponseMetadata = v.boolean()
		case "quality_scores":
			r.QualityScores = []format.QualityRule{}
			for _, q := range s.mapping(v.file, v.path, v.n) {
				if q.key == "" {
					s.fail(at(q.file, q.kn), v.path, "a quality substring must not be empty")
				}
				qv := val{s: s, file: q.file, path: join(v.path, q.key), n: q.vn}
				if isNull(q.vn) {
					s.fail(at(q.file, q.kn), qv.path, "missing the score (0 to 1)")
					break
				}
				f := qv.number()
				if f < 0 || f > 1 {
					qv.fail("must be between 0 and 1, got %g", f)
				}
				r.QualityScores = append(r.QualityScores, format.QualityRule{Substring: q.key, Score: float32(f)})
			}
		case "default_input_price":
			r.DefaultInputPrice, inSet = v.nonNeg("USD per million tokens"), true
		case "default_output_price":
			r.DefaultOutputPrice, outSet = v.nonNeg("USD per million tokens"), true
		default:
			return false
		}
		return true
	})
	if !inSet && c.Pricing.DefaultInputPrice != nil {
		r.DefaultInputPrice = *c.Pricing.DefaultInputPrice
	}
	if !outSet && c.Pricing.DefaultOutputPrice != nil {
		r.DefaultOutputPrice = *c.Pricing.DefaultOutputPrice
	}
	if s.err == nil && !builtinStrategy(r.DefaultStrategy) {
		found := false
		for _, st := range r.SortingStrategies {
			found = found || st.Name == r.DefaultStrategy
		}
		if !found {
			s.fail(strategyAt, "routing.default_strategy", "unknown strategy %q: use cost_first, free_first, local_first, cost_optimized, speed_optimized, quality_optimized, balanced or a name under sorting_strategies", r.DefaultStrategy)
		}
	}
	return prewarmSet
}

func (s *state) strategy(se entry, path string) format.Strategy {
	st := format.Strategy{Name: se.key}
	items := s.seq(se.file, path, se.vn)
	if len(items) == 0 && s.err == nil {
		s.fail(at(se.file, se.kn), path, "a strategy needs at least one {field, weight, order} item")
	}
	total := 0.0
	for j, it := range items {
		ipath := index(path, j)
		es := s.mapping(se.file, ipath, it)
		s.require(se.file, ipath, it, es, "field")
		f := format.StrategyField{Weight: 1}
		s.fields(ipath, es, func(k string, v val) bool {
			switch k {
			case "field":
				name := strings.TrimSuffix(strings.ToLower(strings.TrimSpace(v.str())), "_score")
				if !scoreField(name) && s.err == nil {
					v.fail("unknown score field %s; use one of %s (an optional _score suffix is allowed)", describe(v.n), scoreFields)
				}
				f.Field = name
			case "weight":
				f.Weight = v.nonNeg("a relative weight")
			case "order":
				switch o := strings.ToLower(strings.TrimSpace(v.str())); o {
				case "asc":
					f.Asc = true
				case "desc":
				default:
					v.fail("expected asc or desc, got %s", describe(v.n))
				}
			default:
				return false
			}
			return true
		})
		total += f.Weight
		st.Fields = append(st.Fields, f)
	}
	if total == 0 && len(items) > 0 && s.err == nil {
		s.fail(at(se.file, se.kn), path, "the weights add up to 0; give at least one field a positive weight")
	}
	return st
}

// usage decodes usage: enabled, path, retention_days, queue_size.
func (s *state) usage(e entry, u *Usage) {
	u.Present = true
	s.fields("usage", s.mapping(e.file, "usage", e.vn), func(k string, v val) bool {
		switch k {
		case "enabled":
			u.Enabled = v.boolean()
		case "path":
			p := v.nonEmpty()
			if name, ok, valid := envRef(strings.TrimSpace(p)); ok {
				// Kept as written (${NAME}): routerd reads the variable at
				// start, so a PostgreSQL password stays out of the snapshot.
				if !valid {
					v.fail("not a valid ${ENV_VAR} reference: the name must be letters, digits and _, not starting with a digit")
					return true
				}
				u.Path = "${" + name + "}"
				return true
			}
			if vocab.IsPostgresURL(p) {
				s.usagePostgresURL(v, p, u)
				return true
			}
			if strings.ContainsAny(p, "?#\x00") {
				v.fail("the path %q contains ? # or a NUL byte, which SQLite file names cannot hold here; choose a plain file name", p)
				return true
			}
			u.Path = p
		case "retention_days":
			u.RetentionDays = int(v.integer(0, MaxUsageRetentionDays))
		case "queue_size":
			u.QueueSize = int(v.integer(16, MaxUsageQueueSize))
		default:
			return false
		}
		return true
	})
}

// usagePostgresURL checks a literal postgres:// usage.path: a URL with a
// host and a database; a password written in it is a warning (an error
// where literal secrets are forbidden).
func (s *state) usagePostgresURL(v val, p string, u *Usage) {
	pu, err := url.Parse(p)
	if err != nil || pu.Host == "" || strings.Trim(pu.Path, "/") == "" {
		v.fail("not a usable PostgreSQL URL; write postgres://user@host:5432/database (the password through ${ENV_VAR}: path: ${ROUTER_USAGE_DB})")
		return
	}
	if _, has := pu.User.Password(); has {
		if s.opts.ForbidLiteralSecrets {
			v.fail("carries a password, which is not allowed here: write path: ${ROUTER_USAGE_DB} and set that variable for the server")
			return
		}
		s.warn(v.pos(), "literal secret", v.path, "password written in the file; prefer ${ROUTER_USAGE_DB} so the snapshot does not carry it")
	}
	u.Path = p
}

func (s *state) tasks(e entry, t *Tasks) {
	s.fields("tasks", s.mapping(e.file, "tasks", e.vn), func(k string, v val) bool {
		switch k {
		case "model_discovery":
			s.task(v, &t.ModelDiscovery)
		case "health_check":
			s.task(v, &t.HealthCheck)
		case "api_key_validation":
			s.task(v, &t.APIKeyValidation)
		default:
			return false
		}
		return true
	})
}

func (s *state) task(v val, t *Task) {
	var hours, minutes float64
	var set bool
	s.fields(v.path, s.mapping(v.file, v.path, v.n), func(k string, v val) bool {
		switch k {
		case "enabled":
			t.Enabled = v.boolean()
		case "run_on_startup":
			t.RunOnStartup = v.boolean()
		case "interval_hours":
			hours, set = v.nonNeg("hours"), true
		case "interval_minutes":
			minutes, set = v.nonNeg("minutes"), true
		case "max_concurrent":
			t.MaxConcurrent = v.integer(0, maxConcurrent)
		default:
			return false
		}
		return true
	})
	if !set || s.err != nil {
		return
	}
	sec := hours*3600 + minutes*60
	switch {
	case sec == 0 && t.Enabled:
		s.fail(v.pos(), v.path, "interval_hours + interval_minutes must be more than 0 for an enabled task")
	case sec > maxSeconds:
		s.fail(v.pos(), v.path, "the interval is too long")
	default:
		t.Interval = secondsToDuration(sec)
	}
}

func (s *state) pricing(es []entry, p *Pricing) {
	if len(es) == 0 {
		return
	}
	p.Data = make(map[string]any, len(es))
	for _, e := range es {
		path := join("pricing", e.key)
		p.Data[e.key] = s.generic(e.file, path, e.vn)
		if (e.key == "default_input_price" || e.key == "default_output_price") && !isNull(e.vn) {
			f := val{s: s, file: e.file, path: path, n: e.vn}.nonNeg("USD per million tokens")
			if e.key == "default_input_price" {
				p.DefaultInputPrice = &f
			} else {
				p.DefaultOutputPrice = &f
			}
		}
	}
}

// performance keeps the useful keys of async_config; the keys of the Python
// plan that have no use here are accepted silently.
func (s *state) performance(es []entry, p *Performance) {
	p.Present = es != nil
	sub := func(v val, fn func(k string, v val) bool) {
		s.fields(v.path, s.mapping(v.file, v.path, v.n), fn)
	}
	s.fields("async_config", es, func(k string, v val) bool {
		switch k {
		case "config_loading":
			sub(v, func(k string, v val) bool {
				switch k {
				case "timeout_seconds":
					p.ConfigLoadTimeout = v.seconds(false)
				case "fallback_enabled":
					p.FallbackEnabled = v.boolean()
				case "parallel_workers":
				default:
					return false
				}
				return true
			})
		case "cache_loading":
			sub(v, func(k string, v val) bool {
				switch k {
				case "timeout_seconds":
					p.CacheLoadTimeout = v.seconds(false)
				case "stream_buffer_size", "parallel_streams", "progressive_threshold":
				default:
					return false
				}
				return true
			})
		case "memory_usage_limit":
			p.MemoryLimit = v.memory()
		case "fallback_thresholds":
			// The seed's spelling of the same limits, in one mapping.
			sub(v, func(k string, v val) bool {
				switch k {
				case "config_load_timeout":
					p.ConfigLoadTimeout = v.seconds(false)
				case "cache_load_timeout":
					p.CacheLoadTimeout = v.seconds(false)
				case "memory_usage_limit":
					p.MemoryLimit = v.memory()
				default:
					return false
				}
				return true
			})
		case "index_building":
			sub(v, func(k string, v val) bool {
				switch k {
				case "priority_tags":
					p.PriorityTags = v.strs()
				case "lazy_enabled", "background_workers":
				default:
					return false
				}
				return true
			})
		case "startup_optimization":
			sub(v, func(k string, v val) bool {
				switch k {
				case "prewarming_enabled":
					p.PrewarmingEnabled = v.boolean()
				case "precomputation_enabled":
					p.PrecomputationEnabled = v.boolean()
				case "parallel_services":
				default:
					return false
				}
				return true
			})
		default:
			return false
		}
		return true
	})
}
