package cache

import (
	"fmt"
	"io"
	"math"
	"strings"

	"smartrouter/compiler/diag"
	"smartrouter/format"
)

// PricingOptions are the caller's settings for reading pricing files.
type PricingOptions struct {
	// CNYToUSD converts prices of a file whose currency is CNY. 0 means
	// DefaultCNYToUSD.
	CNYToUSD float64
}

func (o PricingOptions) cnyRate() float64 {
	if o.CNYToUSD > 0 && !math.IsInf(o.CNYToUSD, 0) {
		return o.CNYToUSD
	}
	return DefaultCNYToUSD
}

// PriceTable is one pricing file, with its models keyed by id.
type PriceTable struct {
	Source        format.Source
	Provider      string // provider field (unified files)
	Currency      string // currency field as written ("USD" when absent)
	Unit          string // unit field as written ("per_million_tokens" when absent)
	FormatVersion string
	Models        []PricedModel // file order
	idx           map[string]int32
	alias         map[string]int32
}

// PricedModel is a model of a pricing file. Prices are in the snapshot unit
// (see Price), already converted to USD.
type PricedModel struct {
	ID                  string
	Name                string
	Created             int64  // Unix seconds, 0 unknown
	ContextLength       uint64 // tokens, 0 unknown
	ParamsM             uint64 // parameter_count, millions, 0 unknown
	Capabilities        []string
	Architecture        Architecture
	Price               Price
	TopContextLength    uint64 // top_provider.context_length
	MaxCompletionTokens uint64 // top_provider.max_completion_tokens
	Aliases             []string
}

// Len returns the number of models.
func (t *PriceTable) Len() int { return len(t.Models) }

// Lookup finds a model: by exact id, then by alias, then the same two with
// the id's "provider/" prefix removed (everything up to the first '/').
func (t *PriceTable) Lookup(id string) (*PricedModel, bool) {
	if t == nil {
		return nil, false
	}
	if m, ok := t.lookup(id); ok {
		return m, true
	}
	if i := strings.IndexByte(id, '/'); i >= 0 && i+1 < len(id) {
		return t.lookup(id[i+1:])
	}
	return nil, false
}

func (t *PriceTable) lookup(id string) (*PricedModel, bool) {
	if i, ok := t.idx[id]; ok {
		return &t.Models[i], true
	}
	if i, ok := t.alias[id]; ok {
		return &t.Models[i], true
	}
	return nil, false
}

// index builds the lookup maps; a repeated id keeps its last entry, an alias
// never shadows an id or an earlier alias.
func (t *PriceTable) index() {
	t.idx = make(map[string]int32, len(t.Models))
	for i := range t.Models {
		t.idx[t.Models[i].ID] = int32(i)
	}
	for i := range t.Models {
		for _, a := range t.Models[i].Aliases {
			if _, ok := t.idx[a]; ok {
				continue
			}
			if t.alias == nil {
				t.alias = make(map[string]int32)
			}
			if _, ok := t.alias[a]; !ok {
				t.alias[a] = int32(i)
			}
		}
	}
}

// ReadUnifiedPricing reads config/pricing/<provider>_unified.json or
// base_pricing_unified.json (format_version "2.0"). Prices are converted from
// the file's unit and currency: a CNY file is converted with
// opt.CNYToUSD, except models whose pricing block carries exchange_rate, whose
// prices were already converted to USD by the tool that wrote the file.
func ReadUnifiedPricing(path string, opt PricingOptions, w *diag.Warnings) (*PriceTable, error) {
	t := &PriceTable{}
	src, err := decodeFile(path, w, func(d *decoder) error { return d.unified(t, opt) })
	if err != nil {
		return nil, err
	}
	t.Source = src
	return t, nil
}

// DecodeUnifiedPricing is ReadUnifiedPricing over any reader.
func DecodeUnifiedPricing(r io.Reader, name string, opt PricingOptions, w *diag.Warnings) (*PriceTable, error) {
	t := &PriceTable{}
	if err := decodeStream(r, name, w, func(d *decoder) error { return d.unified(t, opt) }); err != nil {
		return nil, err
	}
	return t, nil
}

// rawPrice is a price read before the file's unit and currency are known.
type rawPrice struct {
	val  decimal
	off  int64
	text string
	set  bool
}

type rawModel struct {
	in, out, req, img rawPrice
	usd               bool // pricing carries exchange_rate: values already in USD
}

