// The bearer token to send: fixed, or read from a file (service-account
// tokens rotate) at most every `reload` and at once on demand (after a 401).
#pragma once

#include <leaselocker/config/cluster_config.hpp>
#include <leaselocker/error.hpp>

#include <chrono>
#include <string>

namespace leaselocker::detail {

class token_source {
public:
    token_source(const cluster_config& cfg, std::chrono::seconds reload)
        : fixed_(cfg.token), file_(cfg.token_file), reload_(reload) {}

    // The current token ("" for none). On a file that cannot be read, ec is
    // credential_unavailable and failure names the file.
    std::string current(bool force_reload, error_code& ec, std::string& failure);

    bool reloadable() const { return !file_.empty(); }

private:
    secret fixed_;
    std::string file_;
    std::chrono::seconds reload_;
    secret cached_;
    std::chrono::steady_clock::time_point read_at_{};
    bool loaded_ = false;
};

} // namespace leaselocker::detail
