package main

import (
	"context"
	"fmt"
	"log/slog"

	"smartrouter/compiler"
	"smartrouter/compiler/diag"
)

// newFallback returns the in-memory build used when the snapshot file is
// missing, corrupt or stale: the compiler's whole pipeline run on configDir
// and cacheDir (the JSON caches), returning the encoded snapshot. It returns
// nil (no fallback) when configDir is empty.
func newFallback(configDir, cacheDir string, log *slog.Logger) func(ctx context.Context) ([]byte, error) {
	if configDir == "" {
		return nil
	}
	return func(ctx context.Context) ([]byte, error) {
		var w diag.Warnings
		b, err := compiler.BuildBytes(configDir, cacheDir, compiler.Options{}, &w)
		if err != nil {
			return nil, fmt.Errorf("build a snapshot from -config %s and -cache %s: %w", configDir, cacheDir, err)
		}
		if n := w.Len(); n > 0 {
			log.Warn("the fallback build has warnings; run routerc compile on the same folders to see them", "warnings", n)
		}
		return b, nil
	}
}
