package config

import (
	"time"

	"smartrouter/compiler/diag"
	"smartrouter/format"
)

// Limits applied when the matching Options field is zero.
const (
	DefaultMaxFileSize = 16 << 20 // bytes per YAML file
	DefaultMaxNodes    = 1 << 20  // YAML nodes per file, counted after alias expansion
	DefaultMaxAliases  = 10000    // alias nodes (*name and << merges) per file
)

// Defaults of the keys that have one (see README.md). server.request_timeout
// and routing.max_retry_attempts default to format.DefaultRequestTimeout and
// format.DefaultMaxRetryAttempts, which the runtime applies too.
const (
	DefaultHost               = "0.0.0.0"
	DefaultPort               = 7601
	DefaultMaxRequestSize     = 10485760 // bytes
	DefaultStrategy           = "cost_first"
	DefaultErrorCooldown      = 60 * time.Second
	DefaultHealthCheck        = 300 * time.Second
	DefaultInputPricePer1M    = 0.5 // USD per million input tokens
	DefaultOutputPricePer1M   = 1.5 // USD per million output tokens
	DefaultPriority           = 1
	DefaultWeight             = 1.0
	DefaultAdapterClass       = "OpenAIAdapter"
	DefaultModelDiscoveryTask = 6 * time.Hour
	DefaultHealthCheckTask    = 30 * time.Minute
	DefaultKeyValidationTask  = 24 * time.Hour
)

// DefaultLearnedPrewarm is routing.learned_prewarm when unset, and
// MaxLearnedPrewarm its largest value.
const (
	DefaultLearnedPrewarm = 10
	MaxLearnedPrewarm     = 256
)

// DefaultPrewarm returns the model strings precomputed when routing.prewarm is
// not set.
func DefaultPrewarm() []string {
	return []string{"tag:free", "tag:gpt", "tag:claude", "tag:local"}
}

// Options tune Load. The zero value is ready to use.
type Options struct {
	// ForbidLiteralSecrets turns every literal (non-${ENV}) secret into an
	// error instead of a warning.
	ForbidLiteralSecrets bool
	// MaxFileSize bounds each file read (0 = DefaultMaxFileSize).
	MaxFileSize int64
	// MaxNodes bounds the nodes of one file after alias expansion
	// (0 = DefaultMaxNodes).
	MaxNodes int
	// MaxAliases bounds the alias nodes of one file (0 = DefaultMaxAliases).
	MaxAliases int
}

// Config is the whole router configuration after overlays and defaults.
// Slices keep the order of the YAML files, so the same files always give
// the same Config.
type Config struct {
	Server      Server
	Auth        Auth
	Providers   []Provider // declared ones in file order, then the implicit ones
	Channels    []Channel  // file order
	Routing     Routing
	Tasks       Tasks
	Pricing     Pricing
	Performance Performance
	Usage       Usage
}

// Usage holds usage.* (the usage ledger of runtime/usage).
type Usage struct {
	Present       bool   // the config has a usage: section
	Enabled       bool   // default true
	Path          string // "" = routerd's default under its data folder
	RetentionDays int    // default format.DefaultUsageRetentionDays; 0 keeps every record
	QueueSize     int    // 0 = routerd's default
}

// Bounds of the usage keys.
const (
	MaxUsageRetentionDays = 36500
	MaxUsageQueueSize     = 1 << 20
)

// Server holds server.*.
type Server struct {
	Host           string // default "0.0.0.0"
	Port           int    // default 7601
	Debug          bool
	CORSOrigins    []string      // default ["*"]
	RequestTimeout time.Duration // request_timeout, seconds in YAML; default 300 s
	MaxRequestSize int64         // bytes; default 10485760
	ConnectTimeout time.Duration // connect_timeout, seconds; 0 = not set
	ReadTimeout    time.Duration // read_timeout, seconds; 0 = not set
}

// Auth holds auth.*.
type Auth struct {
	Enabled  bool          // default false
	APIToken format.Secret // auth.api_token; zero when absent or a placeholder
	Admin    Admin
}

// Admin holds auth.admin.*. Enabled is false when admin_token is missing and
// client auth is off (the Python router generated a token then; a compiled
// config cannot, so the admin endpoints stay open and a warning says so).
type Admin struct {
	Enabled bool // default true
	Token   format.Secret
}

