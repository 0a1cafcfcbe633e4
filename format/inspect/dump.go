package inspect

import (
	"bufio"
	"fmt"
	"io"
	"net/url"
	"strconv"
	"strings"
	"time"

	"smartrouter/format"
)

// MaskSecret shows a secret without revealing it: "${NAME}" for an
// environment reference, "<literal, N chars>" for a literal, "none" when
// absent.
func MaskSecret(s format.Secret) string {
	switch {
	case s.Env != "":
		return "${" + s.Env + "}"
	case s.Literal != "":
		return fmt.Sprintf("<literal, %d chars>", len([]rune(s.Literal)))
	}
	return "none"
}

// MaskStateURL shows state.redis_url without its password: an ${ENV}
// reference as written, a literal URL through MaskURL, "none" when unset.
func MaskStateURL(s format.Secret) string {
	if s.Literal != "" {
		return strconv.Quote(MaskURL(s.Literal))
	}
	return MaskSecret(s)
}

// masked replaces a credential in a URL.
const masked = "REDACTED"

// MaskURL shows a base URL without the credentials it may carry: the
// userinfo (user:password@, or a lone user@ that is often a token) and the
// values of query parameters whose name looks like a credential (key,
// api_key, apikey, token, access_token, secret, password, auth, sig,
// signature, code, and any name containing key, token, secret, pass, auth or
// sig). Everything else is kept as written, so two dumps still compare.
func MaskURL(s string) string {
	rest, frag, hasFrag := strings.Cut(s, "#")
	base, query, hasQuery := strings.Cut(rest, "?")
	if i := strings.Index(base, "://"); i >= 0 {
		auth := base[i+3:]
		path := ""
		if j := strings.IndexByte(auth, '/'); j >= 0 {
			auth, path = auth[:j], auth[j:]
		}
		if at := strings.LastIndexByte(auth, '@'); at >= 0 {
			user := auth[:at]
			if name, _, ok := strings.Cut(user, ":"); ok && name != "" {
				user = name + ":" + masked
			} else {
				user = masked
			}
			auth = user + auth[at:]
		}
		base = base[:i+3] + auth + path
	}
	out := base
	if hasQuery {
		parts := strings.Split(query, "&")
		for k, p := range parts {
			name, _, ok := strings.Cut(p, "=")
			if ok && secretParam(name) {
				parts[k] = name + "=" + masked
			}
		}
		out += "?" + strings.Join(parts, "&")
	}
	if hasFrag {
		out += "#" + frag
	}
	return out
}

// secretParam reports whether a query parameter name looks like it holds a
// credential.
func secretParam(name string) bool {
	if u, err := url.QueryUnescape(name); err == nil {
		name = u
	}
	n := strings.ToLower(name)
	n = strings.NewReplacer("-", "", "_", "", ".", "").Replace(n)
	switch n {
	case "key", "apikey", "token", "accesstoken", "secret", "password", "pass", "pwd", "auth", "sig", "signature", "code", "credential", "credentials":
		return true
	}
	for _, w := range []string{"key", "token", "secret", "pass", "auth", "sig"} {
		if strings.Contains(n, w) {
			return true
		}
	}
	return false
}

func maskURLs(l []string) []string {
	out := make([]string, len(l))
	for i, s := range l {
		out[i] = MaskURL(s)
	}
	return out
}

// FormatPrice shows a price in pico-USD per token as USD per million tokens
// with six decimals (exact: the stored unit is micro-USD per million).
func FormatPrice(p uint64) string {
	if p == format.PriceUnknown {
		return "unknown"
	}
	return fmt.Sprintf("$%d.%06d/M", p/1_000_000, p%1_000_000)
}

// formatRequestPrice shows a per-request price (pico-USD) in USD.
func formatRequestPrice(p uint64) string {
	if p == format.PriceUnknown {
		return "unknown"
	}
	return fmt.Sprintf("$%d.%012d", p/1_000_000_000_000, p%1_000_000_000_000)
}

