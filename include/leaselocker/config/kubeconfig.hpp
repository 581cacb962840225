/// @file
/// Loading a cluster_config the way kubectl and client-go do.
#pragma once

#include <leaselocker/config/cluster_config.hpp>
#include <leaselocker/error.hpp>

#include <stdexcept>
#include <string>

namespace leaselocker {

/// One kubeconfig file; `context` empty means its current-context. Relative
/// paths inside it are resolved against the file's folder.
cluster_config load_kubeconfig(const std::string& path, const std::string& context = {});

/// A kubeconfig given as text (for tests and embedded configs); relative
/// paths are resolved against base_dir.
cluster_config parse_kubeconfig(const std::string& yaml, const std::string& context = {},
                                const std::string& base_dir = ".",
                                const std::string& source_name = "<memory>");

/// The pod's service account: KUBERNETES_SERVICE_HOST/PORT and
/// /var/run/secrets/kubernetes.io/serviceaccount/{token,ca.crt,namespace}.
/// The token is used through token_file, so rotation is picked up.
cluster_config load_in_cluster();

/// $KUBECONFIG (a ':'-separated list merged by kubectl's rules: the first
/// file to set a value wins), else ~/.kube/config, else in-cluster.
cluster_config load_default(const std::string& context = {});

} // namespace leaselocker
