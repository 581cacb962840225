/// @file
/// The coordination.k8s.io/v1 Lease as leaselocker reads and writes it.
#pragma once

#include <leaselocker/lease/micro_time.hpp>

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>

namespace leaselocker {

struct lease_spec {
    /// Absent, null and "" all mean nobody holds the lease.
    std::optional<std::string> holder_identity;
    std::optional<std::int32_t> lease_duration_seconds;
    std::optional<micro_time> acquire_time;
    std::optional<micro_time> renew_time;
    std::optional<std::int32_t> lease_transitions;
    /// Coordinated leader election (KEP-4355); kept as they are on write.
    std::optional<std::string> strategy;
    std::optional<std::string> preferred_holder;

    bool held() const { return holder_identity && !holder_identity->empty(); }
};

struct object_meta {
    std::string name;
    std::string namespace_;
    std::string uid;
    std::string resource_version;
    std::map<std::string, std::string> labels;
    std::map<std::string, std::string> annotations;
    /// When the object last changed, on the server's clock: the latest
    /// metadata.managedFields[].time (whole seconds; an entry's time moves
    /// when its manager changes a value it owns). Read only; absent when the
    /// server keeps no managed fields or an entry has no time.
    std::optional<micro_time> last_changed;
};

struct lease {
    object_meta metadata;
    lease_spec spec;
    /// The object exactly as the server sent it (JSON). Encoding starts from
    /// it, so fields this model does not know survive a read-modify-write.
    std::string raw;
    /// When the server sent it: the answer's Date header (the server's clock,
    /// whole seconds). Set by lease_client on every answer; absent for
    /// objects from a watch.
    std::optional<micro_time> served_at;
};

/// resourceVersions of one resource compare as positive decimal integers of
/// any length (Kubernetes 1.35, KEP-5504; as client-go's
/// CompareResourceVersion): <0, 0, >0, or nullopt if either is not such an
/// integer (empty, leading zero, other characters).
std::optional<int> compare_resource_versions(std::string_view a, std::string_view b);
/// Whether `a` is newer than `b`; if they do not compare (`b` empty), `a`
/// counts as newer (the safe side for a cache: take it).
bool newer_resource_version(std::string_view a, std::string_view b);

/// JSON codec. decode_lease returns nullopt (and says why in `why`) for a
/// body that is not a Lease object.
std::string encode_lease(const lease& l);
std::optional<lease> decode_lease(std::string_view json, std::string* why = nullptr);

} // namespace leaselocker
