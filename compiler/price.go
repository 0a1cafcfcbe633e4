package compiler

import (
	"strconv"

	"smartrouter/compiler/cache"
	"smartrouter/format"
)

// priced is a pair's price in pico-USD per token (request: per request).
type priced struct {
	in, out, req uint64
	free         bool // models_pricing says is_free
}

var unknown = priced{in: format.PriceUnknown, out: format.PriceUnknown, req: format.PriceUnknown}

// price applies the precedence of docs/compiler.md: the channel's discovery
// entry (models_data pricing, then models_pricing), the provider's unified
// pricing file, the base pricing file, the pricing caches, the channel's
// cost_per_token, its pricing.*_per_1k, else unknown. The first source that
// knows the input or the output price supplies all three prices.
//
// The channel's currency_exchange.rate converts the prices the channel
// states in its own currency (its discovery entry and its YAML prices). It is
// not applied to prices from pricing files: a unified file declares its
// currency and the cache reader has converted it to USD already, and the
// pricing caches are in USD by definition. Applying the rate to them would
// convert twice.
func (b *builder) price(cc *chanCtx, id string, md *cache.ModelData, pm, bm *cache.PricedModel) priced {
	var out priced
	found := false
	var mp *cache.ModelPrice
	if cc.entry != nil {
		mp = cc.entry.PriceOf(id)
	}
	switch {
	case md != nil && md.Price.Known():
		out, found = b.rated(cc, md.Price.Input, md.Price.Output, md.Price.Request), true
	case mp != nil && (mp.Input != format.PriceUnknown || mp.Output != format.PriceUnknown):
		out, found = b.rated(cc, mp.Input, mp.Output, format.PriceUnknown), true
	}
	if !found {
		for _, m := range [...]*cache.PricedModel{pm, bm} {
			if m != nil && m.Price.Known() {
				out, found = priced{in: m.Price.Input, out: m.Price.Output, req: m.Price.Request}, true
				break
			}
		}
	}
	if !found {
		for _, t := range b.in.caches {
			if m, ok := t.Lookup(id); ok && m.Price.Known() {
				out, found = priced{in: m.Price.Input, out: m.Price.Output, req: m.Price.Request}, true
				break
			}
		}
	}
	if !found {
		for _, tp := range [...]struct {
			in, out *float64
		}{
			{cc.ch.CostPerToken.Input, cc.ch.CostPerToken.Output},
			{cc.ch.PricePer1K.Input, cc.ch.PricePer1K.Output},
		} {
			if tp.in != nil || tp.out != nil {
				out, found = b.rated(cc, yamlPrice(tp.in), yamlPrice(tp.out), format.PriceUnknown), true
				break
			}
		}
	}
	if !found {
		out = unknown
	}
	if mp != nil && mp.IsFree {
		out.free = true
	}
	return out
}

// yamlPrice converts a USD-per-token price read from YAML to pico-USD per
// token with the cache package's decimal rounding; nil is unknown.
func yamlPrice(p *float64) uint64 {
	if p == nil {
		return format.PriceUnknown
	}
	v, ok := cache.ConvertPrice(strconv.FormatFloat(*p, 'g', -1, 64), cache.ScalePerToken, 1)
	if !ok {
		return format.PriceUnknown
	}
	return v
}

// rated applies the channel's currency rate to prices it states itself.
func (b *builder) rated(cc *chanCtx, in, out, req uint64) priced {
	return priced{in: b.applyRate(cc, in), out: b.applyRate(cc, out), req: b.applyRate(cc, req)}
}

func (b *builder) applyRate(cc *chanCtx, v uint64) uint64 {
	if v == format.PriceUnknown || v == 0 || cc.rate == 1 {
		return v
	}
	r, ok := cache.ConvertPrice(strconv.FormatUint(v, 10), 0, cc.rate)
	if !ok {
		b.w.Add(cc.ch.Pos, groupPrice, "channel %q: a price of %d pico-USD times the rate %g does not fit", cc.ch.ID, v, cc.rate)
		return format.PriceUnknown
	}
	return r
}
