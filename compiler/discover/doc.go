// Package discover asks providers for their model lists and checks channel
// keys, and writes what it learns into the caches the compiler reads: the
// discovery cache (discovered_models.json, in the Python router's format)
// and the key-validation cache (api_key_validation.json). routerc discover
// and routerc validate-keys run it once; routerd runs it as a background
// task.
//
// Run reads the channels from the config folder (compiler/config), asks
// every enabled channel that has a usable key (local channels need none)
// concurrently with a bound, and merges the answers into the cache:
//
//   - the shape of the list comes from the provider (adapter class, key,
//     base URL): OpenAI-style GET {base}/v1/models with a Bearer key (a base
//     that already ends in a version such as /v1 or /api/v3 gets /models),
//     OpenRouter (pricing, context_length, architecture kept in
//     models_data, prices in models_pricing), Anthropic (x-api-key and
//     anthropic-version), Gemini (x-goog-api-key, /v1beta/models,
//     inputTokenLimit and outputTokenLimit) and Ollama (/api/tags); a
//     channel's models_url replaces the address and its fallback_urls are
//     asked in turn when it fails;
//   - each call has its own timeout, reads at most MaxBody bytes and
//     follows at most MaxRedirects redirects; an HTML page, a non-2xx
//     status, a cut or oversized answer, a hang, a redirect loop and an
//     empty list are per-channel errors;
//   - a channel that fails keeps its last good entry, with last_error and
//     last_error_at recorded beside the models (status unchanged, so the
//     compiler still uses them); a channel that never had a good list gets
//     an error entry, for which the compiler falls back to the configured
//     models;
//   - every entry of the file that is not refreshed is written back byte
//     for byte, and an entry whose models did not change, or whose channel
//     failed again with the same error, is kept as it was, timestamps
//     included, so a run that learns nothing leaves the file untouched
//     (Report.Changed is false) and routerd builds no new generation;
//   - the merged file is compared with the old one and written piece by
//     piece, never assembled in memory, and answers are decoded one at a
//     time, so that a run inside a busy process stays small;
//   - the entry is keyed <channel id>_<8 hex of sha256(key)> where the file
//     already keys that channel so, else by the channel id;
//   - the file is replaced atomically (compiler.WriteFileAtomicFunc).
//
// ValidateKeys does the same for keys: one authenticated model-list call per
// channel, classified as valid or invalid_key, quota_exceeded, rate_limit,
// server_error, network_error or unknown, with the next check after
// 6 h × 2^consecutive failures (at most a day). The file never holds a
// plaintext key: api_key_hash (8 hex of its SHA-256) identifies it, and
// plaintext api_key members an older file had are dropped.
//
// Error texts never include a key: the key is redacted from provider
// messages, and URLs lose their query and user info.
package discover
