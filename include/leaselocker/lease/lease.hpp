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

/// A Lease's spec; every field is optional, as in the API (nullopt: absent
/// or null).
struct lease_spec {
    /// Absent, null and "" all mean nobody holds the lease.
    std::optional<std::string> holder_identity;
    std::optional<std::int32_t> lease_duration_seconds; ///< leaseDurationSeconds: how long the lease lasts from renewTime
    std::optional<micro_time> acquire_time;             ///< acquireTime: when the current holder was granted it
    std::optional<micro_time> renew_time;               ///< renewTime: when the holder last renewed it
    std::optional<std::int32_t> lease_transitions;      ///< leaseTransitions: how often it changed hands (fencing)
    /// Coordinated leader election (KEP-4355); kept as they are on write.
    std::optional<std::string> strategy;
    std::optional<std::string> preferred_holder; ///< preferredHolder; see `strategy`

    /// Whether someone holds the lease (holderIdentity set and not empty);
    /// says nothing about expiry.
    bool held() const { return holder_identity && !holder_identity->empty(); }
};

/// The parts of a Lease's metadata leaselocker uses.
struct object_meta {
    std::string name;             ///< a DNS-1123 subdomain
    std::string namespace_;       ///< `namespace` in JSON (a C++ keyword here)
    std::string uid;              ///< set by the server; a recreated Lease has a new one
    std::string resource_version; ///< resourceVersion: the version replace() is guarded by
    std::map<std::string, std::string> labels;      ///< metadata.labels
    std::map<std::string, std::string> annotations; ///< metadata.annotations (fair turns keep their queue here)
    /// When the object last changed, on the server's clock: the latest
    /// metadata.managedFields[].time (whole seconds; an entry's time moves
    /// when its manager changes a value it owns). Read only; absent when the
    /// server keeps no managed fields or an entry has no time.
    std::optional<micro_time> last_changed;
};

/// A coordination.k8s.io/v1 Lease object.
struct lease {
    object_meta metadata; ///< name, namespace, uid, resourceVersion, labels, annotations
    lease_spec spec;      ///< who holds it, since when, for how long
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

/// JSON codec: `l` as a Lease object, starting from `l.raw` so that
/// fields this model does not know are kept.
std::string encode_lease(const lease& l);
/// JSON codec: the Lease in `json`, or nullopt (and, if `why` is given,
/// the reason in it) for a body that is not a Lease object.
std::optional<lease> decode_lease(std::string_view json, std::string* why = nullptr);

} // namespace leaselocker
