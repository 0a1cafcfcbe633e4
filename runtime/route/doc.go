// Package route chooses: it turns a request's model string into an ordered
// list of (channel, model) pairs of the current snapshot.
//
// A model string is parsed once (Parse) into a Query: a parameter comparison
// (qwen->8b), a tag query (tag:qwen,!free,>=32ki) or a physical name
// (gpt-4o-mini). A Router, made per snapshot, resolves the query against the
// snapshot's roaring tag postings into a candidate set (cached per model
// string, seeded from the snapshot's prewarm lists), drops the pairs that the
// filters exclude (disabled channel, no key, cooldown, health, interval,
// request needs) and orders the rest by the strategy's weighted score.
//
// Live holds what routing learns while serving (health, latency, cooldowns,
// last use), keyed by channel and model ids so that it outlives snapshot
// swaps. The caller reports every attempt's outcome.Outcome (runtime/outcome:
// the kinds and the cooldown table) with Router.Report, by pair ordinal, or
// Live.Report, by ids. Router.Cost prices a request on a pair, for the cost
// score and for the caller's response metadata. Explain output describes every decision for the admin endpoint.
package route
