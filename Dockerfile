# syntax=docker/dockerfile:1
# Multi-stage build: a static binary in an empty (scratch) image, non-root,
# port 8000. The runtime filesystem is laid out by deploy/rootfs.sh, the
# same script `make image-check` runs to start the binary in that layout
# as that user (no Docker engine runs on the project's machines or in CI;
# internal/deploycheck parses this file and docker-compose.yml).
#
# Every base image is pinned to a version. scratch instead of distroless:
# distroless publishes no version tags (only digests), and the image needs
# nothing but the binary, CA certificates, a passwd line and /data.
FROM golang:1.26.8-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 go build -tags grpcnotrace -trimpath -ldflags "-s -w" -o /out/llm-connector ./cmd/llm-connector
RUN sh deploy/rootfs.sh /rootfs /out/llm-connector

FROM scratch
COPY --from=build /rootfs/ /
# /data again with its owner spelled out: the ledger and the spool are
# written there, and a new named volume on /data takes this ownership.
COPY --from=build --chown=65532:65532 /rootfs/data /data
ENV PORT=8000 DATA_DIR=/data
VOLUME ["/data"]
EXPOSE 8000
USER 65532:65532
HEALTHCHECK --interval=30s --timeout=3s --start-period=10s --retries=3 \
  CMD ["/llm-connector", "healthcheck"]
ENTRYPOINT ["/llm-connector"]
