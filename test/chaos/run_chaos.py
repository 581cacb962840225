#!/usr/bin/env python3
"""The chaos suite: contenders in separate processes take turns on one Lease
and write their fencing token to a protected store while nemeses strike on a
schedule; then the history checker judges what every process recorded.

    run_chaos.py --profile short|electors|long|mutation|mixed|mixed_long|... --out DIR --cluster-bin DIR --tools-bin DIR \
                 --contender EXE --checker EXE [--go-peers-bin DIR] [--skew-beyond-rho]

The mixed profiles put C++ lockers, client-go leader electors and Go
reference lockers (test/peers, built by test/peers/build.sh into
--go-peers-bin) on the one Lease; every contender writes the same history,
and the checker judges all of them (a Go peer acting past the lease it
wrote is counted as its design, not excused otherwise: history.hpp).

Path of a request: contender -> its own toxiproxy proxy (TCP faults: latency,
blackhole, reset; on every contender or on the holder alone) -> faultproxy
(TLS; 429 / 503 storms) -> kube-apiserver -> etcd. The recorder watches the
Lease directly. Every process stamps its events with CLOCK_MONOTONIC
(time.monotonic_ns() here), one clock for all of them.

The nemeses aim at the regime where timing decides safety, not only the
API server's compare-and-swap: the holder stopped for 0.5-1.5 leases at a
random moment, or between a check and its write right after a renewal; the
holder alone slowed by a latency comparable to the lease while it is
stopped (overlapping strikes); the holder alone cut off for 1.5 leases;
contenders whose clocks run up to 0.9 rho fast or slow, holders included.

A profile with until_met stops as soon as its minimums are reached; it logs
its progress every few minutes.

Exit status: 0 if the checker passed (no violation, its minimums and
liveness bounds met) and the profile's minimums (handoffs, strikes per
kind, effective stops) were reached.
"""
import argparse
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request

KINDS = ["kill", "stop", "stop_between", "slow_holder", "partition_holder", "apiserver_restart", "etcd_restart", "latency",
         "blackhole", "reset", "storm_429", "storm_503", "clock_skew"]
