#!/usr/bin/env python3
"""The command-line tool's two latencies, measured from outside it:

  cli-start         `leaselocker run NS/NAME -- CMD` started -> CMD running, on
                    a free lease (process start, kubeconfig, TLS, the read and
                    the granting write included; CMD is `sh` writing to a FIFO
                    the benchmark waits on, so sh's own start counts too)
  cli-loss-signal   an administrator's takeover write sent (on an open
                    connection) -> SIGTERM in the command (its handler reads
                    CLOCK_MONOTONIC): the write, the watch event and our
                    reaction

  cli_bench.py LEASELOCKER_BINARY N_START N_LOSS  >> raw.jsonl

Runs inside `llcluster run` (cluster.env in the environment). klock, the
shell tool these figures would sit next to, is not served by the Go module
proxy here (403), so there is no peer column.
"""
import json
import os
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "test", "cli"))
import cli_it  # noqa: E402  (its Admin and the signal-recording command)


def main(binary, n_start, n_loss):
    cluster_dir = os.environ["LEASELOCKER_CLUSTER_DIR"]
    with open(os.path.join(cluster_dir, "state.json")) as f:
        cli_it.CLUSTER = json.load(f)
    cli_it.CLUSTER["dir"] = cluster_dir
    cli_it.NS = ns = cli_it.CLUSTER["namespace"]
    env = dict(os.environ, KUBECONFIG=cli_it.CLUSTER["kubeconfig"])
    admin = cli_it.Admin()
    with tempfile.TemporaryDirectory() as tmp:
        fifo = os.path.join(tmp, "fifo")
        os.mkfifo(fifo)
        start = []
        for i in range(n_start):
            t0 = time.monotonic_ns()
            p = subprocess.Popen([binary, "run", f"{ns}/bench-cli-start", "--", "sh", "-c", 'echo > "$1"', "sh", fifo], env=env)
            with open(fifo) as f:  # returns once the command opened it for writing
                t1 = time.monotonic_ns()
                f.read()
            if p.wait(timeout=30) != 0:
                raise SystemExit(f"run {i} exited {p.returncode}")
            start.append((t1 - t0) / 1e6)
        print(json.dumps({"what": "cli-start", "impl": "leaselocker", "samples_ms": start}))

        loss = []
        for i in range(n_loss):
            lease = f"bench-cli-loss-{i}"
            out, ready = os.path.join(tmp, f"signal-{i}"), os.path.join(tmp, f"ready-{i}")
            p = subprocess.Popen([binary, "run", "--kill-after", "5s", f"{ns}/{lease}", "--", sys.executable, "-c",
                                  cli_it.SIGNAL_RECORDER, out, ready], env=env, stderr=subprocess.DEVNULL)
            cli_it.wait_file(ready)
            taken = admin.overwrite_holder(lease, "bench-intruder")  # just before the PUT went out
            if p.wait(timeout=30) != 75:
                raise SystemExit(f"loss run {i} exited {p.returncode}, not 75")
            name, _, signalled = cli_it.wait_file(out).split()
            if name != "SIGTERM":
                raise SystemExit(f"loss run {i}: the command got {name}")
            loss.append((int(signalled) - taken) / 1e6)
        print(json.dumps({"what": "cli-loss-signal", "impl": "leaselocker", "samples_ms": loss}))


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]), int(sys.argv[3]))
