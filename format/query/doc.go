// Package query is the part of routing that is a pure function of a
// snapshot: it reads a model string (Parse) into a Query, a parameter
// comparison (qwen->8b), a tag query (tag:qwen,!free,>=32ki) or a physical
// name (gpt-4o-mini), and a Resolver, built once per snapshot, turns a Query
// into its static candidate set: the pairs it matches before any live filter,
// in ascending ordinal order.
//
// Both sides use it: the compiler resolves the configured prewarm queries
// with it and stores the lists in the snapshot, and runtime/route resolves
// request model strings with it (then caches, filters, scores and orders the
// candidates). It imports only the standard library, the roaring bitmaps of
// the snapshot, smartrouter/format and smartrouter/format/vocab.
package query
