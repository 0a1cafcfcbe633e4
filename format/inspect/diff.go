package inspect

import (
	"bufio"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"

	"smartrouter/format"
)

// lineDiff compares two renderings made of "key: value" lines and returns
// "key: old -> new" for changed keys, "+ line" and "- line" for the others,
// in the order of b then a.
func lineDiff(a, b []string) []string {
	split := func(l string) (string, string) {
		k, v, ok := strings.Cut(l, ": ")
		if !ok {
			return l, ""
		}
		return k, v
	}
	av := make(map[string]string, len(a))
	for _, l := range a {
		k, v := split(l)
		av[k] = v
	}
	bv := make(map[string]string, len(b))
	var out []string
	for _, l := range b {
		k, v := split(l)
		bv[k] = v
		old, ok := av[k]
		switch {
		case !ok:
			out = append(out, "+ "+l)
		case old != v:
			out = append(out, fmt.Sprintf("%s: %s -> %s", k, old, v))
		}
	}
	for _, l := range a {
		if k, _ := split(l); !hasKey(bv, k) {
			out = append(out, "- "+l)
		}
	}
	return out
}

func hasKey(m map[string]string, k string) bool { _, ok := m[k]; return ok }

type pairKey struct{ channel, model string }

func pairIndex(s *format.Snapshot) map[pairKey]uint32 {
	chans := s.Channels()
	out := make(map[pairKey]uint32, s.NumPairs())
	for i := 0; i < s.NumPairs(); i++ {
		p := s.Pair(uint32(i))
		if int(p.Channel) < len(chans) {
			out[pairKey{chans[p.Channel].ID, s.Model(p.Model).Name}] = uint32(i)
		}
	}
	return out
}

func sortedKeys(m map[pairKey]uint32) []pairKey {
	keys := make([]pairKey, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b pairKey) int {
		if c := strings.Compare(a.channel, b.channel); c != 0 {
			return c
		}
		return strings.Compare(a.model, b.model)
	})
	return keys
}

