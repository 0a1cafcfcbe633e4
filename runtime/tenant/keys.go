package tenant

import (
	"crypto/sha256"
	"crypto/subtle"
	"log/slog"
	"strings"
	"time"

	"smartrouter/format"
	"smartrouter/format/query"
	"smartrouter/format/vocab"
)

// Limits are the limits of one key; a zero field is no limit.
type Limits struct {
	RPM        uint32  // requests per minute
	TPM        uint64  // tokens per minute
	Concurrent uint32  // requests in flight
	DailyUSD   float64 // spend per UTC day
	MonthlyUSD float64 // spend per UTC month
}

// Key is one usable client key of a snapshot. Its strings are heap copies:
// they may outlive the snapshot (in counters, logs and the usage ledger).
type Key struct {
	Name     string
	Limits   Limits
	Strategy string // default strategy, "" = the router's
	Expires  int64  // Unix seconds, 0 = never

	hash   [32]byte
	exact  []string   // allowed model strings compared as they are
	tagSet [][]string // allowed tag queries: their items, lowercased
	all    bool       // no models listed: everything is allowed
}

// Expired reports whether the key has expired at now.
func (k *Key) Expired(now time.Time) bool { return k.Expires != 0 && now.Unix() >= k.Expires }

// Allows reports whether the key may ask for model (a request's model
// string, as sent):
//
//   - a key without models allows everything;
//   - a listed model id, parameter query or tag query allows exactly that
//     string;
//   - a listed tag query also allows every tag query that keeps all of its
//     items (tag:free allows tag:free,qwen and tag:qwen,free, not tag:qwen
//     nor a model id): such a request can only match fewer pairs. Items
//     compare case-insensitively, as routing reads them.
//
// A model id is never allowed by a tag query: list the ids a key may name.
// Allows does not allocate.
func (k *Key) Allows(model string) bool {
	if k.all {
		return true
	}
	for _, m := range k.exact {
		if m == model {
			return true
		}
	}
	if len(k.tagSet) == 0 {
		return false
	}
	body, ok := tagBody(model)
	if !ok {
		return false
	}
	for _, items := range k.tagSet {
		if containsAll(body, items) {
			return true
		}
	}
	return false
}

// tagBody returns the items part of a tag query (after tag: or tags:, or
// the whole string when it holds a comma), as format/query reads it.
func tagBody(s string) (string, bool) {
	t := strings.TrimLeft(s, " \t")
	for _, p := range [...]string{"tags:", "tag:"} {
		if len(t) >= len(p) && strings.EqualFold(t[:len(p)], p) {
			return t[len(p):], true
		}
	}
	// A string with a comma is an implicit tag query (a parameter query
	// never parses with one).
	if strings.IndexByte(s, ',') >= 0 {
		return s, true
	}
	return "", false
}

// containsAll reports whether every item of want is an item of the
// comma-separated body (trimmed, compared case-insensitively).
func containsAll(body string, want []string) bool {
	for _, w := range want {
		found := false
		rest := body
		for rest != "" && !found {
			var it string
			it, rest, _ = strings.Cut(rest, ",")
			found = strings.EqualFold(strings.TrimSpace(it), w)
		}
		if !found {
			return false
		}
	}
	return true
}

// Keys are the usable client keys of one snapshot, by the SHA-256 of their
// key.
type Keys struct {
	byHash     map[[32]byte]*Key
	byName     map[string]*Key
	configured int
}

// NewKeys builds the keys of a snapshot. A key given as ${ENV} is read from
// lookupEnv; when the variable is unset, empty or a placeholder the key is
// refused (one warning, naming the key and the variable, never a value) and
// no token opens it. Configured still counts it, so that a snapshot whose keys are
// all refused keeps its API closed.
func NewKeys(cks []format.ClientKey, lookupEnv func(string) (string, bool), log *slog.Logger) *Keys {
	if log == nil {
		log = slog.Default()
	}
	ks := &Keys{byHash: make(map[[32]byte]*Key, len(cks)), byName: make(map[string]*Key, len(cks)), configured: len(cks)}
	for i := range cks {
		c := &cks[i]
		k := &Key{
			Name:     strings.Clone(c.Name),
			Strategy: strings.Clone(c.Strategy),
			Expires:  c.Expires,
			Limits: Limits{RPM: c.RPM, TPM: c.TPM, Concurrent: c.Concurrent,
				DailyUSD: c.DailyUSD, MonthlyUSD: c.MonthlyUSD},
			hash: c.KeyHash,
			all:  len(c.Models) == 0,
		}
		if !c.HasHash() {
			tok := vocab.ResolveSecret(format.Secret{Env: c.KeyEnv}, lookupEnv)
			if tok == "" {
				log.Warn("client key refused: its environment variable is unset or empty; export it and reload",
					"key", k.Name, "variable", c.KeyEnv)
				continue
			}
			if vocab.IsPlaceholderKey(tok) {
				log.Warn("client key refused: its environment variable holds a placeholder (such as YOUR_..._HERE), not a key; set a real key and reload",
					"key", k.Name, "variable", c.KeyEnv)
				continue
			}
			k.hash = sha256.Sum256([]byte(tok))
		}
		for _, m := range c.Models {
			q, err := query.Parse(m)
			if err == nil && q.Kind == query.KindTags {
				var items []string
				for it := range strings.SplitSeq(stripTagPrefix(m), ",") {
					if it = strings.ToLower(strings.TrimSpace(it)); it != "" {
						items = append(items, it)
					}
				}
				k.tagSet = append(k.tagSet, items)
			}
			k.exact = append(k.exact, strings.Clone(m))
		}
		if _, dup := ks.byHash[k.hash]; dup {
			log.Warn("client key refused: another key has the same key value; give each client its own key", "key", k.Name)
			continue
		}
		ks.byHash[k.hash] = k
		ks.byName[k.Name] = k
	}
	log.Info("client keys loaded", "usable", len(ks.byHash), "configured", len(cks))
	return ks
}

func stripTagPrefix(s string) string {
	if b, ok := tagBody(s); ok {
		return b
	}
	return s
}

// Configured is the number of client keys in the snapshot, refused ones
// included. With any, the API needs a key (or the shared api_token).
func (ks *Keys) Configured() int {
	if ks == nil {
		return 0
	}
	return ks.configured
}

// Len is the number of usable keys.
func (ks *Keys) Len() int {
	if ks == nil {
		return 0
	}
	return len(ks.byHash)
}

// Lookup returns the key whose SHA-256 is sum, or nil. The map finds the
// candidate; a constant-time compare of the whole digest confirms it.
func (ks *Keys) Lookup(sum *[32]byte) *Key {
	if ks == nil {
		return nil
	}
	k := ks.byHash[*sum]
	if k == nil || subtle.ConstantTimeCompare(k.hash[:], sum[:]) != 1 {
		return nil
	}
	return k
}

// ByName returns the usable key of that name, or nil.
func (ks *Keys) ByName(name string) *Key {
	if ks == nil {
		return nil
	}
	return ks.byName[name]
}
