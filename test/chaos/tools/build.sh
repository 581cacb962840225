#!/usr/bin/env bash
# Builds the chaos suite's Go tools (toxiproxy's server and our faultproxy)
# into a cache that outlives the clone; prints that folder as its last line.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
source "$here/../../../tools/lib.sh"
cd "$here"
export CGO_ENABLED=0 GOTOOLCHAIN=local GOFLAGS=-mod=readonly
stamp=$(cat build.sh go.mod go.sum cmd/faultproxy/*.go | { sha256sum; go env GOVERSION; } | sha256sum | cut -c1-16)
out="$LEASELOCKER_CACHE/chaos-tools/$stamp"
if [ -x "$out/toxiproxy-server" ] && [ -x "$out/faultproxy" ]; then
  log "chaos tools: toxiproxy and faultproxy cached in $out"
else
  mkdir -p "$out"
  log "chaos tools: building toxiproxy $(go list -m -f '{{.Version}}' github.com/Shopify/toxiproxy/v2) and faultproxy into $out (cached afterwards)"
  run_with_progress "chaos tools build" "(go build; cached afterwards in $out)" \
    go build -trimpath -o "$out/" ./cmd/faultproxy
  go build -trimpath -o "$out/toxiproxy-server" github.com/Shopify/toxiproxy/v2/cmd/server
fi
echo "$out"
