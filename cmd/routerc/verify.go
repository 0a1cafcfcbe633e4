package main

import (
	"fmt"
	"io"
)

// runVerify implements "routerc verify": full validation, exit status 0 when
// the file is a valid snapshot, 1 otherwise.
func runVerify(args []string, stdout, stderr io.Writer) int {
	fs := newFlags("verify", "FILE", stderr)
	pos, code, ok := parse(fs, args, 1, stderr)
	if !ok {
		return code
	}
	s, err := openSnapshot(pos[0])
	if err != nil {
		if c := errorClass(err); c != "" {
			fmt.Fprintf(stderr, "routerc verify: %s: invalid (%s): %v\n", pos[0], c, err)
		} else {
			fmt.Fprintf(stderr, "routerc verify: %s: %v\n", pos[0], err)
		}
		return 1
	}
	h := s.Header()
	fmt.Fprintf(stdout, "%s: valid snapshot, format %d.%d, generation %d, %d channels, %d pairs, %d tags, %d bytes\n",
		pos[0], h.Major, h.Minor, h.Generation, len(s.Channels()), s.NumPairs(), s.NumTags(), h.FileSize)
	return 0
}
