# syntax=docker/dockerfile:1
# Multi-stage build: a static binary on distroless, non-root, port 8000.
# (Docker cannot run on the development machines of this project; this
# file is kept plain and is not exercised by CI.)
FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 go build -tags grpcnotrace -trimpath -ldflags "-s -w" -o /out/llm-connector ./cmd/llm-connector

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/llm-connector /llm-connector
ENV PORT=8000 DATA_DIR=/data
VOLUME ["/data"]
EXPOSE 8000
USER nonroot:nonroot
HEALTHCHECK --interval=30s --timeout=3s --start-period=5s --retries=3 \
  CMD ["/llm-connector", "healthcheck"]
ENTRYPOINT ["/llm-connector"]
