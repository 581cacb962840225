#!/usr/bin/env bash
# Benchmarks leaselocker side by side with client-go's leader election and
# the Go reference package (github.com/swisscom/leaselocker), in one run,
# against one local control plane, with the same timings (lease 3 s, renew
# deadline 2 s, retry period 0.5 s; the reference's own defaults are 60 s /
# 10 s / 2 s). Without the reference's source (test/peers/build.sh says
# where it is looked for) its column says n/a.
#
#   bash bench/run.sh            full: 200 handoffs, 20 failovers each, 30 s windows, 1,000 leases for 120 s,
#                                capacity 1,000 leases for 10 s per transport, the CLI's start (100 runs) and
#                                loss signal (30) (~28 min)
#   bash bench/run.sh --quick    smoke: 10 handoffs, 3 failovers, 8 s windows, 100 leases for 20 s,
#                                capacity for 3 s (~3 min)
#
# Results: build/bench-results/results.json (machine-readable) and
# results.md (the table with ratios), printed at the end.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
source "$root/tools/lib.sh"
build_dir=${BUILD_DIR:-$root/build}
handoffs=200 window=30 failovers=20 scale_leases=1000 scale_seconds=120 capacity_seconds=10 cli_starts=100 cli_losses=30
if [ "${1:-}" = "--quick" ]; then
  handoffs=10 window=8 failovers=3 scale_leases=100 scale_seconds=20 capacity_seconds=3 cli_starts=10 cli_losses=3
fi

bash "$root/tools/setup.sh"
cluster_bin=$(bash "$root/test/cluster/build.sh" | tail -n 1)
cmake -S "$root" -B "$build_dir" -G Ninja -DCMAKE_BUILD_TYPE=${CMAKE_BUILD_TYPE:-RelWithDebInfo} \
  -DLEASELOCKER_CLUSTER_BIN="$cluster_bin" -DLEASELOCKER_BUILD_BENCH=ON >/dev/null
run_with_progress "C++ build" "(ninja in $build_dir)" cmake --build "$build_dir" --target leaselocker_bench leaselocker_capacity_bench leaselocker_cli >/dev/null

# The Go peers, in modules of their own so they do not move the control plane's deps.
peers_out=$(bash "$root/test/peers/build.sh" | tail -n 1)

results="$build_dir/bench-results"
mkdir -p "$results"
export BENCH_HANDOFFS=$handoffs BENCH_WINDOW=$window BENCH_RESULTS=$results BENCH_FAILOVERS=$failovers
export BENCH_SCALE_LEASES=$scale_leases BENCH_SCALE_SECONDS=$scale_seconds BENCH_CAPACITY_SECONDS=$capacity_seconds
export BENCH_OURS="$build_dir/bench/leaselocker_bench" BENCH_CLIENTGO="$peers_out/clientgo-bench"
export BENCH_REFERENCE="$peers_out/reference-bench" # absent without the reference's source
export BENCH_CAPACITY="$build_dir/bench/leaselocker_capacity_bench"
export BENCH_CLI="$build_dir/src/cli/leaselocker" BENCH_CLI_STARTS=$cli_starts BENCH_CLI_LOSSES=$cli_losses
"$cluster_bin/llcluster" run --dir "$build_dir/bench-cluster" -- bash "$root/bench/measure.sh"
python3 "$root/bench/report.py" "$results/raw.jsonl" "$results/results.json" "$results/results.md"
cat "$results/results.md"
