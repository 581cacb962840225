// The parts of a cluster's `server` URL the transport needs.
#pragma once

#include <leaselocker/config/kubeconfig.hpp>

#include <cstdint>
#include <string>

namespace leaselocker::detail {

struct server_address {
    bool tls = true;
    std::string host;        // as written, IPv6 literals in brackets
    std::uint16_t port = 443;
    std::string base_path;   // "" or "/prefix" (no trailing slash)
    std::string host_header; // host[:port] as sent in Host

    std::string host_unbracketed() const {
        if (host.size() > 2 && host.front() == '[') return host.substr(1, host.size() - 2);
        return host;
    }
};

// Throws config_error (naming `source`) for a URL that is not
// http(s)://host[:port][/path], or http:// to a host that is not loopback.
server_address parse_server_address(const std::string& url, const std::string& source);

} // namespace leaselocker::detail
