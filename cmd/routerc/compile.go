package main

import (
	"fmt"
	"io"

	"smartrouter/compiler"
	"smartrouter/compiler/diag"
)

// runCompile implements "routerc compile".
func runCompile(args []string, stdout, stderr io.Writer) int {
	fs := newFlags("compile", "[-config DIR] [-cache DIR] [-o FILE] [-forbid-literal-secrets] [-reproducible]", stderr)
	configDir := fs.String("config", "config", "the installation's config `folder` (router_config.yaml, overlays, pricing/)")
	cacheDir := fs.String("cache", "cache", "the installation's cache `folder` (discovery, pricing and key-validation caches)")
	out := fs.String("o", "router.snap", "snapshot `file` to write (atomically)")
	forbid := fs.Bool("forbid-literal-secrets", false, "refuse keys and tokens written in the config instead of ${ENV} references")
	repro := fs.Bool("reproducible", false, "build time 0, source times 0, generation 1: the same inputs give the same bytes")
	cny := fs.Float64("cny-rate", 0, "USD per CNY for pricing files in CNY (0: 0.14)")
	maxWarn := fs.Int("warnings", 10, "warning lines shown per group (0: all)")
	quiet := fs.Bool("q", false, "no progress lines")
	if _, code, ok := parse(fs, args, 0, stderr); !ok {
		return code
	}
	opts := compiler.Options{ForbidLiteralSecrets: *forbid, Reproducible: *repro, CNYToUSD: *cny}
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