// Diff writes what changed from old to new: settings, providers and
// channels (added, removed, changed fields; a key change is reported without
// its value), pairs added and removed, price and other field changes of the
// pairs present in both, tags added and removed with their cardinality and
// cardinality changes, prewarm lists and key states. It reports whether
// anything differs; the header (generation, build time) is not compared.
func Diff(out io.Writer, old, new *format.Snapshot) (bool, error) {
	w := bufio.NewWriterSize(out, 64<<10)
	changed := false
	section := func(title string, lines []string) {
		if len(lines) == 0 {
			return
		}
		changed = true
		fmt.Fprintf(w, "%s\n", title)
		for _, l := range lines {
			fmt.Fprintf(w, "  %s\n", l)
		}
	}

	inputs := old.Header().Fingerprint != new.Header().Fingerprint
	if inputs {
		fmt.Fprintf(w, "sources: fingerprint %016x -> %016x\n", old.Header().Fingerprint, new.Header().Fingerprint)
	}
	section("settings:", lineDiff(settingsLines(old.Settings()), settingsLines(new.Settings())))

	// Providers by key.
	{
		op, np := old.Providers(), new.Providers()
		var lines []string
		oi := make(map[string]int, len(op))
		for i := range op {
			oi[op[i].Key] = i
		}
		ni := make(map[string]bool, len(np))
		for i := range np {
			ni[np[i].Key] = true
			j, ok := oi[np[i].Key]
			if !ok {
				lines = append(lines, "+ "+np[i].Key)
				continue
			}
			if d := lineDiff(providerLines(&op[j]), providerLines(&np[i])); len(d) > 0 {
				lines = append(lines, "~ "+np[i].Key+": "+strings.Join(d, "; "))
			}
		}
		for i := range op {
			if !ni[op[i].Key] {
				lines = append(lines, "- "+op[i].Key)
			}
		}
		section("providers:", lines)
	}

	// Channels by id.
	oc, nc := old.Channels(), new.Channels()
	{
		var added, removed, mod []string
		oi := make(map[string]int, len(oc))
		for i := range oc {
			oi[oc[i].ID] = i
		}
		ni := make(map[string]bool, len(nc))
		for i := range nc {
			ni[nc[i].ID] = true
			j, ok := oi[nc[i].ID]
			if !ok {
				added = append(added, "+ "+nc[i].ID)
				continue
			}
			d := lineDiff(channelLines(&oc[j], old.Providers()), channelLines(&nc[i], new.Providers()))
			if oc[j].APIKey != nc[i].APIKey && MaskSecret(oc[j].APIKey) == MaskSecret(nc[i].APIKey) {
				d = append(d, "api_key changed (value not shown)")
			}
			if len(d) > 0 {
				mod = append(mod, "~ "+nc[i].ID+": "+strings.Join(d, "; "))
			}
		}
		for i := range oc {
			if !ni[oc[i].ID] {
				removed = append(removed, "- "+oc[i].ID)
			}
		}
		section(fmt.Sprintf("channels: +%d -%d ~%d", len(added), len(removed), len(mod)), slices.Concat(added, removed, mod))
	}

	// Pairs by (channel id, model id).
	{
		opi, npi := pairIndex(old), pairIndex(new)
		var added, removed, prices, fields []string
		for _, k := range sortedKeys(npi) {
			if _, ok := opi[k]; !ok {
				added = append(added, "+ "+k.channel+" "+k.model)
			}
		}
		for _, k := range sortedKeys(opi) {
			oi := opi[k]
			ni, ok := npi[k]
			if !ok {
				removed = append(removed, "- "+k.channel+" "+k.model)
				continue
			}
			op, np := old.Pair(oi), new.Pair(ni)
			var pc []string
			for _, x := range []struct {
				name string
				a, b uint64
			}{{"input", op.InputPrice, np.InputPrice}, {"output", op.OutputPrice, np.OutputPrice}} {
				if x.a != x.b {
					pc = append(pc, fmt.Sprintf("%s %s -> %s", x.name, FormatPrice(x.a), FormatPrice(x.b)))
				}
			}
			if op.RequestPrice != np.RequestPrice {
				pc = append(pc, fmt.Sprintf("request %s -> %s", formatRequestPrice(op.RequestPrice), formatRequestPrice(np.RequestPrice)))
			}
			if len(pc) > 0 {
				prices = append(prices, "~ "+k.channel+" "+k.model+": "+strings.Join(pc, ", "))
			}
			ol, nl := pairLines(&op)[1:], pairLines(&np)[1:]
			var fc []string
			for i := range ol {
				if ol[i] != nl[i] {
					fc = append(fc, ol[i]+" -> "+strings.SplitN(nl[i], ": ", 2)[1])
				}
			}
			if len(fc) > 0 {
				fields = append(fields, "~ "+k.channel+" "+k.model+": "+strings.Join(fc, "; "))
			}
		}
		section(fmt.Sprintf("pairs: +%d -%d", len(added), len(removed)), slices.Concat(added, removed))
		section(fmt.Sprintf("prices: %d changed", len(prices)), prices)
		section(fmt.Sprintf("pair fields: %d changed", len(fields)), fields)
	}

	// Tags: both dictionaries are sorted by name.
	{
		var added, removed, card []string
		i, j := 0, 0
		for i < old.NumTags() || j < new.NumTags() {
			var on, nn string
			var oc, ncard uint32
			if i < old.NumTags() {
				on, oc = old.Tag(uint32(i))
			}
			if j < new.NumTags() {
				nn, ncard = new.Tag(uint32(j))
			}
			switch {
			case j >= new.NumTags() || (i < old.NumTags() && on < nn):
				removed = append(removed, fmt.Sprintf("- %s (%d)", on, oc))
				i++
			case i >= old.NumTags() || nn < on:
				added = append(added, fmt.Sprintf("+ %s (%d)", nn, ncard))
				j++
			default:
				if oc != ncard {
					card = append(card, fmt.Sprintf("~ %s %d -> %d", on, oc, ncard))
				}
				i++
				j++
			}
		}
		section(fmt.Sprintf("tags: +%d -%d ~%d", len(added), len(removed), len(card)), slices.Concat(added, removed, card))
	}

	// Prewarm by query, compared as (channel, model) sets.
	{
		describe := func(s *format.Snapshot) map[string]string {
			chans := s.Channels()
			out := map[string]string{}
			for _, p := range s.Prewarm() {
				var ids []string
				for _, o := range p.Pairs {
					pr := s.Pair(o)
					if int(pr.Channel) < len(chans) {
						ids = append(ids, chans[pr.Channel].ID+" "+s.Model(pr.Model).Name)
					}
				}
				slices.Sort(ids)
				out[p.Query] = strconv.Itoa(len(ids)) + " pairs\x00" + strings.Join(ids, "\x00")
			}
			return out
		}
		om, nm := describe(old), describe(new)
		var keys []string
		for k := range om {
			keys = append(keys, k)
		}
		for k := range nm {
			if _, ok := om[k]; !ok {
				keys = append(keys, k)
			}
		}
		slices.Sort(keys)
		var lines []string
		for _, k := range keys {
			a, aok := om[k]
			b, bok := nm[k]
			an, _, _ := strings.Cut(a, "\x00")
			bn, _, _ := strings.Cut(b, "\x00")
			switch {
			case !aok:
				lines = append(lines, fmt.Sprintf("+ %q (%s)", k, bn))
			case !bok:
				lines = append(lines, fmt.Sprintf("- %q (%s)", k, an))
			case a != b:
				lines = append(lines, fmt.Sprintf("~ %q %s -> %s", k, an, bn))
			}
		}
		section("prewarm:", lines)
	}

	// Key states by channel id.
	{
		render := func(s *format.Snapshot) []string {
			var l []string
			ks := s.KeyStates()
			for i := range ks {
				line := keyStateLine(&ks[i], s.Channels())
				id, rest, _ := strings.Cut(line, " ")
				l = append(l, id+": "+rest)
			}
			return l
		}
		section("key states:", lineDiff(render(old), render(new)))
	}

	// Client keys by name (hash prefixes only).
	{
		render := func(s *format.Snapshot) []string {
			var l []string
			cks := s.ClientKeys()
			for i := range cks {
				name, rest, _ := strings.Cut(ClientKeyLine(&cks[i]), " ")
				l = append(l, name+": "+rest)
			}
			slices.Sort(l)
			return l
		}
		section("client keys:", lineDiff(render(old), render(new)))
	}
	switch {
	case !changed && inputs:
		fmt.Fprintln(w, "no differences in content (only the inputs' bytes changed)")
	case !changed:
		fmt.Fprintln(w, "no differences")
	}
	return changed, w.Flush()
}
