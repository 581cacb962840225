/// @file
/// What a lock holds, independent of the object that stores it: the seed's
/// LockRecord (holderIdentity, leaseDurationSeconds, acquireTime,
/// renewTime, leaseTransitions), the queue of fair turns, and coordinated
/// leader election's strategy and preferred holder.
#pragma once

#include <leaselocker/lease/micro_time.hpp>

#include <cstdint>
#include <string>
#include <vector>

namespace leaselocker {

/// The lock's state as stored (a Lease's spec plus the queue annotation);
/// absent fields of the object read as empty or zero.
struct lock_record {
    /// Empty: nobody holds the lock.
    std::string holder_identity;
    /// How long the holder's lease lasts from its last renewal, in seconds
    /// (0: not set).
    std::int32_t lease_duration_seconds = 0;
    micro_time acquire_time{}; ///< when the current holder was granted the lock (wall clock)
    micro_time renew_time{};   ///< when the holder last renewed it (wall clock)
    /// leaseTransitions: leaselocker writes 0 on create and adds one on
    /// every grant (client-go: when the holder changes); with the object's
    /// uid it makes the fencing token.
    std::int32_t lease_transitions = 0;
    /// Fair turns: the identities waiting for the lock, longest-waiting
    /// first (a Lease keeps them in its leaselocker.io/queue annotation,
    /// which client-go and the Go reference leave as it is).
    std::vector<std::string> queue;
    /// Coordinated leader election (KEP-4355; client-go's record has them
    /// too; empty: absent): the strategy of the server's election controller
    /// that manages the lease, and the holder it would rather have (the
    /// current one is asked to step down).
    std::string strategy;
    std::string preferred_holder; ///< see `strategy`; empty: no preference

    /// Every field equal (the queue included).
    friend bool operator==(const lock_record&, const lock_record&) = default;
};

} // namespace leaselocker
