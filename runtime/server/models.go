package server

import (
	"strconv"

	"github.com/gofiber/fiber/v2"

	"smartrouter/format"

	"smartrouter/runtime/jsonstr"
)

// models serves GET /v1/models. The answer is built once per snapshot, on
// first use, and kept in heap memory on the snapshot's state.
func (s *Server) models(c *fiber.Ctx) error {
	h := s.authorized(c, false)
	if h == nil {
		return nil
	}
	defer h.Release()
	st := h.Value.(*state)
	st.modelsOnce.Do(func() { st.models = buildModels(st) })
	r := c.Response()
	r.SetStatusCode(fiber.StatusOK)
	r.Header.SetContentType(fiber.MIMEApplicationJSON)
	// The body is immutable heap memory owned by the state: no copy needed,
	// and it stays valid after the handle is released.
	r.SetBodyRaw(st.models)
	return nil
}

// buildModels renders the OpenAI model list with the router's extra fields:
// tags (union over the model's pairs), context_length and parameter_count
// (largest known), prices (cheapest known, USD per million tokens),
// capabilities and channel_count.
func buildModels(st *state) []byte {
	snap := st.snap
	nm := snap.NumModels()
	tagsOf := make([][]uint32, nm)
	for t := 0; t < snap.NumTags(); t++ {
		it := snap.TagPairs(uint32(t)).Iterator()
		for it.HasNext() {
			m := snap.Pair(it.Next()).Model
			if l := tagsOf[m]; len(l) == 0 || l[len(l)-1] != uint32(t) {
				tagsOf[m] = append(l, uint32(t))
			}
		}
	}
	b := make([]byte, 0, 256*nm+64)
	b = append(b, `{"object":"list","data":[`...)
	for m := 0; m < nm; m++ {
		info := snap.Model(uint32(m))
		first, n := snap.ModelPairs(uint32(m))
		var ctx, params uint64
		in, out := format.PriceUnknown, format.PriceUnknown
		var vision, tools, chat, embed bool
		owner := info.OwnedBy
		for p := first; p < first+n; p++ {
			pr := snap.Pair(p)
			ctx = max(ctx, pr.ContextLength)
			params = max(params, pr.ParamsM)
			price := func(cur, v uint64) uint64 {
				if pr.Flags&format.FlagFree != 0 {
					return 0
				}
				if v == format.PriceUnknown || (cur != format.PriceUnknown && cur <= v) {
					return cur
				}
				return v
			}
			in, out = price(in, pr.InputPrice), price(out, pr.OutputPrice)
			vision = vision || (pr.Caps&format.CapVisionKnown != 0 && pr.Caps&format.CapVision != 0)
			tools = tools || (pr.Caps&format.CapToolsKnown != 0 && pr.Caps&format.CapTools != 0)
			chat = chat || pr.Flags&format.FlagChatExcluded == 0
			embed = embed || pr.Flags&format.FlagEmbedding != 0
			if owner == "" && int(pr.Channel) < len(st.chans) {
				owner = st.chans[pr.Channel].provider
			}
		}
		if owner == "" {
			owner = Name
		}
		if m > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"id":`...)
		b = jsonstr.Append(b, info.Name)
		b = append(b, `,"object":"model","created":`...)
		b = strconv.AppendInt(b, info.Created, 10)
		b = append(b, `,"owned_by":`...)
		b = jsonstr.Append(b, owner)
		b = append(b, `,"tags":[`...)
		for k, t := range tagsOf[m] {
			if k > 0 {
				b = append(b, ',')
			}
			name, _ := snap.Tag(t)
			b = jsonstr.Append(b, name)
		}
		b = append(b, `],"context_length":`...)
		b = appendUintOrNull(b, ctx)
		b = append(b, `,"parameter_count":`...)
		b = appendUintOrNull(b, params*1_000_000)
		b = append(b, `,"prices":{"input_usd_per_1m":`...)
		b = appendPrice(b, in)
		b = append(b, `,"output_usd_per_1m":`...)
		b = appendPrice(b, out)
		b = append(b, `},"capabilities":[`...)
		sep := false
		for _, c := range [...]struct {
			on   bool
			name string
		}{{chat, "chat"}, {embed, "embeddings"}, {tools, "tools"}, {vision, "vision"}} {
			if !c.on {
				continue
			}
			if sep {
				b = append(b, ',')
			}
			b = jsonstr.Append(b, c.name)
			sep = true
		}
		b = append(b, `],"channel_count":`...)
		b = strconv.AppendUint(b, uint64(n), 10)
		b = append(b, '}')
	}
	return append(b, "]}"...)
}

func appendUintOrNull(b []byte, v uint64) []byte {
	if v == 0 {
		return append(b, "null"...)
	}
	return strconv.AppendUint(b, v, 10)
}

// appendPrice writes a pico-USD-per-token price as USD per million tokens.
func appendPrice(b []byte, p uint64) []byte {
	if p == format.PriceUnknown {
		return append(b, "null"...)
	}
	return appendFloat(b, float64(p)/1e6, 6)
}
