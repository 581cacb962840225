// The chaos suite's history checker. Every process appends events as JSON
// lines stamped with CLOCK_MONOTONIC (one clock for all processes on the
// host); a recorder appends every version of the Lease it watched; the
// orchestrator appends the nemeses it injected. The checker reads them all:
//
//   server order    leaseTransitions never decreases; +1 on every new grant
//                   (holder changes to a non-empty identity), unchanged on
//                   renewals and releases (only monotone across a gap)
//   claims          [acquire ok, last check that the library called valid]
//                   of different grants never overlap
//   fencing         the protected store never accepted a write of an older
//                   grant after one of a newer grant (accepted stale
//                   writes); writes it refused are counted (rejected stale)
//   liveness        release → next acquire, and holder killed → next
//                   acquire, as distributions
//
// Event lines ({"t": ns, "p": process, "e": kind, ...}):
//   contender  start {identity, clock_rate} | acquire_ok {seq, epoch} |
//              check {seq, valid_until} | write {seq, epoch, accepted} |
//              release {seq, result} | lost {seq, why}
//   recorder   version {holder, seq, rv} | gap
//   nemesis    <kind> {target?}: kill, stop, cont, apiserver_restart, ...
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
    std::int64_t seq = -1;
    std::int64_t valid_until = 0;
    bool accepted = false;
    double clock_rate = 1.0;
};

// One JSON line; nullopt for a line that is not one (a process killed
// mid-write leaves at most a partial last line).
std::optional<event> parse_event(const std::string& line);

struct distribution {
    std::size_t n = 0;
    double p50_ms = 0, p90_ms = 0, p99_ms = 0, p999_ms = 0, max_ms = 0;
};

struct report {
    std::size_t grants = 0;           // acquire_ok events
    std::size_t server_versions = 0;  // versions the recorder saw
    std::size_t accepted_writes = 0;
    std::size_t rejected_stale_writes = 0;
    std::map<std::string, std::size_t> nemeses; // kind → times injected

    std::size_t server_order_violations = 0;
    std::size_t overlapping_claims = 0;
    std::size_t accepted_stale_writes = 0;
    std::vector<std::string> violations; // a line each, for the log

    distribution handoff;  // release → next acquire
    distribution failover; // holder killed → next acquire

    bool ok() const { return server_order_violations == 0 && overlapping_claims == 0 && accepted_stale_writes == 0; }
};

report check(std::vector<event> events);

// The report as one JSON object, and as a short table for people.
std::string to_json(const report& r);
std::string to_table(const report& r);

} // namespace leaselocker::chaos
