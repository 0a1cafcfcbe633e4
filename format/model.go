package format

// This file holds the in-memory form of a snapshot: what the compiler hands to
// Write, and (except for Pair.Tags) what the reader gives back. All prices are
// integer pico-USD per token (1 pico-USD = 1e-12 USD), which is the same number
// as micro-USD per million tokens. PriceUnknown marks a price nobody supplied.

// PriceUnknown is stored in a price field whose value is not known.
const PriceUnknown = ^uint64(0)

// PicoUSDPerUSD converts USD to the stored price unit (pico-USD).
const PicoUSDPerUSD = 1e12

// Auth types of a provider.
const (
	AuthBearer  uint8 = 0 // Authorization: Bearer <key>
	AuthXAPIKey uint8 = 1 // x-api-key: <key>
	AuthAPIKey  uint8 = 2 // api-key: <key>
)

// Capability bits of a pair. A capability is only trusted when its Known bit is
// set: "unknown" means allowed by routing's filters.
const (
	CapVisionKnown uint32 = 1 << iota
	CapVision
	CapToolsKnown
	CapTools
)

// Flag bits of a pair.
const (
	FlagFree         uint32 = 1 << iota // tag rule 6: free channel, ":free"/"-free" token, or known zero price
	FlagLocal                           // tag rule 7: local channel or loopback base URL
	FlagEmbedding                       // id looks like an embedding/rerank model
	FlagChatExcluded                    // id excluded from chat (embedding, embed, rerank, search, vision-only, -vision)
)

// Secret is a credential as written in the config: either a reference to an
// environment variable, resolved by the server at load, or a literal value.
// Both empty means "no secret".
type Secret struct {
	Env     string // name of the environment variable, without ${}
	Literal string // embedded value (the compiler warns about these)
}

// IsZero reports whether the secret is absent.
func (s Secret) IsZero() bool { return s.Env == "" && s.Literal == "" }

// Model is a whole snapshot in memory.
type Model struct {
	Generation  uint64 // increases with every compile of the same output path
	BuildTime   int64  // Unix nanoseconds
	Fingerprint uint64 // xxhash64 of the sources; see SourcesFingerprint
	Settings    Settings
	Sources     []Source
	Providers   []Provider
	Channels    []Channel
	Models      []ModelInfo // distinct model ids; Write sorts them by name
	Pairs       []Pair      // Write sorts them by (model name, channel ordinal)
	Prewarm     []Prewarm
	KeyStates   []KeyState
	ClientKeys  []ClientKey // section clients (format 1.2), in config order
}

// Source is one input file of the compile, recorded for staleness checks.
type Source struct {
	Path    string // as given to the compiler (relative to the config or cache dir when inside it)
	Size    int64  // bytes
	ModTime int64  // Unix nanoseconds
	Hash    uint64 // xxhash64 of the contents
}

// Settings are the scalar and small-list parts of the config that the server needs.
type Settings struct {
	Host             string
	Port             uint16
	Debug            bool
	CORSOrigins      []string
	RequestTimeoutMs uint32
	MaxRequestSize   uint64 // bytes
	ConnectTimeoutMs uint32
	ReadTimeoutMs    uint32

	AuthEnabled  bool
	APIToken     Secret
	AdminEnabled bool
	AdminToken   Secret

	DefaultStrategy        string
	EnableFallback         bool
	MaxRetryAttempts       uint32
	ErrorCooldownSec       uint32
	HealthCheckIntervalSec uint32
	StripReasoning         bool
	ResponseMetadata       bool
	DefaultInputPrice      uint64 // pico-USD per token, used when a pair's price is unknown
	DefaultOutputPrice     uint64

	MinContextLength        uint64 // tokens, 0 = off
	MinParamsM              uint64 // millions of parameters, 0 = off
	ExcludeEmbeddingModels  bool
	ExcludeVisionOnlyModels bool

	// Start-up and resource limits (section limits, format 1.1; zero means
	// unset, and the runtime applies its own default).
	MemoryLimitBytes    uint64 // performance.memory_usage_limit
	ConfigLoadTimeoutMs uint32 // performance.async_config.config_loading.timeout_seconds
	CacheLoadTimeoutMs  uint32 // performance.async_config.cache_loading.timeout_seconds

	// StateRedisURL is state.redis_url (section state, format 1.2): the
	// Redis that replicas share live state through, as written (an ${ENV}
	// reference or a literal redis:// URL); zero = one process, nothing
	// shared. The server resolves it at load (vocab.ResolveSecret).
	StateRedisURL Secret

	// Usage is the usage ledger (section usage, format 1.2).
	Usage UsageSettings

	Quality    []QualityRule // first substring match wins
	Strategies []Strategy    // built-ins are not stored; these add to or override them
	Tasks      []Task
}

