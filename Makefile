# smartrouter build, test and run targets. `make help` lists them.
SHELL := /bin/bash
GO ?= go
BIN := $(CURDIR)/bin
STATICCHECK_VERSION := v0.8.2
STATICCHECK := $(BIN)/staticcheck-$(STATICCHECK_VERSION)
# A count, not a duration: a duration-based -fuzztime can fail with "context
# deadline exceeded" at its end on Go 1.26 (golang/go#75804), with no crasher.
FUZZTIME ?= 30000x
PKGS := ./...

.PHONY: help test fmt-check vet staticcheck unit allocs fuzz run bench build clean

help:
	@echo "make run    - start the mock upstream and routerd with the demo snapshot"
	@echo "make test   - gofmt check, go vet, staticcheck, go test -race, short fuzz runs"
	@echo "make bench  - run the benchmark suite and rewrite docs/benchmarks.md"
	@echo "make build  - build routerc, routerd and mockllm into bin/"

# routerd's runtime setting, compiled in as its default GODEBUG
# (cmd/routerd/godebug.txt; docs/operations.md, "The scheduler setting
# compiled into routerd"). The environment's GODEBUG still wins.
ROUTERD_LDFLAGS = -X=runtime.godebugDefault=$(shell cat cmd/routerd/godebug.txt)

build:
	$(GO) build -o $(BIN)/ ./cmd/...
	$(GO) build -ldflags '$(ROUTERD_LDFLAGS)' -o $(BIN)/routerd ./cmd/routerd

test: fmt-check vet staticcheck unit allocs fuzz

fmt-check:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

vet:
	$(GO) vet $(PKGS)

$(STATICCHECK):
	@mkdir -p $(BIN)
	GOBIN=$(BIN)/tmp-staticcheck $(GO) install honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION)
	mv $(BIN)/tmp-staticcheck/staticcheck $(STATICCHECK) && rmdir $(BIN)/tmp-staticcheck

staticcheck: $(STATICCHECK)
	$(STATICCHECK) $(PKGS)

unit:
	$(GO) test -race -count=1 $(PKGS)

# The allocation guards of the hot paths, without the race detector (which
# makes sync.Pool drop items, so those guards skip themselves under -race).
allocs:
	$(GO) test -count=1 -run 'Alloc|DoesNotAllocate|NoAllocations' ./...

# Every fuzz target of the module, each for FUZZTIME.
fuzz:
	@set -e; log=$$(mktemp); trap 'rm -f $$log' EXIT; \
	for f in $$(grep -rl --include='*_test.go' '^func Fuzz' .); do \
		dir=$$(dirname $$f); \
		for t in $$(grep -o '^func Fuzz[A-Za-z0-9_]*' $$f | cut -d' ' -f2); do \
			echo "fuzz $$dir $$t"; \
			$(GO) test -run='^$$' -fuzz="^$$t\$$" -fuzztime=$(FUZZTIME) ./$$dir >$$log 2>&1 || \
				{ grep -v '^fuzz: elapsed' $$log; exit 1; }; \
		done; \
	done

# The mock upstream on 127.0.0.1:7700 and routerd on 127.0.0.1:7601 serving the
# demo snapshot built into the binary; Ctrl-C stops both.
run: build
	@$(BIN)/mockllm -addr 127.0.0.1:7700 & mock=$$!; \
	trap 'kill $$mock 2>/dev/null; wait $$mock 2>/dev/null' EXIT; \
	trap 'exit 0' INT TERM; \
	echo "status page: http://127.0.0.1:7601/status (Ctrl-C stops)"; \
	$(BIN)/routerd -snapshot fixtures/demo/router.snap -config fixtures/demo/config -cache fixtures/demo/cache -addr 127.0.0.1:7601 -usage-db $(BIN)/usage.db

# Builds routerd, routerc and mockllm, measures start, open, route, overhead
# under load, requests in flight (slow upstreams), swap under load, the
# highest rate and compile (about ten minutes, loopback only) and rewrites
# the routerbench section of docs/benchmarks.md. BENCHFLAGS=-quick for a
# smoke run. With nginx installed (on PATH or /usr/sbin/nginx) every overhead,
# in-flight and rate row also measures nginx in front of the same mock.
BENCHFLAGS ?= -profile
bench:
	$(GO) run ./cmd/routerbench $(BENCHFLAGS) -out docs/benchmarks.md

clean:
	rm -rf $(BIN)
