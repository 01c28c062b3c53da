# shoal — see README.md. `make demo` and `make test` install what they need.
SHELL   := /bin/bash
GO      ?= go
BIN     := bin
E2E_TIMEOUT ?= 25m

.PHONY: all build deps lint unit e2e chaos test demo bench clean deb vm-test vm-smoke

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
	$(GO) vet -tags e2e,chaos ./e2e/...
	$(GO) vet -tags vm ./e2e/vm/

# Unit and package tests, race detector on. Tests that need root (real
# containerd, netlink, nftables, the IPVS VM) run when root and skip with a
# reason otherwise.
unit:
	$(GO) test -race -count=1 ./...

# End-to-end tests on the lab: several hosts as network namespaces (root).
e2e: build
	$(GO) test -tags e2e -count=1 -timeout $(E2E_TIMEOUT) -v ./e2e/

# The chaos tier: each case breaks a fresh lab on purpose (recovery after
# quorum loss, leader killed mid-update, partitions, kill -9, crash loops)
# and checks an invariant. About 3 minutes; part of `make test`.
chaos: build
	$(GO) test -tags e2e,chaos -count=1 -timeout 30m -run Chaos -v ./e2e/

# vm-smoke last: one VM under emulation wants the machine to itself.
test: deps lint unit e2e chaos vm-smoke

demo: deps build
	@bash scripts/demo.sh

bench: deps build
	$(GO) test -run '^$$' -bench . -benchtime 3x ./membership/ ./store/ ./scheduler/ ./rollout/ ./agent/runtime/ ./lb/ ./overlay/ ./internal/logrec/

# The Debian package (dist/shoal_VERSION_ARCH.deb): binaries, systemd unit,
# /etc/shoal/agent.env. DEB_VERSION=... overrides the version.
deb:
	@bash scripts/mkdeb.sh dist

# The multi-VM test (not part of `make test`: 10 to 11 minutes on 2 cores
# without KVM once the box is cached, 1.5 to 4 more to build it): 3 Debian
# VMs with the stock kernel (IPVS) from the Vagrantfile under libvirt,
# confined to a network namespace; two packages, the second for the
# in-place upgrade (xz level 1: 1.5 s to build instead of 13, 2 MB more
# to upload).
# vm-smoke is its one-node smoke test (kill -9, upgrade, agent doctor),
# part of `make test`: 3 minutes, up to 4 more to build the box.
VM_PKGS = v=$$(sed -n 's/^const Version = "\(.*\)"/\1/p' api/types.go); \
	  export DEB_XZ_LEVEL=1; \
	  deb=$$(DEB_VERSION=$$v+vm1 bash scripts/mkdeb.sh dist/vm) && \
	  next=$$(DEB_VERSION=$$v+vm2 bash scripts/mkdeb.sh dist/vm) && \
	  export SHOAL_VM_DEB=$$PWD/$$deb SHOAL_VM_DEB_NEXT=$$PWD/$$next

vm-test: deps
	@bash e2e/vm/host-setup.sh
	@$(VM_PKGS) && $(GO) test -tags vm -count=1 -timeout 60m -run 'TestVagrantCluster$$' -v ./e2e/vm/

vm-smoke: deps
	@bash e2e/vm/host-setup.sh
	@$(VM_PKGS) && $(GO) test -tags vm -count=1 -timeout 30m -run 'TestVagrantOneNode$$' -v ./e2e/vm/

clean:
	rm -rf $(BIN) dist e2e.log
