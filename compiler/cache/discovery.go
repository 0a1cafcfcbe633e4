package cache

import (
	"io"

	"smartrouter/compiler/diag"
	"smartrouter/format"
)

// Discovery statuses.
const (
	StatusSuccess         = "success"
	StatusSuccessFallback = "success_fallback"
	StatusError           = "error"
)

// DiscoveryEntry is one channel's entry of the discovery cache. Strings are
// "" and numbers 0 when the file does not give them; prices are
// format.PriceUnknown. The plaintext api_key and the raw response_data of
// the file are never read into it.
type DiscoveryEntry struct {
	Key         string   // the object key: a channel id or <channel id>_<8 hex>
	Pos         diag.Pos // where the entry starts, for the caller's own warnings
	ChannelID   string   // channel_id field
	Provider    string
	BaseURL     string
	ModelsURL   string
	Models      []string     // models, in file order
	ModelsData  []ModelData  // models_data, in file order
	ModelsPrice []ModelPrice // models_pricing, in file order
	ModelCount  int64        // model_count; -1 when absent
	LastUpdated int64        // last_updated as Unix seconds; 0 when absent
	Status      string       // success, success_fallback or error (others are kept, with a warning)
	Error       string       // error message of an error entry
	Note        string       // note (e.g. why the fallback was used)
	UserLevel   string       // user_level
	KeyHash     string       // api_key_hash: 8 hex of sha256 of the channel's key
	Skipped     int          // values of this entry skipped for a wrong type or value
	dataIdx     map[string]int32
	priceIdx    map[string]int32
}

// ModelData is one models_data item: what the provider's /models said about
// a model.
type ModelData struct {
	ID              string // the models_data key
	Object          string
	Created         int64 // Unix seconds, 0 unknown
	OwnedBy         string
	ContextLength   uint64 // tokens, 0 unknown
	MaxInputTokens  uint64
	MaxOutputTokens uint64
	ParamsM         uint64 // parameter_count, millions, 0 unknown
	ParamSizeText   string // parameter_size_text, e.g. "8b"
	Price           Price  // pricing: USD per token in the file
	Architecture    Architecture
}

// ModelPrice is one models_pricing item.
type ModelPrice struct {
	ID       string
	Input    uint64 // prompt, pico-USD per token (the file gives USD per token)
	Output   uint64 // completion
	IsFree   bool
	Provider string
}

// Architecture is a model's architecture block.
type Architecture struct {
	Modality         string // e.g. "text+image->text"
	InputModalities  []string
	OutputModalities []string
	Tokenizer        string
	InstructType     string
}

// Data returns the models_data item for id, or nil. Not safe for concurrent
// first use.
func (e *DiscoveryEntry) Data(id string) *ModelData {
	if len(e.ModelsData) < 8 {
		for i := len(e.ModelsData) - 1; i >= 0; i-- {
			if e.ModelsData[i].ID == id {
				return &e.ModelsData[i]
			}
		}
		return nil
	}
	if e.dataIdx == nil {
		e.dataIdx = make(map[string]int32, len(e.ModelsData))
		for i := range e.ModelsData {
			e.dataIdx[e.ModelsData[i].ID] = int32(i)
		}
	}
	if i, ok := e.dataIdx[id]; ok {
		return &e.ModelsData[i]
	}
	return nil
}

// PriceOf returns the models_pricing item for id, or nil. Not safe for
// concurrent first use.
func (e *DiscoveryEntry) PriceOf(id string) *ModelPrice {
	if len(e.ModelsPrice) < 8 {
		for i := len(e.ModelsPrice) - 1; i >= 0; i-- {
			if e.ModelsPrice[i].ID == id {
				return &e.ModelsPrice[i]
			}
		}
		return nil
	}
	if e.priceIdx == nil {
		e.priceIdx = make(map[string]int32, len(e.ModelsPrice))
		for i := range e.ModelsPrice {
			e.priceIdx[e.ModelsPrice[i].ID] = int32(i)
		}
	}
	if i, ok := e.priceIdx[id]; ok {
		return &e.ModelsPrice[i]
	}
	return nil
}

// SplitKey splits a discovery key of the form <channel id>_<8 hex digits>
// into the channel id and the hex part; any other key is a plain channel id
// and comes back with hash "". A channel id that itself ends in _ and 8 hex
// digits is ambiguous: callers should first look the whole key up among the
// configured channels, then the split form.
func SplitKey(key string) (channelID, hash string) {
	n := len(key)
	if n < 10 || key[n-9] != '_' {
		return key, ""
	}
	for i := n - 8; i < n; i++ {
		c := key[i]
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F') {
			return key, ""
		}
	}
	return key[:n-9], key[n-8:]
}

