package main

import (
	"fmt"
	"io"

	"smartrouter/format/inspect"
)

// runInspect implements "routerc inspect".
func runInspect(args []string, stdout, stderr io.Writer) int {
	fs := newFlags("inspect", "FILE [-config DIR] [-cache DIR]", stderr)
	configDir := fs.String("config", "", "config `folder` to check the config/ sources against (empty: unchecked)")
	cacheDir := fs.String("cache", "", "cache `folder` to check the cache/ sources against (empty: unchecked)")
	pos, code, ok := parse(fs, args, 1, stderr)
	if !ok {
		return code
	}
	s, err := openSnapshot(pos[0])
	if err != nil {
		fmt.Fprintf(stderr, "routerc inspect: %s: %v\n", pos[0], err)
		return 1
	}
	if err := inspect.Inspect(stdout, s, *configDir, *cacheDir); err != nil {
		fmt.Fprintf(stderr, "routerc inspect: %v\n", err)
		return 1
	}
	return 0
}
