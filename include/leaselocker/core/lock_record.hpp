// What a lock holds, independent of the object that stores it: the seed's
// LockRecord (holderIdentity, leaseDurationSeconds, acquireTime,
// renewTime, leaseTransitions).
#pragma once

#include <leaselocker/lease/micro_time.hpp>

#include <cstdint>
#include <string>

namespace leaselocker {

struct lock_record {
    // Empty: nobody holds the lock.
    std::string holder_identity;
    std::int32_t lease_duration_seconds = 0;
    micro_time acquire_time{};
    micro_time renew_time{};
    std::int32_t lease_transitions = 0;

    friend bool operator==(const lock_record&, const lock_record&) = default;
};

} // namespace leaselocker
