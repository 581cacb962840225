# Shared helpers for the project's scripts (sourced, not run).

# Where builds that outlive a clone are cached: the control plane binaries.
LEASELOCKER_CACHE=${LEASELOCKER_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/leaselocker}

log() { printf '[%s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }

# use_compiler_cache ROOT: with ccache installed (tools/setup.sh does),
# compiles go through a cache in $LEASELOCKER_CACHE/ccache shared by every
# clone (paths below ROOT are hashed relative to it, the build directory
# not at all), so a fresh clone rebuilds from the cache; an object taken
# from the cache names the first clone's folder in its debug information.
# Sets cache_cmake_args for cmake (without ccache: no launcher, also in a
# build folder configured with one before), and exports the launcher for
# nested CMake builds (the package tests).
use_compiler_cache() {
  if ! command -v ccache >/dev/null; then
    cache_cmake_args=(-DCMAKE_CXX_COMPILER_LAUNCHER= -DCMAKE_C_COMPILER_LAUNCHER=)
    return 0
  fi
  if [ -z "${CCACHE_DIR:-}" ]; then
    export CCACHE_DIR=$LEASELOCKER_CACHE/ccache CCACHE_MAXSIZE=${CCACHE_MAXSIZE:-8G}
  fi
  export CCACHE_BASEDIR=$1 CCACHE_NOHASHDIR=true
  export CMAKE_CXX_COMPILER_LAUNCHER=ccache CMAKE_C_COMPILER_LAUNCHER=ccache
  cache_cmake_args=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache -DCMAKE_C_COMPILER_LAUNCHER=ccache)
}

# run_with_progress LABEL HINT CMD...: runs CMD, and while it runs says every
# 30 s what it is doing and for how long, so a long step is never silent.
run_with_progress() {
  local label=$1 hint=$2; shift 2
  local start=$SECONDS
  "$@" &
  local pid=$!
  while kill -0 "$pid" 2>/dev/null; do
    for _ in $(seq 30); do kill -0 "$pid" 2>/dev/null || break; sleep 1; done
    if kill -0 "$pid" 2>/dev/null; then
      log "$label: still running, $((SECONDS - start)) s so far. $hint"
    fi
  done
  wait "$pid"
}
