#!/usr/bin/env bash
# A cluster whose owner dies is torn down by its supervisor: no etcd or
# kube-apiserver survives a crashed test run. Also checks that stop and the
# restart verbs work. Usage: owner_exit_test.sh LLCLUSTER_BIN_DIR WORK_DIR
set -euo pipefail
bin=$1 dir=$2
sleep 120 & owner=$!
"$bin/llcluster" start --dir "$dir" --owner-pid "$owner"
state() { sed -n "s/.*\"$1\": \([0-9]*\).*/\1/p" "$dir/state.json"; }
"$bin/llcluster" apiserver restart --dir "$dir"
"$bin/llcluster" etcd restart --dir "$dir"
pids="$(state supervisor_pid) $(state etcd_pid) $(state apiserver_pid)"
for pid in $pids; do kill -0 "$pid" || { echo "FAIL: pid $pid not running after restarts"; exit 1; }; done
kill -9 "$owner"
for _ in $(seq 100); do
  alive=0
  for pid in $pids; do [ -d "/proc/$pid" ] && ! grep -q '^State:.*Z' "/proc/$pid/status" 2>/dev/null && alive=1; done
  [ "$alive" -eq 0 ] && { echo "owner gone: supervisor, etcd and kube-apiserver exited"; exit 0; }
  sleep 0.2
done
echo "FAIL: processes still alive 20 s after the owner died: $pids"
ps -o pid,stat,cmd -p ${pids// /,} || true
exit 1
