package inspect

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"unicode"

	"smartrouter/format"
)

// SummaryOptions tune Summary. The zero value gives plain text with at most
// DefaultSummaryLimit names per list.
type SummaryOptions struct {
	// Markdown writes GitHub-flavoured Markdown (for a pull-request comment
	// or a CI job summary) instead of plain text.
	Markdown bool
	// Limit is the number of names or lines shown per list; the rest is
	// counted ("... and 12 more"). 0: DefaultSummaryLimit; negative: all.
	Limit int
}

// DefaultSummaryLimit is the number of names shown per list by default.
const DefaultSummaryLimit = 10

// summary is what Summary reports, computed once for both renderings.
type summary struct {
	chAdded, chRemoved []string
	chChanged          []namedChanges // channel id and its changed fields
	mAdded, mRemoved   []string
	pAdded, pRemoved   int
	prices             []priceChange
	settings           []string // lineDiff lines of the settings
	others             []string // titles of the other Diff sections that changed
	oldModels, models  int
	oldChans, chans    int
}

type namedChanges struct {
	name    string
	changes []string
}

type priceChange struct {
	channel, model string
	input, output  [2]string // old, new; empty when unchanged
	request        [2]string
}

// Summary writes a short account of what changed from old to new, fit for a
// CI log or a pull-request comment: channels added, removed and changed
// (with the changed fields), models added and removed (by name, over all
// channels), pair counts, price changes per (channel, model) pair (old and
// new input, output and request prices) and settings changes; other
// changes (providers, pair fields, tags, prewarm lists, key states) are
// named with a pointer to the full Diff. Lists show the first
// opts.Limit entries in sorted order. It reports whether anything differs,
// exactly as Diff does.
func Summary(out io.Writer, old, new *format.Snapshot, opts SummaryOptions) (bool, error) {
	var full bytes.Buffer
	changed, err := Diff(&full, old, new)
	if err != nil {
		return false, err
	}
	s := summarize(old, new, full.String())
	limit := opts.Limit
	if limit == 0 {
		limit = DefaultSummaryLimit
	}
	w := bufio.NewWriterSize(out, 16<<10)
	if opts.Markdown {
		s.markdown(w, changed, limit)
	} else {
		s.text(w, changed, limit)
	}
	return changed, w.Flush()
}

func summarize(old, new *format.Snapshot, full string) *summary {
	s := &summary{oldModels: old.NumModels(), models: new.NumModels(), oldChans: len(old.Channels()), chans: len(new.Channels())}

	oc, nc := old.Channels(), new.Channels()
	oi := make(map[string]int, len(oc))
	for i := range oc {
		oi[oc[i].ID] = i
	}
	ni := make(map[string]bool, len(nc))
	for i := range nc {
		ni[nc[i].ID] = true
		j, ok := oi[nc[i].ID]
		if !ok {
			s.chAdded = append(s.chAdded, nc[i].ID)
			continue
		}
		d := lineDiff(channelLines(&oc[j], old.Providers()), channelLines(&nc[i], new.Providers()))
		if oc[j].APIKey != nc[i].APIKey && MaskSecret(oc[j].APIKey) == MaskSecret(nc[i].APIKey) {
			d = append(d, "api_key changed (value not shown)")
		}
		if len(d) > 0 {
			s.chChanged = append(s.chChanged, namedChanges{nc[i].ID, d})
		}
	}
	for i := range oc {
		if !ni[oc[i].ID] {
			s.chRemoved = append(s.chRemoved, oc[i].ID)
		}
	}
	slices.Sort(s.chAdded)
	slices.Sort(s.chRemoved)
	slices.SortFunc(s.chChanged, func(a, b namedChanges) int { return strings.Compare(a.name, b.name) })

	// Models by name: both tables are sorted by name.
	i, j := 0, 0
	for i < old.NumModels() || j < new.NumModels() {
		var on, nn string
		if i < old.NumModels() {
			on = old.Model(uint32(i)).Name
		}
		if j < new.NumModels() {
			nn = new.Model(uint32(j)).Name
		}
		switch {
		case j >= new.NumModels() || (i < old.NumModels() && on < nn):
			s.mRemoved = append(s.mRemoved, on)
			i++
		case i >= old.NumModels() || nn < on:
			s.mAdded = append(s.mAdded, nn)
			j++
		default:
			i++
			j++
		}
	}

	opi, npi := pairIndex(old), pairIndex(new)
	for k := range npi {
		if _, ok := opi[k]; !ok {
			s.pAdded++
		}
	}
	for _, k := range sortedKeys(opi) {
		nidx, ok := npi[k]
		if !ok {
			s.pRemoved++
			continue
		}
		op, np := old.Pair(opi[k]), new.Pair(nidx)
		pc := priceChange{channel: k.channel, model: k.model}
		if op.InputPrice != np.InputPrice {
			pc.input = [2]string{FormatPrice(op.InputPrice), FormatPrice(np.InputPrice)}
		}
		if op.OutputPrice != np.OutputPrice {
			pc.output = [2]string{FormatPrice(op.OutputPrice), FormatPrice(np.OutputPrice)}
		}
		if op.RequestPrice != np.RequestPrice {
			pc.request = [2]string{formatRequestPrice(op.RequestPrice), formatRequestPrice(np.RequestPrice)}
		}
		if pc.input[0] != "" || pc.output[0] != "" || pc.request[0] != "" {
			s.prices = append(s.prices, pc)
		}
	}

	s.settings = lineDiff(settingsLines(old.Settings()), settingsLines(new.Settings()))

	// The sections of the full diff this summary does not cover: its
	// unindented lines, by title.
	covered := []string{"sources", "settings", "channels", "pairs", "prices", "no differences"}
	for _, l := range strings.Split(full, "\n") {
		if l == "" || l[0] == ' ' {
			continue
		}
		title, _, _ := strings.Cut(l, ":")
		if !slices.ContainsFunc(covered, func(c string) bool { return strings.HasPrefix(title, c) }) {
			s.others = append(s.others, title)
		}
	}
	return s
}