// Provider is one entry of the providers map.
type Provider struct {
	Key          string // key in the providers map
	Name         string // default: Key
	DisplayName  string // default: Name
	AdapterClass string // default "OpenAIAdapter"
	BaseURL      string
	AuthType     uint8 // format.AuthBearer (default), AuthXAPIKey or AuthAPIKey
	RateLimit    int   // requests per minute, 0 = not set
	Capabilities []string
	// Implicit marks a provider made up for channels that name an undeclared
	// provider key: OpenAI-compatible, bearer auth, no base URL.
	Implicit bool
	Pos      diag.Pos // where the entry starts (zero when Implicit)
}

// Channel is one item of the channels list.
type Channel struct {
	ID        string
	Name      string // default: ID
	Provider  string // key into Config.Providers (always present there)
	ModelName string // "auto" allowed
	// APIKey is zero when the key is empty or a placeholder; then
	// KeyPlaceholder is true and the channel has no usable key.
	APIKey         format.Secret
	KeyPlaceholder bool
	BaseURLs       []string // the channel's own base_url (string or list); empty = the provider's
	Enabled        bool     // default true
	Priority       int      // default 1, lower is better
	Weight         float64  // default 1.0
	DailyLimit     int64    // requests per day, 0 = not set
	Capabilities   []string
	Tags           []string // as written; routing lowercases them
	// ConfiguredModels are the model ids used when discovery failed.
	ConfiguredModels []string
	// CostPerToken is cost_per_token {input, output} in USD per token.
	CostPerToken TokenPrices
	// PricePer1K is pricing {input_cost_per_1k, output_cost_per_1k},
	// converted to USD per token (divided by 1000).
	PricePer1K TokenPrices
	// Aliases are model_aliases {standard_name: channel_model_id} in file order.
	Aliases []format.Alias
	// Performance holds every numeric entry of performance as written;
	// SpeedScore is performance.speed_score (0..1, 0 = not set).
	Performance map[string]float64
	SpeedScore  float64
	// Currency is currency_exchange; nil when absent. Its Rate multiplies
	// every price of the channel.
	Currency           *CurrencyExchange
	MinRequestInterval time.Duration // min_request_interval, seconds in YAML
	Pos                diag.Pos      // where the list item starts

	// ModelsURL (models_url) replaces the model-list address that discovery
	// asks; FallbackURLs (fallback_urls) are asked in order when it fails.
	ModelsURL string

	FallbackURLs []string
}

// TokenPrices are an input and an output price in USD per token. A nil field
// was not given (which is not the same as a zero, free, price).
type TokenPrices struct {
	Input  *float64
	Output *float64
}

// CurrencyExchange is a channel's currency_exchange.
type CurrencyExchange struct {
	From        string
	To          string
	Rate        float64 // > 0
	Description string
}

// Routing holds routing.* after routing_config.yaml.
type Routing struct {
	DefaultStrategy     string // default "cost_first"; a built-in or a SortingStrategies name
	EnableFallback      bool   // default true
	MaxRetryAttempts    int    // default 3
	ErrorCooldownPeriod time.Duration
	HealthCheckInterval time.Duration
	ModelFilters        ModelFilters
	// SortingStrategies add to or override the built-in strategies, in file
	// order. Field names are normalised (cost_score -> cost).
	SortingStrategies []format.Strategy
	// Prewarm lists the model strings to precompute. See README.md for how
	// performance.yaml changes the default.
	Prewarm []string
	// LearnedPrewarm (routing.learned_prewarm, default
	// DefaultLearnedPrewarm, 0 = off) is how many of the model strings
	// routerd was asked for most (cache/request_patterns.json) join Prewarm.
	LearnedPrewarm   int
	StripReasoning   bool // default true
	ResponseMetadata bool // default true
	// QualityScores keep the file order: the first matching substring wins.
	// Nil means the built-in table.
	QualityScores []format.QualityRule
	// Default prices for pairs whose price is unknown, USD per million tokens:
	// routing.default_*_price, else pricing.default_*_price, else 0.5 / 1.5.
	DefaultInputPrice  float64
	DefaultOutputPrice float64
}