// ReadDiscovery streams the discovery cache at path and calls fn for every
// entry, in file order, one at a time: memory stays bounded by the largest
// entry's kept fields (response_data is skipped unread). An entry that is not
// an object is skipped with a warning; so is a field or list element of the
// wrong type. The entry passed to fn is not reused. An error from fn stops
// the read and is returned as is. A truncated, non-JSON, empty or non-UTF-8
// file gives a *diag.Error with the byte offset and JSON path.
func ReadDiscovery(path string, w *diag.Warnings, fn func(key string, e *DiscoveryEntry) error) (format.Source, error) {
	return decodeFile(path, w, func(d *decoder) error { return d.discovery(fn) })
}

// DecodeDiscovery is ReadDiscovery over any reader; name is used in
// diagnostics.
func DecodeDiscovery(r io.Reader, name string, w *diag.Warnings, fn func(key string, e *DiscoveryEntry) error) error {
	return decodeStream(r, name, w, func(d *decoder) error { return d.discovery(fn) })
}

func (d *decoder) discovery(fn func(key string, e *DiscoveryEntry) error) error {
	if err := d.topObject("a discovery cache"); err != nil {
		return err
	}
	for {
		key, more, err := d.nextKey()
		if err != nil || !more {
			return err
		}
		d.push(key)
		k, err := d.peekKind()
		if err != nil {
			return err
		}
		if k != kObject {
			if err := d.wrong(d.offset(), k, "an object (a channel's entry)"); err != nil {
				return err
			}
			d.pop()
			continue
		}
		e := &DiscoveryEntry{Key: d.intern(key), Pos: d.pos(d.offset()), ModelCount: -1}
		if err := d.discoveryEntry(e); err != nil {
			return err
		}
		d.pop()
		if err := fn(e.Key, e); err != nil {
			return err
		}
	}
}

func (d *decoder) discoveryEntry(e *DiscoveryEntry) error {
	d.openObject()
	before := d.skips
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
		case "channel_id":
			e.ChannelID, _, err = d.getString()
		case "provider":
			e.Provider, _, err = d.getString()
		case "base_url":
			e.BaseURL, _, err = d.getString()
		case "models_url":
			e.ModelsURL, _, err = d.getString()
		case "models":
			e.Models, err = d.getStrings()
		case "models_data":
			err = d.modelsData(e)
		case "models_pricing":
			err = d.modelsPricing(e)
		case "model_count":
			var v uint64
			var ok bool
			if v, ok, err = d.getUint("model_count"); ok && v < 1<<62 {
				e.ModelCount = int64(v)
			}
		case "last_updated":
			e.LastUpdated, _, err = d.getTime("last_updated")
		case "status":
			off := d.valueOff()
			e.Status, _, err = d.getString()
			if err == nil && e.Status != StatusSuccess && e.Status != StatusSuccessFallback && e.Status != StatusError && e.Status != "" {
				d.warnf(off, GroupUnknownEnum, "status %q is none of success, success_fallback, error", e.Status)
			}
		case "error":
			e.Error, _, err = d.getString()
			e.Error = redact(e.Error)
		case "note":
			e.Note, _, err = d.getString()
			e.Note = redact(e.Note)
		case "user_level":
			e.UserLevel, _, err = d.getString()
		case "api_key_hash":
			e.KeyHash, _, err = d.getString()
		case "api_key", "response_data", "cache_key":
			// The plaintext key and the raw /models answer are never kept:
			// skipValue checks their syntax and throws the bytes away.
			err = d.skipValue()
		case "last_error", "last_error_at":
			err = d.skipValue() // the last failed refresh (routerc discover), beside the kept models
		default:
			err = d.unknownKey(key)
		}
		d.pop()
		if err != nil {
			return err
		}
	}
	e.Skipped = d.skips - before
	return nil
}

func (d *decoder) modelsData(e *DiscoveryEntry) error {
	ok, err := d.object("an object of models")
	if !ok || err != nil {
		return err
	}
	if e.ModelsData == nil && len(e.Models) > 0 {
		// The router writes models before models_data: size for it.
		e.ModelsData = make([]ModelData, 0, len(e.Models))
	}
	for {
		key, more, err := d.nextKey()
		if err != nil || !more {
			return err
		}
		d.push(key)
		off := d.valueOff()
		id := d.intern(key)
		ok, err := d.object("an object (a model's data)")
		if err != nil {
			return err
		}
		if ok {
			m := ModelData{ID: id, Price: UnknownPrice()}
			if err := d.modelData(&m); err != nil {
				return err
			}
			if e.Data(id) != nil {
				d.warnf(off, GroupDuplicate, "model %q appears twice in models_data", id)
			}
			e.ModelsData = append(e.ModelsData, m)
			if e.dataIdx != nil {
				e.dataIdx[id] = int32(len(e.ModelsData) - 1)
			}
		}
		d.pop()
	}
}

