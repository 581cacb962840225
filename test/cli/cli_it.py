#!/usr/bin/env python3
"""The leaselocker command-line tool against the local control plane.

Run by ctest (integration.cli_*): python3 cli_it.py LEASELOCKER_BINARY
[unittest args], with LEASELOCKER_CLUSTER_DIR naming the running cluster
(test/cluster). Every wait is bounded.
"""
import calendar
import http.client
import json
import os
import pty
import re
import select
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time
import unittest

BIN = None
CLUSTER = None  # state.json, plus "dir"
NS = None


def unique(prefix):
    unique.counter += 1
    return f"{prefix}-{os.getpid()}-{unique.counter}"


unique.counter = 0


class Admin:
    """The cluster's administrator, straight to the API server (no leaselocker code)."""

    def __init__(self):
        pki = os.path.join(CLUSTER["dir"], "pki")
        self.ctx = ssl.create_default_context(cafile=os.path.join(pki, "ca.crt"))
        self.ctx.load_cert_chain(os.path.join(pki, "admin.crt"), os.path.join(pki, "admin.key"))
        host, port = CLUSTER["server"].removeprefix("https://").split(":")
        self.host, self.port = host, int(port)

    def request(self, method, path, body=None, content_type="application/json"):
        conn = http.client.HTTPSConnection(self.host, self.port, context=self.ctx, timeout=10)
        if body is not None and not isinstance(body, str):
            body = json.dumps(body)
        conn.request(method, path, body=body, headers={"Content-Type": content_type})
        r = conn.getresponse()
        data = r.read()
        conn.close()
        return r.status, json.loads(data) if data else None

    def lease_path(self, name):
        return f"/apis/coordination.k8s.io/v1/namespaces/{NS}/leases/{name}"

    def get(self, name):
        status, obj = self.request("GET", self.lease_path(name))
        return obj if status == 200 else None

    def overwrite_holder(self, name, holder):
        """Takes the lease over as another holder would (one guarded PUT, on
        a connection already open). Returns CLOCK_MONOTONIC (ns) just before
        the PUT was sent."""
        conn = http.client.HTTPSConnection(self.host, self.port, context=self.ctx, timeout=10)
        try:
            for _ in range(10):
                conn.request("GET", self.lease_path(name))
                obj = json.loads(conn.getresponse().read())
                obj["spec"]["holderIdentity"] = holder
                obj["spec"]["leaseTransitions"] = obj["spec"].get("leaseTransitions", 0) + 1
                now = time.strftime("%Y-%m-%dT%H:%M:%S.000000Z", time.gmtime())
                obj["spec"]["acquireTime"] = obj["spec"]["renewTime"] = now
                body = json.dumps(obj)
                sent = time.monotonic_ns()
                conn.request("PUT", self.lease_path(name), body=body, headers={"Content-Type": "application/json"})
                r = conn.getresponse()
                r.read()
                if r.status == 200:
                    return sent
        finally:
            conn.close()
        raise AssertionError("could not overwrite the lease")


def cli(*args, **kw):
    """Runs leaselocker to its end: (exit code, stdout, stderr)."""
    env = dict(os.environ, KUBECONFIG=CLUSTER["kubeconfig"])
    env.update(kw.pop("env", {}))
    p = subprocess.run([BIN, *args], capture_output=True, text=True, timeout=kw.pop("timeout", 60), env=env,
                       stdin=subprocess.DEVNULL, **kw)
    return p.returncode, p.stdout, p.stderr


def start(*args, **kw):
    env = dict(os.environ, KUBECONFIG=CLUSTER["kubeconfig"])
    env.update(kw.pop("env", {}))
    prefix = kw.pop("prefix", [])
    kw = dict(dict(stdout=subprocess.PIPE, stderr=subprocess.PIPE), **kw)
    return subprocess.Popen([*prefix, BIN, *args], text=True, env=env, stdin=subprocess.DEVNULL, **kw)


def wait_for(predicate, timeout, what):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.02)
    raise AssertionError(f"timed out waiting for {what}")


def wait_file(path, timeout=20):
    wait_for(lambda: os.path.exists(path) and os.path.getsize(path) > 0, timeout, path)
    with open(path) as f:
        return f.read()


def read_line(stream, timeout):
    """One line of a child's pipe, within `timeout` seconds."""
    line = b""
    deadline = time.monotonic() + timeout
    while not line.endswith(b"\n"):
        left = deadline - time.monotonic()
        if left <= 0 or not select.select([stream], [], [], left)[0]:
            raise AssertionError(f"no line within {timeout} s (got {line!r})")
        chunk = os.read(stream.fileno(), 1)
        if not chunk:
            break
        line += chunk
    return line.decode()


def alive(pid):
    """Whether process `pid` runs (a zombie does not)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


# docs/cli.md's table of --json events: each event's fields and their types.
EVENT_FIELDS = {
    "waiting": {"lease": str, "holder": str},
    "acquired": {"lease": str, "identity": str, "fencing_token": int, "epoch": str},
    "started": {"pid": int, "command": list},
    "signal": {"signal": str},
    "lost": {"lease": str, "error": str, "message": str, "signal": (str, type(None))},
    "killed": {"signal": str},
    "exited": {"status": int},
    "released": {"lease": str, "held": bool},
    "release_failed": {"lease": str, "error": str, "message": str},
    "conflict": {"lease": str},
    "free": {"lease": str},
    "stopped": {"signal": str},
    "warning": {"message": str},
    "error": {"message": str, "exit_code": int},
    "fence_installed": {"lease": str, "name": str},
    "fence_removed": {"lease": str, "name": str},
}
OPTIONAL_FIELDS = {"exited": {"signal": str}, "free": {"expired_holder": str}, "released": {"holder": str}}


def kubeconfig_for(folder, server):
    """The cluster's kubeconfig in `folder`, with `server` instead of its own."""
    with open(CLUSTER["kubeconfig"]) as f:
        text = f.read().replace(CLUSTER["server"], server)
    path = os.path.join(folder, "kubeconfig")
    with open(path, "w") as f:
        f.write(text.replace(": pki/", f": {CLUSTER['dir']}/pki/"))
    return path


def events(stderr):
    """The --json events on stderr, each checked against EVENT_FIELDS."""
    out = []
    for line in stderr.splitlines():
        if not line.strip():
            continue
        e = json.loads(line)
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z", e.pop("time")), line
        name = e.pop("event")
        fields = EVENT_FIELDS[name]
        optional = OPTIONAL_FIELDS.get(name, {})
        assert set(fields) <= set(e) <= set(fields) | set(optional), f"{name}: fields {sorted(e)}"
        for k, v in e.items():
            assert isinstance(v, fields.get(k) or optional[k]), f"{name}.{k}: {v!r}"
        out.append(dict(e, event=name))
    return out


