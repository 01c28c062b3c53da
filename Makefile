# shoal — see README.md. `make demo` and `make test` install what they need.
SHELL   := /bin/bash
GO      ?= go
BIN     := bin
E2E_TIMEOUT ?= 25m

.PHONY: all build deps lint unit e2e chaos test demo bench clean

all: build

build:
	$(GO) build -o $(BIN)/ ./cmd/agent ./cmd/agentctl ./e2e/cmd/lab

deps:
	@bash scripts/deps.sh

lint:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	  if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	$(GO) vet -tags e2e ./e2e/...

# Unit and package tests, race detector on. Tests that need root (real
# containerd, netlink, nftables, the IPVS VM) run when root and skip with a
# reason otherwise.
unit:
	$(GO) test -race -count=1 ./...

# End-to-end tests on the lab: several hosts as network namespaces (root).
e2e: build
	$(GO) test -tags e2e -count=1 -timeout $(E2E_TIMEOUT) -v ./e2e/

# The chaos tier (root): each case starts from a fresh lab, breaks it
# (power-offs, recover, partitions, kills) and states its invariant.
chaos: build
	$(GO) test -tags e2e,chaos -count=1 -timeout 30m -run 'Chaos' -v ./e2e/

test: deps lint unit e2e

demo: deps build
	@bash scripts/demo.sh

bench: deps build
	$(GO) test -run '^$$' -bench . -benchtime 3x ./membership/ ./store/ ./scheduler/ ./rollout/ ./agent/runtime/ ./lb/ ./overlay/

clean:
	rm -rf $(BIN) e2e.log
