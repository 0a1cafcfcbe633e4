// Package route chooses: it turns a request's model string into an ordered
// list of (channel, model) pairs of the current snapshot.
//
// The model string is read and resolved by format/query, the routing core
// that is a pure function of the snapshot (the compiler resolves the prewarm
// queries with the same code): Parse turns it into a query.Query (a parameter
// comparison qwen->8b, a tag query tag:qwen,!free,>=32ki or a physical name
// gpt-4o-mini), and a query.Resolver matches it against the snapshot's
// roaring tag postings. A Router, made per snapshot, keeps those candidate
// sets in a cache per model string (seeded from the snapshot's prewarm
// lists), drops the pairs that the filters exclude (disabled channel, no key,
// cooldown, health, interval, daily_limit and rate_limit (limits.go),
// request needs) and orders the rest by the
// strategy's weighted score. Key usability and local channels follow
// format/vocab's rules (vocab.HasKey, vocab.IsLocalChannel).
//
// Live holds what routing learns while serving (health, latency, cooldowns,
// last use, the day's and the minute's attempts per channel), keyed by channel and model ids so that it outlives snapshot
// swaps. The caller reports every attempt's outcome.Outcome (runtime/outcome:
// the kinds and the cooldown table) with Router.Report, by pair ordinal, or
// Live.Report, by ids. Cooldowns are incidents with half-open trials
// (failures of a running incident change nothing, periods double per failed
// trial up to a cap per kind, a success closes them); when every pair that
// could serve is cooling, Route panics to the one whose cooldown ends first
// (Decision.Panic), and a request that fits no pair's context is a
// *ContextLengthError, and an embeddings request whose model matches no
// embedding model a *NotEmbeddingError. Live.Reset and Live.Load end
// cooldowns on demand.
// Router.Cost prices a request on a pair, for the cost
// score and for the caller's response metadata. Explain output describes every decision for the admin endpoint.
package route
