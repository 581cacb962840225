#!/usr/bin/env bash
# Captures the Leases that client-go, the Go reference package and
# leaselocker write, from the real API server, into test/data/wire/ (checked
# in; the wire tests read them). Run again after a change to how any of
# them writes a Lease:  bash test/peers/capture_wire.sh [BUILD_DIR]
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
source "$root/tools/lib.sh"
build_dir=${1:-$root/build}
cluster_bin=$(bash "$root/test/cluster/build.sh" | tail -n 1)
peers=$(bash "$root/test/peers/build.sh" | tail -n 1)
[ -x "$peers/wire-capture" ] || { log "capture_wire: needs the Go reference package (see test/peers/build.sh)"; exit 1; }
cmake --build "$build_dir" --target leaselocker_bench >/dev/null
"$cluster_bin/llcluster" run --dir "$build_dir/wire-cluster" -- sh -c \
  '"$0" -kubeconfig "$LEASELOCKER_TEST_KUBECONFIG" -ours "$1" -out "$2"' "$peers/wire-capture" "$build_dir/bench/leaselocker_bench" "$root/test/data/wire"
