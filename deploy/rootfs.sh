#!/bin/sh
# Lays out the runtime image's whole filesystem under OUT: the Dockerfile
# runs it in its build stage and copies OUT into an empty (scratch) image;
# `make image-check` runs the same script into a temporary directory and
# starts the binary there, chrooted, as the same non-root user. One script,
# so the checked layout is the shipped one.
#
#   rootfs.sh OUT BINARY
#
# Needs root (chown). The runtime user is uid/gid 65532 ("nonroot", as in
# distroless images); /data and /data/spool belong to it because the
# service writes the SQLite ledger (/data/ledger.db), the ledger's journal
# (/data/ledger-journal, made at start) and the MLflow spool (/data/spool)
# there, and Docker initialises a new named volume mounted on /data with
# the image's ownership of /data.
set -eu
OUT=${1:?usage: rootfs.sh OUT BINARY}
BIN=${2:?usage: rootfs.sh OUT BINARY}
UID_=65532
mkdir -p "$OUT/etc/ssl/certs" "$OUT/data/spool" "$OUT/tmp"
install -m 0755 "$BIN" "$OUT/llm-connector"
printf 'root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:%s:%s:nonroot:/home/nonroot:/sbin/nologin\n' $UID_ $UID_ >"$OUT/etc/passwd"
printf 'root:x:0:\nnonroot:x:%s:\n' $UID_ >"$OUT/etc/group"
# Gemini, OpenAI and Anthropic are HTTPS: Go reads this bundle by default.
if [ -f /etc/ssl/certs/ca-certificates.crt ]; then
  cp /etc/ssl/certs/ca-certificates.crt "$OUT/etc/ssl/certs/ca-certificates.crt"
fi
chmod 1777 "$OUT/tmp"
chown -R $UID_:$UID_ "$OUT/data"
chmod 0750 "$OUT/data" "$OUT/data/spool"
