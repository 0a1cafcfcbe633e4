// Command mockllm runs the OpenAI-compatible mock upstream of package
// fixtures/mockllm: deterministic answers, request recording, and failures on
// demand (see fixtures/mockllm/README.md).
//
//	mockllm -addr 127.0.0.1:7700 -latency 20ms -chunks 16 -rules rules.json
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"smartrouter/fixtures/mockllm"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout, os.Stderr); err != nil {
		stop()
		fmt.Fprintln(os.Stderr, "mockllm:", err)
		os.Exit(1)
	}
}

// run serves until ctx ends (SIGINT or SIGTERM), then stops gracefully.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("mockllm", flag.ContinueOnError)
	fs.SetOutput(stderr)
	addr := fs.String("addr", "127.0.0.1:7700", "listen address")
	latency := fs.Duration("latency", 0, "delay before the first byte of every chat answer")
	chunkDelay := fs.Duration("chunk-delay", 0, "delay before each content chunk of a stream")
	chunks := fs.Int("chunks", mockllm.DefaultChunks, "content chunks per answer")
	record := fs.Int("record", mockllm.DefaultRecord, "requests kept for GET /_mock/requests (negative: none)")
	rulesFile := fs.String("rules", "", "JSON file with a list of failure rules")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q; see -h", fs.Arg(0))
	}
	cfg := mockllm.Config{Addr: *addr, Latency: *latency, ChunkDelay: *chunkDelay, Chunks: *chunks, Record: *record}
	if *rulesFile != "" {
		rules, err := mockllm.LoadRules(*rulesFile)
		if err != nil {
			return err
		}
		cfg.Rules = rules
	}
	srv, err := mockllm.Start(cfg)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "mockllm listening on %s (chat: %s/v1/chat/completions, Anthropic Messages: %s/v1/messages)\n", srv.URL(), srv.URL(), srv.URL())

	<-ctx.Done()
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("stop: %w", err)
	}
	return nil
}