class TcpProxy:
    """A TCP forwarder to the API server that can be cut off (a network
    partition between one leaselocker and the server): while `blackholed`,
    bytes are held, not passed on, and new connections hang."""

    def __init__(self):
        host, port = CLUSTER["server"].removeprefix("https://").split(":")
        self.target = (host, int(port))
        self.listener = socket.socket()
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(16)
        self.port = self.listener.getsockname()[1]
        self.blackholed = threading.Event()
        self.closed = False
        self.accepted = 0
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while not self.closed:
            try:
                c, _ = self.listener.accept()
                self.accepted += 1
            except OSError:
                return
            threading.Thread(target=self._pipe, args=(c,), daemon=True).start()

    def _pipe(self, c):
        s = socket.create_connection(self.target)
        pair = {c: s, s: c}
        try:
            while not self.closed:
                r, _, _ = select.select([c, s], [], [], 0.05)
                if self.blackholed.is_set():
                    continue
                for src in r:
                    data = src.recv(65536)
                    if not data:
                        return
                    pair[src].sendall(data)
        except OSError:
            pass
        finally:
            c.close()
            s.close()

    def kubeconfig(self, folder):
        return kubeconfig_for(folder, f"https://127.0.0.1:{self.port}")

    def close(self):
        self.closed = True
        self.listener.close()


# A command that records, with wall-clock and monotonic times, when it got
# SIGTERM or SIGINT, then exits 7; it says it started by writing `ready`.
SIGNAL_RECORDER = r"""
import os, signal, sys, time
out, ready = sys.argv[1], sys.argv[2]
def got(signo, frame):
    with open(out, "w") as f:
        f.write(f"{signal.Signals(signo).name} {time.time():.6f} {time.monotonic_ns()}\n")
    sys.exit(7)
signal.signal(signal.SIGTERM, got)
signal.signal(signal.SIGINT, got)
with open(ready, "w") as f:
    f.write(" ".join(os.environ.get(k, "") for k in ("LEASELOCKER_FENCING_TOKEN", "LEASELOCKER_IDENTITY", "LEASELOCKER_LEASE")) + "\n")
for _ in range(600):
    time.sleep(0.1)
sys.exit(3)
"""


