package compiler

import (
	"fmt"
	"path/filepath"
	"strings"

	"smartrouter/compiler/config"
	"smartrouter/compiler/diag"
	"smartrouter/format"
	"smartrouter/format/query"
)

// prewarm resolves each configured prewarm model string against the
// snapshot itself, with the same code the server routes with
// (query.Resolver: the static candidate set before any live filter), and
// stores the candidate lists. m must be canonical: its pair ordinals are
// then those of the encoded file. It returns the final encoding.
func (b *builder) prewarm(m *format.Model, queries []string) (*result, error) {
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
	for _, q := range queries {
		if strings.TrimSpace(q) == "" || seen[q] {
			continue
		}
		seen[q] = true
		_, pairs, err := r.Resolve(q)
		if err != nil {
			b.w.Add(diag.Pos{File: filepath.Join(b.in.cfgRoot, config.MainFile)}, groupPrewarm, "routing.prewarm %q: %v", q, err)
			continue
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
