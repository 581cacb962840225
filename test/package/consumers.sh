#!/bin/sh
# Builds test/package/consumer, a project outside the tree, taking
# leaselocker in one of three ways, and runs it against the local control
# plane (it takes and releases a lock and does an HTTP exchange of its own
# with header-only Asio and Beast).
#   consumers.sh MODE SOURCE_DIR WORK_DIR CXX [BUILD_DIR]
#   MODE: find_package (installs BUILD_DIR into WORK_DIR/prefix first),
#         add_subdirectory, FetchContent (from SOURCE_DIR's git repository, at HEAD)
# Needs KUBECONFIG. Build folders stay in WORK_DIR: incremental next time.
set -eu
mode=$1 source=$2 work=$3 cxx=$4 build=${5:-}
here=$(cd "$(dirname "$0")" && pwd)
mkdir -p "$work"
set -- -DCONSUME="$mode" -DCMAKE_BUILD_TYPE=Release -DCMAKE_CXX_COMPILER="$cxx"
case $mode in
find_package)
  prefix=$work/prefix
  rm -rf "$prefix"
  cmake --install "$build" --prefix "$prefix" >/dev/null
  # The package leaves the consumer's Asio configuration alone ...
  if grep -rl "SEPARATE_COMPILATION" "$prefix/lib" "$prefix"/lib*/pkgconfig 2>/dev/null; then
    echo "FAIL: the installed package exports an Asio/Beast configuration macro (files above)"; exit 1
  fi
  # ... and every Asio or Beast function the library holds is an inline
  # (weak) definition, as in a header-only consumer; a strong one would
  # replace the consumer's own.
  strong=$(nm -C --defined-only "$(find "$prefix" -name libleaselocker.a)" | grep -E " [TDBR] (vtable for |typeinfo for |typeinfo name for )?boost::(asio|beast)::" || true)
  if [ -n "$strong" ]; then
    echo "FAIL: libleaselocker.a defines $(echo "$strong" | wc -l) Asio/Beast symbols strongly, e.g.:"
    echo "$strong" | head -n 5
    exit 1
  fi
  echo "ok: no Asio configuration exported; no strong Asio/Beast symbol in the library"
  set -- "$@" -DCMAKE_PREFIX_PATH="$prefix"
  ;;
add_subdirectory)
  set -- "$@" -DLEASELOCKER_SOURCE="$source"
  ;;
FetchContent)
  commit=$(git -C "$source" rev-parse HEAD)
  [ -z "$(git -C "$source" status --porcelain --untracked-files=no)" ] ||
    echo "note: FetchContent builds the committed $commit, not the uncommitted changes in $source"
  set -- "$@" -DLEASELOCKER_SOURCE="$source" -DLEASELOCKER_COMMIT="$commit"
  ;;
*) echo "usage: consumers.sh find_package|add_subdirectory|FetchContent SOURCE_DIR WORK_DIR CXX [BUILD_DIR]"; exit 64 ;;
esac
dir=$work/$mode
echo "configuring and building the consumer ($mode) in $dir"
cmake -S "$here/consumer" -B "$dir" -G Ninja "$@" >"$work/$mode.configure.log" 2>&1 ||
  { cat "$work/$mode.configure.log"; exit 1; }
cmake --build "$dir" --parallel 2 # ctest may run other tests beside it
out=$("$dir/consumer" "default/package-$(echo "$mode" | tr 'A-Z_' 'a-z-')-$$")
echo "$out"
echo "$out" | grep -q "^beast: hello /consumer$" || { echo "FAIL: the consumer's own Beast exchange"; exit 1; }
echo "$out" | grep -q "^leaselocker [0-9.]*: held default/package-" || { echo "FAIL: no lock"; exit 1; }
echo "$out" | grep -q "^released$" || { echo "FAIL: not released"; exit 1; }
echo "ok: consumer via $mode"
