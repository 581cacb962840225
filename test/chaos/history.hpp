// The chaos suite's history checker. Every process appends events as JSON
// lines stamped with CLOCK_MONOTONIC (one clock for all processes on the
// host); a recorder appends every version of the Lease it watched; the
// orchestrator appends the nemeses it injected. The checker reads them all.
//
// Safety (each a violation):
//   server order   leaseTransitions never decreases; +1 on every new grant
//                  (holder changes to a non-empty identity), unchanged on
//                  renewals and releases (only monotone across a gap)
//   claims         a grant's claim runs from its acquire_ok to the later of
//                  its last check and the last valid_until the library
//                  reported for it, cut at its `unlocking`: what the library
//                  promised, so a killed or stopped holder's claim lasts to
//                  its promise. Claims of different grants never overlap.
//                  Mixed fleets: a Go peer (impl other than "leaselocker")
//                  promises nothing, so its claim runs to its last check
//                  (its own "still leading" signal). An overlap of an
//                  earlier claim A with a grant G whose write was sent
//                  (decided) at d is excused, and counted per
//                  implementation as that implementation's design, when:
//                  another process wrote A's lease free under A's token
//                  before d (client-go releasing a lease it no longer
//                  held); or A is a Go peer's and d is at or after the end
//                  of the lease A last wrote (lease_end: the later of its
//                  renewTime and its send time, plus leaseDurationSeconds
//                  ·(1−ρ)/(1+ρ), ρ = 0.01, the clock-rate bound granted to
//                  every implementation); or A is a Go peer's and G too
//                  (G took over early). Any other overlap is a violation:
//                  ours (A a C++ claim) must hold against every successor.
//                  Stale writes accepted from an excused Go claim are
//                  counted with the implementation at fault, not as
//                  violations. And whatever the claims: a grant that took
//                  the lease over from a Go peer's grant (the token before
//                  it, neither released nor written free before) must have
//                  been decided at or after that grant's lease end; if not,
//                  a C++ successor is a violation, a Go one its design.
//   tokens         within one epoch, no two grants share a sequence number,
//                  each process's grants rise, and every grant was seen by
//                  the recorder (unless it had a gap then), whose order the
//                  server-order check judges
//   fencing        an accepted write carries a token not below the highest
//                  granted before the write's time; a refused write is only
//                  right if a higher token was granted before it.
//                  The store a ConfigMap guarded by the admission fence
//                  (writes with `sent`; the recorder logs every version of
//                  it): judged in the server's order, by resourceVersion
//                  (one etcd: one order for the Lease and the store). A
//                  store version whose stamp is not the Lease's holder and
//                  token as of that version is a stale write admitted;
//                  within the fence's window (sent at most
//                  `fence_window_ms` after the Lease version that ended the
//                  stamp's turn was known: a successor's acquire_ok or
//                  release, or the recorder seeing it) it is the API
//                  server's cache lag, counted and measured; sent before
//                  that, it was held up on its way (a network fault that
//                  held the takeover too, or an etcd restart holding an
//                  admitted write in the API server), counted apart; sent
//                  later, a violation. A refused write with no higher token granted
//                  is the cache not having the writer's own grant yet
//                  ("early refusal"): counted and measured, not a
//                  violation.
//   electors       (processes whose start says role "elector") a term's
//                  `stopped` (its on_stopped_leading) comes before the next
//                  grant's acquire_ok (the next on_started_leading), unless
//                  the leader was killed or stopped between the two (it
//                  cannot run then; its claim still ends at its promise)
// Minimums and liveness (each a failure): >= 0.9 of the grants checked;
// every grant with a valid_until; some accepted writes and server
// versions; no more unparseable lines than kills; no contender silent for
// `silence_leases` leases (stopped time aside; to the end of the history
// unless it exited or was killed); the recorder watching to the end; no
// permanent acquire_failed; holder killed → next acquire p99 within lease
// + `failover_margin`; a history with no grants fails.
// Measured: expiry takeovers (a grant whose predecessor did not unlock
// first): successor's acquire − predecessor's valid_until, which must be
// positive; release → next acquire; holder killed → next acquire; stops
// that worked (a takeover during the stop, then a loss or a refused write
// by the stopped process).
//
// Event lines ({"t": ns, "p": process, "e": kind, ...}):
//   contender  start {identity, clock_rate, impl?, role?} | stopped {seq} (an elector's on_stopped_leading) | acquire_ok {seq, epoch, valid_until, lease_end?, granted_at?} |
//              check {seq, valid_until, lease_end?} | promise {seq, valid_until} | poll |
//              freed {seq, epoch} (a Go peer wrote the lease free with this leaseTransitions) |
//              lease {seq, epoch, lease_end} (a Go peer's write as holder was answered) |
//              write {seq, epoch, accepted, sent?} (sent: a write to the guarded ConfigMap, when it was sent) |
//              write_failed {seq, epoch, sent, why} (its outcome unknown) | unlocking {seq} |
//              release {seq, result: released | not_held | stepped_down (an elector's: taken from the recorder) | error} |
//              lost {seq, why} |
//              acquire_failed {why, permanent} | holding | stopping | exit
//   recorder   version {holder, seq, rv} | gap |
//              store_version {holder, seq, epoch, writer, sent, rv} (the guarded ConfigMap: its stamp) | store_gap
//   nemesis    <kind> {target?}: kill, stop, cont, partition, heal,
//              apiserver_restart, ...
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace leaselocker::chaos {

struct event {
    std::int64_t t = 0; // CLOCK_MONOTONIC, ns
    std::string process;
    std::string kind;
    std::string identity, epoch, holder, target, result, why;
    std::string impl;              // start: the implementation ("leaselocker" if absent)
    std::string role;              // start: "elector" for a leader_elector (else a locker)
    std::int64_t lease_end = 0;    // Go peers: the end of the lease they last wrote
    std::int64_t granted_at = 0;   // Go peers' acquire_ok: when the granting write was sent
    std::int64_t seq = -1;
    std::int64_t valid_until = 0;
    std::int64_t sent = 0;         // a write to the guarded ConfigMap: when it was sent (also in the store's versions)
    std::int64_t rv = -1;          // recorder: the version's resourceVersion (a number, one etcd)
    std::string writer;            // store_version: the process that wrote it
    bool accepted = false;
    bool permanent = false;
    double clock_rate = 1.0;
};

// One JSON line; nullopt for a line that is not one (a process killed
// mid-write leaves at most a partial last line).
std::optional<event> parse_event(const std::string& line);

struct distribution {
    std::size_t n = 0;
    double min_ms = 0, p50_ms = 0, p90_ms = 0, p99_ms = 0, p999_ms = 0, max_ms = 0;
};

struct options {
    std::int64_t lease_ms = 2000;
    int silence_leases = 15;            // a live contender quiet this long is stuck
    std::int64_t failover_margin_ms = 1000; // kill → next acquire, p99, at most lease + this
    std::size_t skipped_lines = 0;      // unparseable lines the reader met
    std::int64_t fence_window_ms = 50;  // the guarded ConfigMap: a stale write admitted later than this after the takeover is a violation
};

struct report {
    std::size_t grants = 0;           // acquire_ok events
    std::size_t resumed_grants = 0;   // acquire_ok of a grant whose release had failed: the same claim again
    std::size_t checks = 0;
    std::size_t server_versions = 0;  // versions the recorder saw
    std::size_t accepted_writes = 0;
    std::size_t rejected_stale_writes = 0; // refused, rightly
    std::size_t skipped_lines = 0;
    std::map<std::string, std::size_t> nemeses; // kind → times injected
    std::map<std::string, std::size_t> grants_by_process;
    std::map<std::string, std::size_t> grants_by_impl;   // turns per implementation
    // Go peers' claims that outlived the lease they wrote while another
    // held it (excused as their design, see claims above), per
    // implementation, and a few of them in words.
    std::map<std::string, std::size_t> peer_overlaps;
    std::vector<std::string> peer_overlap_examples;
    // Stale writes the store accepted from such an excused Go claim (the
    // successor had not fenced the store in yet), per implementation.
    std::map<std::string, std::size_t> peer_stale_writes;
    // Strikes at a holder that worked: a stop (or a partition) during which
    // another took over, after which the target learned it had lost (a
    // loss, or a refused write).
    std::size_t stops = 0, effective_stops = 0;
    std::size_t partitions = 0, effective_partitions = 0;
    // Electors' terms followed by another grant: judged for the order of
    // on_stopped_leading, or excused (the leader killed or stopped then).
    std::size_t elector_terms = 0, elector_terms_excused = 0;
    std::size_t elector_terms_after_loss = 0; // not released: the successor took over (the rule's hard case)

    // The store a ConfigMap guarded by the admission fence.
    bool api_store = false;
    std::size_t store_versions = 0;          // versions written by contenders, judged
    std::size_t store_versions_unjudged = 0; // the recorder may have missed a Lease version around them
    std::size_t store_gaps = 0;              // the recorder's watch of the store lost versions
    std::size_t failed_writes = 0;           // no answer: outcome unknown (the store's versions tell)
    std::size_t unseen_accepted_writes = 0;  // admitted, yet not among the versions the recorder saw
    std::size_t early_refusals = 0;          // refused though no higher token was granted: the cache lagged the grant
    std::size_t stale_writes_in_window = 0;  // admitted stale, sent within fence_window_ms after the takeover was known
    std::size_t stale_writes_in_flight = 0;  // sent before the takeover was known, stored after it (held up on its way)
    std::int64_t fence_window_ms = 0;
    distribution early_refusal_lag;          // sent − the writer's own acquire_ok
    distribution stale_write_lag;            // sent − when the takeover was known (negative: sent before it)

    // Safety violations.
    std::size_t server_order_violations = 0;
    std::size_t overlapping_claims = 0;
    std::size_t token_order_violations = 0;
    std::size_t unrecorded_grants = 0;
    std::size_t accepted_stale_writes = 0;
    std::size_t wrongly_refused_writes = 0;
    std::size_t stopped_after_started = 0; // an elector's on_stopped_leading after the next leader started
    std::vector<std::string> violations; // a line each, for the log

    // Minimums and liveness not met.
    std::vector<std::string> failures;

    distribution takeover_margin; // expiry takeovers: successor acquire − predecessor valid_until
    distribution handoff;         // release → next acquire
    distribution failover;        // holder killed → next acquire
    std::map<std::string, distribution> handoff_by_pair;  // "from → to" implementations
    std::map<std::string, distribution> failover_by_pair;

    std::size_t safety_violations() const {
        return server_order_violations + overlapping_claims + token_order_violations + unrecorded_grants + accepted_stale_writes +
               wrongly_refused_writes + stopped_after_started;
    }
    bool ok() const { return safety_violations() == 0 && failures.empty(); }
};

report check(std::vector<event> events, const options& opts = {});

// The report as one JSON object, and as a short table for people.
std::string to_json(const report& r);
std::string to_table(const report& r);

} // namespace leaselocker::chaos
