package compiler

import (
	"fmt"
	"path/filepath"
	"slices"
	"strings"

	"smartrouter/compiler/config"
	"smartrouter/compiler/diag"
	"smartrouter/format"
	"smartrouter/format/query"
)

// prewarm resolves each configured prewarm model string against the
// snapshot itself, with the same code the server routes with
// (query.Resolver: the static candidate set before any live filter), and
// stores the candidate lists. learned (the most requested model strings,
// learned.go) follow the configured queries; one already configured is not
// repeated. m must be canonical: its pair ordinals are then those of the
// encoded file. It returns the final encoding.
func (b *builder) prewarm(m *format.Model, configured, learned []string) (*result, error) {
	queries := configured
	if len(learned) > 0 {
		queries = append(slices.Clip(configured), learned...)
	}
	data, err := format.Encode(m)
	if err != nil {
		return nil, fmt.Errorf("compiler: encode the snapshot: %w", err)
	}
	if len(queries) == 0 {
		snap, err := format.Open(data)
		if err != nil {
			return nil, fmt.Errorf("compiler: the encoded snapshot does not validate: %w", err)
		}
		return &result{model: m, data: data, tags: snap.NumTags()}, nil
	}
	snap, err := format.Open(data)
	if err != nil {
		return nil, fmt.Errorf("compiler: the encoded snapshot does not validate: %w", err)
	}
	ntags := snap.NumTags()
	r := query.NewResolver(snap)
	seen := make(map[string]bool, len(queries))
	m.Prewarm = m.Prewarm[:0]
	for i, q := range queries {
		if strings.TrimSpace(q) == "" || seen[q] {
			continue
		}
		seen[q] = true
		_, pairs, err := r.Resolve(q)
		if err != nil {
			if i >= len(configured) {
				// A client sent it; not worth a warning per compile.
				continue
			}
			b.w.Add(diag.Pos{File: filepath.Join(b.in.cfgRoot, config.MainFile)}, groupPrewarm, "routing.prewarm %q: %v", q, err)
			continue
		}
		if i >= len(configured) && len(pairs) == 0 {
			continue // a learned string no channel serves (any more)
		}
		m.Prewarm = append(m.Prewarm, format.Prewarm{Query: q, Pairs: append([]uint32{}, pairs...)})
	}
	if err := m.Canonicalize(); err != nil {
		return nil, fmt.Errorf("compiler: prewarm lists are inconsistent: %w", err)
	}
	data, err = format.Encode(m)
	if err != nil {
		return nil, fmt.Errorf("compiler: encode the snapshot: %w", err)
	}
	return &result{model: m, data: data, tags: ntags}, nil
}