class cli_run(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()
        self.dir = self.tmp.name
        self.lease = unique("cli")
        self.ref = f"{NS}/{self.lease}"

    def tearDown(self):
        self.tmp.cleanup()

    def recorder(self, *flags, kubeconfig=None):
        out, ready = os.path.join(self.dir, "signal"), os.path.join(self.dir, "ready")
        env = {"KUBECONFIG": kubeconfig} if kubeconfig else {}
        p = start("run", "--json", *flags, self.ref, "--", sys.executable, "-c", SIGNAL_RECORDER, out, ready, env=env)
        return p, out, wait_file(ready)

    def test_concurrent_runs_never_overlap(self):
        log = os.path.join(self.dir, "log")
        go = os.path.join(self.dir, "go")
        # Each command appends start and end under flock, 200 ms apart: two
        # commands running at once would interleave their lines. The first
        # holder keeps the lease until the test has seen every other run
        # waiting (files, not timing, make them contend: a loaded machine
        # may start each process after the previous one is done).
        script = ('exec 9>>"$1"; flock 9; echo "start $LEASELOCKER_IDENTITY $LEASELOCKER_FENCING_TOKEN" >&9; flock -u 9; '
                  'n=0; while [ ! -e "$2" ] && [ $n -lt 12000 ]; do sleep 0.01; n=$((n+1)); done; '
                  'sleep 0.2; flock 9; echo "end $LEASELOCKER_IDENTITY" >&9; flock -u 9')

        def run(i):
            err = open(os.path.join(self.dir, f"err{i}"), "w+")
            p = start("run", "--json", "--identity", f"p{i}", "--retry-period", "0.2s", self.ref, "--", "sh", "-c", script,
                      "sh", log, go, stderr=err)
            return p, err

        def waiting(err):
            err.seek(0)
            complete = err.read().rpartition("\n")[0]  # a line being written is read next time
            return any(e["event"] == "waiting" for e in events(complete))

        procs = [run(0)]
        try:
            wait_for(lambda: os.path.exists(log) and "start p0" in open(log).read(), 20, "the first run's command")
            procs += [run(i) for i in range(1, 6)]
            wait_for(lambda: all(waiting(err) for _, err in procs[1:]), 30, "every other run to wait for the lease")
            open(go, "w").close()
            for p, err in procs:
                p.wait(timeout=60)
                err.seek(0)
                self.assertEqual(p.returncode, 0, err.read())
        finally:
            for p, err in procs:
                if p.poll() is None:
                    p.kill()
                    p.wait(timeout=10)
                err.close()
        with open(log) as f:
            lines = [l.split() for l in f.read().splitlines()]
        self.assertEqual(len(lines), 12)
        tokens = []
        for first, second in zip(lines[0::2], lines[1::2]):
            self.assertEqual(first[0], "start")
            self.assertEqual(second, ["end", first[1]], f"interleaved: {lines}")
            tokens.append(int(first[2]))
        self.assertEqual(sorted({l[1] for l in lines}), [f"p{i}" for i in range(6)])
        self.assertEqual(tokens, sorted(tokens))
        self.assertEqual(len(set(tokens)), 6, "every grant has a fencing token of its own")

    def test_exit_status_is_the_commands(self):
        self.assertEqual(cli("run", self.ref, "--", "sh", "-c", "exit 3")[0], 3)
        self.assertEqual(cli("run", self.ref, "--", "true")[0], 0)
        self.assertEqual(cli("run", self.ref, "--", "sh", "-c", "kill -KILL $$")[0], 128 + 9)
        status = json.loads(cli("status", "--json", self.ref)[1])
        self.assertFalse(status["held"], "released after each command")

    def test_environment_names_the_lease_the_identity_and_the_fencing_token(self):
        code, out, err = cli("run", "--identity", "env-check", self.ref, "--", "sh", "-c",
                             'echo "$LEASELOCKER_FENCING_TOKEN|$LEASELOCKER_FENCING_EPOCH|$LEASELOCKER_IDENTITY|$LEASELOCKER_LEASE"')
        self.assertEqual(code, 0, err)
        token, epoch, identity, lease = out.strip().split("|")
        lease_obj = Admin().get(self.lease)
        self.assertEqual(int(token), lease_obj["spec"]["leaseTransitions"])
        self.assertEqual(epoch, lease_obj["metadata"]["uid"])
        self.assertEqual(identity, "env-check")
        self.assertEqual(lease, self.ref)
        # The next grant has a higher token.
        code, out2, _ = cli("run", self.ref, "--", "sh", "-c", 'echo "$LEASELOCKER_FENCING_TOKEN"')
        self.assertGreater(int(out2), int(token))

    def test_json_events(self):
        code, _, err = cli("run", "--json", "--labels", "app=backup,tier=batch", self.ref, "--", "true")
        self.assertEqual(code, 0, err)
        evs = events(err)
        self.assertEqual([e["event"] for e in evs], ["acquired", "started", "exited", "released"])
        acquired, started, exited, released = evs
        self.assertEqual(acquired["lease"], self.ref)
        self.assertIsInstance(acquired["fencing_token"], int)
        self.assertIsInstance(acquired["epoch"], str)
        self.assertIsInstance(acquired["identity"], str)
        self.assertIsInstance(started["pid"], int)
        self.assertEqual(started["command"], ["true"])
        self.assertEqual(exited["status"], 0)
        self.assertEqual(released["held"], True)
        self.assertEqual(Admin().get(self.lease)["metadata"]["labels"], {"app": "backup", "tier": "batch"})

    def test_takeover_signals_the_command_at_once(self):
        p, out, _ = self.recorder("--kill-after", "5s")
        taken_at = Admin().overwrite_holder(self.lease, "intruder")  # before the write: the watch may show it before its answer is read
        p.wait(timeout=20)
        self.assertEqual(p.returncode, 75, p.stderr.read())
        name, _, signalled_at = wait_file(out).split()
        self.assertEqual(name, "SIGTERM")
        latency_ms = (int(signalled_at) - taken_at) / 1e6
        print(f"takeover -> SIGTERM in the command: {latency_ms:.1f} ms", file=sys.stderr)
        self.assertLess(latency_ms, 2000)  # a sanity bound; bench/ measures it
        self.assertEqual(Admin().get(self.lease)["spec"]["holderIdentity"], "intruder", "the new holder's lease is left alone")

    def test_unreachable_server_signals_the_command_before_the_lease_can_expire(self):
        proxy = TcpProxy()
        try:
            kubeconfig = proxy.kubeconfig(self.dir)
            p, out, _ = self.recorder("--lease-duration", "4s", "--renew-deadline", "2s", "--retry-period", "0.5s",
                                      kubeconfig=kubeconfig)
            time.sleep(1.2)  # renewals go through
            proxy.blackholed.set()
            p.wait(timeout=30)
            stderr = p.stderr.read()
            self.assertEqual(p.returncode, 75, stderr)
            name, wall, _ = wait_file(out).split()
            self.assertEqual(name, "SIGTERM")
            spec = Admin().get(self.lease)["spec"]
            renewed = calendar.timegm(time.strptime(spec["renewTime"][:19], "%Y-%m-%dT%H:%M:%S"))
            renewed += float("0." + spec["renewTime"][20:26])
            expires = renewed + spec["leaseDurationSeconds"]
            margin = expires - float(wall)
            print(f"SIGTERM {margin * 1000:.0f} ms before the last renewal could expire", file=sys.stderr)
            self.assertGreater(margin, 0, "the command must be stopped before anyone else may take the lease")
            self.assertIn('"event":"lost"', stderr)
        finally:
            proxy.close()

    def in_terminal(self, args, wanted, wait_exit=True):
        """leaselocker ARGS as a terminal's foreground job (a pty): its
        output until `wanted` shows, and its exit code (None: still running,
        then killed)."""
        env = dict(os.environ, KUBECONFIG=CLUSTER["kubeconfig"])
        pid, fd = pty.fork()
        if pid == 0:
            os.execve(BIN, [BIN, *args], env)
        out, code = b"", None
        try:
            os.write(fd, b"hello\n")
            deadline = time.monotonic() + 20
            while wanted not in out and time.monotonic() < deadline:
                if select.select([fd], [], [], 0.5)[0]:
                    try:
                        out += os.read(fd, 1024)
                    except OSError:
                        break
            while wait_exit and time.monotonic() < deadline:
                done, status = os.waitpid(pid, os.WNOHANG)
                if done:
                    code, pid = os.waitstatus_to_exitcode(status), 0
                    break
                time.sleep(0.02)
        finally:
            if pid:
                os.kill(pid, signal.SIGKILL)
                os.waitpid(pid, 0)
            os.close(fd)
        return out, code

    def test_with_foreground_the_command_can_read_the_terminal(self):
        out, code = self.in_terminal(["run", "--foreground", self.ref, "--", "sh", "-c", 'read line; echo "got $line"'], b"got hello")
        self.assertIn(b"got hello", out)
        self.assertEqual(code, 0)

    def test_without_foreground_a_command_that_wants_the_terminal_is_told_of(self):
        # In a group of its own, a read from the terminal stops the command
        # (SIGTTIN): leaselocker says so in one line instead of waiting mute.
        out, _ = self.in_terminal(["run", self.ref, "--", "sh", "-c", "read line"], b"--foreground", wait_exit=False)
        self.assertIn(b"stopped by SIGTTIN", out)

    def test_loss_kills_what_the_command_left_running(self):
        # The command's child ignores SIGTERM; the command itself dies of it.
        # SIGKILL at --kill-after reaches the child too, before leaselocker exits.
        pidfile, ready = os.path.join(self.dir, "pid"), os.path.join(self.dir, "ready")
        p = start("run", "--json", "--kill-after", "0.5s", self.ref, "--", "sh", "-c",
                  'sh -c "trap \\"\\" TERM; echo \\$\\$ > $1; exec sleep 30" sh "$1" & echo up > "$2"; wait', "sh", pidfile, ready)
        wait_file(ready)
        grandchild = int(wait_file(pidfile))
        Admin().overwrite_holder(self.lease, "intruder")
        p.wait(timeout=20)
        self.assertEqual(p.returncode, 75)
        wait_for(lambda: not alive(grandchild), 2, "the command's child to die of the SIGKILL")
        self.assertIn("killed", [e["event"] for e in events(p.stderr.read())])

    def state(self, pid):
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0]

    def test_ctrl_z_stops_the_command_too(self):
        # As a terminal's foreground job (a pty): Ctrl-Z stops leaselocker
        # and its command's group; SIGCONT (fg) continues both.
        ready, out = os.path.join(self.dir, "ready"), os.path.join(self.dir, "out")
        env = dict(os.environ, KUBECONFIG=CLUSTER["kubeconfig"])
        pid, fd = pty.fork()
        if pid == 0:
            os.execve(BIN, [BIN, "run", self.ref, "--", "sh", "-c", 'echo $$ > "$1"; sleep 4; echo done > "$2"', "sh", ready, out], env)
        try:
            command = int(wait_file(ready))
            os.write(fd, b"\x1a")  # Ctrl-Z
            wait_for(lambda: self.state(pid) == "T" and self.state(command) == "T", 10, "leaselocker and the command to stop")
            time.sleep(4.5)
            self.assertFalse(os.path.exists(out), "the command worked on while leaselocker was stopped")
            os.kill(pid, signal.SIGCONT)
            wait_file(out, 20)
            code, deadline = None, time.monotonic() + 20
            while code is None and time.monotonic() < deadline:
                if select.select([fd], [], [], 0.05)[0]:
                    try:
                        os.read(fd, 4096)  # keep the pty drained
                    except OSError:
                        pass
                done, status = os.waitpid(pid, os.WNOHANG)
                if done:
                    code, pid = os.waitstatus_to_exitcode(status), 0
            self.assertEqual(code, 0)
        finally:
            if pid:
                os.kill(pid, signal.SIGKILL)
                os.waitpid(pid, 0)
            os.close(fd)

    def test_sigtstp_without_job_control_is_ignored(self):
        # No terminal (a CronJob): nobody would continue a stopped job.
        ready, out = os.path.join(self.dir, "ready"), os.path.join(self.dir, "out")
        p = start("run", self.ref, "--", "sh", "-c", 'echo $$ > "$1"; sleep 1; echo done > "$2"', "sh", ready, out,
                  start_new_session=True)
        wait_file(ready)
        p.send_signal(signal.SIGTSTP)
        p.wait(timeout=20)
        self.assertEqual(p.returncode, 0)
        self.assertIn("SIGTSTP ignored", p.stderr.read())

    def test_a_stopped_command_still_gets_the_signals_passed_on(self):
        ready = os.path.join(self.dir, "ready")
        p = start("run", self.ref, "--", "sh", "-c", 'echo $$ > "$1"; exec sleep 30', "sh", ready)
        command = int(wait_file(ready))
        os.killpg(command, signal.SIGSTOP)
        wait_for(lambda: self.state(command) == "T", 10, "the command to stop")
        p.send_signal(signal.SIGTERM)
        p.wait(timeout=20)
        self.assertEqual(p.returncode, 128 + 15, p.stderr.read())

    def test_command_dies_with_leaselocker(self):
        p = start("run", "--json", self.ref, "--", "sleep", "30")
        started = json.loads(read_line(p.stderr, 20))
        while started["event"] != "started":
            started = json.loads(read_line(p.stderr, 20))
        p.kill()  # SIGKILL: no chance to pass anything on
        p.wait()
        wait_for(lambda: not alive(started["pid"]), 5, "the command to die with leaselocker")

    def test_command_gets_no_descriptor_of_ours(self):
        code, out, err = cli("run", self.ref, "--", "ls", "/proc/self/fd")
        self.assertEqual(code, 0, err)
        self.assertLessEqual(set(out.split()), {"0", "1", "2", "3"}, "3 is ls's own; the API server's sockets must not leak")

    def test_a_closed_stderr_does_not_kill_it(self):
        p = start("run", "--json", self.ref, "--", "sleep", "0.5")
        p.stderr.close()  # every event now meets EPIPE
        p.wait(timeout=20)
        self.assertEqual(p.returncode, 0)
        self.assertFalse(json.loads(cli("status", "--json", self.ref)[1])["held"], "released all the same")

    def test_signals_ignored_at_start_stay_ignored(self):
        # As under nohup: SIGHUP ignored for leaselocker and for the command,
        # which a SIGHUP to its process group does not end either.
        ready, out = os.path.join(self.dir, "ready"), os.path.join(self.dir, "out")
        p = start("run", self.ref, "--", "sh", "-c", 'echo $$ > "$1"; sleep 1; echo done > "$2"', "sh", ready, out,
                  prefix=["sh", "-c", 'trap "" HUP; exec "$@"', "sh"])
        command = int(wait_file(ready))
        p.send_signal(signal.SIGHUP)  # leaselocker itself (sh exec'ed it)
        os.killpg(command, signal.SIGHUP)
        p.wait(timeout=20)
        self.assertEqual(p.returncode, 0, p.stderr.read())
        self.assertEqual(wait_file(out).strip(), "done")

    def test_interrupt_during_the_first_look(self):
        # The server does not answer: the first read hangs; SIGINT ends it at
        # once (not after the request's 10 s), and so does --wait.
        proxy = TcpProxy()
        try:
            proxy.blackholed.set()
            kubeconfig = proxy.kubeconfig(self.dir)
            p = start("run", "--json", self.ref, "--", "true", env={"KUBECONFIG": kubeconfig})
            wait_for(lambda: proxy.accepted > 0, 20, "the first read to connect")  # signals are followed by then
            t0 = time.monotonic()
            p.send_signal(signal.SIGINT)
            p.wait(timeout=20)
            self.assertEqual(p.returncode, 128 + 2, p.stderr.read())
            self.assertLess(time.monotonic() - t0, 3)
            t0 = time.monotonic()
            code, _, err = cli("run", "--wait", "1s", "-E", "42", self.ref, "--", "true", env={"KUBECONFIG": kubeconfig})
            self.assertEqual(code, 42, err)
            self.assertLess(time.monotonic() - t0, 4)
        finally:
            proxy.close()

    def test_kill_after(self):
        # A command that ignores SIGTERM gets SIGKILL after --kill-after.
        ready = os.path.join(self.dir, "ready")
        p = start("run", "--json", "--kill-after", "0.5s", self.ref, "--", "sh", "-c",
                  f'trap "" TERM; echo up > {ready}; for i in $(seq 300); do sleep 0.1; done')
        wait_file(ready)
        Admin().overwrite_holder(self.lease, "intruder")
        p.wait(timeout=20)
        self.assertEqual(p.returncode, 75)
        evs = events(p.stderr.read())
        self.assertEqual([e["event"] for e in evs][-3:], ["lost", "killed", "exited"])
        self.assertEqual(evs[-3]["signal"], "SIGTERM")
        self.assertIn("taken over by intruder", evs[-3]["message"])
        self.assertEqual(evs[-1], {"event": "exited", "status": 128 + 9, "signal": "SIGKILL"})

    def test_wait_timeout_and_try_give_the_conflict_code(self):
        holder, _, _ = self.recorder()
        try:
            t0 = time.monotonic()
            code, _, err = cli("run", "--json", "--wait", "1s", "--conflict-exit-code", "42", self.ref, "--", "true")
            self.assertEqual(code, 42, err)
            self.assertEqual([e["event"] for e in events(err)], ["waiting", "conflict"])
            self.assertGreaterEqual(time.monotonic() - t0, 1.0)
            self.assertEqual(cli("run", "--try", self.ref, "--", "true")[0], 1)
            self.assertEqual(cli("run", "--try", "-E", "9", self.ref, "--", "true")[0], 9)
        finally:
            holder.send_signal(signal.SIGTERM)
            holder.wait(timeout=20)
        self.assertEqual(holder.returncode, 7, "SIGTERM was passed on; the command's status is leaselocker's")

    def test_interrupt_is_passed_on_and_the_lease_released(self):
        p, out, _ = self.recorder()
        p.send_signal(signal.SIGINT)
        p.wait(timeout=20)
        self.assertEqual(p.returncode, 7)
        self.assertEqual(wait_file(out).split()[0], "SIGINT")
        evs = events(p.stderr.read())
        self.assertIn({"event": "signal", "signal": "SIGINT"}, evs)
        self.assertEqual(evs[-1]["event"], "released")
        self.assertFalse(json.loads(cli("status", "--json", self.ref)[1])["held"])

    def test_interrupt_while_waiting(self):
        holder, _, _ = self.recorder()
        try:
            waiter = start("run", "--json", self.ref, "--", "true")
            first = read_line(waiter.stderr, 20)  # its signal handling is set up before its first look
            self.assertIn('"event":"waiting"', first)
            waiter.send_signal(signal.SIGINT)
            waiter.wait(timeout=20)
            self.assertEqual(waiter.returncode, 128 + 2)
            self.assertNotIn('"event":"started"', waiter.stderr.read())
        finally:
            holder.send_signal(signal.SIGTERM)
            holder.wait(timeout=20)


