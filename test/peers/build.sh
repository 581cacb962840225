#!/usr/bin/env bash
# Builds the Go peer programs (bench peers and chaos contenders for
# client-go and the Go reference package) into a cache that outlives the
# clone; prints that folder as its last line.
#
# The Go reference package (github.com/swisscom/leaselocker v0.4.26) is not
# served by the Go module proxy and is not part of this project: its source
# is looked for in $LEASELOCKER_REFERENCE_SRC, then ../shared/peers/
# swisscom-leaselocker beside the project, then /work/shared/peers/
# swisscom-leaselocker. It is copied into the build folder with
# reference/export.go.in added (its constructor with chosen timings); its
# source is never changed. Without it, only the client-go programs are
# built and this says so.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
source "$here/../../tools/lib.sh"
export CGO_ENABLED=0 GOTOOLCHAIN=local GOFLAGS=-mod=readonly

reference=""
for d in "${LEASELOCKER_REFERENCE_SRC:-}" "$here/../../../shared/peers/swisscom-leaselocker" /work/shared/peers/swisscom-leaselocker; do
  if [ -n "$d" ] && [ -f "$d/leaselocker.go" ]; then reference=$(cd "$d" && pwd); break; fi
done

stamp=$( { cd "$here" && find . -path ./reference/swisscom-leaselocker -prune -o -type f \( -name '*.go' -o -name '*.in' -o -name 'go.*' -o -name build.sh \) -print | sort | xargs cat
           [ -z "$reference" ] || cat "$reference"/*.go "$reference"/go.mod; go env GOVERSION; } | sha256sum | cut -c1-16)
out="$LEASELOCKER_CACHE/go-peers/$stamp"
if [ -x "$out/clientgo-bench" ] && [ -x "$out/clientgo-contender" ] && [ -x "$out/wire-compat.test" ] && { [ -z "$reference" ] || [ -x "$out/reference-contender" ]; }; then
  log "Go peers: cached in $out"
else
  rm -rf "$out/src" && mkdir -p "$out/src"
  log "Go peers: building the client-go programs into $out (cached afterwards)"
  (cd "$here" && run_with_progress "Go peers build" "(go build of client-go; cached afterwards in $out)" go build -trimpath -o "$out/" ./cmd/... && go test -trimpath -c -o "$out/wire-compat.test" ./wire)
  if [ -n "$reference" ]; then
    # A copy of our module with the reference's source where reference/go.mod's replace points.
    tar -C "$here" --exclude=./reference/swisscom-leaselocker -cf - . | tar -C "$out/src" -xf -
    cp -R "$reference" "$out/src/reference/swisscom-leaselocker"
    chmod -R u+w "$out/src/reference/swisscom-leaselocker"
    cp "$here/reference/export.go.in" "$out/src/reference/swisscom-leaselocker/export_timings.go"
    log "Go peers: building the Go reference programs from $reference (a copy in $out/src; cached afterwards)"
    (cd "$out/src/reference" && run_with_progress "Go reference build" "(go build; cached afterwards in $out)" go build -trimpath -o "$out/" ./cmd/...)
  fi
fi
[ -n "$reference" ] || log "Go peers: the Go reference package's source was not found (set LEASELOCKER_REFERENCE_SRC): its programs are not built, and the bench and the mixed chaos profile run without it"
echo "$out"
