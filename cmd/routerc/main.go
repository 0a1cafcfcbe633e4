// Command routerc compiles a Python Smart AI Router installation (config/ and
// cache/ folders) into the snapshot file that routerd maps, and checks,
// describes and compares snapshot files.
//
//	routerc compile -config DIR -cache DIR -o FILE [-forbid-literal-secrets] [-reproducible]
//	routerc verify FILE
//	routerc inspect FILE [-config DIR -cache DIR]
//	routerc dump FILE
//	routerc diff [-summary] [-format text|markdown] [-limit N] OLD NEW
//	routerc route FILE MODEL [-strategy S] [-tokens N] [-max-tokens N] [-json]
//	routerc discover -config DIR -cache DIR [-channels a,b] [-concurrency N] [-timeout D]
//	routerc validate-keys -config DIR -cache DIR [-channels a,b] [-due]
//
// Each subcommand lives in its own file with a run function that takes its
// arguments and output streams, so tests run it in-process. No subcommand
// ever prints a key.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"

	"smartrouter/format"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// command is one subcommand.
type command struct {
	name, args, help string
	run              func(args []string, stdout, stderr io.Writer) int
}

func commands() []command {
	return []command{
		{"compile", "-config DIR -cache DIR -o FILE", "compile an installation into a snapshot file", runCompile},
		{"verify", "FILE", "validate a snapshot file completely (exit status 0 or 1)", runVerify},
		{"inspect", "FILE [-config DIR -cache DIR]", "header, sources and their staleness, sections, counts, top tags", runInspect},
		{"dump", "FILE", "everything in a snapshot as stable text (keys masked)", runDump},
		{"diff", "[-summary] [-format text|markdown] OLD NEW", "what changed between two snapshots (-summary: a short account for CI)", runDiff},
		{"bundle", "-snapshot FILE [-routerd BIN] -o OUT", "write a copy of routerd that carries the snapshot (served without -snapshot)", runBundle},
		{"route", "FILE MODEL [-strategy S] [-tokens N] [-max-tokens N] [-json]", "explain how a model string would be routed", runRoute},
		{"discover", "-config DIR -cache DIR [-channels a,b] [-concurrency N] [-timeout D]", "ask the providers for their models; update the discovery cache", runDiscover},
		{"validate-keys", "-config DIR -cache DIR [-channels a,b] [-due]", "check the channels' keys; update the key-validation cache", runValidateKeys},
	}
}

// run dispatches to a subcommand and returns the exit status.
func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		usage(stderr)
		return 2
	}
	switch args[0] {
	case "-h", "-help", "--help", "help":
		usage(stdout)
		return 0
	}
	for _, c := range commands() {
		if c.name == args[0] {
			return c.run(args[1:], stdout, stderr)
		}
	}
	fmt.Fprintf(stderr, "routerc: unknown command %q\n\n", args[0])
	usage(stderr)
	return 2
}

func usage(w io.Writer) {
	fmt.Fprintf(w, "usage: routerc <command> [arguments]\n\ncommands:\n")
	for _, c := range commands() {
		fmt.Fprintf(w, "  %-8s %s\n           %s\n", c.name, c.args, c.help)
	}
	fmt.Fprintf(w, "\nrouterc <command> -h shows the flags of a command.\n")
}

// newFlags returns a flag set that reports to stderr and does not exit.
func newFlags(name, args string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet("routerc "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "usage: routerc %s %s\n", name, args)
		fs.PrintDefaults()
	}
	return fs
}

// parse parses flags that may come before, between or after the positional
// arguments, and returns the positional ones. It reports false when the
// command should stop (with the status in code).
func parse(fs *flag.FlagSet, args []string, want int, stderr io.Writer) (pos []string, code int, ok bool) {
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return nil, 0, false
			}
			return nil, 2, false
		}
		rest := fs.Args()
		if len(rest) == 0 {
			break
		}
		pos = append(pos, rest[0])
		args = rest[1:]
	}
	if want >= 0 && len(pos) != want {
		fmt.Fprintf(stderr, "%s: expected %d argument(s), got %d\n", fs.Name(), want, len(pos))
		fs.Usage()
		return nil, 2, false
	}
	return pos, 0, true
}

// openSnapshot reads and fully validates a snapshot file. The returned
// snapshot points into the bytes read.
func openSnapshot(path string) (*format.Snapshot, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("%s is not a regular file; give the snapshot file routerc compile wrote", path)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return format.Open(b)
}

// errorClass names the class of a snapshot error, for messages.
func errorClass(err error) string {
	for _, c := range []struct {
		err  error
		name string
	}{
		{format.ErrBadMagic, "bad magic"},
		{format.ErrVersionTooNew, "version too new"},
		{format.ErrVersionTooOld, "version too old"},
		{format.ErrChecksum, "checksum"},
		{format.ErrTruncated, "truncated"},
		{format.ErrOutOfBounds, "out of bounds"},
		{format.ErrOverlap, "overlap"},
		{format.ErrUnknownSection, "unknown section"},
		{format.ErrCorrupt, "corrupt"},
	} {
		if errors.Is(err, c.err) {
			return c.name
		}
	}
	return ""
}