# The strikes at the holder: what the library's timing must survive.
HOLDER_KINDS = ["kill", "stop", "stop_between", "slow_holder", "partition_holder"]
PROFILES = {
    # CI: bounded to a few minutes, every nemesis kind a few times.
    "short": dict(seconds=300, contenders=8, pause=(1.5, 3.0), min_handoffs=2000, min_each=3, min_effective_stops=1, kinds=KINDS),
    # By flag: until 100,000 handoffs, each kind 20 times and 200 stops that
    # worked (at most 5 h). Each round of strikes holds every kind once and
    # the three stopping ones twice more: about half the stops work, and
    # with one round per kind 200 of them took about 4 h; weighted, about 2.
    "long": dict(seconds=5 * 3600, contenders=8, pause=(3.0, 6.0), min_handoffs=100000, min_each=20, min_effective_stops=200,
                 kinds=KINDS, extra_per_round=["stop", "stop_between", "slow_holder"] * 2, until_met=True),
    # Mutation runs (a deliberately broken library must fail): only the
    # strikes at the holder, often, and every clock skewed (0.9 rho, slow
    # and fast by turns).
    "mutation": dict(seconds=150, contenders=6, pause=(0.8, 1.5), min_handoffs=300, min_each=3, min_effective_stops=1,
                     kinds=HOLDER_KINDS, skew_all=True),
    # Mixed fleets (in CI): three implementations on one Lease, every
    # nemesis; every ordered pair of implementations must hand over. The
    # C++ lockers rest between their turns (up to rest_ms) so that the
    # polling peers find the Lease free now and then: back to back, the
    # watch-driven waiters would take every turn.
    "mixed": dict(seconds=300, contenders=8, pause=(1.5, 3.0), min_handoffs=2000, min_each=3, min_effective_stops=1, kinds=KINDS,
                  impls=["leaselocker"] * 3 + ["client-go"] * 3 + ["go-reference"] * 2, rest_ms={"leaselocker": 500}, all_pairs=True),
    # Turns per implementation under continuous contention (no nemesis):
    # everyone back at lock() within 20 ms of its release. Three C++ lockers,
    # so that C++ waiters contend with each other (two would alternate
    # anyway): the waiting-order judgement is reported here too (unfair: a
    # negative control).
    "contention": dict(seconds=90, contenders=7, pause=(1.0, 1.0), min_handoffs=100, min_each=0, min_effective_stops=0, kinds=[],
                       impls=["leaselocker"] * 3 + ["client-go"] * 2 + ["go-reference"] * 2, order_report=True),
    # The same with fair turns on the C++ lockers (docs/fairness.md): they
    # must take turns in waiting order; the polling peers still starve.
    "contention_fair": dict(seconds=90, contenders=7, pause=(1.0, 1.0), min_handoffs=100, min_each=0, min_effective_stops=0, kinds=[],
                            impls=["leaselocker"] * 3 + ["client-go"] * 2 + ["go-reference"] * 2, fair=dict(every=0, window_ms=0)),
    # Fair turns, and every 4th freed lease left to the pollers for 700 ms
    # (client-go here polls every 250-550 ms, the reference every 250 ms).
    "contention_fair_yield": dict(seconds=90, contenders=7, pause=(1.0, 1.0), min_handoffs=100, min_each=0, min_effective_stops=0,
                                  kinds=[], impls=["leaselocker"] * 3 + ["client-go"] * 2 + ["go-reference"] * 2,
                                  fair=dict(every=4, window_ms=700)),
    # Leader electors (in CI): every C++ contender a leader_elector whose
    # work is the hold; every nemesis. On top of the claims, the checker's
    # elector rule: a leader's on_stopped_leading before the next leader's
    # on_started_leading (unless it was killed or stopped then).
    "electors": dict(seconds=180, contenders=6, pause=(1.5, 3.0), min_handoffs=800, min_each=2, min_effective_stops=1, kinds=KINDS,
                     mode="elect", min_elector_losses=5),
    # The store a ConfigMap guarded by the admission fence (in CI): every
    # nemesis; the API server, not the store, refuses a deposed holder's
    # writes, and the checker judges the ConfigMap's versions in the server's
    # order. Ends once its minimums are met (at most 300 s).
    "fenced": dict(seconds=300, contenders=8, pause=(1.5, 3.0), min_handoffs=2000, min_each=3, min_effective_stops=1, kinds=KINDS,
                   store="configmap", until_met=True, check_every=30),
    # By flag: the same until 20,000 handoffs and 10 strikes of each kind (at most 2 h).
    "fenced_long": dict(seconds=2 * 3600, contenders=8, pause=(1.5, 3.0), min_handoffs=20000, min_each=10, min_effective_stops=10,
                        kinds=KINDS, store="configmap", until_met=True),
    # By flag: until 20,000 handoffs and 20 strikes of each kind (at most 3 h).
    "mixed_long": dict(seconds=3 * 3600, contenders=8, pause=(3.0, 6.0), min_handoffs=20000, min_each=20, min_effective_stops=20,
                       kinds=KINDS, impls=["leaselocker"] * 3 + ["client-go"] * 3 + ["go-reference"] * 2, rest_ms={"leaselocker": 500},
                       all_pairs=True, until_met=True),
}
# The program of each implementation: the C++ contender, or a Go peer's in --go-peers-bin.
GO_PROGRAMS = {"client-go": "clientgo-contender", "go-reference": "reference-contender"}
LEASE_MS, RENEW_MS, RETRY_MS = 2000, 1500, 250
# The guarded ConfigMap: a stale write the API server admitted later than
# this after the takeover was known is a violation. The cache lag is about
# a millisecond in integration.fence_it; under these nemeses a grant was
# seen refused up to 77 ms after it (the server's Lease watch catching up
# after an etcd restart): a margin for worse catch-ups, still well below
# the 1-3 s a stopped holder is held (the stale writes this must catch).
FENCE_WINDOW_MS = 500
RHO = 0.01  # the library's default bound on clock-rate error; injected skews stay inside it (--skew-beyond-rho: outside)


def log(msg):
    print(f"[{time.strftime('%H:%M:%S')}] chaos: {msg}", flush=True)


def http(method, url, body=None, timeout=10):
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=timeout) as r:
        text = r.read()
        return json.loads(text) if text.strip().startswith(b"{") else None


def wait_for(what, check, seconds=120):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            if check():
                return
        except (OSError, ValueError):
            pass
        time.sleep(0.1)
    raise RuntimeError(f"timed out waiting for {what}")