// ModelFilters holds routing.model_filters. Zero values turn a filter off.
type ModelFilters struct {
	MinContextLength        int64 // tokens
	MinParameterCount       int64 // millions of parameters
	ExcludeEmbeddingModels  bool
	ExcludeVisionOnlyModels bool
}

// Tasks holds tasks.*.
type Tasks struct {
	ModelDiscovery   Task
	HealthCheck      Task
	APIKeyValidation Task
}

// Task is one background job. Interval is interval_hours + interval_minutes.
type Task struct {
	Enabled      bool // default true
	Interval     time.Duration
	RunOnStartup bool // default false
	// MaxConcurrent is max_concurrent (0 = not set: the runtime decides).
	MaxConcurrent int64
}

// Pricing holds the pricing section (router_config.yaml's pricing merged with
// pricing_config.yaml) as generic data: map[string]any, []any, string, int,
// float64, bool or nil values, aliases expanded.
type Pricing struct {
	Data map[string]any
	// DefaultInputPrice and DefaultOutputPrice are pricing.default_input_price
	// and pricing.default_output_price (USD per million tokens), nil if absent.
	DefaultInputPrice  *float64
	DefaultOutputPrice *float64
}

// Performance keeps the useful parts of performance.yaml's async_config.
type Performance struct {
	Present bool // performance.yaml was read and had async_config
	// ConfigLoadTimeout is config_loading.timeout_seconds (0 = not set).
	ConfigLoadTimeout time.Duration
	// CacheLoadTimeout is cache_loading.timeout_seconds (0 = not set).
	CacheLoadTimeout time.Duration
	// MemoryLimit is memory_usage_limit in bytes (0 = not set): a number of
	// MB, or a string with a unit ("500MB", "1.5GB", "512MiB"; binary units).
	MemoryLimit     uint64
	FallbackEnabled bool     // config_loading.fallback_enabled, default true
	PriorityTags    []string // index_building.priority_tags
	// PrewarmingEnabled (startup_optimization.prewarming_enabled, default
	// true) and PrecomputationEnabled (precomputation_enabled, default true).
	PrewarmingEnabled     bool
	PrecomputationEnabled bool
}

// Provider returns the provider with the given key, or nil.
func (c *Config) Provider(key string) *Provider {
	for i := range c.Providers {
		if c.Providers[i].Key == key {
			return &c.Providers[i]
		}
	}
	return nil
}

// Channel returns the channel with the given id, or nil.
func (c *Config) Channel(id string) *Channel {
	for i := range c.Channels {
		if c.Channels[i].ID == id {
			return &c.Channels[i]
		}
	}
	return nil
}

func defaults() *Config {
	return &Config{
		Server: Server{
			Host:           DefaultHost,
			Port:           DefaultPort,
			CORSOrigins:    []string{"*"},
			RequestTimeout: format.DefaultRequestTimeout,
			MaxRequestSize: DefaultMaxRequestSize,
		},
		Auth:  Auth{Admin: Admin{Enabled: true}},
		Usage: Usage{Enabled: true, RetentionDays: format.DefaultUsageRetentionDays},
		Routing: Routing{
			DefaultStrategy:     DefaultStrategy,
			EnableFallback:      true,
			MaxRetryAttempts:    format.DefaultMaxRetryAttempts,
			ErrorCooldownPeriod: DefaultErrorCooldown,
			HealthCheckInterval: DefaultHealthCheck,
			Prewarm:             DefaultPrewarm(),
			LearnedPrewarm:      DefaultLearnedPrewarm,
			StripReasoning:      true,
			ResponseMetadata:    true,
			DefaultInputPrice:   DefaultInputPricePer1M,
			DefaultOutputPrice:  DefaultOutputPricePer1M,
		},
		Tasks: Tasks{
			ModelDiscovery:   Task{Enabled: true, Interval: DefaultModelDiscoveryTask},
			HealthCheck:      Task{Enabled: true, Interval: DefaultHealthCheckTask},
			APIKeyValidation: Task{Enabled: true, Interval: DefaultKeyValidationTask},
		},
		Performance: Performance{
			FallbackEnabled:       true,
			PrewarmingEnabled:     true,
			PrecomputationEnabled: true,
		},
	}
}
