package compiler

import (
	"crypto/sha256"
	"encoding/hex"
	"strings"

	"smartrouter/compiler/cache"
	"smartrouter/compiler/config"
	"smartrouter/compiler/diag"
	"smartrouter/format"
	"smartrouter/format/vocab"
)

// draft is a pair before model ordinals exist.
type draft struct {
	id      string
	pair    format.Pair
	ownedBy string
	created int64
}

// chanCtx holds what every pair of one channel shares.
type chanCtx struct {
	ch      *config.Channel
	fch     *format.Channel
	rate    float64 // currency_exchange.rate, 1 without one
	prov    *cache.PriceTable
	entry   *cache.DiscoveryEntry
	aliases []vocab.Alias
	chCaps  capSet
}

// isAuto reports whether a model_name means "every model of the channel".
func isAuto(name string) bool {
	return strings.EqualFold(strings.TrimSpace(name), "auto")
}

// chooseEntry picks one discovery entry for a channel among those the file
// has for it: the entry whose key hash matches the channel's literal key
// first, then an entry that is not an error, then the newest, then the last
// in the file. More than one entry gets a warning.
func chooseEntry(ch *config.Channel, ents []discEntry, w *diag.Warnings) *cache.DiscoveryEntry {
	switch len(ents) {
	case 0:
		return nil
	case 1:
		return ents[0].e
	}
	want := ""
	if ch.APIKey.Literal != "" {
		sum := sha256.Sum256([]byte(ch.APIKey.Literal))
		want = hex.EncodeToString(sum[:4])
	}
	better := func(a, b discEntry) bool { // a better than b
		am, bm := want != "" && a.hash == want, want != "" && b.hash == want
		if am != bm {
			return am
		}
		ae, be := a.e.Status == cache.StatusError, b.e.Status == cache.StatusError
		if ae != be {
			return !ae
		}
		if a.e.LastUpdated != b.e.LastUpdated {
			return a.e.LastUpdated > b.e.LastUpdated
		}
		return a.order > b.order
	}
	best := ents[0]
	for _, e := range ents[1:] {
		if better(e, best) {
			best = e
		}
	}
	w.Add(best.e.Pos, groupDupEntry, "channel %q has %d entries; using %q (matching key hash, then not an error, then newest)", ch.ID, len(ents), best.e.Key)
	return best.e
}

// modelIDs lists the model ids of a channel: the discovery entry's models
// (and models_data ids it does not list), or for an error entry or no entry
// the configured_models; plus the configured model_name unless it is auto.
// Repeats and empty ids are dropped; the order is the sources' order.
func modelIDs(ch *config.Channel, e *cache.DiscoveryEntry) []string {
	var ids []string
	seen := make(map[string]bool)
	add := func(id string) {
		if id == "" || seen[id] {
			return
		}
		seen[id] = true
		ids = append(ids, id)
	}
	if e != nil && e.Status != cache.StatusError {
		for _, id := range e.Models {
			add(id)
		}
		for i := range e.ModelsData {
			add(e.ModelsData[i].ID)
		}
	} else {
		for _, id := range ch.ConfiguredModels {
			add(strings.TrimSpace(id))
		}
	}
	if !isAuto(ch.ModelName) {
		add(strings.TrimSpace(ch.ModelName))
	}
	return ids
}

// channelPairs builds the pairs of one channel.
func (b *builder) channelPairs(ci int) []draft {
	cc := &b.chans[ci]
	ids := modelIDs(cc.ch, cc.entry)
	if b.opts.shuffle != nil {
		b.opts.shuffle.Shuffle(len(ids), func(i, j int) { ids[i], ids[j] = ids[j], ids[i] })
	}
	out := make([]draft, 0, len(ids))
	for _, id := range ids {
		out = append(out, b.pair(ci, cc, id))
	}
	return out
}

// pair computes every static feature of (channel ci, id).
func (b *builder) pair(ci int, cc *chanCtx, id string) draft {
	var md *cache.ModelData
	if cc.entry != nil {
		md = cc.entry.Data(id)
	}
	var pm, bm *cache.PricedModel
	if cc.prov != nil {
		pm, _ = cc.prov.Lookup(id)
	}
	if b.in.base != nil {
		bm, _ = b.in.base.Lookup(id)
	}

	d := draft{id: id}
	p := &d.pair
	p.Channel = uint32(ci)
	pr := b.price(cc, id, md, pm, bm)
	p.InputPrice, p.OutputPrice, p.RequestPrice = pr.in, pr.out, pr.req

	// Sizes: discovery first, then the provider's pricing file, then the base one.
	if md != nil {
		p.ContextLength = md.ContextLength
		if p.ContextLength == 0 {
			p.ContextLength = md.MaxInputTokens
		}
		p.MaxOutputTokens = md.MaxOutputTokens
		p.ParamsM = md.ParamsM
		if p.ParamsM == 0 && md.ParamSizeText != "" {
			p.ParamsM, _ = vocab.ParamsFromID(md.ParamSizeText)
		}
		d.ownedBy, d.created = md.OwnedBy, md.Created
	}
	for _, m := range [...]*cache.PricedModel{pm, bm} {
		if m == nil {
			continue
		}
		if p.ContextLength == 0 {
			p.ContextLength = m.ContextLength
		}
		if p.ContextLength == 0 {
			p.ContextLength = m.TopContextLength
		}
		if p.MaxOutputTokens == 0 {
			p.MaxOutputTokens = m.MaxCompletionTokens
		}
		if p.ParamsM == 0 {
			p.ParamsM = m.ParamsM
		}
		if d.created == 0 {
			d.created = m.Created
		}
	}
	if p.ParamsM == 0 {
		p.ParamsM, _ = vocab.ParamsFromID(id)
	}

	// Capabilities: the first source that says something, per capability.
	var cs capSet
	if s, ok := b.in.caps.lookup(id); ok {
		cs.merge(s)
	}
	if md != nil && !cs.done() {
		cs.merge(fromModalities(md.Architecture))
	}
	for _, m := range [...]*cache.PricedModel{pm, bm} {
		if m != nil && !cs.done() {
			cs.merge(fromModalities(m.Architecture))
			cs.merge(fromListPositive(m.Capabilities))
		}
	}
	cs.merge(cc.chCaps)
	p.Caps = cs.bits()

	zero := pr.free || (pr.in == 0 && pr.out == 0)
	vocab.DerivePair(p, vocab.Pair{
		ID:          id,
		Provider:    cc.ch.Provider,
		ChannelTags: cc.ch.Tags,
		Aliases:     cc.aliases,
		ZeroPrice:   zero,
		BaseURLs:    cc.fch.BaseURLs,
	}, b.quality)
	return d
}
