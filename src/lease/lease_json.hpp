// Internal: decoding a Lease from an already parsed JSON object (a GET
// body, or the object inside a watch event).
#pragma once

#include <leaselocker/lease/lease.hpp>

#include <boost/json/object.hpp>

namespace leaselocker::detail {

// `raw` is stored as the lease's raw text; pass the object's own JSON.
std::optional<lease> decode_lease_object(const boost::json::object& o, std::string raw, std::string* why);

} // namespace leaselocker::detail
