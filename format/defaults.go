package format

import "time"

// Defaults of Settings fields that both sides apply: the compiler fills them
// in for an unset config key, and the runtime uses them when a snapshot's
// field is zero.
const (
	DefaultMaxRetryAttempts = 3                 // routing.max_retry_attempts: pairs tried per request
	DefaultRequestTimeout   = 300 * time.Second // server.request_timeout: one whole upstream attempt
	// DefaultUsageRetentionDays is usage.retention_days when unset.
	DefaultUsageRetentionDays = 90
)
