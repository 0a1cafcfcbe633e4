package config

import (
	"encoding/hex"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"smartrouter/compiler/diag"
	"smartrouter/format/query"
)

// ClientKey is one item of the top-level client_keys list: a client of the
// router with its own key, allowed models, budgets and rate limits. The key
// is never held in plaintext: it is either an ${ENV} reference (KeyEnv,
// resolved by the server at load) or the key's SHA-256 (KeyHash, written in
// the file as sha256:<64 hex digits>).
type ClientKey struct {
	Name    string
	KeyEnv  string   // ${ENV} reference name, or ""
	KeyHash [32]byte // when KeyEnv is ""
	// Models are the allowed model ids and tag queries as written; empty
	// allows every model.
	Models     []string
	DailyUSD   float64 // budget.daily_usd, 0 = none
	MonthlyUSD float64 // budget.monthly_usd, 0 = none
	RPM        int64   // limits.requests_per_minute, 0 = none
	TPM        int64   // limits.tokens_per_minute, 0 = none
	Concurrent int64   // limits.concurrent, 0 = none
	Strategy   string  // default strategy of the key, "" = routing.default_strategy
	Expires    time.Time
	Pos        diag.Pos // where the list item starts
}

// Bounds of the client key limits.
const (
	maxClientRPM        = 1 << 30
	maxClientTPM        = 1 << 50
	maxClientConcurrent = 1 << 20
	maxClientUSD        = 1e12
)

// keyHelp tells how to write a client key without putting it in the file.
const keyHelp = `write it as ${ENV_VAR} (the server reads the variable at load) or as sha256:<64 hex digits> (make one with: printf %s "$KEY" | sha256sum)`

// clientKeys decodes client_keys; it runs after routing, whose strategies a
// key's strategy must name.
func (s *state) clientKeys(e entry, c *Config) {
	items := s.seq(e.file, "client_keys", e.vn)
	first := make(map[string]int, len(items))
	hashes := make(map[[32]byte]int, len(items))
	envs := make(map[string]int, len(items))
	for i, it := range items {
		path := index("client_keys", i)
		es := s.mapping(e.file, path, it)
		s.require(e.file, path, it, es, "name", "key")
		if s.err != nil {
			return
		}
		k := ClientKey{Pos: at(e.file, it)}
		s.fields(path, es, func(name string, v val) bool {
			switch name {
			case "name":
				k.Name = v.nonEmpty()
			case "key":
				k.KeyEnv, k.KeyHash = v.clientKey()
			case "models":
				k.Models = v.strs()
				for j, m := range k.Models {
					mv := val{s: s, file: v.file, path: index(v.path, j), n: resolve(resolve(v.n).Content[j])}
					if strings.TrimSpace(m) == "" {
						mv.fail("must not be empty: name a model id or a tag query")
					} else if _, err := query.Parse(m); err != nil {
						mv.fail("is not a valid model string: %v", err)
					}
				}
			case "budget":
				s.fields(v.path, s.mapping(v.file, v.path, v.n), func(name string, v val) bool {
					switch name {
					case "daily_usd":
						k.DailyUSD = v.usd()
					case "monthly_usd":
						k.MonthlyUSD = v.usd()
					default:
						return false
					}
					return true
				})
			case "limits":
				s.fields(v.path, s.mapping(v.file, v.path, v.n), func(name string, v val) bool {
					switch name {
					case "requests_per_minute":
						k.RPM = v.integer(0, maxClientRPM)
					case "tokens_per_minute":
						k.TPM = v.integer(0, maxClientTPM)
					case "concurrent":
						k.Concurrent = v.integer(0, maxClientConcurrent)
					default:
						return false
					}
					return true
				})
			case "strategy":
				k.Strategy = v.nonEmpty()
				if s.err == nil && !knownStrategy(k.Strategy, c) {
					v.fail("unknown strategy %q: use cost_first, free_first, local_first, cost_optimized, speed_optimized, quality_optimized, balanced or a name under routing.sorting_strategies", k.Strategy)
				}
			case "expires":
				k.Expires = v.expiry()
			default:
				return false
			}
			return true
		})
		if s.err != nil {
			return
		}
		if j, dup := first[k.Name]; dup {
			s.fail(at(e.file, find(es, "name").vn), join(path, "name"), "duplicate client key name %q, first used by client_keys[%d] at %s; names must be unique", k.Name, j, c.ClientKeys[j].Pos)
			return
		}
		first[k.Name] = i
		keyAt := at(e.file, find(es, "key").vn)
		if j, dup := hashes[k.KeyHash]; dup && k.KeyEnv == "" {
			s.fail(keyAt, join(path, "key"), "the same key as client_keys[%d] (%s); give each client its own key", j, c.ClientKeys[j].Name)
			return
		}
		if j, dup := envs[k.KeyEnv]; dup && k.KeyEnv != "" {
			s.fail(keyAt, join(path, "key"), "the same ${%s} as client_keys[%d] (%s); give each client its own key", k.KeyEnv, j, c.ClientKeys[j].Name)
			return
		}
		if k.KeyEnv == "" {
			hashes[k.KeyHash] = i
		} else {
			envs[k.KeyEnv] = i
		}
		c.ClientKeys = append(c.ClientKeys, k)
	}
}

