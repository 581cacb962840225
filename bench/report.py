#!/usr/bin/env python3
"""Turns bench/measure.sh's raw.jsonl into results.json and a markdown table
with, for each Go peer (client-go's leader election, the Go reference
package), its figure and the ratio of its figure to ours."""
import json
import sys


def pct(samples, p):
    s = sorted(samples)
    if not s:
        return None
    k = min(len(s) - 1, max(0, round(p / 100 * (len(s) - 1))))
    return s[k]


def main(raw_path, json_path, md_path):
    rows = [json.loads(line) for line in open(raw_path) if line.strip()]
    results = {}
    for r in rows:
        key = (r["what"], r["impl"])
        if r["what"] == "scale":
            results[key] = {k: r[k] for k in ("leases", "seconds", "retry_s", "renewals", "cpu_us_per_renew", "bytes_per_lease",
                                              "heap_bytes_per_lease", "missed_deadlines")}
        elif r["what"] == "capacity":
            key = ("capacity-" + r["transport"], r["impl"])
            results[key] = {k: r[k] for k in ("leases", "seconds", "transport", "connections", "renewals", "client_cpu_s",
                                              "renewals_per_cpu_second", "cpu_us_per_renew", "missed_deadlines")}
        elif "samples_ms" in r:
            s = r["samples_ms"]
            results[key] = {"n": len(s), "p50_ms": pct(s, 50), "p99_ms": pct(s, 99), "max_ms": max(s) if s else None,
                            "violations": r.get("violations", 0)}
        else:
            per_min = 60.0 / r["window_s"]
            holder = r["holder_requests"] * per_min
            waiter = (r["with_waiters_requests"] * per_min - holder) / r["waiters"]
            results[key] = {"per_held_lease_per_min": round(holder, 1), "per_waiter_per_min": round(max(waiter, 0.0), 1)}
    # clientgo-bench's handoff is client-go's elector handing over (leader
    # cancelled -> the other's OnStartedLeading): the peer of our
    # leader_elector's handover too. The Go reference has no elector.
    if ("handoff", "client-go") in results:
        results[("elector-handover", "client-go")] = results[("handoff", "client-go")]
    out = [{"what": w, "impl": i, **v} for (w, i), v in sorted(results.items())]
    json.dump({"timings": {"lease_duration_s": 3, "renew_deadline_s": 2, "retry_period_s": 0.5}, "results": out},
              open(json_path, "w"), indent=2)

    def cell(what, impl, field):
        v = results.get((what, impl), {}).get(field)
        return "n/a" if v is None else (f"{v:.1f}" if isinstance(v, float) else str(v))

    peers = ["client-go", "go-reference"]

    def ratio(what, field, peer, unit="ms"):
        ours = results.get((what, "leaselocker"), {}).get(field)
        peer = results.get((what, peer), {}).get(field)
        if ours is None or peer is None:
            return "n/a"
        if ours <= 0 or peer <= 0:  # e.g. failover minus lease duration: a difference says more
            return f"{peer - ours:+.1f} {unit}"
        return f"{peer / ours:.1f}×"

    lines = ["| measure | leaselocker | client-go | Go reference | client-go / ours | Go reference / ours |", "|---|---|---|---|---|---|"]
    for what, label in (("handoff", "graceful handoff"), ("handoff-fair", "graceful handoff, fair turns on (ours only)"),
                        ("elector-handover", "leadership handover (leader's run cancelled → next on_started_leading; "
                                             "client-go: its handoff above)"),
                        ("failover", "crash failover minus lease duration"),
                        ("acquire", "uncontended acquire"), ("renew", "renew")):
        for field in ("p50_ms", "p99_ms"):
            lines.append(f"| {label} {field[:-3]} (ms) | {cell(what, 'leaselocker', field)} | "
                         + " | ".join(cell(what, p, field) for p in peers) + " | " + " | ".join(ratio(what, field, p) for p in peers) + " |")
    for field, label in (("per_held_lease_per_min", "requests/min per held lease"),
                         ("per_waiter_per_min", "requests/min per waiting candidate")):
        lines.append(f"| {label} | {cell('requests', 'leaselocker', field)} | " + " | ".join(cell('requests', p, field) for p in peers)
                     + " | " + " | ".join(ratio('requests', field, p, '/min') for p in peers) + " |")
    for what, label in (("cli-start", "CLI: `leaselocker run` started → command running, free lease"),
                        ("cli-loss-signal", "CLI: takeover write sent → SIGTERM in the command")):
        for field in ("p50_ms", "p99_ms"):
            lines.append(f"| {label} {field[:-3]} (ms) | {cell(what, 'leaselocker', field)} | n/a | n/a | n/a | n/a |")
    sc = results.get(("scale", "leaselocker"))
    if sc:
        lines.append("")
        lines.append(f"Scale (leaselocker only): {sc['leases']} leases held and renewed by one process on one thread for "
                     f"{sc['seconds']} s (renew every {sc['retry_s']} s, lease {6 * sc['retry_s']} s, renew deadline "
                     f"{4 * sc['retry_s']} s): {sc['renewals']} renewals, {sc['cpu_us_per_renew']} µs client CPU per renewal, "
                     f"{sc['bytes_per_lease']} bytes resident and {sc['heap_bytes_per_lease']} bytes of heap per lease, "
                     f"{sc['missed_deadlines']} missed renew deadlines.")
    for transport in ("http", "https"):
        cap = results.get(("capacity-" + transport, "leaselocker"))
        if cap:
            lines.append("")
            lines.append(f"Client-side capacity over {transport} (scripted in-process server on its own thread, so the API "
                         f"server is not the limit): {cap['leases']} leases renewing flat out over {cap['connections']} "
                         f"connections for {cap['seconds']} s: {cap['renewals_per_cpu_second']:.0f} renewals per client CPU "
                         f"second ({cap['cpu_us_per_renew']} µs each), {cap['missed_deadlines']} missed renew deadlines.")
    n = results.get(("handoff", "leaselocker"), {}).get("n", 0)
    v = results.get(("handoff", "leaselocker"), {}).get("violations", 0)
    lines.append("")
    lines.append(f"Timings for all: lease 3 s, renew deadline 2 s, retry period 0.5 s (the Go reference's own defaults are 60 s / "
                 f"10 s / 2 s; it keeps its UseObservedTime false, so a waiter judges expiry by the holder's renewTime). "
                 f"{n} handoffs each; self-check (every handoff a new grant, no double holder): {v} violations. "
                 "A Go reference renewal is a GET and a PUT (timed from the GET); its uncontended acquire includes its "
                 "constructor's GET. Without the Go reference's source its column is n/a. The CLI rows have no peer: "
                 "neither Go package has a command-line tool, and klock (berquerant/k8s-lease) is not served by the "
                 "module proxy here.")
    open(md_path, "w").write("\n".join(lines) + "\n")


if __name__ == "__main__":
    main(*sys.argv[1:4])
