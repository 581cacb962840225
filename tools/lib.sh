# Shared helpers for the project's scripts (sourced, not run).

# Where builds that outlive a clone are cached: the control plane binaries.
LEASELOCKER_CACHE=${LEASELOCKER_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/leaselocker}

log() { printf '[%s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }

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