// headline is the one-line account, e.g. "channels +1 -1 ~2 · models +2 -1".
func (s *summary) headline() string {
	var parts []string
	if len(s.chAdded)+len(s.chRemoved)+len(s.chChanged) > 0 {
		parts = append(parts, fmt.Sprintf("channels +%d -%d ~%d", len(s.chAdded), len(s.chRemoved), len(s.chChanged)))
	}
	if len(s.mAdded)+len(s.mRemoved) > 0 {
		parts = append(parts, fmt.Sprintf("models +%d -%d", len(s.mAdded), len(s.mRemoved)))
	}
	if s.pAdded+s.pRemoved > 0 {
		parts = append(parts, fmt.Sprintf("pairs +%d -%d", s.pAdded, s.pRemoved))
	}
	if len(s.prices) > 0 {
		parts = append(parts, fmt.Sprintf("prices ~%d", len(s.prices)))
	}
	if len(s.settings) > 0 {
		parts = append(parts, fmt.Sprintf("settings ~%d", len(s.settings)))
	}
	if len(s.others) > 0 {
		parts = append(parts, "also "+strings.Join(s.others, ", "))
	}
	return strings.Join(parts, " · ")
}

// shown returns the first limit entries and how many are left out.
func shown[T any](l []T, limit int) ([]T, int) {
	if limit < 0 || len(l) <= limit {
		return l, 0
	}
	return l[:limit], len(l) - limit
}

// plain shows a name from the snapshot on one line: as it is when it is
// printable, quoted otherwise.
func plain(s string) string {
	if s == "" || strings.ContainsFunc(s, func(r rune) bool { return !unicode.IsPrint(r) }) {
		return strconv.Quote(s)
	}
	return s
}

func (p *priceChange) text() string {
	var l []string
	for _, x := range []struct {
		name string
		v    [2]string
	}{{"input", p.input}, {"output", p.output}, {"request", p.request}} {
		if x.v[0] != "" {
			l = append(l, x.name+" "+x.v[0]+" -> "+x.v[1])
		}
	}
	return strings.Join(l, ", ")
}

func (s *summary) text(w *bufio.Writer, changed bool, limit int) {
	if !changed {
		fmt.Fprintln(w, "snapshot changes: none")
		return
	}
	fmt.Fprintf(w, "snapshot changes: %s\n", s.headline())
	fmt.Fprintf(w, "channels: %d -> %d, models: %d -> %d\n", s.oldChans, s.chans, s.oldModels, s.models)
	names := func(title string, l []string) {
		if len(l) == 0 {
			return
		}
		head, more := shown(l, limit)
		q := make([]string, len(head))
		for i, n := range head {
			q[i] = plain(n)
		}
		fmt.Fprintf(w, "%s (%d): %s", title, len(l), strings.Join(q, ", "))
		if more > 0 {
			fmt.Fprintf(w, ", ... and %d more", more)
		}
		fmt.Fprintln(w)
	}
	lines := func(title string, l []string) {
		if len(l) == 0 {
			return
		}
		head, more := shown(l, limit)
		fmt.Fprintf(w, "%s (%d):\n", title, len(l))
		for _, x := range head {
			fmt.Fprintf(w, "  %s\n", x)
		}
		if more > 0 {
			fmt.Fprintf(w, "  ... and %d more\n", more)
		}
	}
	names("channels added", s.chAdded)
	names("channels removed", s.chRemoved)
	var cl []string
	for _, c := range s.chChanged {
		cl = append(cl, "~ "+plain(c.name)+": "+strings.Join(c.changes, "; "))
	}
	lines("channels changed", cl)
	names("models added", s.mAdded)
	names("models removed", s.mRemoved)
	if s.pAdded+s.pRemoved > 0 {
		fmt.Fprintf(w, "pairs (channel, model): %d added, %d removed\n", s.pAdded, s.pRemoved)
	}
	var pl []string
	for i := range s.prices {
		p := &s.prices[i]
		pl = append(pl, "~ "+plain(p.channel)+" "+plain(p.model)+": "+p.text())
	}
	lines("prices changed", pl)
	var sl []string
	for _, l := range s.settings {
		sl = append(sl, "~ "+l)
	}
	lines("settings changed", sl)
	if len(s.others) > 0 {
		fmt.Fprintf(w, "also changed: %s\n", strings.Join(s.others, ", "))
	}
	fmt.Fprintln(w, "details: routerc diff OLD NEW")
}

