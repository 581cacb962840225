#!/usr/bin/env bash
# The README's test command: installs what is missing, builds the local
# control plane (cached) and the library, runs every test (unit, component,
# integration against the real kube-apiserver + etcd), and checks that no
# etcd / kube-apiserver is left behind.
#
#   bash tools/test.sh [ctest arguments...]     e.g. -L unit, -R transport
#
# Environment: BUILD_DIR (default build), LEASELOCKER_CACHE (default
# ~/.cache/leaselocker), LEASELOCKER_SANITIZE (e.g. address,undefined).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
source "$root/tools/lib.sh"
build_dir=${BUILD_DIR:-$root/build}
started=$SECONDS
stage() { log "== $* (at $((SECONDS - started)) s)"; }

stage "setup"
bash "$root/tools/setup.sh"

stage "control plane"
t=$SECONDS
cluster_bin=$(bash "$root/test/cluster/build.sh" | tail -n 1)
cluster_time=$((SECONDS - t))

stage "C++ build"
t=$SECONDS
cmake -S "$root" -B "$build_dir" -G Ninja -DCMAKE_BUILD_TYPE=${CMAKE_BUILD_TYPE:-RelWithDebInfo} \
  -DLEASELOCKER_CLUSTER_BIN="$cluster_bin" -DLEASELOCKER_SANITIZE="${LEASELOCKER_SANITIZE:-}" >/dev/null
run_with_progress "C++ build" "(ninja in $build_dir; incremental next time)" cmake --build "$build_dir"
build_time=$((SECONDS - t))

stage "tests"
t=$SECONDS
# Long chaos profiles and benchmarks have their own commands (see README).
status=0
ctest --test-dir "$build_dir" --output-on-failure --no-tests=error -j2 -LE 'bench|long' "$@" || status=$?
test_time=$((SECONDS - t))

integration_count=$(ctest --test-dir "$build_dir" -N -L integration | sed -n 's/^Total Tests: //p')
if [ $# -eq 0 ] && [ "${integration_count:-0}" -lt 3 ]; then
  log "FAIL: the integration tests against the local control plane are not registered"
  status=1
fi

sleep 1
leftovers=$(pgrep -a -f "$cluster_bin/(etcd|kube-apiserver|llcluster)" || true)
if [ -n "$leftovers" ]; then
  log "FAIL: control-plane processes left behind after the tests:"
  echo "$leftovers" >&2
  status=1
fi

log "timings: control plane ${cluster_time} s, C++ build ${build_time} s, tests ${test_time} s, total $((SECONDS - started)) s"
if [ "$status" -eq 0 ]; then log "all tests passed"; else log "tests FAILED"; fi
exit "$status"