class cli_lease_verbs(unittest.TestCase):
    def setUp(self):
        self.lease = unique("cli-verbs")
        self.ref = f"{NS}/{self.lease}"

    def test_status(self):
        code, out, _ = cli("status", "--json", self.ref)
        self.assertEqual(code, 0)
        self.assertEqual(json.loads(out)["exists"], False)
        p = start("run", "--identity", "status-holder", "--lease-duration", "20s", self.ref, "--", "sleep", "30")
        try:
            wait_for(lambda: (json.loads(cli("status", "--json", self.ref)[1]).get("held")), 20, "the holder")
            st = json.loads(cli("status", "--json", self.ref)[1])
            self.assertEqual(st["holder"], "status-holder")
            self.assertEqual(st["lease_duration_seconds"], 20)
            self.assertGreater(st["valid_for_ms"], 15000)
            self.assertLessEqual(st["valid_for_ms"], 20000)
            self.assertIsNone(st["preferred_holder"])
            code, out, _ = cli("status", self.ref)
            self.assertIn("holder       status-holder", out)
            self.assertIn("(by this machine's clock)", out)
        finally:
            p.send_signal(signal.SIGTERM)
            p.wait(timeout=20)

    def test_wait_free_returns_on_release(self):
        p = start("run", self.ref, "--", "sleep", "2")
        wait_for(lambda: json.loads(cli("status", "--json", self.ref)[1]).get("held"), 20, "the holder")
        t0 = time.monotonic()
        code, _, err = cli("wait-free", "--json", self.ref)
        self.assertEqual(code, 0, err)
        self.assertEqual([e["event"] for e in events(err)], ["waiting", "free"])
        self.assertLess(time.monotonic() - t0, 10)
        p.wait(timeout=20)
        self.assertEqual(p.returncode, 0)

    def test_wait_free_returns_when_a_dead_holders_lease_runs_out(self):
        p = start("run", "--lease-duration", "3s", "--renew-deadline", "2s", "--retry-period", "0.5s", self.ref, "--", "sleep", "30")
        wait_for(lambda: json.loads(cli("status", "--json", self.ref)[1]).get("held"), 20, "the holder")
        p.kill()  # the holder dies without releasing (its command with it)
        p.wait()
        t0 = time.monotonic()
        self.assertEqual(cli("wait-free", "--timeout", "1s", "-E", "5", self.ref)[0], 5, "still held within a second")
        code, _, err = cli("wait-free", self.ref)
        self.assertEqual(code, 0, err)
        self.assertGreaterEqual(time.monotonic() - t0, 3.0, "free only once its lease ran out")

    def test_wait_free_never_calls_an_unreachable_lease_free(self):
        with tempfile.TemporaryDirectory() as d:
            path = kubeconfig_for(d, "https://127.0.0.1:1")
            code, _, err = cli("wait-free", "--timeout", "2s", self.ref, env={"KUBECONFIG": path})
            self.assertEqual(code, 69, err)
            self.assertIn("retrying", err)

    def test_coordinated_leases(self):
        # A Lease the API server's election controller assigns: wait-free
        # judges it like any other; run refuses it in one line.
        status, body = Admin().request("POST", f"/apis/coordination.k8s.io/v1/namespaces/{NS}/leases",
                                       {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease", "metadata": {"name": self.lease},
                                        "spec": {"strategy": "OldestEmulationVersion"}})
        self.assertEqual(status, 201, body)
        code, _, err = cli("wait-free", "--timeout", "2s", self.ref)
        self.assertEqual(code, 0, err)
        code, _, err = cli("run", "--wait", "2s", self.ref, "--", "true")
        self.assertEqual(code, 78, err)
        self.assertIn("coordinated leader election", err)

    def test_wait_free_polls_without_the_watch_right(self):
        p = start("run", "--lease-duration", "4s", "--renew-deadline", "3s", "--retry-period", "0.5s", self.ref, "--", "sleep", "3")
        wait_for(lambda: json.loads(cli("status", "--json", self.ref)[1]).get("held"), 20, "the holder")
        code, _, err = cli("wait-free", "--json", "--context", "lease-no-watch", self.ref)
        self.assertEqual(code, 0, err)
        self.assertIn("polling", err)
        p.wait(timeout=20)

    def test_release(self):
        p = start("run", "--json", "--identity", "victim", self.ref, "--", "sleep", "30")
        wait_for(lambda: json.loads(cli("status", "--json", self.ref)[1]).get("held"), 20, "the holder")
        code, _, err = cli("release", self.ref)
        self.assertEqual(code, 64)
        self.assertIn("--force", err)
        self.assertEqual(cli("release", "--identity", "someone-else", self.ref)[0], 1)
        transitions = Admin().get(self.lease)["spec"]["leaseTransitions"]
        code, out, err = cli("release", "--force", self.ref)
        self.assertEqual(code, 0, err)
        self.assertIn("was held by victim", out)
        spec = Admin().get(self.lease)["spec"]
        self.assertEqual(spec.get("holderIdentity", ""), "")
        self.assertEqual(spec["leaseTransitions"], transitions, "a release is no new term")
        p.wait(timeout=20)
        self.assertEqual(p.returncode, 75, "the holder saw it lost")
        code, out, _ = cli("release", "--force", self.ref)
        self.assertEqual(code, 0)
        self.assertIn("nothing to release", out)