func (d *decoder) unified(t *PriceTable, opt PricingOptions) error {
	if err := d.topObject("a unified pricing file"); err != nil {
		return err
	}
	var raws []rawModel
	var curOff, unitOff int64 = -1, -1
	for {
		key, more, err := d.nextKey()
		if err != nil {
			return err
		}
		if !more {
			break
		}
		d.push(key)
		switch string(key) {
		case "provider":
			t.Provider, _, err = d.getString()
		case "currency":
			curOff = d.valueOff()
			t.Currency, _, err = d.getString()
		case "unit":
			unitOff = d.valueOff()
			t.Unit, _, err = d.getString()
		case "format_version":
			off := d.valueOff()
			t.FormatVersion, _, err = d.getString()
			if err == nil && t.FormatVersion != "" && t.FormatVersion != "2.0" && t.FormatVersion != "2" {
				d.warnf(off, GroupUnknownEnum, "format_version %q; this reader knows 2.0", t.FormatVersion)
			}
		case "models":
			raws, err = d.unifiedModels(t)
		case "source", "last_updated", "description":
			err = d.skipValue()
		default:
			err = d.unknownKey(key)
		}
		d.pop()
		if err != nil {
			return err
		}
	}
	scale, rate, err := d.unitAndRate(t, opt, curOff, unitOff)
	if err != nil {
		return err
	}
	for i := range t.Models {
		r := rate
		if raws[i].usd {
			r = 1
		}
		m := &t.Models[i]
		base := renderPath("models", m.ID, "pricing")
		m.Price.Input = d.finishPrice(raws[i].in, scale, r, base+".prompt")
		m.Price.Output = d.finishPrice(raws[i].out, scale, r, base+".completion")
		m.Price.Request = d.finishPrice(raws[i].req, ScalePerToken, r, base+".request")
		m.Price.Image = d.finishPrice(raws[i].img, ScalePerToken, r, base+".image")
	}
	t.index()
	return nil
}

// unitAndRate checks the unit and currency fields once the file is read.
func (d *decoder) unitAndRate(t *PriceTable, opt PricingOptions, curOff, unitOff int64) (int, float64, error) {
	scale := ScalePerMillion
	switch t.Unit {
	case "", "per_million_tokens", "per_1m_tokens":
	case "per_thousand_tokens", "per_1k_tokens":
		scale = ScalePerThousand
	case "per_token":
		scale = ScalePerToken
	default:
		return 0, 0, &diag.Error{Pos: diag.AtOffset(d.file, unitOff, "$.unit"),
			Msg: fmt.Sprintf("unit %q is unknown; use per_million_tokens, per_thousand_tokens or per_token", t.Unit)}
	}
	if t.Unit == "" {
		t.Unit = "per_million_tokens"
	}
	rate := 1.0
	switch strings.ToUpper(t.Currency) {
	case "", "USD":
	case "CNY", "RMB":
		rate = opt.cnyRate()
	default:
		return 0, 0, &diag.Error{Pos: diag.AtOffset(d.file, curOff, "$.currency"),
			Msg: fmt.Sprintf("currency %q is unknown; use USD or CNY", t.Currency)}
	}
	if t.Currency == "" {
		t.Currency = "USD"
	}
	return scale, rate, nil
}

// finishPrice converts a raw price, warning (at its recorded place) when it
// is negative or too large.
func (d *decoder) finishPrice(p rawPrice, scale int, rate float64, path string) uint64 {
	if !p.set {
		return format.PriceUnknown
	}
	v, ok := p.val.convert(scale, rate)
	if !ok {
		msg := "price %s is too large"
		if p.val.neg {
			msg = "price %s is negative"
		}
		d.skips++
		d.warn.Add(diag.AtOffset(d.file, p.off, path), GroupBadPrice, msg, p.text)
		return format.PriceUnknown
	}
	return v
}

// getRaw reads a price without converting it.
func (d *decoder) getRaw() (rawPrice, error) {
	text, off, ok, err := d.numberText(GroupBadPrice, "price")
	if err != nil || !ok {
		return rawPrice{}, err
	}
	v, _ := parseDecimal(text)
	return rawPrice{val: v, off: off, text: string(text), set: true}, nil
}

func (d *decoder) unifiedModels(t *PriceTable) ([]rawModel, error) {
	var raws []rawModel
	ok, err := d.object("an object of models")
	if !ok || err != nil {
		return raws, err
	}
	for {
		key, more, err := d.nextKey()
		if err != nil || !more {
			return raws, err
		}
		d.push(key)
		id := d.intern(key)
		ok, err := d.object("an object (a model's pricing)")
		if err != nil {
			return raws, err
		}
		if ok {
			m := PricedModel{ID: id}
			var raw rawModel
			if err := d.unifiedModel(&m, &raw); err != nil {
				return raws, err
			}
			t.Models = append(t.Models, m)
			raws = append(raws, raw)
		}
		d.pop()
	}
}