func f32s(f float32) string { return strconv.FormatFloat(float64(f), 'g', -1, 32) }
func f64s(f float64) string { return strconv.FormatFloat(f, 'g', -1, 64) }

func quoteList(l []string) string {
	q := make([]string, len(l))
	for i, s := range l {
		q[i] = strconv.Quote(s)
	}
	return "[" + strings.Join(q, ", ") + "]"
}

// formatTime shows a Unix-nanosecond time as UTC RFC 3339, 0 as "0".
func formatTime(ns int64) string {
	if ns == 0 {
		return "0"
	}
	return time.Unix(0, ns).UTC().Format(time.RFC3339Nano)
}

func formatUnix(sec int64) string {
	if sec == 0 {
		return "0"
	}
	return time.Unix(sec, 0).UTC().Format(time.RFC3339)
}

// capWord shows one capability: yes, no or unknown.
func capWord(caps, known, has uint32) string {
	switch {
	case caps&known == 0:
		return "unknown"
	case caps&has != 0:
		return "yes"
	}
	return "no"
}

// FlagWords lists the flags of a pair by name.
func FlagWords(flags uint32) string {
	var w []string
	for _, f := range []struct {
		bit  uint32
		name string
	}{{format.FlagFree, "free"}, {format.FlagLocal, "local"}, {format.FlagEmbedding, "embedding"}, {format.FlagChatExcluded, "chat_excluded"}} {
		if flags&f.bit != 0 {
			w = append(w, f.name)
		}
	}
	if len(w) == 0 {
		return "none"
	}
	return strings.Join(w, ",")
}

func authName(a uint8) string {
	switch a {
	case format.AuthBearer:
		return "bearer"
	case format.AuthXAPIKey:
		return "x-api-key"
	case format.AuthAPIKey:
		return "api-key"
	}
	return strconv.Itoa(int(a))
}

// pairTagLists inverts the tag postings: the tag names of every pair, in
// dictionary (sorted) order. It costs one pass over all postings.
func pairTagLists(s *format.Snapshot) [][]string {
	out := make([][]string, s.NumPairs())
	for t := 0; t < s.NumTags(); t++ {
		name, _ := s.Tag(uint32(t))
		it := s.TagPairs(uint32(t)).Iterator()
		for it.HasNext() {
			p := it.Next()
			if int(p) < len(out) {
				out[p] = append(out[p], name)
			}
		}
	}
	return out
}

