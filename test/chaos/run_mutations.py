#!/usr/bin/env python3
"""Mutation runs of the chaos suite: the contenders built against a library
broken on purpose must make the checker fail, or the suite proves little.

    run_mutations.py --out DIR --source ROOT --cluster-bin DIR --tools-bin DIR \\
                     --contender EXE --checker EXE [--only NAME ...]

Each mutation is a patch in test/chaos/mutations/ applied to a copy of the
sources (the library itself is never built with one), or a way to run
(skew_beyond_rho: clocks skewed past the library's bound rho). For each, the
contender is built from the patched copy, the "mutation" profile of
run_chaos.py runs (the strikes at the holder, often), and the checker's
verdict is kept. A mutation counts as caught only by a safety violation
(overlapping claims, a token or fencing violation), not by a minimum or
liveness bound.

A control run of the unmutated library comes first: it must pass, or a
"caught" below says nothing. Timing mutations count as caught only by
overlapping claims (the property they break).

Writes DIR/mutations.json and DIR/mutations.md (the table the README
quotes). Exit status: 0 if the control passed, every timing mutation
showed overlapping claims, and none expected to be unobservable was caught
(that would mean the explanation is wrong).
"""
import argparse
import json
import os
import shutil
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))

# name: (what it breaks, expected) where expected is "overlap" (a timing
# fault: must show as overlapping claims), "any" (any safety violation),
# "clean" (the control run of the
# unmutated library: must pass) or None: the fault cannot be seen by a
# contender that keeps the library's contract (it acts only while
# now < valid_until()); UNOBSERVABLE says why.
MUTATIONS = {
    "control": ("nothing (the library as it is)", "clean"),
    "valid_plus_800ms": ("the holder trusts its lease 0.8 s longer than it may", "overlap"),
    "validity_from_response": ("validity counted from a write's answer instead of its sending", "overlap"),
    "no_rho": ("no clock-rate margin: trusts the whole lease_duration", "overlap"),
    "skew_beyond_rho": ("clocks skewed by 5 rho, past the bound the library is configured with", "overlap"),
    "late_loss": ("the loss is signalled a second after the renew deadline", None),
    "renew_after_loss": ("after a loss the locker keeps its election state (lock() returns at once)", None),
}
UNOBSERVABLE = {
    "late_loss": "valid_until() still ends on time, and the contender, like any user that checks it, stops acting then; "
                 "the loss signal is only later, and a renewal sent that late is a compare-and-swap the API server "
                 "refuses once somebody else wrote. Loss-first is pinned by integration tests instead "
                 "(locker_it: cut_off_from_the_server_..., a_takeover_is_reported_as_loss_first).",
    "renew_after_loss": "after a loss it still reads as held() and lock() returns at once, but valid_until() moves only with renewals "
                        "the server accepted: the mutant acts at most until the lease it last renewed runs out, which "
                        "no waiter takes before (they count a whole lease_duration from the last version they saw); a "
                        "loss by a takeover comes after that point anyway; and every write the mutant makes is a "
                        "compare-and-swap on the version it saw, which the API server refuses once another holder wrote. "
                        "What would be observable, a validity that outlives the lease, is what the timing mutations "
                        "break, and they are caught.",
}
SAFETY = ("overlapping_claims", "token_order_violations", "unrecorded_grants", "accepted_stale_writes", "wrongly_refused_writes",
          "server_order_violations")


def log(msg):
    print(f"[{time.strftime('%H:%M:%S')}] mutations: {msg}", flush=True)


