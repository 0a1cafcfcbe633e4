// Package compiler turns a Python Smart AI Router installation (its config/
// and cache/ folders, unchanged) into a snapshot file that routerd maps.
//
// Build reads every input (compiler/config for the YAML, compiler/cache for
// the JSON caches and pricing files), joins them into one format.Model: the
// settings, providers and channels of the config, one pair per (channel,
// model id) with its price in one unit, context and output sizes, parameter
// count, capabilities, tags (format/vocab) and static scores, the
// key-validation verdicts, and the candidate sets of the configured prewarm
// queries (resolved with format/query against the snapshot itself). Compile
// writes the encoded model atomically: a temporary file in the output
// directory, fsync, rename, fsync of the directory, so a failed compile never
// leaves a partial snapshot where a server could map it.
//
// The result depends only on the inputs: channels keep the config order,
// everything else is sorted, no map order reaches the output, and with
// Options.Reproducible the build time and source modification times are
// zero, so the same inputs give the same bytes.
//
// The tools that describe compiled snapshots (Dump, Diff, Inspect) live in
// format/inspect; they read snapshots and need nothing from this package.
//
// docs/compiler.md describes every rule (which file wins for a price, which
// currency rate applies, how tags and capabilities are derived).
package compiler