class cli_errors(unittest.TestCase):
    """Bad input: one line on stderr, a documented exit code, never a trace."""

    def one_line(self, expected_code, args, contains, **kw):
        code, out, err = cli(*args, **kw)
        self.assertEqual(code, expected_code, err)
        lines = err.strip().splitlines()
        self.assertEqual(len(lines), 1, err)
        self.assertTrue(lines[0].startswith("leaselocker: "), err)
        self.assertIn(contains, lines[0])
        self.assertNotIn("terminate", err)

    def test_usage(self):
        ref = f"{NS}/x"
        self.one_line(64, ["run", "--bogus", ref, "--", "true"], "unknown flag --bogus")
        self.one_line(64, ["run", ref, "true"], "missing -- before the command")
        self.one_line(64, ["run", "Not_A/Name", "--", "true"], "not a valid")
        self.one_line(64, ["run", "--wait", "10", ref, "--", "true"], "missing unit")
        self.one_line(64, ["run", "--lease-duration", "5s", "--renew-deadline", "6s", ref, "--", "true"], "renew")
        self.one_line(64, ["frobnicate"], "unknown command")
        self.one_line(64, ["status"], "missing NAMESPACE/NAME")

    def test_json_errors(self):
        code, _, err = cli("run", "--json", "--bogus", f"{NS}/x", "--", "true")
        self.assertEqual(code, 64)
        self.assertEqual(events(err), [{"event": "error", "message": "unknown flag --bogus for run (see leaselocker run --help)",
                                        "exit_code": 64}])
        code, _, err = cli("status", "--json", f"{NS}/x", env={"KUBECONFIG": "/nonexistent/kubeconfig"})
        self.assertEqual(code, 78)
        self.assertEqual([e["exit_code"] for e in events(err)], [78])

    def test_configuration(self):
        self.one_line(78, ["status", f"{NS}/x"], "no existing file", env={"KUBECONFIG": "/nonexistent/kubeconfig"})
        self.one_line(78, ["status", "--context", "nope", f"{NS}/x"], "nope")

    def test_unreachable_server(self):
        with tempfile.TemporaryDirectory() as d:
            path = kubeconfig_for(d, "https://127.0.0.1:1")
            self.one_line(69, ["run", f"{NS}/x", "--", "true"], "connect", env={"KUBECONFIG": path})

    def test_forbidden_names_the_verb(self):
        self.one_line(77, ["run", "--context", "lease", "default/x", "--", "true"], 'cannot get resource "leases"')

    def test_command_not_found_or_not_executable(self):
        ref = f"{NS}/{unique('cli-err')}"
        self.one_line(127, ["run", ref, "--", "no-such-command-here"], "command not found")
        with tempfile.NamedTemporaryFile(suffix=".sh") as f:
            self.one_line(126, ["run", ref, "--", f.name], "cannot run")
        self.assertFalse(json.loads(cli("status", "--json", ref)[1])["held"], "released after a command that did not start")


