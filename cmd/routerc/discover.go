package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"text/tabwriter"
	"time"

	"smartrouter/compiler/discover"
)

// runDiscover implements "routerc discover".
func runDiscover(args []string, stdout, stderr io.Writer) int {
	fs := newFlags("discover", "[-config DIR] [-cache DIR] [-channels a,b] [-concurrency N] [-timeout D]", stderr)
	configDir := fs.String("config", "config", "the installation's config `folder`")
	cacheDir := fs.String("cache", "cache", "the cache `folder` whose discovered_models.json is updated")
	channels := fs.String("channels", "", "comma-separated channel `ids` to ask (default: every enabled channel)")
	conc := fs.Int("concurrency", discover.DefaultConcurrency, "channels asked at once")
	timeout := fs.Duration("timeout", discover.DefaultTimeout, "time allowed to each call")
	strict := fs.Bool("fail-on-error", false, "exit with status 3 when a channel failed (its last good models are kept either way)")
	quiet := fs.Bool("q", false, "no progress lines")
	if _, code, ok := parse(fs, args, 0, stderr); !ok {
		return code
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	opts := discover.Options{ConfigDir: *configDir, CacheDir: *cacheDir, Channels: splitList(*channels),
		Concurrency: *conc, Timeout: *timeout}
	p := newProgress(stderr)
	if !*quiet {
		opts.Progress = func(e discover.Event) {
			what := fmt.Sprintf("%d models", e.Channel.Models)
			if e.Channel.Status == discover.StatusError {
				what = e.Channel.Kind + " (last good models kept)"
			}
			p.line(e.Done, e.Total, e.Channel.ID, e.Channel.Status, what, e.Channel.Elapsed)
		}
	}
	rep, err := discover.Run(ctx, opts)
	p.end()
	if err != nil {
		fmt.Fprintf(stderr, "routerc discover: %v\n", err)
		return 1
	}
	tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "CHANNEL\tSTATUS\tMODELS\tCHANGE\tNOTE")
	for _, c := range rep.Channels {
		models, change := "-", "-"
		if c.Status != discover.StatusSkipped {
			models = fmt.Sprint(c.Models)
			change = describeChange(c.Added, c.Removed)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", c.ID, c.Status, models, change, c.Error)
	}
	_ = tw.Flush()
	ok, failed, skipped := rep.Counts()
	state := "unchanged"
	if rep.Changed {
		state = "written"
	}
	fmt.Fprintf(stdout, "%s %s: %d ok, %d failed (last good models kept), %d skipped, %d ms\n",
		rep.Path, state, ok, failed, skipped, rep.Elapsed.Milliseconds())
	if *strict && failed > 0 {
		return 3
	}
	return 0
}

// describeChange says how a model list changed: "+2 -1", or "none".
func describeChange(added, removed []string) string {
	if len(added) == 0 && len(removed) == 0 {
		return "none"
	}
	return fmt.Sprintf("+%d -%d", len(added), len(removed))
}

// splitList splits a comma-separated flag value.
func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// progress prints one line per finished channel: on a terminal it rewrites
// a single line, elsewhere it prints plain lines.
type progress struct {
	w   io.Writer
	tty bool
	n   int // width of the last terminal line
}

func newProgress(w io.Writer) *progress {
	return &progress{w: w, tty: isTerminal(w)}
}

func (p *progress) line(done, total int, id, status, what string, d time.Duration) {
	s := fmt.Sprintf("[%d/%d] %s %s %s (%d ms)", done, total, id, status, what, d.Milliseconds())
	if !p.tty {
		fmt.Fprintln(p.w, s)
		return
	}
	pad := ""
	if len(s) < p.n {
		pad = strings.Repeat(" ", p.n-len(s))
	}
	fmt.Fprintf(p.w, "\r%s%s", s, pad)
	p.n = len(s)
}

// end finishes a terminal line.
func (p *progress) end() {
	if p.tty && p.n > 0 {
		fmt.Fprintln(p.w)
	}
}

// isTerminal reports whether w is a terminal (a character device).
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}