// settingsLines renders the settings, one "key: value" per line.
func settingsLines(st *format.Settings) []string {
	l := []string{
		"host: " + strconv.Quote(st.Host),
		"port: " + strconv.Itoa(int(st.Port)),
		"debug: " + strconv.FormatBool(st.Debug),
		"cors_origins: " + quoteList(st.CORSOrigins),
		"request_timeout_ms: " + strconv.FormatUint(uint64(st.RequestTimeoutMs), 10),
		"max_request_size: " + strconv.FormatUint(st.MaxRequestSize, 10),
		"connect_timeout_ms: " + strconv.FormatUint(uint64(st.ConnectTimeoutMs), 10),
		"read_timeout_ms: " + strconv.FormatUint(uint64(st.ReadTimeoutMs), 10),
		"auth_enabled: " + strconv.FormatBool(st.AuthEnabled),
		"api_token: " + MaskSecret(st.APIToken),
		"admin_enabled: " + strconv.FormatBool(st.AdminEnabled),
		"admin_token: " + MaskSecret(st.AdminToken),
		"default_strategy: " + strconv.Quote(st.DefaultStrategy),
		"enable_fallback: " + strconv.FormatBool(st.EnableFallback),
		"max_retry_attempts: " + strconv.FormatUint(uint64(st.MaxRetryAttempts), 10),
		"error_cooldown_sec: " + strconv.FormatUint(uint64(st.ErrorCooldownSec), 10),
		"health_check_interval_sec: " + strconv.FormatUint(uint64(st.HealthCheckIntervalSec), 10),
		"strip_reasoning: " + strconv.FormatBool(st.StripReasoning),
		"response_metadata: " + strconv.FormatBool(st.ResponseMetadata),
		"default_input_price: " + FormatPrice(st.DefaultInputPrice),
		"default_output_price: " + FormatPrice(st.DefaultOutputPrice),
		"min_context_length: " + strconv.FormatUint(st.MinContextLength, 10),
		"min_params_m: " + strconv.FormatUint(st.MinParamsM, 10),
		"exclude_embedding_models: " + strconv.FormatBool(st.ExcludeEmbeddingModels),
		"exclude_vision_only_models: " + strconv.FormatBool(st.ExcludeVisionOnlyModels),
		"memory_limit_bytes: " + strconv.FormatUint(st.MemoryLimitBytes, 10),
		"config_load_timeout_ms: " + strconv.FormatUint(uint64(st.ConfigLoadTimeoutMs), 10),
		"cache_load_timeout_ms: " + strconv.FormatUint(uint64(st.CacheLoadTimeoutMs), 10),
		"state_redis_url: " + MaskStateURL(st.StateRedisURL),
		fmt.Sprintf("usage: configured %t, enabled %t, path %q, retention_days %d, queue_size %d",
			st.Usage.Configured, st.Usage.Enabled, MaskURL(st.Usage.Path), st.Usage.RetentionDays, st.Usage.QueueSize),
	}
	for _, q := range st.Quality {
		l = append(l, fmt.Sprintf("quality %q: %s", q.Substring, f32s(q.Score)))
	}
	for _, s := range st.Strategies {
		var f []string
		for _, x := range s.Fields {
			order := "desc"
			if x.Asc {
				order = "asc"
			}
			f = append(f, fmt.Sprintf("%s %s %s", x.Field, f64s(x.Weight), order))
		}
		l = append(l, fmt.Sprintf("strategy %q: %s", s.Name, strings.Join(f, ", ")))
	}
	for _, t := range st.Tasks {
		l = append(l, fmt.Sprintf("task %s: enabled=%t interval_sec=%d run_on_startup=%t max_concurrent=%d",
			t.Name, t.Enabled, t.IntervalSec, t.RunOnStartup, t.MaxConcurrent))
	}
	return l
}

// providerLines renders one provider.
func providerLines(p *format.Provider) []string {
	return []string{
		"name: " + strconv.Quote(p.Name),
		"display_name: " + strconv.Quote(p.DisplayName),
		"adapter: " + strconv.Quote(p.Adapter),
		"base_url: " + strconv.Quote(MaskURL(p.BaseURL)),
		"auth_type: " + authName(p.AuthType),
		"rate_limit: " + strconv.FormatUint(uint64(p.RateLimit), 10),
		"capabilities: " + quoteList(p.Capabilities),
	}
}

// channelLines renders one channel; the key is masked.
func channelLines(c *format.Channel, provs []format.Provider) []string {
	prov := strconv.Itoa(int(c.Provider))
	if int(c.Provider) < len(provs) {
		prov = provs[c.Provider].Key
	}
	rate := "none"
	if c.CurrencyRate != 0 {
		rate = f64s(c.CurrencyRate)
	}
	var al []string
	for _, a := range c.Aliases {
		al = append(al, strconv.Quote(a.Standard)+" -> "+strconv.Quote(a.Target))
	}
	return []string{
		"name: " + strconv.Quote(c.Name),
		"provider: " + prov,
		"model_name: " + strconv.Quote(c.ModelName),
		"api_key: " + MaskSecret(c.APIKey),
		"base_urls: " + quoteList(maskURLs(c.BaseURLs)),
		"enabled: " + strconv.FormatBool(c.Enabled),
		"priority: " + strconv.Itoa(int(c.Priority)),
		"weight: " + f64s(c.Weight),
		"daily_limit: " + strconv.FormatUint(c.DailyLimit, 10),
		"min_request_interval_ms: " + strconv.FormatUint(uint64(c.MinRequestIntervalMs), 10),
		"speed_score: " + f32s(c.SpeedScore),
		"currency_rate: " + rate,
		"tags: " + quoteList(c.Tags),
		"capabilities: " + quoteList(c.Capabilities),
		"aliases: [" + strings.Join(al, ", ") + "]",
	}
}

