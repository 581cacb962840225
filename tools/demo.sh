#!/usr/bin/env bash
# The README's first command: installs what is missing, builds the local
# control plane (cached) and the library, starts the control plane, runs
# the demonstration against it, and stops it again.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
source "$root/tools/lib.sh"
build_dir=${BUILD_DIR:-$root/build}

bash "$root/tools/setup.sh"
cluster_bin=$(bash "$root/test/cluster/build.sh" | tail -n 1)
use_compiler_cache "$root"
cmake -S "$root" -B "$build_dir" -G Ninja -DCMAKE_BUILD_TYPE=${CMAKE_BUILD_TYPE:-RelWithDebInfo} \
  -DLEASELOCKER_CLUSTER_BIN="$cluster_bin" "${cache_cmake_args[@]}" >/dev/null
build_log="$build_dir/demo-build.log"
if ! run_with_progress "C++ build" "(ninja in $build_dir; incremental next time)" cmake --build "$build_dir" --target leaselocker_demo >"$build_log" 2>&1; then
  tail -n 40 "$build_log" >&2
  log "demo: the build failed (whole log: $build_log)"
  exit 1
fi

exec "$cluster_bin/llcluster" run --dir "$build_dir/demo-cluster" -- "$build_dir/example/leaselocker_demo"
