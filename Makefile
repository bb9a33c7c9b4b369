# llm-connector: the common commands. Go 1.26+; `make test` also needs a C
# compiler (the race detector needs cgo: apt-get install gcc).
GO      ?= go
FUZZTIME ?= 30s
# Where the shared tools live (the Ollama test server); by default beside
# this checkout, as in the project's workspace.
SHARED_DIR ?= $(abspath $(CURDIR)/../shared)

.PHONY: run build test test-short fuzz bench bench-load vet fmt ollama-test-server image-check

run: ## run the service (configuration from the environment)
	$(GO) run ./cmd/llm-connector

build: ## a static binary in bin/
	CGO_ENABLED=0 $(GO) build -tags grpcnotrace -trimpath -ldflags "-s -w" -o bin/llm-connector ./cmd/llm-connector

test: ## every test, with the race detector; ends with a line on skipped integration suites
	@command -v $${CC:-gcc} >/dev/null || command -v cc >/dev/null || { echo "make test: the race detector needs a C compiler (cgo): apt-get install gcc"; exit 1; }
	@report=$$(mktemp); LLMC_SKIP_REPORT=$$report $(GO) test -race -count=1 ./...; status=$$?; \
	  sh deploy/skip-summary.sh $$report; rm -f $$report; exit $$status

test-short: ## without the race detector
	@report=$$(mktemp); LLMC_SKIP_REPORT=$$report $(GO) test -count=1 ./...; status=$$?; \
	  sh deploy/skip-summary.sh $$report; rm -f $$report; exit $$status

image-check: ## start the container image's filesystem layout as its non-root user (root needed; no Docker)
	GO=$(GO) bash deploy/image-check.sh

fuzz: ## each fuzz target for FUZZTIME
	GO=$(GO) sh deploy/fuzz-one.sh ./internal/server FuzzDecodeChat $(FUZZTIME)
	GO=$(GO) sh deploy/fuzz-one.sh ./internal/server FuzzDecodeOpenAI $(FUZZTIME)
	GO=$(GO) sh deploy/fuzz-one.sh ./internal/server FuzzDecodeAnthropic $(FUZZTIME)
	GO=$(GO) sh deploy/fuzz-one.sh ./internal/server FuzzDecodeResponses $(FUZZTIME)
	GO=$(GO) sh deploy/fuzz-one.sh ./internal/server FuzzDecodeEmbeddings $(FUZZTIME)
	GO=$(GO) sh deploy/fuzz-one.sh ./internal/server FuzzDecodeLegacy $(FUZZTIME)
	GO=$(GO) sh deploy/fuzz-one.sh ./internal/server FuzzJSONError $(FUZZTIME)
	GO=$(GO) sh deploy/fuzz-one.sh ./internal/server FuzzDecodeGemini $(FUZZTIME)
	GO=$(GO) sh deploy/fuzz-one.sh ./internal/sse FuzzRead $(FUZZTIME)
	GO=$(GO) sh deploy/fuzz-one.sh ./internal/sse FuzzLineBreak $(FUZZTIME)
	GO=$(GO) sh deploy/fuzz-one.sh ./internal/sse FuzzScanLines $(FUZZTIME)
	GO=$(GO) sh deploy/fuzz-one.sh ./internal/track/spool FuzzAppendCall $(FUZZTIME)
	GO=$(GO) sh deploy/fuzz-one.sh ./internal/track/spool FuzzDecodeCall $(FUZZTIME)
	GO=$(GO) sh deploy/fuzz-one.sh ./internal/jsonscan FuzzAppendFloat $(FUZZTIME)
	GO=$(GO) sh deploy/fuzz-one.sh ./internal/provider/openai FuzzFastChunk $(FUZZTIME)
	GO=$(GO) sh deploy/fuzz-one.sh ./internal/provider/openai FuzzPlainRequest $(FUZZTIME)
	GO=$(GO) sh deploy/fuzz-one.sh ./internal/provider/gemini FuzzFastResponse $(FUZZTIME)
	GO=$(GO) sh deploy/fuzz-one.sh ./internal/server FuzzAppendJSONString $(FUZZTIME)
	GO=$(GO) sh deploy/fuzz-one.sh ./internal/server FuzzFastBodies $(FUZZTIME)
	GO=$(GO) sh deploy/fuzz-one.sh ./internal/server FuzzPlainJSONString $(FUZZTIME)
	GO=$(GO) sh deploy/fuzz-one.sh ./internal/server FuzzFastOARequest $(FUZZTIME)
	GO=$(GO) sh deploy/fuzz-one.sh ./internal/server FuzzFastChatRequest $(FUZZTIME)
	GO=$(GO) sh deploy/fuzz-one.sh ./internal/track/content FuzzMask $(FUZZTIME)
	GO=$(GO) sh deploy/fuzz-one.sh ./internal/redact FuzzString $(FUZZTIME)
	GO=$(GO) sh deploy/fuzz-one.sh ./internal/images FuzzDataURL $(FUZZTIME)

bench: ## Go micro-benchmarks of the hot path
	$(GO) test -run='^$$' -bench=. -benchmem ./...

bench-load: ## the load benchmark (bench/), under 3 minutes
	$(GO) run ./bench

vet:
	$(GO) vet ./...

fmt:
	gofmt -w $$(git ls-files '*.go')

ollama-test-server: ## build and start the real Ollama used by integration tests (SHARED_DIR=... to point at shared/)
	@test -f "$(SHARED_DIR)/tools/ollama-test-server/setup.sh" || { \
	  echo "make ollama-test-server: $(SHARED_DIR)/tools/ollama-test-server/setup.sh not found."; \
	  echo "  It lives in the project's shared/ folder (beside the checkout in the project workspace);"; \
	  echo "  run: make ollama-test-server SHARED_DIR=/path/to/shared"; exit 1; }
	bash "$(SHARED_DIR)/tools/ollama-test-server/setup.sh"
