package main

import (
	"fmt"
	"io"

	"smartrouter/format/inspect"
)

// runDiff implements "routerc diff": exit status 0 when the snapshots have
// the same content, 1 when they differ, 2 on error (as diff(1)).
func runDiff(args []string, stdout, stderr io.Writer) int {
	fs := newFlags("diff", "OLD NEW", stderr)
	pos, code, ok := parse(fs, args, 2, stderr)
	if !ok {
		return code
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
	changed, err := inspect.Diff(stdout, old, nw)
	if err != nil {
		fmt.Fprintf(stderr, "routerc diff: %v\n", err)
		return 2
	}
	if changed {
		return 1
	}
	return 0
}
