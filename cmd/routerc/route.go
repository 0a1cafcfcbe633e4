package main

import (
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"

	"smartrouter/runtime/route"
)

// runRoute implements "routerc route": the explain output of runtime/route
// for one model string, with no server, from a fresh live state seeded with
// the snapshot's key-validation verdicts.
func runRoute(args []string, stdout, stderr io.Writer) int {
	fs := newFlags("route", "FILE MODEL [-strategy S] [-tokens N] [-max-tokens N] [-json]", stderr)
	strategy := fs.String("strategy", "", "strategy `name` (default: the configured default_strategy)")
	tokens := fs.Int("tokens", 100, "estimated input `tokens` of the request")
	maxTokens := fs.Int("max-tokens", 0, "max_tokens of the request (0: not set)")
	vision := fs.Bool("vision", false, "the request carries an image")
	tools := fs.Bool("tools", false, "the request carries tools")
	embeddings := fs.Bool("embeddings", false, "an embeddings request")
	asJSON := fs.Bool("json", false, "print the explain output as JSON")
	assumeEnv := fs.Bool("assume-env", false, "treat every ${ENV} key as set (default: read the environment)")
	pos, code, ok := parse(fs, args, 2, stderr)
	if !ok {
		return code
	}
	s, err := openSnapshot(pos[0])
	if err != nil {
		fmt.Fprintf(stderr, "routerc route: %s: %v\n", pos[0], err)
		return 1
	}
	lookup := os.LookupEnv
	if *assumeEnv {
		lookup = func(string) (string, bool) { return "set-by-assume-env", true }
	}
	live := route.NewLive(nil)
	live.Load(s)
	r := route.New(s, live, route.Options{LookupEnv: lookup, CacheEntries: -1, Logger: slog.New(slog.DiscardHandler)})
	var d route.Decision
	rerr := r.Route(route.Request{
		Model: pos[1], Strategy: *strategy, InputTokens: *tokens, MaxTokens: *maxTokens,
		NeedVision: *vision, NeedTools: *tools, Embeddings: *embeddings, Explain: true,
	}, &d)
	if d.Explain != nil {
		if *asJSON {
			enc := json.NewEncoder(stdout)
			enc.SetIndent("", "  ")
			if err := enc.Encode(d.Explain); err != nil {
				fmt.Fprintf(stderr, "routerc route: %v\n", err)
				return 1
			}
		} else {
			printExplain(stdout, d.Explain)
		}
	}
	if rerr != nil {
		fmt.Fprintf(stderr, "routerc route: %v\n", rerr)
		return 1
	}
	return 0
}

func printExplain(w io.Writer, ex *route.Explain) {
	fmt.Fprintf(w, "model %q read as %s", ex.Model, ex.Query.Kind)
	if q := ex.Query.String(); q != ex.Model {
		fmt.Fprintf(w, " (%s)", q)
	}
	fmt.Fprintf(w, "; %d pairs matched\n", ex.Matched)
	if ex.Strategy != nil {
		var terms []string
		for _, t := range ex.Strategy.Terms {
			order := ""
			if t.Asc {
				order = " asc"
			}
			terms = append(terms, fmt.Sprintf("%s %g%s", t.Field, t.Weight, order))
		}
		fmt.Fprintf(w, "strategy %s: %s\n", ex.Strategy.Name, strings.Join(terms, ", "))
	}
	rq := ex.Request
	fmt.Fprintf(w, "request: input_tokens=%d max_tokens=%d priced_output_tokens=%d vision=%t tools=%t embeddings=%t\n",
		rq.InputTokens, rq.MaxTokens, rq.PricedOutput, rq.NeedVision, rq.NeedTools, rq.Embeddings)
	fmt.Fprintf(w, "\norder (%d):\n", len(ex.Candidates))
	for i, c := range ex.Candidates {
		var sc []string
		for f, v := range c.Scores {
			sc = append(sc, fmt.Sprintf("%s=%.3f", route.Field(f), v))
		}
		fmt.Fprintf(w, "%3d. %s %s  total=%.4f  est=$%.6f  priority=%d weight=%g\n     %s\n",
			i+1, c.Channel, c.Model, c.Total, c.EstimatedUSD, c.Priority, c.Weight, strings.Join(sc, " "))
	}
	fmt.Fprintf(w, "\nfiltered (%d):\n", len(ex.Filtered))
	for _, f := range ex.Filtered {
		fmt.Fprintf(w, "     %s %s: %s", f.Channel, f.Model, f.Reason)
		if f.Detail != "" {
			fmt.Fprintf(w, " (%s)", f.Detail)
		}
		fmt.Fprintln(w)
	}
}
