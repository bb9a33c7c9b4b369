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

# Every fuzz target, package:Target.
FUZZ_TARGETS = \
	./internal/server:FuzzDecodeChat \
	./internal/server:FuzzDecodeOpenAI \
	./internal/server:FuzzDecodeAnthropic \
	./internal/server:FuzzDecodeResponses \
	./internal/server:FuzzDecodeEmbeddings \
	./internal/server:FuzzDecodeLegacy \
	./internal/server:FuzzJSONError \
	./internal/server:FuzzDecodeGemini \
	./internal/sse:FuzzRead \
	./internal/sse:FuzzLineBreak \
	./internal/sse:FuzzScanLines \
	./internal/track/spool:FuzzAppendCall \
	./internal/track/spool:FuzzDecodeCall \
	./internal/jsonscan:FuzzAppendFloat \
	./internal/provider/openai:FuzzFastChunk \
	./internal/provider/openai:FuzzShape \
	./internal/provider/openai:FuzzPlainRequest \
	./internal/provider/gemini:FuzzFastResponse \
	./internal/provider/gemini:FuzzReuse \
	./internal/server:FuzzAppendJSONString \
	./internal/server:FuzzFastBodies \
	./internal/server:FuzzPlainJSONString \
	./internal/server:FuzzFastOARequest \
	./internal/server:FuzzFastChatRequest \
	./internal/track/content:FuzzMask \
	./internal/redact:FuzzString \
	./internal/images:FuzzDataURL

fuzz: ## each fuzz target for FUZZTIME
	@for t in $(FUZZ_TARGETS); do echo "fuzz $$t"; GO=$(GO) sh deploy/fuzz-one.sh $${t%%:*} $${t#*:} $(FUZZTIME) || exit 1; done

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