// pairLines renders the fields of one pair (tags separately).
func pairLines(p *format.Pair) []string {
	return []string{
		fmt.Sprintf("price: input=%s output=%s request=%s", FormatPrice(p.InputPrice), FormatPrice(p.OutputPrice), formatRequestPrice(p.RequestPrice)),
		fmt.Sprintf("sizes: context=%d max_output=%d params_m=%d", p.ContextLength, p.MaxOutputTokens, p.ParamsM),
		fmt.Sprintf("caps: vision=%s tools=%s", capWord(p.Caps, format.CapVisionKnown, format.CapVision), capWord(p.Caps, format.CapToolsKnown, format.CapTools)),
		"flags: " + FlagWords(p.Flags),
		fmt.Sprintf("scores: parameter=%s context=%s quality=%s free=%s local=%s", f32s(p.ParameterScore), f32s(p.ContextScore), f32s(p.QualityScore), f32s(p.FreeScore), f32s(p.LocalScore)),
	}
}

func keyStateLine(k *format.KeyState, chans []format.Channel) string {
	id := strconv.Itoa(int(k.Channel))
	if int(k.Channel) < len(chans) {
		id = chans[k.Channel].ID
	}
	et := k.ErrorType
	if et == "" {
		et = "-"
	}
	health := "absent"
	if k.HealthScore >= 0 {
		health = f32s(k.HealthScore)
	}
	return fmt.Sprintf("%s valid=%t error_type=%s status=%d latency_ms=%d timestamp=%s consecutive_failures=%d health=%s",
		id, k.Valid, et, k.StatusCode, k.LatencyMs, formatUnix(k.Timestamp), k.ConsecutiveFailures, health)
}

// ClientKeyLine renders a client key on one line: its name, the key as its
// ${ENV} reference or the first 8 hex digits of its SHA-256 (never more, so
// the line can be pasted anywhere), the allowed models and every limit.
func ClientKeyLine(k *format.ClientKey) string {
	key := "${" + k.KeyEnv + "}"
	if k.HasHash() {
		key = fmt.Sprintf("sha256:%x…", k.KeyHash[:4])
	}
	models := "all"
	if len(k.Models) > 0 {
		models = quoteList(k.Models)
	}
	strategy := k.Strategy
	if strategy == "" {
		strategy = "default"
	}
	expires := "never"
	if k.Expires != 0 {
		expires = formatUnix(k.Expires)
	}
	return fmt.Sprintf("%s key=%s models=%s daily_usd=%s monthly_usd=%s rpm=%d tpm=%d concurrent=%d strategy=%s expires=%s",
		k.Name, key, models, f64s(k.DailyUSD), f64s(k.MonthlyUSD), k.RPM, k.TPM, k.Concurrent, strategy, expires)
}