def build_mutant(name, source, out):
    """Builds the contender from a patched copy of the sources."""
    tree = os.path.join(out, "src-" + name)
    shutil.rmtree(tree, ignore_errors=True)
    os.makedirs(tree)
    for part in ("CMakeLists.txt", "include", "src", "test"):
        src = os.path.join(source, part)
        (shutil.copytree if os.path.isdir(src) else shutil.copy)(src, os.path.join(tree, part))
    with open(os.path.join(HERE, "mutations", name + ".patch")) as patch:
        subprocess.run(["patch", "-p1", "--forward", "--quiet"], cwd=tree, stdin=patch, check=True)
    build = os.path.join(out, "build-" + name)
    subprocess.run(["cmake", "-S", tree, "-B", build, "-G", "Ninja", "-DCMAKE_BUILD_TYPE=RelWithDebInfo",
                    "-DLEASELOCKER_BUILD_EXAMPLES=OFF", "-DLEASELOCKER_BUILD_BENCH=OFF"], check=True, capture_output=True)
    log(f"{name}: building the contender against the patched library (a few minutes)")
    subprocess.run(["cmake", "--build", build, "--target", "leaselocker_chaos_contender"], check=True, capture_output=True)
    return os.path.join(build, "test", "leaselocker_chaos_contender")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True)
    ap.add_argument("--source", required=True)
    ap.add_argument("--cluster-bin", required=True)
    ap.add_argument("--tools-bin", required=True)
    ap.add_argument("--contender", required=True, help="the unmutated contender (for mutations of how it runs)")
    ap.add_argument("--checker", required=True)
    ap.add_argument("--only", nargs="*")
    ap.add_argument("--seed", type=int, default=20261204)
    args = ap.parse_args()
    out = os.path.abspath(args.out)
    os.makedirs(out, exist_ok=True)
    names = args.only or list(MUTATIONS)
    results = []
    ok = True
    for name in names:
        what, expected = MUTATIONS[name]
        started = time.monotonic()
        patch = os.path.join(HERE, "mutations", name + ".patch")
        contender = build_mutant(name, args.source, out) if os.path.exists(patch) else args.contender
        run_dir = os.path.join(out, "run-" + name)
        argv = [sys.executable, os.path.join(HERE, "run_chaos.py"), "--profile", "mutation", "--out", run_dir,
                "--cluster-bin", args.cluster_bin, "--tools-bin", args.tools_bin, "--contender", contender,
                "--checker", args.checker, "--seed", str(args.seed)]
        if name == "skew_beyond_rho":
            argv.append("--skew-beyond-rho")
        log(f"{name}: {what}; chaos run ({run_dir})")
        with open(os.path.join(out, name + ".log"), "w") as f:
            code = subprocess.run(argv, stdout=f, stderr=subprocess.STDOUT).returncode
        try:
            report = json.load(open(os.path.join(run_dir, "history", "report.json")))
        except (OSError, ValueError) as e:
            log(f"{name}: FAIL: no readable report ({e}); see {name}.log")
            ok = False
            results.append(dict(mutation=name, breaks=what, verdict="no report", violations={}, run_exit=code, grants=0,
                                effective_stops=0, takeover_margin_min_ms=float("nan"), first_violation="",
                                unobservable=UNOBSERVABLE.get(name, ""), seconds=round(time.monotonic() - started)))
            continue
        safety = {k: report[k] for k in SAFETY if report[k]}
        if expected == "clean":
            verdict = "passed" if code == 0 and not safety else "failed"
            ok = ok and verdict == "passed"
        elif expected == "overlap":
            verdict = "caught" if report["overlapping_claims"] else ("caught otherwise" if safety else "survived")
            ok = ok and verdict == "caught"
        elif expected == "any":
            verdict = "caught" if safety else "survived"
            ok = ok and verdict == "caught"
        else:
            verdict = "caught" if safety else "survived"
            ok = ok and not safety  # else the explanation of why it cannot be seen is wrong
        results.append(dict(mutation=name, breaks=what, expected=expected or "unobservable", verdict=verdict, violations=safety,
                            run_exit=code, grants=report["grants"], effective_stops=report["effective_stops"],
                            takeover_margin_min_ms=report["takeover_margin"]["min_ms"],
                            first_violation=next((v for v in report["violations"] if not v.startswith("failed:")), ""),
                            unobservable=UNOBSERVABLE.get(name, ""), seconds=round(time.monotonic() - started)))
        log(f"{name}: {verdict} {safety or ''} (exit {code}, {results[-1]['seconds']} s)")
    with open(os.path.join(out, "mutations.json"), "w") as f:
        json.dump(results, f, indent=1)
    with open(os.path.join(out, "mutations.md"), "w") as f:
        f.write("| mutation | breaks | expected | verdict | violations | grants | effective stops | smallest takeover margin |\n"
                "|---|---|---|---|---|---|---|---|\n")
        for r in results:
            v = ", ".join(f"{k} {n}" for k, n in r["violations"].items()) or "—"
            f.write(f"| `{r['mutation']}` | {r['breaks']} | {r.get('expected', '')} | {r['verdict']} | {v} | {r['grants']} | "
                    f"{r['effective_stops']} | {r['takeover_margin_min_ms']:.1f} ms |\n")
        for r in results:
            if r["unobservable"]:
                f.write(f"\n`{r['mutation']}` is not observable by the chaos checker: {r['unobservable']}\n")
    log("all as expected" if ok else "FAIL: a mutation did not end as expected")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