class Chaos:
    def __init__(self, args, profile):
        self.a, self.p = args, profile
        self.out = os.path.abspath(args.out)
        shutil.rmtree(self.out, ignore_errors=True)
        os.makedirs(os.path.join(self.out, "logs"))
        self.history = os.path.join(self.out, "history")
        os.makedirs(self.history)
        self.cluster_dir = os.path.join(self.out, "cluster")
        self.nemesis_log = open(os.path.join(self.history, "nemesis.jsonl"), "a")
        self.procs = {}  # slot -> (identity, Popen)
        self.incarnation = {}
        self.helpers = []
        self.rng = random.Random(args.seed)
        self.struck = {k: 0 for k in profile["kinds"]}
        self.grant_offsets = {}  # event file -> bytes already counted
        self.grants_seen = 0
        self.last_effective_check = 0.0
        self.effective_cache = 0
        self.base_rate = {}

    # --- the stage -------------------------------------------------------

    def spawn(self, name, argv):
        out = open(os.path.join(self.out, "logs", name + ".log"), "a")
        return subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT)

    def start(self):
        llcluster = os.path.join(self.a.cluster_bin, "llcluster")
        self.llcluster = llcluster
        self.helpers.append(self.spawn("llcluster", [llcluster, "start", "--dir", self.cluster_dir, "--owner-pid", str(os.getpid())]))
        env_file = os.path.join(self.cluster_dir, "cluster.env")
        # `llcluster start` returns once its supervisor has the cluster ready.
        def ready():
            if self.helpers[0].poll() not in (None, 0):
                raise RuntimeError("llcluster start failed; see logs/llcluster.log")
            return os.path.exists(env_file) and subprocess.run([llcluster, "status", "--dir", self.cluster_dir],
                                                               capture_output=True).returncode == 0
        wait_for("the control plane", ready)
        env = dict(line.strip().split("=", 1) for line in open(env_file) if "=" in line)
        server = env["LEASELOCKER_TEST_SERVER"]
        pki = os.path.join(self.cluster_dir, "pki")

        ports = os.path.join(self.out, "faultproxy.ports")
        self.helpers.append(self.spawn("faultproxy", [
            os.path.join(self.a.tools_bin, "faultproxy"), "-upstream", server, "-ca", os.path.join(pki, "ca.crt"),
            "-cert", os.path.join(pki, "apiserver.crt"), "-key", os.path.join(pki, "apiserver.key"), "-ports-file", ports]))
        wait_for("faultproxy", lambda: os.path.getsize(ports) > 0)
        fault_addr, control_addr = open(ports).read().split()
        self.fault_control = f"http://{control_addr}"

        toxi_port = free_port()
        self.toxi = f"http://127.0.0.1:{toxi_port}"
        self.helpers.append(self.spawn("toxiproxy", [os.path.join(self.a.tools_bin, "toxiproxy-server"), "-host", "127.0.0.1",
                                                      "-port", str(toxi_port)]))
        wait_for("toxiproxy", lambda: http("GET", self.toxi + "/proxies") is not None)  # raises until it listens
        # Contenders reach the API server only through the proxies, each
        # through a proxy of its own: a fault can hit the holder alone.
        self.direct_kubeconfig = env["LEASELOCKER_TEST_KUBECONFIG"]
        with open(self.direct_kubeconfig) as f:
            direct = f.read()
        self.kubeconfigs = {}
        for slot in range(self.p["contenders"]):
            proxy = http("POST", self.toxi + "/proxies", {"name": f"c{slot}", "listen": "127.0.0.1:0", "upstream": fault_addr})
            self.kubeconfigs[slot] = os.path.join(self.cluster_dir, f"kubeconfig-c{slot}")  # beside pki/
            with open(self.kubeconfigs[slot], "w") as g:
                g.write(direct.replace(server, "https://" + proxy["listen"]))
        self.lease = "chaos-" + str(os.getpid())
        log(f"control plane {server}; contenders go through toxiproxy (a proxy each) -> faultproxy {fault_addr}")
        record_store = []
        if self.p.get("store") == "configmap":
            # The store: a ConfigMap the admission fence of the Lease guards,
            # installed by an administrator before anyone writes.
            self.store = "chaos-store-" + str(os.getpid())
            with open(os.path.join(self.out, "logs", "fence.log"), "w") as out:
                subprocess.run([self.a.contender, "fence", "--kubeconfig", self.direct_kubeconfig, "--lease", self.lease,
                                "--store", self.store, "--events", os.path.join(self.out, "logs", "fence.jsonl")],
                               stdout=out, stderr=subprocess.STDOUT, timeout=90, check=True)
            log(open(os.path.join(self.out, "logs", "fence.log")).read().strip())
            record_store = ["--store-configmap", self.store]
        else:
            self.store = os.path.join(self.out, "store")

        self.helpers.append(self.spawn("recorder", [self.a.contender, "record", "--kubeconfig", self.direct_kubeconfig,
                                                    "--lease", self.lease, "--events", os.path.join(self.history, "recorder.jsonl"),
                                                    "--seconds", str(self.p["seconds"] + 120), *record_store]))
        # Two contenders (in the mutation profile: all) run with skewed
        # clocks from the start, slow and fast by turns, so skewed holders
        # are struck too.
        # (Only C++ contenders: a Go peer runs on the real clock.)
        skew = 5 * RHO if self.a.skew_beyond_rho else 0.9 * RHO
        skewed = self.p["contenders"] if self.p.get("skew_all") else 2
        cpp = [slot for slot in range(self.p["contenders"]) if self.impl(slot) == "leaselocker"]
        self.base_rate = {slot: 1 - skew if i % 2 == 0 else 1 + skew for i, slot in enumerate(cpp[:skewed])}
        for slot in range(self.p["contenders"]):
            self.start_contender(slot, self.base_rate.get(slot, 1.0))

    def impl(self, slot):
        impls = self.p.get("impls")
        return impls[slot] if impls else "leaselocker"

    def start_contender(self, slot, rate):
        n = self.incarnation[slot] = self.incarnation.get(slot, 0) + 1
        identity = f"c{slot}-{n}"
        impl = self.impl(slot)
        program = self.a.contender if impl == "leaselocker" else os.path.join(self.a.go_peers_bin, GO_PROGRAMS[impl])
        rest = self.p.get("rest_ms", {}).get(impl, 20)
        fair = self.p.get("fair")
        if fair and impl == "leaselocker":
            program_args = ["--fair", "1", "--yield-every", str(fair["every"]), "--yield-window-ms", str(fair["window_ms"])]
        else:
            program_args = []
        mode = self.p.get("mode", "contend") if impl == "leaselocker" else "contend"
        if self.p.get("store") == "configmap" and impl == "leaselocker":
            program_args += ["--store-kind", "configmap"]
        argv = [program, mode, *program_args, "--rest-ms", str(rest), "--kubeconfig", self.kubeconfigs[slot], "--lease", self.lease, "--id", identity,
                "--events", os.path.join(self.history, identity + ".jsonl"), "--store", self.store,
                "--lease-ms", str(LEASE_MS), "--renew-ms", str(RENEW_MS), "--retry-ms", str(RETRY_MS),
                "--clock-rate", f"{rate:.4f}", "--writes", "2", "--work-ms", "15", "--seconds", str(self.p["seconds"] + 60)]
        self.procs[slot] = (identity, self.spawn(identity, argv))

    def stop_all(self):
        for identity, p in self.procs.values():
            if p.poll() is None:
                p.send_signal(signal.SIGCONT)
                p.terminate()
        for identity, p in self.procs.values():
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        for h in reversed(self.helpers[1:]):
            h.terminate()
            try:
                h.wait(timeout=10)
            except subprocess.TimeoutExpired:
                h.kill()
        subprocess.run([self.llcluster, "stop", "--dir", self.cluster_dir], capture_output=True)
        self.helpers[0].wait(timeout=30)

    # --- nemeses ---------------------------------------------------------

    def note(self, kind, **fields):
        self.nemesis_log.write(json.dumps({"t": time.monotonic_ns(), "p": "nemesis", "e": kind, **fields}) + "\n")
        self.nemesis_log.flush()

    def holder_slot(self):
        """The slot whose process the recorder last saw holding the lease."""
        path = os.path.join(self.history, "recorder.jsonl")
        with open(path, "rb") as f:
            f.seek(max(0, os.path.getsize(path) - 4096))
            lines = f.read().decode(errors="replace").splitlines()
        for line in reversed(lines):
            try:
                e = json.loads(line)
            except ValueError:
                continue
            if e.get("e") == "version":
                for slot, (identity, p) in self.procs.items():
                    if identity == e.get("holder") and p.poll() is None:
                        return slot
                return None
        return None

    def toxic_on(self, slots, body):
        for slot in slots:
            http("POST", f"{self.toxi}/proxies/c{slot}/toxics", body)

    def toxic_off(self, slots, name):
        # Toxiproxy cannot always remove a latency toxic at once (a link
        # blocked on a client that was stopped answers 503 after 5 s per
        # link): asked again; if it still will not (the long run of
        # 2026-12-04 died of that after 40 minutes, its target silent for
        # minutes on a wedged proxy), the proxy is made anew on its port.
        for slot in slots:
            for attempt in range(3):
                try:
                    http("DELETE", f"{self.toxi}/proxies/c{slot}/toxics/{name}", timeout=20)
                    break
                except urllib.error.HTTPError as e:
                    if e.code == 404:
                        break  # gone
                    time.sleep(1)
                except OSError:
                    time.sleep(1)
            else:
                self.renew_proxy(slot, name)

    def renew_proxy(self, slot, toxic):
        """Deletes contender slot's proxy (its links and toxics with it) and
        makes it again on the same address: the contender reconnects."""
        for attempt in range(10):
            try:
                old = http("GET", f"{self.toxi}/proxies/c{slot}", timeout=20)
                http("DELETE", f"{self.toxi}/proxies/c{slot}", timeout=20)
                http("POST", self.toxi + "/proxies", {"name": f"c{slot}", "listen": old["listen"], "upstream": old["upstream"]}, timeout=20)
                log(f"toxiproxy would not remove {toxic} from c{slot}: its proxy was made anew")
                self.note("proxy_renewed", slot=slot, toxic=toxic)
                return
            except (urllib.error.HTTPError, OSError) as e:
                log(f"renewing the proxy of c{slot}: {e}; again")
                time.sleep(2)
        raise RuntimeError(f"toxiproxy would not remove {toxic} from c{slot}, nor make its proxy anew")

    def toxic(self, body, seconds):
        """A fault on every contender's connection."""
        slots = list(self.procs)
        self.toxic_on(slots, body)
        time.sleep(seconds)
        self.toxic_off(slots, body["name"])

    def stop_length(self):
        return self.rng.uniform(0.5, 1.5) * LEASE_MS / 1000

    def wait_for_event(self, slot, offset, kind, seconds=9):
        """Waits until the contender in `slot` logs `kind` past `offset`."""
        identity, p = self.procs[slot]
        path = os.path.join(self.history, identity + ".jsonl")
        deadline = time.monotonic() + seconds
        needle = f'"e":"{kind}"'.encode()
        while time.monotonic() < deadline:
            with open(path, "rb") as f:
                f.seek(offset)
                if needle in f.read():
                    return True
            time.sleep(0.01)
        return False

    def events_size(self, slot):
        path = os.path.join(self.history, self.procs[slot][0] + ".jsonl")
        return os.path.getsize(path) if os.path.exists(path) else 0

    def long_hold(self, slot):
        """Asks the contender in `slot` to hold for two leases (its current
        hold or its next); True once it does."""
        offset = self.events_size(slot)
        self.procs[slot][1].send_signal(signal.SIGUSR2)
        return self.wait_for_event(slot, offset, "holding")

    def stop_between(self, slot, kind):
        """Arms the contender in `slot` to stop itself between a check and
        its write after a renewal; continues it 0.5-1.5 leases later.
        Returns False if it did not stop within 9 s (no hold came; the
        contender disarms itself after 8 s)."""
        identity, p = self.procs[slot]
        offset = self.events_size(slot)
        p.send_signal(signal.SIGUSR1)
        if not self.wait_for_event(slot, offset, "stopping"):
            p.send_signal(signal.SIGCONT)  # in case it stopped just after the wait gave up
            self.note(kind + "_missed", target=identity)
            return False
        self.note("stop", target=identity, how=kind)
        time.sleep(self.stop_length())
        p.send_signal(signal.SIGCONT)
        self.note("cont", target=identity)
        return True

    def component(self, which):
        subprocess.run([self.llcluster, which, "kill", "--dir", self.cluster_dir], check=True, capture_output=True)
        time.sleep(self.rng.uniform(0.5, 2.0))
        subprocess.run([self.llcluster, which, "start", "--dir", self.cluster_dir], check=True, capture_output=True)

    def strike(self, kind):
        """Injects one nemesis; returns False if it could not (e.g. no holder to kill)."""
        if kind in ("kill", "stop"):
            slot = self.holder_slot()
            if slot is None:
                return False
            identity, p = self.procs[slot]
            if kind == "kill":
                p.kill()
                self.note("kill", target=identity)
                p.wait()
                time.sleep(0.3)
                self.start_contender(slot, self.base_rate.get(slot, 1.0))
                # Calm until the killed holder's lease has run out and been
                # taken over, so that the next strike meets the successor.
                time.sleep(LEASE_MS / 1000 + 0.5)
            else:  # at a random moment, for 0.5-1.5 leases
                p.send_signal(signal.SIGSTOP)
                self.note("stop", target=identity, how="stop")
                time.sleep(self.stop_length())
                p.send_signal(signal.SIGCONT)
                self.note("cont", target=identity)
        elif kind == "stop_between":
            slot = self.holder_slot()
            if slot is None:
                return False
            return self.stop_between(slot, kind)
        elif kind == "slow_holder":
            # Overlapping strikes: the holder's answers slowed by a latency
            # comparable to the lease, and the holder stopped meanwhile right
            # after a (slowed) renewal. Its validity must count from when
            # the renewal was sent, not from its late answer.
            slot = self.holder_slot()
            if slot is None or not self.long_hold(slot):
                return False
            # Up to a third of the lease: just under the request deadline
            # (renew_deadline / 2), so that slowed renewals still succeed.
            latency = int(self.rng.uniform(0.15, 0.33) * LEASE_MS)
            self.toxic_on([slot], {"name": "slow", "type": "latency", "stream": "downstream",
                                   "attributes": {"latency": latency, "jitter": latency // 10}})
            self.note("slow_holder", target=self.procs[slot][0], latency_ms=latency)
            try:
                stopped = self.stop_between(slot, kind)
                if stopped:
                    time.sleep(0.5)  # it reads what piled up while stopped
            finally:
                self.toxic_off([slot], "slow")
            return stopped
        elif kind == "partition_holder":
            # The holder alone cut off for 1.5 leases: it must report the
            # loss itself before the others can take over.
            slot = self.holder_slot()
            if slot is None or not self.long_hold(slot):
                return False
            identity = self.procs[slot][0]
            # Both directions: nothing reaches the server, no answer or
            # watch event reaches the holder.
            self.toxic_on([slot], {"name": "cut", "type": "timeout", "stream": "upstream", "attributes": {"timeout": 0}})
            self.toxic_on([slot], {"name": "cut_down", "type": "timeout", "stream": "downstream", "attributes": {"timeout": 0}})
            self.note("partition", target=identity)
            time.sleep(1.5 * LEASE_MS / 1000)
            self.toxic_off([slot], "cut")
            self.toxic_off([slot], "cut_down")
            self.note("heal", target=identity)
        elif kind in ("apiserver_restart", "etcd_restart"):
            self.note(kind)
            self.component(kind.split("_")[0])
        elif kind == "latency":
            self.note(kind)
            self.toxic({"name": "latency", "type": "latency", "stream": "downstream", "attributes": {"latency": 300, "jitter": 150}}, 3)
        elif kind == "blackhole":
            self.note(kind)
            self.toxic({"name": "blackhole", "type": "timeout", "stream": "upstream", "attributes": {"timeout": 0}}, 3)
        elif kind == "reset":
            self.note(kind)
            self.toxic({"name": "reset", "type": "reset_peer", "stream": "upstream", "attributes": {"timeout": 0}}, 1.5)
        elif kind in ("storm_429", "storm_503"):
            self.note(kind)
            http("POST", f"{self.fault_control}/storm?status={kind[-3:]}&seconds=3")
            time.sleep(3)
        elif kind == "clock_skew":
            # Any C++ contender, the holder too (it leaves gracefully,
            # releasing). A Go peer runs on the real clock.
            slot = self.rng.choice([s for s in self.procs if self.impl(s) == "leaselocker"])
            identity, p = self.procs[slot]
            p.terminate()
            p.wait()
            bound = 5 * RHO if self.a.skew_beyond_rho else 0.9 * RHO
            rate = 1 + self.rng.uniform(-1, 1) * bound
            self.start_contender(slot, rate)
            self.note(kind, target=self.procs[slot][0], clock_rate=rate)
        return True

    def count_grants(self):
        """Handoffs so far: acquire_ok lines the contenders appended since the last count."""
        for name in os.listdir(self.history):
            if not name.startswith("c"):
                continue
            path = os.path.join(self.history, name)
            with open(path, "rb") as f:
                f.seek(self.grant_offsets.get(path, 0))
                chunk = f.read()
            whole = chunk[:chunk.rfind(b"\n") + 1]
            self.grant_offsets[path] = self.grant_offsets.get(path, 0) + len(whole)
            self.grants_seen += whole.count(b'"e":"acquire_ok"')
        return self.grants_seen

    def met(self):
        return (self.count_grants() >= self.p["min_handoffs"] and min(self.struck.values(), default=0) >= self.p["min_each"]
                and self.effective_stops_so_far() >= self.p["min_effective_stops"])

    def effective_stops_so_far(self):
        """Runs the checker on the history so far (only in until_met profiles,
        every few minutes)."""
        now = time.monotonic()
        if now - self.last_effective_check < self.p.get("check_every", 300):
            return self.effective_cache
        self.last_effective_check = now
        subprocess.run(self.checker_argv(), capture_output=True)
        try:
            self.effective_cache = json.load(open(os.path.join(self.history, "report.json")))["effective_stops"]
        except (OSError, ValueError, KeyError):
            pass
        return self.effective_cache

    def checker_argv(self):
        return [self.a.checker, self.history, "--lease-ms", str(LEASE_MS), "--fence-window-ms", str(FENCE_WINDOW_MS)]

    def run(self):
        started = time.monotonic()
        end = started + self.p["seconds"]
        next_progress = started + 300
        plan = []
        while time.monotonic() < end:
            if time.monotonic() >= next_progress:
                next_progress += 300
                log(f"{time.monotonic() - started:.0f} s: {self.count_grants()} handoffs, fewest strikes of one kind "
                    f"{min(self.struck.values(), default=0)}")
            if self.p.get("until_met") and self.met():
                log(f"minimums reached after {time.monotonic() - started:.0f} s: {self.grants_seen} handoffs, "
                    f"strikes {self.struck}")
                break
            time.sleep(self.rng.uniform(*self.p["pause"]))
            if not self.p["kinds"]:
                continue  # no nemesis: contention alone
            if not plan:
                plan = self.p["kinds"] + self.p.get("extra_per_round", [])
                self.rng.shuffle(plan)
            kind = plan[0]
            if self.strike(kind):
                self.struck[kind] += 1
                plan.pop(0)
            for slot, (identity, p) in list(self.procs.items()):
                if p.poll() is not None:  # died on its own: note it, replace it
                    log(f"{identity} exited with {p.returncode}; restarting the slot")
                    self.start_contender(slot, self.base_rate.get(slot, 1.0))


def free_port():
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def waiting_order(history):
    """Fair turns, judged from the C++ contenders' logs: a grant overtakes
    a waiter if another C++ contender had been waiting (since its "want")
    more than 50 ms longer and was still waiting (registration takes a
    write: the margin covers its latency)."""
    waits = {}  # contender -> [[want, end of the wait or None, granted]]
    for name in os.listdir(history):
        if not name.startswith("c") or not name.endswith(".jsonl"):
            continue
        rows, impl = [], None
        with open(os.path.join(history, name), "rb") as f:
            for line in f:
                try:
                    ev = json.loads(line)
                except ValueError:
                    continue
                kind = ev.get("e")
                if kind == "start":
                    impl = ev.get("impl")
                elif kind == "want":
                    rows.append([ev["t"], None, False])
                elif kind in ("acquire_ok", "acquire_failed", "exit") and rows and rows[-1][1] is None:
                    rows[-1][1], rows[-1][2] = ev["t"], kind == "acquire_ok"
        if impl == "leaselocker":
            waits[name[:-6]] = rows
    grants = sorted((end, want, who) for who, rows in waits.items() for want, end, granted in rows if granted)
    overtaken, contested, examples = 0, 0, []
    for g, w, who in grants:
        others = [(other, ow) for other, rows in waits.items() if other != who
                  for ow, oend, _ in rows if ow < g and (oend is None or oend > g)]  # still waiting at the grant
        if others:
            contested += 1
        longer = [other for other, ow in others if ow < w - 50_000_000]
        if longer:
            overtaken += 1
            if len(examples) < 5:
                examples.append(f"{who} granted at {g / 1e9:.3f} s (waiting since {w / 1e9:.3f} s); {longer[0]} waited longer")
    return {"grants": len(grants), "contested": contested, "overtaken": overtaken, "examples": examples}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--profile", choices=PROFILES, default="short")
    ap.add_argument("--seconds", type=int, help="override the profile's duration")
    ap.add_argument("--pause", type=float, nargs=2, metavar=("MIN", "MAX"), help="override the seconds between nemeses")
    ap.add_argument("--out", required=True)
    ap.add_argument("--cluster-bin", required=True)
    ap.add_argument("--tools-bin", required=True)
    ap.add_argument("--contender", required=True)
    ap.add_argument("--checker", required=True)
    ap.add_argument("--go-peers-bin", help="folder with the Go peers' contenders (test/peers/build.sh); the mixed profiles need it")
    ap.add_argument("--seed", type=int, default=int(time.time()))
    ap.add_argument("--skew-beyond-rho", action="store_true", help="skew clocks beyond the library's bound (a mutation run)")
    args = ap.parse_args()
    profile = dict(PROFILES[args.profile])
    if args.seconds:
        profile["seconds"] = args.seconds
    if args.pause:
        profile["pause"] = tuple(args.pause)
    if profile.get("impls"):
        if not args.go_peers_bin or not os.access(os.path.join(args.go_peers_bin, GO_PROGRAMS["client-go"]), os.X_OK):
            log("FAIL: the mixed profiles need --go-peers-bin with the Go peers (test/peers/build.sh)")
            return 1
        if not os.access(os.path.join(args.go_peers_bin, GO_PROGRAMS["go-reference"]), os.X_OK):
            log("the Go reference package was not built (its source was not found: see test/peers/build.sh); its slots run client-go")
            profile["impls"] = [("client-go" if i == "go-reference" else i) for i in profile["impls"]]
    log(f"profile {args.profile}: {profile['contenders']} contenders, {profile['seconds']} s of nemeses, seed {args.seed}")
    chaos = Chaos(args, profile)
    # Terminated (ctest's timeout, a person): leave no process behind.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    started = time.monotonic()
    try:
        chaos.start()
        chaos.run()
    finally:
        chaos.stop_all()
    log(f"ran {time.monotonic() - started:.0f} s; checking the history")
    checked = subprocess.run(chaos.checker_argv())
    try:
        report = json.load(open(os.path.join(chaos.history, "report.json")))
    except (OSError, ValueError) as e:
        log(f"FAIL: the checker wrote no readable report ({e}; exit {checked.returncode})")
        return 1
    short = [k for k in profile["kinds"] if chaos.struck.get(k, 0) < profile["min_each"]]
    ok = checked.returncode == 0
    if report["grants"] < profile["min_handoffs"]:
        log(f"FAIL: {report['grants']} handoffs, fewer than {profile['min_handoffs']}")
        ok = False
    if short:
        log(f"FAIL: struck fewer than {profile['min_each']} times: {', '.join(short)}")
        ok = False
    if report.get("elector_terms_after_loss", 0) < profile.get("min_elector_losses", 0):
        log(f"FAIL: {report.get('elector_terms_after_loss', 0)} elector terms ended by a loss, fewer than {profile['min_elector_losses']} "
            "(the elector rule's hard case)")
        ok = False
    if report["effective_stops"] < profile["min_effective_stops"]:
        log(f"FAIL: {report['effective_stops']} stops were effective (taken over meanwhile, then noticed), "
            f"fewer than {profile['min_effective_stops']}")
        ok = False
    if profile.get("all_pairs"):
        impls = sorted(set(profile["impls"]))
        missing = [f"{a} → {b}" for a in impls for b in impls if report["handoff_by_pair"].get(f"{a} → {b}", {}).get("n", 0) == 0]
        if missing:
            log(f"FAIL: no handoff from one implementation to another: {', '.join(missing)}")
            ok = False
        log(f"turns per implementation {report['grants_by_impl']}; overlaps that are a Go peer's design "
            f"{report['peer_overlaps'] or 'none'}")
        for example in report["peer_overlap_examples"]:
            log(f"  {example}")
    if profile.get("impls") and not profile.get("all_pairs"):
        log(f"turns per implementation {report['grants_by_impl']}")
    if profile.get("fair") or profile.get("order_report"):
        waits = waiting_order(chaos.history)
        log(f"waiting order: {waits['grants']} C++ grants, {waits['contested']} while another C++ locker waited, "
            f"{waits['overtaken']} of them to a locker that had waited less (by more than 50 ms) than one still waiting")
        for example in waits["examples"]:
            log(f"  {example}")
        with open(os.path.join(chaos.history, "waiting_order.json"), "w") as f:
            json.dump(waits, f, indent=1)
        if profile.get("fair"):
            if waits["overtaken"]:
                ok = False
                log("FAIL: with fair turns, C++ lockers took turns out of waiting order")
            if waits["contested"] < 50:
                ok = False
                log("FAIL: fewer than 50 contested C++ grants: the waiting order was hardly put to the test")
    if report.get("store") == "configmap":
        log(f"guarded ConfigMap: {report['store_versions']} versions judged ({report['store_versions_unjudged']} unjudged); stale writes "
            f"stored outside / within the {FENCE_WINDOW_MS} ms window / held up on the way {report['accepted_stale_writes']} / "
            f"{report['stale_writes_in_window']} / {report['stale_writes_in_flight']}, stale refused {report['rejected_stale_writes']}; refused early "
            f"{report['early_refusals']} (sent − own grant max {report['early_refusal_lag']['max_ms']:.1f} ms)")
    log(f"strikes {chaos.struck}; stops {report['stops']}, effective {report['effective_stops']}; "
        f"expiry takeover margin min {report['takeover_margin']['min_ms']:.1f} ms (n {report['takeover_margin']['n']})")
    log("PASS" if ok else "FAIL")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
