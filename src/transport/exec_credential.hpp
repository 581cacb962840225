// Exec credential plugins (client.authentication.k8s.io v1 / v1beta1): run
// the configured command as a child process, read its ExecCredential from
// stdout through the executor (no thread), and keep the result until it
// expires.
#pragma once

#include <leaselocker/config/cluster_config.hpp>
#include <leaselocker/error.hpp>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>

#include <chrono>
#include <optional>
#include <string>

namespace leaselocker::detail {

struct exec_credential {
    secret token;
    std::string client_certificate_pem;
    secret client_key_pem;
    std::optional<std::chrono::system_clock::time_point> expiry;
};

// Parses the plugin's output. On failure ec is credential_unavailable and
// failure says what is wrong (never quoting the output).
exec_credential parse_exec_credential(std::string_view json, const std::string& api_version, error_code& ec,
                                      std::string& failure);

// Runs the plugin until it exits or the deadline passes (then it is
// killed: error::timeout).
boost::asio::awaitable<exec_credential> run_exec_plugin(const exec_config& exec, const cluster_config& cluster,
                                                        std::chrono::steady_clock::time_point deadline, error_code& ec,
                                                        std::string& failure);

} // namespace leaselocker::detail