func (d *decoder) modelData(m *ModelData) error {
	for {
		key, more, err := d.nextKey()
		if err != nil || !more {
			return err
		}
		d.push(key)
		var v uint64
		switch string(key) {
		case "id":
			err = d.skipValue() // the models_data key is the id
		case "object":
			m.Object, _, err = d.getString()
		case "created":
			m.Created, _, err = d.getTime("created")
		case "owned_by":
			m.OwnedBy, _, err = d.getString()
		case "context_length":
			m.ContextLength, _, err = d.getUint("context_length")
		case "max_input_tokens":
			m.MaxInputTokens, _, err = d.getUint("max_input_tokens")
		case "max_output_tokens":
			m.MaxOutputTokens, _, err = d.getUint("max_output_tokens")
		case "parameter_count":
			v, _, err = d.getUint("parameter_count")
			m.ParamsM = v
		case "parameter_size_text":
			m.ParamSizeText, _, err = d.getString()
		case "pricing":
			err = d.price(&m.Price, ScalePerToken, 1)
		case "architecture":
			err = d.architecture(&m.Architecture)
		case "name", "description", "top_provider", "canonical_slug", "hugging_face_id",
			"per_request_limits", "supported_parameters":
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

// price reads a {prompt, completion, request, image} block. Prompt and
// completion are scaled by scale; request and image are per item (USD).
func (d *decoder) price(p *Price, scale int, rate float64) error {
	return d.members("an object of prices", func(key []byte) (err error) {
		switch string(key) {
		case "prompt", "input":
			p.Input, err = d.getPrice(scale, rate)
		case "completion", "output":
			p.Output, err = d.getPrice(scale, rate)
		case "request":
			p.Request, err = d.getPrice(ScalePerToken, rate)
		case "image":
			p.Image, err = d.getPrice(ScalePerToken, rate)
		default:
			err = d.skipValue() // web_search, internal_reasoning, input_cache_read, ...
		}
		return err
	})
}

func (d *decoder) architecture(a *Architecture) error {
	return d.members("an object (architecture)", func(key []byte) (err error) {
		switch string(key) {
		case "modality":
			a.Modality, _, err = d.getString()
		case "input_modalities":
			a.InputModalities, err = d.getStrings()
		case "output_modalities":
			a.OutputModalities, err = d.getStrings()
		case "tokenizer":
			a.Tokenizer, _, err = d.getString()
		case "instruct_type":
			a.InstructType, _, err = d.getString()
		default:
			err = d.skipValue()
		}
		return err
	})
}

func (d *decoder) modelsPricing(e *DiscoveryEntry) error {
	ok, err := d.object("an object of model prices")
	if !ok || err != nil {
		return err
	}
	if e.ModelsPrice == nil && len(e.Models) > 0 {
		e.ModelsPrice = make([]ModelPrice, 0, len(e.Models))
	}
	for {
		key, more, err := d.nextKey()
		if err != nil || !more {
			return err
		}
		d.push(key)
		id := d.intern(key)
		ok, err := d.object("an object (a model's prices)")
		if err != nil {
			return err
		}
		if ok {
			mp := ModelPrice{ID: id, Input: format.PriceUnknown, Output: format.PriceUnknown}
			if err := d.modelPrice(&mp); err != nil {
				return err
			}
			e.ModelsPrice = append(e.ModelsPrice, mp)
			if e.priceIdx != nil {
				e.priceIdx[id] = int32(len(e.ModelsPrice) - 1)
			}
		}
		d.pop()
	}
}

func (d *decoder) modelPrice(mp *ModelPrice) error {
	for {
		key, more, err := d.nextKey()
		if err != nil || !more {
			return err
		}
		d.push(key)
		switch string(key) {
		case "prompt":
			mp.Input, err = d.getPrice(ScalePerToken, 1)
		case "completion":
			mp.Output, err = d.getPrice(ScalePerToken, 1)
		case "is_free":
			mp.IsFree, _, err = d.getBool()
		case "provider":
			mp.Provider, _, err = d.getString()
		default:
			err = d.unknownKey(key)
		}
		d.pop()
		if err != nil {
			return err
		}
	}
}
