// Package cache reads the JSON caches and pricing files of a Python Smart AI
// Router installation as streams: the discovery cache (one channel entry at a
// time, with the bulky raw response_data skipped unread), the unified pricing
// files and pricing caches (as lookup tables keyed by model id) and the
// key-validation cache (one verdict per channel).
//
// Every reader returns the format.Source of its file (size, modification
// time, xxhash64 of the bytes it parsed, hashed while reading). Prices come
// out in the snapshot unit: integer pico-USD per token (= micro-USD per
// million tokens), format.PriceUnknown when not given.
//
// Policy for bad input:
//   - a file that is empty, truncated, not JSON or not UTF-8, or whose top
//     level is not an object, gives a *diag.Error naming the file, the byte
//     offset and the JSON path;
//   - an entry, field or list element of the wrong type is skipped with a
//     warning naming the same, and reading goes on;
//   - a negative, NaN, infinite or too large price is treated as unknown
//     with a warning (real OpenRouter answers carry "-1" for routers);
//   - plaintext api_key fields are read past and never kept.
//
// The README.md beside this file lists every file, field and unit.
package cache
