package main

import (
	"fmt"
	"io"

	"smartrouter/format/inspect"
)

// runDump implements "routerc dump": the whole snapshot as stable text, keys
// masked.
func runDump(args []string, stdout, stderr io.Writer) int {
	fs := newFlags("dump", "FILE", stderr)
	pos, code, ok := parse(fs, args, 1, stderr)
	if !ok {
		return code
	}
	s, err := openSnapshot(pos[0])
	if err != nil {
		fmt.Fprintf(stderr, "routerc dump: %s: %v\n", pos[0], err)
		return 1
	}
	if err := inspect.Dump(stdout, s); err != nil {
		fmt.Fprintf(stderr, "routerc dump: %v\n", err)
		return 1
	}
	return 0
}
