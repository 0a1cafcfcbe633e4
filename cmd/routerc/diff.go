package main

import (
	"fmt"
	"io"

	"smartrouter/format/inspect"
)

// runDiff implements "routerc diff": exit status 0 when the snapshots have
// the same content, 1 when they differ, 2 on error (as diff(1)). -summary
// (or -format markdown) prints the short account of inspect.Summary instead
// of every difference.
func runDiff(args []string, stdout, stderr io.Writer) int {
	fs := newFlags("diff", "[-summary] [-format text|markdown] [-limit N] OLD NEW", stderr)
	summary := fs.Bool("summary", false, "a short change summary (channels, models, prices, settings) for a CI log or a pull-request comment")
	form := fs.String("format", "text", "summary `format`: text or markdown (markdown implies -summary)")
	limit := fs.Int("limit", inspect.DefaultSummaryLimit, "names shown per list in the summary (-1: all)")
	pos, code, ok := parse(fs, args, 2, stderr)
	if !ok {
		return code
	}
	if *form != "text" && *form != "markdown" {
		fmt.Fprintf(stderr, "routerc diff: -format %q: use text or markdown\n", *form)
		return 2
	}
	if *limit == 0 {
		fmt.Fprintln(stderr, "routerc diff: -limit 0 would show no names; give a positive number, or -1 for all")
		return 2
	}
	old, err := openSnapshot(pos[0])
	if err != nil {
		fmt.Fprintf(stderr, "routerc diff: %s: %v\n", pos[0], err)
		return 2
	}
	nw, err := openSnapshot(pos[1])
	if err != nil {
		fmt.Fprintf(stderr, "routerc diff: %s: %v\n", pos[1], err)
		return 2
	}
	var changed bool
	if *summary || *form == "markdown" {
		changed, err = inspect.Summary(stdout, old, nw, inspect.SummaryOptions{Markdown: *form == "markdown", Limit: *limit})
	} else {
		changed, err = inspect.Diff(stdout, old, nw)
	}
	if err != nil {
		fmt.Fprintf(stderr, "routerc diff: %v\n", err)
		return 2
	}
	if changed {
		return 1
	}
	return 0
}
