package main

import (
	"fmt"
	"io"
	"os"

	"smartrouter/compiler"
	"smartrouter/compiler/diag"
)

// runCompile implements "routerc compile". The SOURCE_DATE_EPOCH
// environment variable, when set and not empty, is the build time recorded
// and the upper bound of the recorded source times (compiler.Options
// SourceDate); an invalid value stops the compile with exit status 2.
func runCompile(args []string, stdout, stderr io.Writer) int {
	fs := newFlags("compile", "[-config DIR] [-cache DIR] [-o FILE] [-forbid-literal-secrets] [-reproducible]", stderr)
	configDir := fs.String("config", "config", "the installation's config `folder` (router_config.yaml, overlays, pricing/)")
	cacheDir := fs.String("cache", "cache", "the installation's cache `folder` (discovery, pricing and key-validation caches)")
	out := fs.String("o", "router.snap", "snapshot `file` to write (atomically)")
	forbid := fs.Bool("forbid-literal-secrets", false, "refuse keys and tokens written in the config instead of ${ENV} references")
	repro := fs.Bool("reproducible", false, "build time 0 (or SOURCE_DATE_EPOCH), source times 0, generation 1: the same inputs give the same bytes")
	cny := fs.Float64("cny-rate", 0, "USD per CNY for pricing files in CNY (0: 0.14)")
	maxWarn := fs.Int("warnings", 10, "warning lines shown per group (0: all)")
	quiet := fs.Bool("q", false, "no progress lines")
	if _, code, ok := parse(fs, args, 0, stderr); !ok {
		return code
	}
	opts := compiler.Options{ForbidLiteralSecrets: *forbid, Reproducible: *repro, CNYToUSD: *cny}
	// SOURCE_DATE_EPOCH (reproducible-builds convention): the recorded build
	// time, and the latest source time recorded. Set but empty means unset.
	if v := os.Getenv("SOURCE_DATE_EPOCH"); v != "" {
		t, err := compiler.ParseSourceDateEpoch(v)
		if err != nil {
			fmt.Fprintf(stderr, "routerc compile: %v\nno snapshot written\n", err)
			return 2
		}
		opts.SourceDate = t
	}
	if !*quiet {
		opts.Progress = stderr
	}
	var w diag.Warnings
	sum, err := compiler.Compile(*configDir, *cacheDir, *out, opts, &w)
	w.Print(stderr, *maxWarn)
	if err != nil {
		fmt.Fprintf(stderr, "routerc compile: %v\nno snapshot written\n", err)
		return 1
	}
	fmt.Fprintf(stdout, "compiled %s: %d channels, %d pairs, %d models, %d tags, %d prewarm, %d bytes, generation %d, %d ms, %d warnings\n",
		sum.Path, sum.Channels, sum.Pairs, sum.Models, sum.Tags, sum.Prewarm, sum.Bytes, sum.Generation, sum.Elapsed.Milliseconds(), sum.Warnings)
	return 0
}
