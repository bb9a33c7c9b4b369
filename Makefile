# llm-connector: the common commands. Go 1.26+.
GO      ?= go
FUZZTIME ?= 30s

.PHONY: run build test test-short fuzz bench bench-load vet fmt ollama-test-server

run: ## run the service (configuration from the environment)
	$(GO) run ./cmd/llm-connector

build: ## a static binary in bin/
	CGO_ENABLED=0 $(GO) build -tags grpcnotrace -trimpath -ldflags "-s -w" -o bin/llm-connector ./cmd/llm-connector

test: ## every test, with the race detector
	$(GO) test -race -count=1 ./...

test-short: ## without the race detector
	$(GO) test -count=1 ./...

fuzz: ## each fuzz target for FUZZTIME
	$(GO) test -run='^$$' -fuzz='^FuzzDecodeChat$$' -fuzztime=$(FUZZTIME) ./internal/server
	$(GO) test -run='^$$' -fuzz='^FuzzDecodeOpenAI$$' -fuzztime=$(FUZZTIME) ./internal/server
	$(GO) test -run='^$$' -fuzz='^FuzzRead$$' -fuzztime=$(FUZZTIME) ./internal/sse
	$(GO) test -run='^$$' -fuzz='^FuzzFastChunk$$' -fuzztime=$(FUZZTIME) ./internal/provider/openai
	$(GO) test -run='^$$' -fuzz='^FuzzString$$' -fuzztime=$(FUZZTIME) ./internal/redact

bench: ## Go micro-benchmarks of the hot path
	$(GO) test -run='^$$' -bench=. -benchmem ./...

bench-load: ## the load benchmark (bench/), under 3 minutes
	$(GO) run ./bench

vet:
	$(GO) vet ./...

fmt:
	gofmt -w $$(git ls-files '*.go')

ollama-test-server: ## build and start the real Ollama used by integration tests
	bash ../shared/tools/ollama-test-server/setup.sh
