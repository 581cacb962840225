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
cmake -S "$root" -B "$build_dir" -G Ninja -DCMAKE_BUILD_TYPE=${CMAKE_BUILD_TYPE:-RelWithDebInfo} \
  -DLEASELOCKER_CLUSTER_BIN="$cluster_bin" >/dev/null
run_with_progress "C++ build" "(ninja in $build_dir; incremental next time)" cmake --build "$build_dir" >/dev/null

demo="$build_dir/example/leaselocker_demo"
if [ -x "$demo" ]; then
  exec "$cluster_bin/llcluster" run --dir "$build_dir/demo-cluster" -- "$demo"
fi
# Until the locker exists (issue 4) the demonstration shows the control
# plane the demo will run against, reached through the library's transport.
exec "$cluster_bin/llcluster" run --dir "$build_dir/demo-cluster" -- \
  sh -c 'echo; echo "local control plane: $LEASELOCKER_TEST_SERVER (namespace $LEASELOCKER_TEST_NAMESPACE)";
         echo "the contention demo arrives with the locker; the cluster now stops again"; echo'
