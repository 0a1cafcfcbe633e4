// Package config reads the YAML configuration of a Python Smart AI Router
// installation, unchanged, into typed Go values for the compiler.
//
// Load reads router_config.yaml (required) from a config folder and then the
// optional overlays providers.yaml, pricing_config.yaml, routing_config.yaml
// and performance.yaml, in that order; a later file wins per key of the
// section it overlays. Every file read is returned as a format.Source (size,
// modification time, xxhash64 of the exact bytes) so that a snapshot built
// from it can later be checked for staleness.
//
// Decoding goes through yaml.Node, so every problem points at file:line:col:
//
//   - a wrong type, a missing required key or an impossible value (negative
//     price, currency rate <= 0, duplicate channel id, unknown strategy
//     field, ...) is a *diag.Error naming the key path, e.g.
//     "router_config.yaml:41:15: channels[3].priority: expected an integer, got "high"";
//   - unknown keys, ignored sections (system, caching, monitoring,
//     cost_control), literal secrets, placeholder API keys and channels naming
//     an undeclared provider are warnings collected in a *diag.Warnings.
//
// Hostile input is bounded: empty files, non-UTF-8 bytes, directories in place
// of files, YAML syntax errors, several documents in one file and YAML
// documents whose anchors and aliases expand beyond Options.MaxNodes (the
// "billion laughs" document) are rejected with a positioned error before any
// expansion takes place.
//
// Secrets are never resolved here: a value written as ${ENV_VAR} becomes
// format.Secret{Env: "ENV_VAR"} and is read by the server at start; any other
// value is a literal secret, warned about (or refused with
// Options.ForbidLiteralSecrets) and never printed. format/vocab's
// IsPlaceholder is the exact rule deciding that an API key is a placeholder
// meaning "no key"; the server applies the same rule to resolved keys.
//
// README.md in this directory lists every key, its default and its unit.
package config
