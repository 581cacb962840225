// What the integration tests know of the local control plane that ctest's
// cluster.start fixture brought up (test/cluster, llcluster).
#pragma once

#include <leaselocker/config/cluster_config.hpp>

#include <string>

namespace leaselocker::test {

struct cluster_env {
    std::string dir;        // the cluster's folder
    std::string kubeconfig; // file-path form
    std::string kubeconfig_inline;
    std::string server;
    std::string namespace_name; // the namespace the least-privilege user may use

    std::string pki(const std::string& file) const { return dir + "/pki/" + file; }
};

// Reads LEASELOCKER_CLUSTER_DIR/state.json; fails the test if there is none.
const cluster_env& cluster();

// The cluster's config for a context: "admin", "lease", "lease-tokenfile".
cluster_config cluster_config_for(const std::string& context, bool inline_form = false);

// A lease name unique to this process and call.
std::string unique_name(const std::string& prefix);

} // namespace leaselocker::test
