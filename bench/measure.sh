#!/usr/bin/env bash
# Runs inside `llcluster run` (cluster.env in the environment): each
# measurement for every implementation, one JSON line each into raw.jsonl.
set -euo pipefail
raw="$BENCH_RESULTS/raw.jsonl"
: > "$BENCH_RESULTS/clientgo.log" # client-go's own log lines
: > "$BENCH_RESULTS/reference.log" # the Go reference's
# ref ARGS...: the Go reference peer, if it was built.
ref() { if [ -x "$BENCH_REFERENCE" ]; then "$BENCH_REFERENCE" "$@" >> "$raw" 2>> "$BENCH_RESULTS/reference.log"; fi; }
: > "$raw"
kc=$LEASELOCKER_TEST_KUBECONFIG
pki="$LEASELOCKER_CLUSTER_DIR/pki"
log() { printf '[%s] bench: %s\n' "$(date +%H:%M:%S)" "$*" >&2; }

# Lease requests counted by the server itself (apiserver_request_total).
lease_requests() {
  curl -s --cacert "$pki/ca.crt" --cert "$pki/admin.crt" --key "$pki/admin.key" "$LEASELOCKER_TEST_SERVER/metrics" |
    awk '/^apiserver_request_total\{/ && /resource="leases"/ { s += $NF } END { printf "%d\n", s }'
}

log "graceful handoffs: $BENCH_HANDOFFS each"
"$BENCH_OURS" handoff "$kc" bench-handoff-ll "$BENCH_HANDOFFS" >> "$raw"
"$BENCH_CLIENTGO" handoff -kubeconfig "$kc" -lease bench-handoff-cg -n "$BENCH_HANDOFFS" >> "$raw" 2>> "$BENCH_RESULTS/clientgo.log"
ref handoff -kubeconfig "$kc" -lease bench-handoff-ref -n "$BENCH_HANDOFFS"
log "graceful handoffs with fair turns on (ours only): $BENCH_HANDOFFS"
"$BENCH_OURS" handoff-fair "$kc" bench-handoff-fair-ll "$BENCH_HANDOFFS" >> "$raw"
log "leadership handovers between two leader_electors: $BENCH_HANDOFFS (client-go's handoff above is its elector's)"
"$BENCH_OURS" elector-handover "$kc" bench-elector-ll "$BENCH_HANDOFFS" >> "$raw"

log "uncontended acquisitions: 20 each"
"$BENCH_OURS" acquire "$kc" bench-acquire-ll 20 >> "$raw"
"$BENCH_CLIENTGO" acquire -kubeconfig "$kc" -lease bench-acquire-cg -n 20 >> "$raw" 2>> "$BENCH_RESULTS/clientgo.log"
ref acquire -kubeconfig "$kc" -lease bench-acquire-ref -n 20

log "crash failover: $BENCH_FAILOVERS each (holder SIGKILLed)"
"$BENCH_OURS" failover "$kc" bench-failover-ll "$BENCH_FAILOVERS" >> "$raw"
"$BENCH_CLIENTGO" failover -kubeconfig "$kc" -lease bench-failover-cg -n "$BENCH_FAILOVERS" >> "$raw" 2>> "$BENCH_RESULTS/clientgo.log"
ref failover -kubeconfig "$kc" -lease bench-failover-ref -n "$BENCH_FAILOVERS"

log "renew latency: holding ${BENCH_WINDOW} s each"
"$BENCH_OURS" renew "$kc" bench-renew-ll "$BENCH_WINDOW" >> "$raw"
"$BENCH_CLIENTGO" renew -kubeconfig "$kc" -lease bench-renew-cg -seconds "$BENCH_WINDOW" >> "$raw" 2>> "$BENCH_RESULTS/clientgo.log"
ref renew -kubeconfig "$kc" -lease bench-renew-ref -seconds "$BENCH_WINDOW"

log "scale: $BENCH_SCALE_LEASES leases held by one process, one thread, for $BENCH_SCALE_SECONDS s"
"$BENCH_OURS" scale "$kc" bench-scale "$BENCH_SCALE_LEASES" "$BENCH_SCALE_SECONDS" >> "$raw"

log "client-side capacity: 1000 leases renewing flat out against the scripted server, $BENCH_CAPACITY_SECONDS s per transport"
"$BENCH_CAPACITY" 1000 "$BENCH_CAPACITY_SECONDS" http 64 >> "$raw"
"$BENCH_CAPACITY" 1000 "$BENCH_CAPACITY_SECONDS" tls 64 >> "$raw"

# Requests per minute: one holder alone, then with 4 waiting candidates.
rate() { # impl lease start-command...
  local impl=$1 lease=$2; shift 2
  local pids=()
  "$@" "$lease" holder >/dev/null 2>&1 & pids+=($!)
  sleep 3
  local m0; m0=$(lease_requests); sleep "$BENCH_WINDOW"; local m1; m1=$(lease_requests)
  for i in 1 2 3 4; do "$@" "$lease" "waiter-$i" >/dev/null 2>&1 & pids+=($!); done
  sleep 3
  local m2; m2=$(lease_requests); sleep "$BENCH_WINDOW"; local m3; m3=$(lease_requests)
  kill -9 "${pids[@]}" 2>/dev/null || true
  wait 2>/dev/null || true
  printf '{"impl":"%s","what":"requests","window_s":%s,"holder_requests":%s,"with_waiters_requests":%s,"waiters":4}\n' \
    "$impl" "$BENCH_WINDOW" "$((m1 - m0))" "$((m3 - m2))" >> "$raw"
}
ours_hold() { exec "$BENCH_OURS" hold "$kc" "$1" "$2"; } # exec: the kill below reaches the holder itself
clientgo_hold() { exec "$BENCH_CLIENTGO" hold -kubeconfig "$kc" -lease "$1" -identity "$2"; }
reference_hold() { exec "$BENCH_REFERENCE" hold -kubeconfig "$kc" -lease "$1" -identity "$2"; }
log "command-line tool: start -> command running ($BENCH_CLI_STARTS runs), takeover -> SIGTERM in the command ($BENCH_CLI_LOSSES)"
python3 "$(dirname "$0")/cli_bench.py" "$BENCH_CLI" "$BENCH_CLI_STARTS" "$BENCH_CLI_LOSSES" >> "$raw"

log "request rates: ${BENCH_WINDOW} s windows"
rate leaselocker bench-rate-ll ours_hold
rate client-go bench-rate-cg clientgo_hold
if [ -x "$BENCH_REFERENCE" ]; then rate go-reference bench-rate-ref reference_hold; fi
log "done"