func (d *decoder) unifiedModel(m *PricedModel, raw *rawModel) error {
	for {
		key, more, err := d.nextKey()
		if err != nil || !more {
			return err
		}
		d.push(key)
		switch string(key) {
		case "id":
			err = d.skipValue() // the models key is the id
		case "name":
			m.Name, _, err = d.getString()
		case "created":
			m.Created, _, err = d.getTime("created")
		case "context_length":
			m.ContextLength, _, err = d.getUint("context_length")
		case "parameter_count":
			m.ParamsM, _, err = d.getUint("parameter_count")
		case "architecture":
			err = d.architecture(&m.Architecture)
		case "capabilities":
			m.Capabilities, err = d.getStrings()
		case "pricing":
			err = d.rawPricing(raw)
		case "top_provider":
			err = d.topProvider(m)
		case "aliases":
			m.Aliases, err = d.getStrings()
		case "canonical_slug", "hugging_face_id", "description", "category", "data_source",
			"last_updated", "supported_parameters", "per_request_limits":
			err = d.skipValue()
		default:
			err = d.unknownKey(key)
		}
		d.pop()
		if err != nil {
			return err
		}
	}
}

func (d *decoder) rawPricing(raw *rawModel) error {
	return d.members("an object of prices", func(key []byte) (err error) {
		switch string(key) {
		case "prompt":
			raw.in, err = d.getRaw()
		case "completion":
			raw.out, err = d.getRaw()
		case "request":
			raw.req, err = d.getRaw()
		case "image":
			raw.img, err = d.getRaw()
		case "exchange_rate":
			raw.usd = true
			err = d.skipValue()
		default:
			err = d.skipValue() // original_currency, web_search, is_promotional, ...
		}
		return err
	})
}

func (d *decoder) topProvider(m *PricedModel) error {
	return d.members("an object (top_provider)", func(key []byte) (err error) {
		switch string(key) {
		case "context_length":
			m.TopContextLength, _, err = d.getUint("context_length")
		case "max_completion_tokens":
			m.MaxCompletionTokens, _, err = d.getUint("max_completion_tokens")
		default:
			err = d.skipValue()
		}
		return err
	})
}

// ReadPricingCache reads cache/pricing_cache.json or cache/model_pricing.json:
// {model: {input, output}} in USD per million tokens, or, for a model without
// input and output, {model: {raw_pricing: {prompt, completion}}} in USD per
// token. Top-level metadata strings (last_updated, version, ...) are ignored.
func ReadPricingCache(path string, w *diag.Warnings) (*PriceTable, error) {
	t := &PriceTable{}
	src, err := decodeFile(path, w, func(d *decoder) error { return d.pricingCache(t) })
	if err != nil {
		return nil, err
	}
	t.Source = src
	return t, nil
}

// DecodePricingCache is ReadPricingCache over any reader.
func DecodePricingCache(r io.Reader, name string, w *diag.Warnings) (*PriceTable, error) {
	t := &PriceTable{}
	if err := decodeStream(r, name, w, func(d *decoder) error { return d.pricingCache(t) }); err != nil {
		return nil, err
	}
	return t, nil
}

func (d *decoder) pricingCache(t *PriceTable) error {
	t.Currency, t.Unit = "USD", "per_million_tokens"
	if err := d.topObject("a pricing cache"); err != nil {
		return err
	}
	for {
		key, more, err := d.nextKey()
		if err != nil {
			return err
		}
		if !more {
			break
		}
		d.push(key)
		k, err := d.peekKind()
		if err != nil {
			return err
		}
		switch {
		case k == kObject:
			m := PricedModel{ID: d.intern(key), Price: UnknownPrice()}
			d.openObject()
			if err := d.cacheModel(&m); err != nil {
				return err
			}
			t.Models = append(t.Models, m)
		case isMetaKey(key):
			err = d.skipValue()
		default:
			err = d.wrong(d.offset(), k, "an object (a model's prices)")
		}
		d.pop()
		if err != nil {
			return err
		}
	}
	t.index()
	return nil
}

func isMetaKey(key []byte) bool {
	switch string(key) {
	case "last_updated", "updated_at", "timestamp", "version", "format_version", "source", "currency", "unit":
		return true
	}
	return false
}

func (d *decoder) cacheModel(m *PricedModel) error {
	raw := UnknownPrice()
	for {
		key, more, err := d.nextKey()
		if err != nil {
			return err
		}
		if !more {
			break
		}
		d.push(key)
		switch string(key) {
		case "input":
			m.Price.Input, err = d.getPrice(ScalePerMillion, 1)
		case "output":
			m.Price.Output, err = d.getPrice(ScalePerMillion, 1)
		case "raw_pricing":
			err = d.price(&raw, ScalePerToken, 1)
		case "provider", "source", "model", "model_id", "name", "last_updated", "updated_at",
			"cached_at", "context_length", "currency", "unit":
			err = d.skipValue()
		default:
			err = d.unknownKey(key)
		}
		d.pop()
		if err != nil {
			return err
		}
	}
	if m.Price.Input == format.PriceUnknown {
		m.Price.Input = raw.Input
	}
	if m.Price.Output == format.PriceUnknown {
		m.Price.Output = raw.Output
	}
	m.Price.Request, m.Price.Image = raw.Request, raw.Image
	return nil
}
