#!/usr/bin/env bash
# The README's test command: installs what is missing, builds the local
# control plane (cached) and the library, runs every test (unit, component,
# integration against the real kube-apiserver + etcd), and checks that no
# etcd / kube-apiserver is left behind.
#
#   bash tools/test.sh [ctest arguments...]     e.g. -L unit, -R transport
#
# Then the same suite again built with AddressSanitizer and
# UndefinedBehaviorSanitizer (leaks included), in $BUILD_DIR-asan.
#
# Environment: BUILD_DIR (default build), LEASELOCKER_CACHE (default
# ~/.cache/leaselocker), LEASELOCKER_SKIP_SANITIZERS=1 to skip the second pass.
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

# build_and_test DIR LABEL [cmake args...]: configure, build, run the suite.
build_and_test() {
  local dir=$1 label=$2; shift 2
  stage "C++ build ($label)"
  local t=$SECONDS
  cmake -S "$root" -B "$dir" -G Ninja -DLEASELOCKER_CLUSTER_BIN="$cluster_bin" "$@" >/dev/null
  run_with_progress "C++ build ($label)" "(ninja in $dir; incremental next time)" cmake --build "$dir"
  build_times+=("$label $((SECONDS - t)) s")
  stage "tests ($label)"
  t=$SECONDS
  # Long chaos profiles and benchmarks have their own commands (see README).
  ctest --test-dir "$dir" --output-on-failure --no-tests=error -j2 -LE 'bench|long' "${ctest_args[@]}" || status=1
  test_times+=("$label $((SECONDS - t)) s")
}

status=0
build_times=() test_times=() ctest_args=("$@")
build_and_test "$build_dir" "plain" -DCMAKE_BUILD_TYPE=${CMAKE_BUILD_TYPE:-RelWithDebInfo}
if [ "${LEASELOCKER_SKIP_SANITIZERS:-0}" != 1 ]; then
  export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
  build_and_test "$build_dir-asan" "ASan+UBSan" -DCMAKE_BUILD_TYPE=Debug -DLEASELOCKER_SANITIZE=address,undefined \
    -DLEASELOCKER_BUILD_BENCH=OFF
fi

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

log "timings: control plane ${cluster_time} s; C++ build: ${build_times[*]}; tests: ${test_times[*]}; total $((SECONDS - started)) s"
if [ "$status" -eq 0 ]; then log "all tests passed"; else log "tests FAILED"; fi
exit "$status"
