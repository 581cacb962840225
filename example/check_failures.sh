#!/bin/sh
# The examples' failures, as a new user meets them: one clear line and a
# non-zero exit, never a crash or a silent wait.
#   check_failures.sh EXAMPLES_DIR CLUSTER_DIR
set -u
bin=$1 cluster=$2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*"; echo "--- stderr:"; cat "$tmp/err"; exit 1; }

for example in first_lock callbacks future_lock multithreaded own_event_loop guarded_worker timed_lock configmap_lock leader_server; do
  KUBECONFIG=/nonexistent/kubeconfig "$bin/leaselocker_$example" >/dev/null 2>"$tmp/err"
  rc=$?
  [ "$rc" -eq 1 ] || fail "$example without a kubeconfig exited $rc, not 1"
  [ "$(wc -l <"$tmp/err")" -eq 1 ] || fail "$example: not one line"
  grep -q "^$example: KUBECONFIG names no existing file" "$tmp/err" || fail "$example: unclear message"
  echo "ok: $example without a kubeconfig: $(cat "$tmp/err")"
done

# A server that refuses connections: lock() keeps trying and says so on
# stderr once (then once per 30 s), and the timed lock gives up in time.
sed -e "s#server: .*#server: https://127.0.0.1:1#" -e "s#: pki/#: $cluster/pki/#" "$cluster/kubeconfig" >"$tmp/kubeconfig"
KUBECONFIG=$tmp/kubeconfig timeout 60 "$bin/leaselocker_timed_lock" 5 >"$tmp/out" 2>"$tmp/err"
rc=$?
[ "$rc" -eq 2 ] || fail "timed_lock against a refusing server exited $rc, not 2"
grep -q "not acquired within 5 s" "$tmp/out" || fail "timed_lock did not say it gave up"
n=$(grep -c "^leaselocker: warning: .*acquiring: connection to the API server failed; retrying" "$tmp/err")
[ "$n" -eq 1 ] || fail "expected one warning about the refused connection in 5 s (two or three attempts), got $n"
echo "ok: a refusing server: $(cat "$tmp/err")"