// UsageSettings are the usage ledger's settings (the usage: section of the
// config). A snapshot without them (Configured false) means the defaults:
// enabled, DefaultUsageRetentionDays, the default path and queue size.
type UsageSettings struct {
	Configured    bool   // the config had a usage: section
	Enabled       bool   // usage.enabled
	Path          string // usage.path; "" = the runtime's default under its data folder; a postgres:// URL (vocab.IsPostgresURL) or ${NAME} as written
	RetentionDays uint32 // usage.retention_days; 0 = keep every record
	QueueSize     uint32 // usage.queue_size; 0 = the runtime's default
}

// QualityRule maps a model-id substring to a quality score.
type QualityRule struct {
	Substring string
	Score     float32
}

// Strategy is a named weighting of scores.
type Strategy struct {
	Name   string
	Fields []StrategyField
}

// StrategyField is one weighted score of a strategy. Field is a score name
// without the "_score" suffix: cost, speed, quality, reliability, parameter,
// context, free, local.
type StrategyField struct {
	Field  string
	Weight float64
	Asc    bool // order: asc, uses 1 - score
}

// Task is a background job of the runtime.
type Task struct {
	Name         string // model_discovery, health_check, api_key_validation
	Enabled      bool
	IntervalSec  uint32
	RunOnStartup bool
	// MaxConcurrent is tasks.<name>.max_concurrent (0 = unset). Stored in
	// the limits section (format 1.1), in the order of Settings.Tasks.
	MaxConcurrent uint32
}

// Provider is an upstream kind.
type Provider struct {
	Key          string // key of the providers map
	Name         string
	DisplayName  string
	Adapter      string
	BaseURL      string
	AuthType     uint8
	RateLimit    uint32
	Capabilities []string
}

// Channel is one (endpoint, key) that serves many models.
type Channel struct {
	ID                   string
	Name                 string
	Provider             uint32 // ordinal into Model.Providers
	ModelName            string // configured model_name ("auto" allowed)
	APIKey               Secret
	BaseURLs             []string // the channel's own, or the provider's
	Enabled              bool
	Priority             int32 // lower is better
	Weight               float64
	DailyLimit           uint64
	MinRequestIntervalMs uint32
	SpeedScore           float32 // performance.speed_score; 0 = not set
	CurrencyRate         float64 // already applied to prices; kept for display
	Tags                 []string
	Capabilities         []string
	Aliases              []Alias
}

// Alias is one model_aliases entry of a channel.
type Alias struct {
	Standard string // the name clients use
	Target   string // the channel's model id
}

// ModelInfo is one distinct model id across all channels.
type ModelInfo struct {
	Name    string
	OwnedBy string
	Created int64 // Unix seconds, 0 unknown
}

// Pair is (channel, model) with every static routing feature.
type Pair struct {
	Channel         uint32 // ordinal into Channels
	Model           uint32 // ordinal into Models (Write remaps it after sorting)
	InputPrice      uint64 // pico-USD per token, or PriceUnknown
	OutputPrice     uint64
	RequestPrice    uint64
	ContextLength   uint64 // tokens, 0 unknown
	MaxOutputTokens uint64 // tokens, 0 unknown
	ParamsM         uint64 // parameter count in millions, 0 unknown
	Caps            uint32 // Cap* bits
	Flags           uint32 // Flag* bits
	ParameterScore  float32
	ContextScore    float32
	QualityScore    float32
	FreeScore       float32
	LocalScore      float32
	Tags            []string // writer input only; the reader answers tags through the postings
}

// Prewarm is a precomputed candidate set for a hot model string.
type Prewarm struct {
	Query string
	Pairs []uint32 // ordinals into Pairs after Write's sort, ascending
}

// KeyState is the key-validation cache's verdict on one channel.
type KeyState struct {
	Channel             uint32
	Valid               bool
	ErrorType           string // invalid_key, quota_exceeded, rate_limit, server_error, network_error, unknown
	StatusCode          uint16
	LatencyMs           uint32
	Timestamp           int64 // Unix seconds
	ConsecutiveFailures uint32
	HealthScore         float32 // -1 when absent
}

// ClientKey is one client_keys entry (section clients, format 1.2): who may
// call the API, with what, and how much. The key itself is never stored:
// either KeyEnv names the environment variable the server reads it from at
// load, or KeyHash is its SHA-256 (exactly one of the two is set).
type ClientKey struct {
	Name    string   // unique among the keys; shown in logs, metrics and the usage ledger
	KeyEnv  string   // ${ENV} reference (the name, without ${}), or ""
	KeyHash [32]byte // SHA-256 of the key when KeyEnv is ""
	// Models are the allowed model ids and tag queries, as written; empty
	// allows every model.
	Models     []string
	DailyUSD   float64 // budget per UTC day, 0 = none
	MonthlyUSD float64 // budget per UTC month, 0 = none
	RPM        uint32  // requests per minute, 0 = no limit
	TPM        uint64  // tokens per minute, 0 = no limit
	Concurrent uint32  // requests in flight, 0 = no limit
	Strategy   string  // default strategy of the key's requests, "" = the router's
	Expires    int64   // Unix seconds after which the key is refused, 0 = never
}

// HasHash reports whether the key is stored as a hash (not an ${ENV} reference).
func (k *ClientKey) HasHash() bool { return k.KeyEnv == "" }