class cli_manifests(unittest.TestCase):
    """example/kubernetes/cronjob.yaml: accepted by the API server, its Role
    is all `leaselocker run` needs, and the CronJob's command line runs."""

    MANIFEST = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "example", "kubernetes", "cronjob.yaml")
    PATHS = {"ServiceAccount": "/api/v1/namespaces/{ns}/serviceaccounts",
             "Role": "/apis/rbac.authorization.k8s.io/v1/namespaces/{ns}/roles",
             "RoleBinding": "/apis/rbac.authorization.k8s.io/v1/namespaces/{ns}/rolebindings",
             "CronJob": "/apis/batch/v1/namespaces/{ns}/cronjobs?dryRun=All"}  # no controller here to run it

    def test_cronjob_example(self):
        suffix = f"{os.getpid()}-{unique.counter}"
        unique.counter += 1
        with open(self.MANIFEST) as f:
            text = f.read()
        text = text.replace("nightly-backup", f"nightly-backup-{suffix}").replace("leaselocker-run", f"leaselocker-run-{suffix}")
        text = text.replace("batch-jobs", NS)
        admin = Admin()
        docs = [d for d in text.split("\n---\n") if "kind:" in d]
        kinds = [re.search(r"^kind: (\w+)", d, re.M).group(1) for d in docs]
        self.assertEqual(kinds, ["ServiceAccount", "Role", "RoleBinding", "CronJob"])
        for kind, doc in zip(kinds, docs):
            status, body = admin.request("POST", self.PATHS[kind].format(ns=NS), doc, content_type="application/yaml")
            self.assertEqual(status, 201, f"{kind}: {body}")
        # The service account's token, and a kubeconfig that uses it.
        status, body = admin.request("POST", f"/api/v1/namespaces/{NS}/serviceaccounts/nightly-backup-{suffix}/token",
                                     {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest",
                                      "spec": {"expirationSeconds": 600}})
        self.assertEqual(status, 201, body)
        with tempfile.TemporaryDirectory() as d:
            kubeconfig = os.path.join(d, "kubeconfig")
            with open(kubeconfig, "w") as f:
                json.dump({"apiVersion": "v1", "kind": "Config", "current-context": "sa",
                           "clusters": [{"name": "c", "cluster": {"server": CLUSTER["server"],
                                                                  "certificate-authority": os.path.join(CLUSTER["dir"], "pki", "ca.crt")}}],
                           "users": [{"name": "sa", "user": {"token": body["status"]["token"]}}],
                           "contexts": [{"name": "sa", "context": {"cluster": "c", "user": "sa", "namespace": NS}}]}, f)
            env = {"KUBECONFIG": kubeconfig}
            # The CronJob's own command line, the backup replaced by `true`.
            command = json.loads("[" + re.search(r"command: \[(.*?)\]", text, re.S).group(1) + "]")
            self.assertEqual(command[0], "leaselocker")
            command = [a.replace("$(POD_NAME)", "pod-1") for a in command[1:]]
            command[command.index("/usr/local/bin/backup.sh")] = "true"
            code, _, err = cli(*command, env=env)
            self.assertEqual(code, 0, err)
            lease = f"{NS}/nightly-backup-{suffix}"
            code, out, err = cli("status", "--json", lease, env=env)
            self.assertEqual(code, 0, err)
            self.assertEqual(json.loads(out)["exists"], True)
            code, _, err = cli("wait-free", "--json", lease, env=env)
            self.assertEqual(code, 0, err)
            self.assertNotIn("polling", err, "the Role grants watch")