func knownStrategy(name string, c *Config) bool {
	if builtinStrategy(name) {
		return true
	}
	for _, st := range c.Routing.SortingStrategies {
		if st.Name == name {
			return true
		}
	}
	return false
}

// clientKey reads a client key: ${ENV} or sha256:<hex>. A literal key is
// an error, and no message ever quotes the value.
func (v val) clientKey() (env string, hash [32]byte) {
	if v.n.Kind != yaml.ScalarNode {
		v.fail("expected a string: %s", keyHelp)
		return "", hash
	}
	raw := strings.TrimSpace(v.n.Value)
	if name, ok, valid := envRef(raw); ok {
		if !valid {
			v.fail("not a valid ${ENV_VAR} reference: the name must be letters, digits and _, not starting with a digit")
			return "", hash
		}
		return name, hash
	}
	if len(raw) > 7 && strings.EqualFold(raw[:7], "sha256:") {
		h := raw[7:]
		if len(h) != 64 {
			v.fail("a sha256: key needs exactly 64 hex digits (got %d characters); %s", len(h), keyHelp)
			return "", hash
		}
		if _, err := hex.Decode(hash[:], []byte(h)); err != nil {
			v.fail("a sha256: key needs exactly 64 hex digits (0-9, a-f); %s", keyHelp)
			return "", [32]byte{}
		}
		if hash == [32]byte{} {
			v.fail("a sha256: key of all zeros is not a hash; %s", keyHelp)
		}
		return "", hash
	}
	v.fail("is a literal key, which a snapshot never stores: %s", keyHelp)
	return "", hash
}

// usd reads a budget in USD.
func (v val) usd() float64 {
	f := v.nonNeg("USD")
	if f > maxClientUSD && v.s.err == nil {
		v.fail("%g USD is too large for a budget", f)
		return 0
	}
	return f
}

// expiry reads an RFC 3339 date-time (2026-12-31T23:59:59Z) or a date
// (2026-12-31, meaning 00:00 UTC of that day).
func (v val) expiry() time.Time {
	if !v.scalar("an RFC 3339 date or date-time") {
		return time.Time{}
	}
	raw := strings.TrimSpace(v.n.Value)
	if t, err := time.Parse(time.RFC3339, raw); err == nil {
		return t.UTC()
	}
	if t, err := time.Parse(time.DateOnly, raw); err == nil {
		return t
	}
	v.fail("expected an RFC 3339 date-time such as 2026-12-31T23:59:59Z or a date such as 2026-12-31, got %s", describe(v.n))
	return time.Time{}
}
