# Pythorix. `make help` lists the targets; CI runs `.ci/run`, which uses them.
SHELL := /bin/bash
.DEFAULT_GOAL := help

BUF_VERSION := 1.75.0
BUF := .tools/node_modules/.bin/buf
GO_MODULES = $(shell go list -m -f '{{.Path}}/...' | grep -v -e '/tools/' -e '/gen/')

.PHONY: help
help: ## List every target
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z_-]+:.*## / {printf "  %-18s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

$(BUF):
	@mkdir -p .tools
	cd .tools && npm install --no-audit --no-fund --silent @bufbuild/buf@$(BUF_VERSION) >/dev/null

.PHONY: tools
tools: $(BUF) ## Install the pinned buf (npm); protoc plugins run via go tool (tools/go.mod)

.PHONY: generate
generate: $(BUF) ## Regenerate gen/ (Go, gRPC, gateway, OpenAPI) from proto/, offline
	$(BUF) lint
	$(BUF) format -w --path proto/pythorix
	$(BUF) generate

.PHONY: check-generated
check-generated: generate ## Fail when gen/ differs from what make generate writes
	@git diff --exit-code -- gen proto || { echo "generated code drifted: run make generate and commit" >&2; exit 1; }
	@test -z "$$(git status --porcelain -- gen proto)" || { git status --porcelain -- gen proto; echo "untracked generated files: run make generate and commit" >&2; exit 1; }

.PHONY: lint
lint: $(BUF) ## buf lint, gofmt and go vet
	$(BUF) lint
	@test -z "$$(gofmt -l $$(git ls-files '*.go' | grep -v '^gen/'))" || { gofmt -l $$(git ls-files '*.go' | grep -v '^gen/'); exit 1; }
	go vet $(GO_MODULES)

.PHONY: build
build: ## Build every binary into bin/
	go build -o bin/ ./platform/cmd/... $(patsubst %,github.com/pythorix/pythorix/services/%/cmd/...,identity tenancy scanning audit integrations gateway)

.PHONY: certs
certs: ## Write the development CA and service certificates into .data/pki/
	go run ./platform/cmd/pythorix-certs -dir .data/pki

.PHONY: run
run: ## Start the whole suite locally (provisions PostgreSQL and Redis under .data/)
	scripts/run.sh

.PHONY: test
test: ## Run every module's tests against throwaway PostgreSQL and Redis
	scripts/test.sh

.PHONY: faults
faults: ## The fault suite: a workload under PostgreSQL and Redis outages, service restarts and certificate rotation
	scripts/test.sh -tags faults -run '^TestFaults$$' -v

.PHONY: fuzz
fuzz: ## Run every fuzz target for FUZZTIME each (default 10s)
	scripts/fuzz.sh

.PHONY: bench
bench: ## Run the testing.B benchmarks
	scripts/test.sh -run '^$$' -bench . -benchmem

.PHONY: selfscan
selfscan: ## Scan the running suite's own gateway (start it with make run); fails below A+
	go run ./services/scanning/cmd/pythorix-selfscan -target localhost:8443/healthz -ca .data/pki/ca.crt

.PHONY: devenv-up
devenv-up: ## Start (or reuse) the throwaway PostgreSQL and Redis
	@scripts/devenv.sh up

.PHONY: devenv-down
devenv-down: ## Stop the throwaway PostgreSQL and Redis
	scripts/devenv.sh down

.PHONY: clean
clean: devenv-down ## Stop local services and delete .data/ and bin/
	rm -rf .data bin
