package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"text/tabwriter"

	"smartrouter/compiler/discover"
)

// runValidateKeys implements "routerc validate-keys".
func runValidateKeys(args []string, stdout, stderr io.Writer) int {
	fs := newFlags("validate-keys", "[-config DIR] [-cache DIR] [-channels a,b] [-concurrency N] [-timeout D] [-due]", stderr)
	configDir := fs.String("config", "config", "the installation's config `folder`")
	cacheDir := fs.String("cache", "cache", "the cache `folder` whose api_key_validation.json is updated")
	channels := fs.String("channels", "", "comma-separated channel `ids` to check (default: every enabled channel)")
	conc := fs.Int("concurrency", discover.DefaultConcurrency, "keys checked at once")
	timeout := fs.Duration("timeout", discover.DefaultTimeout, "time allowed to each call")
	due := fs.Bool("due", false, "check only the keys whose next check is due (6 h × 2^failures after the last, at most a day)")
	strict := fs.Bool("fail-on-error", false, "exit with status 3 when a key is invalid or could not be checked")
	quiet := fs.Bool("q", false, "no progress lines")
	if _, code, ok := parse(fs, args, 0, stderr); !ok {
		return code
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	opts := discover.KeyOptions{ConfigDir: *configDir, CacheDir: *cacheDir, Channels: splitList(*channels),
		Concurrency: *conc, Timeout: *timeout, Force: !*due}
	p := newProgress(stderr)
	if !*quiet {
		opts.Progress = func(e discover.KeyEvent) {
			what := "valid"
			if e.Channel.ErrorType != "" {
				what = e.Channel.ErrorType
			}
			p.line(e.Done, e.Total, e.Channel.ID, e.Channel.Status, what, e.Channel.Latency)
		}
	}
	rep, err := discover.ValidateKeys(ctx, opts)
	p.end()
	if err != nil {
		fmt.Fprintf(stderr, "routerc validate-keys: %v\n", err)
		return 1
	}
	tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "CHANNEL\tSTATUS\tVERDICT\tFAILURES\tNEXT CHECK\tNOTE")
	bad := 0
	for _, c := range rep.Channels {
		verdict, failures, next := "-", "-", "-"
		if c.Status != discover.StatusSkipped {
			verdict = "valid"
			if c.ErrorType != "" {
				verdict = c.ErrorType
				bad++
			}
			failures = fmt.Sprint(c.ConsecutiveFailures)
			next = c.NextValidation.UTC().Format("2006-01-02 15:04Z")
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", c.ID, c.Status, verdict, failures, next, c.Error)
	}
	_ = tw.Flush()
	state := "unchanged"
	if rep.Changed {
		state = "written"
	}
	fmt.Fprintf(stdout, "%s %s: %d checked, %d with a problem, %d ms\n", rep.Path, state, len(rep.Channels), bad, rep.Elapsed.Milliseconds())
	if *strict && bad > 0 {
		return 3
	}
	return 0
}
