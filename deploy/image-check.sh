#!/usr/bin/env bash
# make image-check: the gateway's container image without a Docker engine.
# Builds the binary as the Dockerfile does, lays out the image filesystem
# with the Dockerfile's own script (deploy/rootfs.sh) in a temporary
# directory, then starts the binary chrooted there as the image's USER with
# the image's ENV (so /data is the image's /data), waits for /health with
# the image's HEALTHCHECK command, checks that the service wrote its ledger
# under /data, stops it with SIGTERM and checks a clean exit. Needs root
# (chown, chroot).
set -euo pipefail
cd "$(dirname "$0")/.."
[ "$(id -u)" = 0 ] || { echo "image-check: needs root (chown and chroot)"; exit 1; }
GO=${GO:-go}
CHROOT=$(command -v chroot) || { echo "image-check: chroot not found (coreutils)"; exit 1; }
work=$(mktemp -d)
pid=
cleanup() {
  [ -n "$pid" ] && kill "$pid" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
fail() { echo "image-check: FAIL: $*"; [ -f "$work/log" ] && tail -n 20 "$work/log"; exit 1; }

# The Dockerfile's build command and user, read from the Dockerfile.
user=$(awk '$1=="USER"{u=$2} END{print u}' Dockerfile)
[ -n "$user" ] || fail "the Dockerfile has no USER"
[ "${user%%:*}" != 0 ] || fail "the image runs as root"
CGO_ENABLED=0 $GO build -tags grpcnotrace -trimpath -ldflags "-s -w" -o "$work/llm-connector" ./cmd/llm-connector
rootfs="$work/rootfs"
sh deploy/rootfs.sh "$rootfs" "$work/llm-connector"

# The image's ENV (last stage), plus a free port: the host's network is shared.
env_args=()
while read -r kv; do env_args+=("$kv"); done < <(awk '$1=="FROM"{e=""} $1=="ENV"{for(i=2;i<=NF;i++) e=e $i "\n"} END{printf "%s", e}' Dockerfile)
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])' 2>/dev/null || echo 18123)
run_env=(env -i "${env_args[@]}" PORT="$port" LISTEN_ADDR="127.0.0.1:$port" OLLAMA_HOST=127.0.0.1:1)
echo "image-check: user $user, env ${env_args[*]}, port $port"

"${run_env[@]}" "$CHROOT" --userspec="$user" "$rootfs" /llm-connector >"$work/log" 2>&1 &
pid=$!
ok=
for _ in $(seq 100); do
  kill -0 "$pid" 2>/dev/null || fail "the service exited at start"
  if "${run_env[@]}" "$CHROOT" --userspec="$user" "$rootfs" /llm-connector healthcheck >/dev/null 2>&1; then ok=1; break; fi
  sleep 0.1
done
[ -n "$ok" ] || fail "no healthy /health within 10 s"
db=$(find "$rootfs/data" -name '*.db' | head -1)
[ -n "$db" ] || fail "nothing written under /data"
owner=$(stat -c %u "$db")
[ "$owner" = "${user%%:*}" ] || fail "$db owned by $owner, not ${user%%:*}"
[ -d "$rootfs/data/ledger-journal" ] || fail "no ledger journal under /data"
[ "$(stat -c %u "$rootfs/data/ledger-journal")" = "${user%%:*}" ] || fail "/data/ledger-journal not owned by ${user%%:*}"
kill -TERM "$pid"
wait "$pid" || fail "exit status $? after SIGTERM"
pid=
grep -q '"stopped"' "$work/log" || fail "no clean stop in the log"
echo "image-check: ok (healthy as uid ${user%%:*}, wrote ${db#$rootfs}, clean stop)"
