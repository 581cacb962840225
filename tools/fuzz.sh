#!/usr/bin/env bash
# Long fuzzing runs (libFuzzer, ASan+UBSan), one target after another; the
# short run is part of tools/test.sh. New inputs go to build-fuzz/fuzz-corpus.
#
#   bash tools/fuzz.sh [RUNS [TARGET...]]   executions per target (default 10,000,000), all targets by default
#
# Prints each target's executions, coverage and time; stops at the first
# crash, leak or UB report (its input is saved as build-fuzz/crash-*).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
source "$root/tools/lib.sh"
runs=${1:-10000000}
targets=("${@:2}")
[ ${#targets[@]} -gt 0 ] || targets=(lease_codec status kubeconfig micro_time http_response)
# A small ASan quarantine and short allocation stacks: with the defaults,
# millions of yaml-cpp allocations grow the fuzzer past its 2 GB RSS limit
# (quarantine and stack depot, not a leak: LeakSanitizer checks every input).
export ASAN_OPTIONS=${ASAN_OPTIONS:-quarantine_size_mb=16:malloc_context_size=5}
dir=${BUILD_DIR:-$root/build}-fuzz
bash "$root/tools/setup.sh"
cmake -S "$root" -B "$dir" -G Ninja -DCMAKE_CXX_COMPILER=clang++-14 -DCMAKE_BUILD_TYPE=RelWithDebInfo -DLEASELOCKER_FUZZ=ON \
  -DLEASELOCKER_BUILD_TESTS=OFF -DLEASELOCKER_BUILD_EXAMPLES=OFF -DLEASELOCKER_BUILD_BENCH=OFF >/dev/null
run_with_progress "fuzz build" "(clang, ninja in $dir)" cmake --build "$dir"
for target in "${targets[@]}"; do
  log "fuzz: $target, $runs executions"
  out="$dir/fuzz-$target.log"
  status=0
  (cd "$dir" && run_with_progress "fuzz $target" "(libFuzzer, -runs=$runs; output in $out)" \
    "./test/fuzz/fuzz_$target" -runs="$runs" -print_final_stats=1 -artifact_prefix="$dir/crash-$target-" \
    "fuzz-corpus/$target" "$root/test/fuzz/corpus/$target" > "$out" 2>&1) || status=$?
  grep -E "^(stat::number_of_executed_units|stat::peak_rss_mb|Done|==[0-9]+==ERROR|SUMMARY)|DONE" "$out" || true
  if [ "$status" -ne 0 ]; then log "fuzz: $target FAILED (exit $status); see $out"; exit 1; fi
done
log "fuzz: all targets done, no crash"