// code shows text as a Markdown code span that stays inside one table cell:
// backticks become quotes, pipes are escaped, unprintable names are quoted.
func code(s string) string {
	s = plain(s)
	s = strings.ReplaceAll(s, "`", "'")
	s = strings.ReplaceAll(s, "|", `\|`)
	return "`" + s + "`"
}

func (s *summary) markdown(w *bufio.Writer, changed bool, limit int) {
	fmt.Fprintln(w, "### Router snapshot changes")
	fmt.Fprintln(w)
	if !changed {
		fmt.Fprintln(w, "No changes.")
		return
	}
	fmt.Fprintf(w, "**%s**\n\n", s.headline())
	fmt.Fprintln(w, "| | before | after | added | removed | changed |")
	fmt.Fprintln(w, "|---|---:|---:|---:|---:|---:|")
	fmt.Fprintf(w, "| channels | %d | %d | %d | %d | %d |\n", s.oldChans, s.chans, len(s.chAdded), len(s.chRemoved), len(s.chChanged))
	fmt.Fprintf(w, "| models | %d | %d | %d | %d | |\n", s.oldModels, s.models, len(s.mAdded), len(s.mRemoved))
	fmt.Fprintf(w, "| pairs | | | %d | %d | %d prices |\n", s.pAdded, s.pRemoved, len(s.prices))
	fmt.Fprintf(w, "| settings | | | | | %d |\n", len(s.settings))
	names := func(title string, l []string) {
		if len(l) == 0 {
			return
		}
		head, more := shown(l, limit)
		q := make([]string, len(head))
		for i, n := range head {
			q[i] = code(n)
		}
		fmt.Fprintf(w, "\n**%s (%d):** %s", title, len(l), strings.Join(q, ", "))
		if more > 0 {
			fmt.Fprintf(w, " and %d more", more)
		}
		fmt.Fprintln(w)
	}
	more := func(n int) {
		if n > 0 {
			fmt.Fprintf(w, "\n… and %d more\n", n)
		}
	}
	names("Channels added", s.chAdded)
	names("Channels removed", s.chRemoved)
	if len(s.chChanged) > 0 {
		head, n := shown(s.chChanged, limit)
		fmt.Fprintf(w, "\n**Channels changed (%d):**\n\n", len(s.chChanged))
		for _, c := range head {
			q := make([]string, len(c.changes))
			for i, x := range c.changes {
				q[i] = code(x)
			}
			fmt.Fprintf(w, "- %s: %s\n", code(c.name), strings.Join(q, "; "))
		}
		more(n)
	}
	names("Models added", s.mAdded)
	names("Models removed", s.mRemoved)
	if len(s.prices) > 0 {
		head, n := shown(s.prices, limit)
		fmt.Fprintf(w, "\n**Price changes (%d):**\n\n", len(s.prices))
		fmt.Fprintln(w, "| channel | model | input | output | request |")
		fmt.Fprintln(w, "|---|---|---|---|---|")
		cell := func(v [2]string) string {
			if v[0] == "" {
				return ""
			}
			return v[0] + " → " + v[1]
		}
		for _, p := range head {
			fmt.Fprintf(w, "| %s | %s | %s | %s | %s |\n", code(p.channel), code(p.model), cell(p.input), cell(p.output), cell(p.request))
		}
		more(n)
	}
	if len(s.settings) > 0 {
		head, n := shown(s.settings, limit)
		fmt.Fprintf(w, "\n**Settings changed (%d):**\n\n", len(s.settings))
		for _, l := range head {
			fmt.Fprintf(w, "- %s\n", code(l))
		}
		more(n)
	}
	if len(s.others) > 0 {
		fmt.Fprintf(w, "\nAlso changed: %s.\n", strings.Join(s.others, ", "))
	}
	fmt.Fprintln(w, "\nDetails: `routerc diff OLD NEW`.")
}
