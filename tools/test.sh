#!/usr/bin/env bash
# The README's test command: installs what is missing, builds the local
# control plane, the chaos tools and the Go peers (cached) and the library,
# runs every test (unit, component, integration against the real
# kube-apiserver + etcd, the short chaos profile, the mixed one with
# client-go and the Go reference package, and fair turns next to them),
# and checks that no etcd /
# kube-apiserver is left behind.
#
#   bash tools/test.sh [ctest arguments...]     e.g. -L unit, -R transport
#
# Then the same suite again built with AddressSanitizer and
# UndefinedBehaviorSanitizer (leaks included), in $BUILD_DIR-asan, a short
# libFuzzer run of each fuzz target (clang), in $BUILD_DIR-fuzz, and the
# multi-threaded tests with ThreadSanitizer, in $BUILD_DIR-tsan.
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
chaos_tools_bin=$(bash "$root/test/chaos/tools/build.sh" | tail -n 1)
go_peers_bin=$(bash "$root/test/peers/build.sh" | tail -n 1)
cluster_time=$((SECONDS - t))

# build_and_test DIR LABEL TESTS [cmake args...]: configure, build, run the
# tests matching the regex TESTS (all: ".").
build_and_test() {
  local dir=$1 label=$2 tests=$3; shift 3
  stage "C++ build ($label)"
  local t=$SECONDS
  cmake -S "$root" -B "$dir" -G Ninja -DLEASELOCKER_CLUSTER_BIN="$cluster_bin" "${cache_cmake_args[@]}" "$@" >/dev/null
  run_with_progress "C++ build ($label)" "(ninja in $dir; incremental next time)" cmake --build "$dir"
  build_times+=("$label $((SECONDS - t)) s")
  stage "tests ($label)"
  t=$SECONDS
  # Long chaos profiles and benchmarks have their own commands (see README).
  local out="$dir/ctest-summary.txt"
  ctest --test-dir "$dir" --output-on-failure --no-tests=error -j2 -LE 'bench|long' -R "$tests" "${ctest_args[@]}" \
    | tee "$out" || status=1
  # "100% tests passed, 0 tests failed out of 23"
  local line; line=$(grep -E 'tests passed, [0-9]+ tests? failed out of [0-9]+' "$out" | tail -n 1 || true)
  local failed_here; failed_here=$(sed -E 's/.* ([0-9]+) tests? failed out of ([0-9]+).*/\1/' <<<"$line")
  local total_here; total_here=$(sed -E 's/.* failed out of ([0-9]+).*/\1/' <<<"$line")
  total_passed=$((total_passed + ${total_here:-0} - ${failed_here:-0}))
  total_failed=$((total_failed + ${failed_here:-0}))
  [ -n "$line" ] || status=1
  test_times+=("$label $((SECONDS - t)) s")
}

use_compiler_cache "$root"
status=0 total_passed=0 total_failed=0
build_times=() test_times=() ctest_args=("$@")
build_and_test "$build_dir" "plain" . -DCMAKE_BUILD_TYPE=${CMAKE_BUILD_TYPE:-RelWithDebInfo} \
  -DLEASELOCKER_CHAOS_TOOLS_BIN="$chaos_tools_bin" -DLEASELOCKER_GO_PEERS_BIN="$go_peers_bin"
if [ "${LEASELOCKER_SKIP_SANITIZERS:-0}" != 1 ]; then
  export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
  build_and_test "$build_dir-asan" "ASan+UBSan" . -DCMAKE_BUILD_TYPE=Debug -DLEASELOCKER_SANITIZE=address,undefined \
    -DLEASELOCKER_BUILD_BENCH=OFF
  # The libFuzzer targets (clang, ASan+UBSan), a short run each on the
  # checked-in corpus; tools/fuzz.sh runs long ones.
  build_and_test "$build_dir-fuzz" "fuzz" "fuzz\\." -DCMAKE_CXX_COMPILER=clang++-14 -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DLEASELOCKER_FUZZ=ON -DLEASELOCKER_BUILD_TESTS=OFF -DLEASELOCKER_BUILD_EXAMPLES=OFF -DLEASELOCKER_BUILD_BENCH=OFF \
    -DLEASELOCKER_BUILD_CLI=OFF
  # ThreadSanitizer on the tests that run an io_context on several threads
  # or complete futures on another thread.
  export TSAN_OPTIONS="halt_on_error=1:suppressions=$root/tools/tsan.supp"
  build_and_test "$build_dir-tsan" "TSan" "multithreaded|completion_tokens|connection_pool|integration.locker_it|integration.lease_watch_hub_it|integration.leader_elector_it" \
    -DCMAKE_BUILD_TYPE=Debug -DLEASELOCKER_SANITIZE=thread -DLEASELOCKER_BUILD_BENCH=OFF -DLEASELOCKER_BUILD_EXAMPLES=OFF \
    -DLEASELOCKER_BUILD_CLI=OFF
fi

integration_count=$(ctest --test-dir "$build_dir" -N -L integration | sed -n 's/^Total Tests: //p')
if [ $# -eq 0 ] && [ "${integration_count:-0}" -lt 3 ]; then
  log "FAIL: the integration tests against the local control plane are not registered"
  status=1
fi

sleep 1
leftovers=$(pgrep -a -f "$cluster_bin/(etcd|kube-apiserver|llcluster)|$chaos_tools_bin|$go_peers_bin|leaselocker_chaos_contender" || true)
if [ -n "$leftovers" ]; then
  log "FAIL: control-plane processes left behind after the tests:"
  echo "$leftovers" >&2
  status=1
fi

log "timings: control plane ${cluster_time} s; C++ build: ${build_times[*]}; tests: ${test_times[*]}; total $((SECONDS - started)) s"
if [ "$status" -eq 0 ]; then log "all tests passed"; else log "tests FAILED"; fi
# Summed over the plain and sanitizer passes:
echo "tests: $total_passed passed, $total_failed failed"
exit "$status"