class ConnectProxy:
    """A small HTTP CONNECT proxy that resolves names from its own table
    (so a test can give the API server a name only the proxy knows, and
    bypassing the proxy fails). Records every CONNECT target."""

    def __init__(self, names):
        self.names = names
        self.targets = []
        self.listener = socket.socket()
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(16)
        self.listener.settimeout(0.2)
        self.port = self.listener.getsockname()[1]
        self.closed = False
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while not self.closed:
            try:
                c, _ = self.listener.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            threading.Thread(target=self._serve, args=(c,), daemon=True).start()

    def _serve(self, c):
        c.settimeout(10)
        s = None
        try:
            head = b""
            while b"\r\n\r\n" not in head and len(head) < 65536:
                data = c.recv(4096)
                if not data:
                    return
                head += data
            method, target, _ = head.split(b"\r\n")[0].decode().split(" ", 2)
            self.targets.append(target)
            host, port = target.rsplit(":", 1)
            if method != "CONNECT" or host not in self.names:
                c.sendall(b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n\r\n")
                return
            s = socket.create_connection((self.names[host], int(port)), timeout=10)
            c.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
            pair = {c: s, s: c}
            while not self.closed:
                r, _, _ = select.select([c, s], [], [], 0.05)
                for src in r:
                    data = src.recv(65536)
                    if not data:
                        return
                    pair[src].sendall(data)
        except OSError:
            pass
        finally:
            c.close()
            if s:
                s.close()

    def close(self):
        self.closed = True
        self.listener.close()


class Tinyproxy:
    """Debian's tinyproxy on a free loopback port, optionally with Basic
    credentials; its log shows each CONNECT it served."""

    def __init__(self, folder, credentials=None):
        probe = socket.socket()
        probe.bind(("127.0.0.1", 0))
        self.port = probe.getsockname()[1]
        probe.close()
        self.log = os.path.join(folder, f"tinyproxy-{self.port}.log")
        conf = os.path.join(folder, f"tinyproxy-{self.port}.conf")
        with open(conf, "w") as f:
            f.write(f"Port {self.port}\nListen 127.0.0.1\nTimeout 30\nLogFile \"{self.log}\"\nLogLevel Connect\nMaxClients 20\n")
            if credentials:
                f.write(f"BasicAuth {credentials[0]} {credentials[1]}\n")
        self.proc = subprocess.Popen(["tinyproxy", "-d", "-c", conf], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

        def listening():
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return True
            except OSError:
                return False
        wait_for(listening, 10, "tinyproxy to listen")

    def connects(self):
        """The CONNECT requests it has served: ["127.0.0.1:6443", ...]."""
        if not os.path.exists(self.log):
            return []
        with open(self.log) as f:
            return re.findall(r"Request \(file descriptor \d+\): CONNECT (\S+) HTTP", f.read())

    def close(self):
        self.proc.terminate()
        self.proc.wait(timeout=10)


def write_kubeconfig(folder, cluster_fields, name="kubeconfig"):
    """The cluster's admin kubeconfig with the cluster entry's fields
    replaced by `cluster_fields` (certificate-authority made absolute)."""
    pki = os.path.join(CLUSTER["dir"], "pki")
    cluster = {"certificate-authority": os.path.join(pki, "ca.crt")}
    cluster.update(cluster_fields)
    path = os.path.join(folder, name)
    with open(path, "w") as f:
        json.dump({"apiVersion": "v1", "kind": "Config", "current-context": "admin",
                   "clusters": [{"name": "c", "cluster": cluster}],
                   "users": [{"name": "admin", "user": {"client-certificate": os.path.join(pki, "admin.crt"),
                                                        "client-key": os.path.join(pki, "admin.key")}}],
                   "contexts": [{"name": "admin", "context": {"cluster": "c", "user": "admin", "namespace": NS}}]}, f)
    return path


class cli_connection(unittest.TestCase):
    """Connection settings through the library (the tool's `status` makes
    one read): HTTP CONNECT proxies, tls-server-name, field checks."""

    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()
        self.dir = self.tmp.name
        self.ref = f"{NS}/{unique('conn')}"
        self.api_port = int(CLUSTER["server"].rsplit(":", 1)[1])

    def tearDown(self):
        self.tmp.cleanup()

    def status(self, kubeconfig, env=None):
        environment = {k: "" for k in ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy", "NO_PROXY", "no_proxy")}
        environment.update(env or {})
        return cli("status", "--kubeconfig", kubeconfig, self.ref, env=environment)

    def test_proxy_url_goes_through_tinyproxy(self):
        proxy = Tinyproxy(self.dir)
        try:
            kc = write_kubeconfig(self.dir, {"server": CLUSTER["server"], "proxy-url": f"http://127.0.0.1:{proxy.port}"})
            code, out, err = self.status(kc)
            self.assertEqual(code, 0, err)
            self.assertIn("no such Lease", out)
            self.assertEqual(proxy.connects(), [f"127.0.0.1:{self.api_port}"], "the read went through the proxy")
            # HTTPS_PROXY does not override proxy-url, NO_PROXY does not bypass it (client-go's ProxyURL).
            code, _, err = self.status(kc, {"HTTPS_PROXY": "http://127.0.0.1:9", "NO_PROXY": "*"})
            self.assertEqual(code, 0, err)
            self.assertEqual(len(proxy.connects()), 2)
        finally:
            proxy.close()

    def test_proxy_credentials_and_a_refusal(self):
        proxy = Tinyproxy(self.dir, ("alice", "s3cret-CANARY"))
        try:
            good = write_kubeconfig(self.dir, {"server": CLUSTER["server"],
                                               "proxy-url": f"http://alice:s3cret-CANARY@127.0.0.1:{proxy.port}"}, "good")
            code, _, err = self.status(good)
            self.assertEqual(code, 0, err)
            self.assertEqual(len(proxy.connects()), 1)
            bad = write_kubeconfig(self.dir, {"server": CLUSTER["server"],
                                              "proxy-url": f"http://alice:wrong-CANARY@127.0.0.1:{proxy.port}"}, "bad")
            code, _, err = self.status(bad)
            self.assertEqual(code, 78, err)  # configuration: retrying cannot help
            self.assertEqual(len(err.strip().splitlines()), 1, err)
            self.assertIn(f"proxy http://127.0.0.1:{proxy.port}", err)
            self.assertIn("refused", err)
            self.assertNotIn("CANARY", err, "a proxy password in an error")
        finally:
            proxy.close()

    def test_a_proxy_that_is_down_fails_the_request(self):
        # Bypassing the proxy would succeed: this fails only if it is used.
        closed = socket.socket()
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
        closed.close()
        kc = write_kubeconfig(self.dir, {"server": CLUSTER["server"], "proxy-url": f"http://u:pw-CANARY@127.0.0.1:{port}"})
        code, _, err = self.status(kc)
        self.assertEqual(code, 69, err)
        self.assertIn(f"connecting to proxy http://127.0.0.1:{port}", err)
        self.assertNotIn("CANARY", err)

    def test_https_proxy_and_no_proxy_from_the_environment(self):
        # The API server under a name only the proxy can resolve; its
        # certificate is for "localhost", hence tls-server-name.
        proxy = ConnectProxy({"kube.leaselocker.test": "127.0.0.1"})
        try:
            kc = write_kubeconfig(self.dir, {"server": f"https://kube.leaselocker.test:{self.api_port}",
                                             "tls-server-name": "localhost"})
            env = {"HTTPS_PROXY": f"127.0.0.1:{proxy.port}"}  # no scheme: http://, as Go reads it
            code, _, err = self.status(kc, env)
            self.assertEqual(code, 0, err)
            self.assertEqual(proxy.targets, [f"kube.leaselocker.test:{self.api_port}"])
            # NO_PROXY by domain suffix, by the name itself, by "*": not proxied, so the name does not resolve.
            for no_proxy in (".leaselocker.test", "kube.leaselocker.test", "leaselocker.test", "*"):
                code, _, err = self.status(kc, dict(env, NO_PROXY=no_proxy))
                self.assertEqual(code, 69, f"NO_PROXY={no_proxy}: {err}")
                self.assertIn('resolving "kube.leaselocker.test"', err)
            # lower-case forms, and a NO_PROXY entry that does not match
            code, _, err = self.status(kc, {"https_proxy": f"http://127.0.0.1:{proxy.port}", "no_proxy": "other.test,10.0.0.0/8"})
            self.assertEqual(code, 0, err)
            self.assertEqual(len(proxy.targets), 2)
            # Loopback is never proxied (Go): the cluster's own kubeconfig works with a dead HTTPS_PROXY.
            code, _, err = cli("status", self.ref, env={"HTTPS_PROXY": "http://127.0.0.1:9"})
            self.assertEqual(code, 0, err)
        finally:
            proxy.close()

    def test_tls_server_name_is_what_the_certificate_is_checked_against(self):
        proxy = ConnectProxy({"kube.leaselocker.test": "127.0.0.1"})
        try:
            env = {"HTTPS_PROXY": f"http://127.0.0.1:{proxy.port}"}
            without = write_kubeconfig(self.dir, {"server": f"https://kube.leaselocker.test:{self.api_port}"}, "without")
            code, _, err = self.status(without, env)
            self.assertEqual(code, 69, err)
            self.assertIn("certificate verify failed", err)
            wrong = write_kubeconfig(self.dir, {"server": CLUSTER["server"], "tls-server-name": "not-the-server.test"}, "wrong")
            code, _, err = self.status(wrong)
            self.assertEqual(code, 69, err)
            self.assertIn("certificate verify failed", err)
            right = write_kubeconfig(self.dir, {"server": CLUSTER["server"], "tls-server-name": "kubernetes"}, "right")
            code, _, err = self.status(right)
            self.assertEqual(code, 0, err)
        finally:
            proxy.close()

    def test_kubeconfig_fields_it_cannot_honour_are_named(self):
        cases = [({"server": CLUSTER["server"], "proxy-url": "socks5://127.0.0.1:1080"}, "clusters[c].proxy-url"),
                 ({"server": CLUSTER["server"], "proxy_url": "http://127.0.0.1:3128"}, "clusters[c].proxy_url: not supported"),
                 ({"server": CLUSTER["server"], "disable-compression": "maybe"}, "disable-compression: not a boolean")]
        for fields, expected in cases:
            kc = write_kubeconfig(self.dir, fields)
            code, _, err = self.status(kc)
            self.assertEqual(code, 78, err)
            self.assertIn(expected, err)
            self.assertEqual(len(err.strip().splitlines()), 1, err)
        kc = write_kubeconfig(self.dir, {"server": CLUSTER["server"], "disable-compression": True})
        self.assertEqual(self.status(kc)[0], 0)


class cli_fence(unittest.TestCase):
    """leaselocker fence: the API server refuses a stale holder's writes."""

    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()
        self.dir = self.tmp.name
        self.lease = unique("fence")
        self.ref = f"{NS}/{self.lease}"

    def tearDown(self):
        cli("fence", "remove", self.ref)
        self.tmp.cleanup()

    def write(self, stamp, dry_run=True):
        """Creates a ConfigMap the fence guards, as the administrator, with
        `stamp` (holder, token, epoch) as its annotations: the HTTP status
        and the server's message."""
        annotations = {}
        if stamp:
            annotations = {"leaselocker.io/holder": stamp[0], "leaselocker.io/token": stamp[1], "leaselocker.io/epoch": stamp[2]}
        body = {"apiVersion": "v1", "kind": "ConfigMap",
                "metadata": {"name": unique("cm"), "labels": {"fence": self.lease}, "annotations": annotations}}
        status, obj = Admin().request("POST", f"/api/v1/namespaces/{NS}/configmaps" + ("?dryRun=All" if dry_run else ""), body)
        return status, (obj or {}).get("message", "")

    def test_install_status_enforce_remove(self):
        code, out, err = cli("fence", "install", self.ref, "--resource", "configmaps", "--selector", f"fence={self.lease}")
        self.assertEqual(code, 0, err)
        self.assertIn("installed", out)
        code, out, _ = cli("fence", "status", "--json", self.ref)
        self.assertEqual(code, 0)
        self.assertEqual(json.loads(out)["installed"], True)
        self.assertEqual(json.loads(out)["anchor"], True)
        wait_for(lambda: self.write(None)[0] == 422, 10, "the fence in force (an unstamped write refused)")

        # A command run under the lease stamps its write from its environment.
        stamp_file, go = os.path.join(self.dir, "stamp"), os.path.join(self.dir, "go")
        script = ('echo "$LEASELOCKER_IDENTITY $LEASELOCKER_FENCING_TOKEN $LEASELOCKER_FENCING_EPOCH" > "$1"; '
                  'n=0; while [ ! -e "$2" ] && [ $n -lt 3000 ]; do sleep 0.01; n=$((n+1)); done')
        p = start("run", "--context", "lease", "--identity", "fenced-run", self.ref, "--", "sh", "-c", script, "sh", stamp_file, go)
        try:
            stamp = wait_file(stamp_file).split()
            self.assertEqual(stamp[0], "fenced-run")
            wait_for(lambda: self.write(stamp)[0] == 201, 10, "the holder's stamp admitted")
            status, message = self.write([stamp[0], str(int(stamp[1]) - 1), stamp[2]])
            self.assertEqual(status, 422)
            self.assertIn(f"fenced out by lease {self.ref}", message)
            open(go, "w").close()
            p.wait(timeout=30)
            self.assertEqual(p.returncode, 0, p.stderr.read())
        finally:
            if p.poll() is None:
                p.kill()
                p.wait(timeout=10)
        # Released: the Lease names nobody, so the old stamp is refused.
        wait_for(lambda: self.write(stamp)[0] == 422, 10, "the released holder's stamp refused")

        code, out, err = cli("fence", "remove", "--json", self.ref)
        self.assertEqual(code, 0, err)
        self.assertEqual([e["event"] for e in events(err)], ["fence_removed"])
        wait_for(lambda: self.write(None)[0] == 201, 10, "writes judged as before once the fence is removed")
        code, out, _ = cli("fence", "status", "--json", self.ref)
        self.assertEqual(code, 1)
        self.assertEqual(json.loads(out)["installed"], False)
        self.assertEqual(json.loads(out)["anchor"], True)  # left in place (kubernetes/kubernetes#130887)
        code, out, _ = cli("fence", "status", self.ref)
        self.assertEqual(code, 1)
        self.assertIn("not installed", out)

    def test_the_least_privileged_user_cannot_install_it(self):
        code, _, err = cli("fence", "install", "--context", "lease", self.ref, "--resource", "configmaps")
        self.assertEqual(code, 77, err)
        self.assertEqual(len(err.strip().splitlines()), 1, err)
        self.assertIn("validatingadmissionpolicies", err)

    def test_usage(self):
        for args, expected in [(["fence"], "say install, remove or status"),
                               (["fence", "install", self.ref], "--resource configmaps"),
                               (["fence", "install", self.ref, "-r", "a/b"], "is not RESOURCE"),
                               (["fence", "remove", self.ref, "--permissive"], "unknown flag --permissive")]:
            code, _, err = cli(*args)
            self.assertEqual(code, 64, err)
            self.assertIn(expected, err)
        code, out, _ = cli("fence", "install", self.ref, "-r", "deployments.apps", "--print")
        anchor_policy, anchor_binding, policy, binding = (json.loads(line) for line in out.splitlines())
        self.assertEqual(anchor_policy["metadata"]["name"], "leaselocker-fence-anchor")
        self.assertEqual(anchor_policy["spec"]["paramKind"]["kind"], "Lease")
        self.assertEqual(anchor_binding["spec"]["policyName"], "leaselocker-fence-anchor")
        self.assertEqual(policy["spec"]["matchConstraints"]["resourceRules"][0]["apiGroups"], ["apps"])
        self.assertEqual(binding["spec"]["paramRef"], {"name": self.lease, "namespace": NS, "parameterNotFoundAction": "Deny"})


if __name__ == "__main__":
    BIN = sys.argv.pop(1)
    cluster_dir = os.environ["LEASELOCKER_CLUSTER_DIR"]
    with open(os.path.join(cluster_dir, "state.json")) as f:
        CLUSTER = json.load(f)
    CLUSTER["dir"] = cluster_dir
    NS = CLUSTER["namespace"]
    unittest.main(verbosity=2, warnings="ignore")