// Dump writes everything in s as stable, human-readable text: header,
// sources, settings, providers, channels (keys masked: see MaskSecret),
// models, pairs with all their fields and tags, the tag dictionary, prewarm
// lists, key states and client keys (hash prefixes only). The same snapshot always gives the same text, which
// makes it fit for golden tests and for diffing two snapshots with diff(1).
func Dump(out io.Writer, s *format.Snapshot) error {
	w := bufio.NewWriterSize(out, 64<<10)
	h := s.Header()
	fmt.Fprintf(w, "# snapshot\nformat: %d.%d\ngeneration: %d\nbuild_time: %s\nfingerprint: %016x\nsize: %d bytes\n",
		h.Major, h.Minor, h.Generation, formatTime(h.BuildTime), h.Fingerprint, h.FileSize)

	srcs := s.Sources()
	fmt.Fprintf(w, "\n# sources (%d)\n", len(srcs))
	for _, src := range srcs {
		if src.Size < 0 {
			fmt.Fprintf(w, "%s absent\n", src.Path)
			continue
		}
		fmt.Fprintf(w, "%s size=%d mtime=%s hash=%016x\n", src.Path, src.Size, formatTime(src.ModTime), src.Hash)
	}

	fmt.Fprintf(w, "\n# settings\n")
	for _, l := range settingsLines(s.Settings()) {
		fmt.Fprintln(w, l)
	}

	provs := s.Providers()
	fmt.Fprintf(w, "\n# providers (%d)\n", len(provs))
	for i := range provs {
		fmt.Fprintf(w, "[%d] %s\n", i, provs[i].Key)
		for _, l := range providerLines(&provs[i]) {
			fmt.Fprintf(w, "  %s\n", l)
		}
	}

	chans := s.Channels()
	fmt.Fprintf(w, "\n# channels (%d)\n", len(chans))
	for i := range chans {
		fmt.Fprintf(w, "[%d] %s\n", i, chans[i].ID)
		for _, l := range channelLines(&chans[i], provs) {
			fmt.Fprintf(w, "  %s\n", l)
		}
	}

	fmt.Fprintf(w, "\n# models (%d)\n", s.NumModels())
	for i := 0; i < s.NumModels(); i++ {
		m := s.Model(uint32(i))
		first, n := s.ModelPairs(uint32(i))
		fmt.Fprintf(w, "[%d] %s owned_by=%q created=%s pairs=%d..%d\n", i, m.Name, m.OwnedBy, formatUnix(m.Created), first, first+n)
	}

	ptags := pairTagLists(s)
	fmt.Fprintf(w, "\n# pairs (%d)\n", s.NumPairs())
	for i := 0; i < s.NumPairs(); i++ {
		p := s.Pair(uint32(i))
		cid := strconv.Itoa(int(p.Channel))
		if int(p.Channel) < len(chans) {
			cid = chans[p.Channel].ID
		}
		fmt.Fprintf(w, "[%d] %s %s\n", i, cid, s.Model(p.Model).Name)
		for _, l := range pairLines(&p) {
			fmt.Fprintf(w, "  %s\n", l)
		}
		fmt.Fprintf(w, "  tags: %s\n", strings.Join(ptags[i], " "))
	}

	fmt.Fprintf(w, "\n# tags (%d)\n", s.NumTags())
	for i := 0; i < s.NumTags(); i++ {
		name, card := s.Tag(uint32(i))
		fmt.Fprintf(w, "%s %d\n", name, card)
	}

	pw := s.Prewarm()
	fmt.Fprintf(w, "\n# prewarm (%d)\n", len(pw))
	for _, p := range pw {
		ords := make([]string, len(p.Pairs))
		for i, o := range p.Pairs {
			ords[i] = strconv.FormatUint(uint64(o), 10)
		}
		fmt.Fprintf(w, "%q (%d): %s\n", p.Query, len(p.Pairs), strings.Join(ords, " "))
	}

	ks := s.KeyStates()
	fmt.Fprintf(w, "\n# key states (%d)\n", len(ks))
	for i := range ks {
		fmt.Fprintln(w, keyStateLine(&ks[i], chans))
	}

	cks := s.ClientKeys()
	fmt.Fprintf(w, "\n# client keys (%d)\n", len(cks))
	for i := range cks {
		fmt.Fprintln(w, ClientKeyLine(&cks[i]))
	}
	return w.Flush()
}
