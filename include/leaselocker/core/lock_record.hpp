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

struct lock_record {
    /// Empty: nobody holds the lock.
    std::string holder_identity;
    std::int32_t lease_duration_seconds = 0;
    micro_time acquire_time{};
    micro_time renew_time{};
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
    std::string preferred_holder;

    friend bool operator==(const lock_record&, const lock_record&) = default;
};

} // namespace leaselocker
