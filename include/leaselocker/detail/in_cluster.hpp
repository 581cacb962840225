#pragma once

#include <leaselocker/config/cluster_config.hpp>

#include <string>

namespace leaselocker::detail {

// load_in_cluster() with the service-account folder and environment given,
// so tests need not write to /var/run.
cluster_config load_in_cluster_from(const std::string& dir, const char* host, const char* port);

} // namespace leaselocker::detail
