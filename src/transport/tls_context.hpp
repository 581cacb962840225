// TLS set-up for connections to the API server: verification on by default,
// against the configured CA (or the system roots), with the host name or
// tls-server-name checked.
#pragma once

#include "server_address.hpp"

#include <leaselocker/config/cluster_config.hpp>

#include <boost/asio/ssl/context.hpp>

#include <memory>
#include <string>

namespace leaselocker::detail {

// Throws config_error naming the field when the CA, certificate or key
// cannot be loaded (never quoting them).
std::unique_ptr<boost::asio::ssl::context> make_tls_context(const cluster_config& cfg);

// Per connection, before the handshake: SNI and the name to verify.
void prepare_tls(SSL* ssl, const cluster_config& cfg, const server_address& address);

// Why a handshake failed, e.g. "certificate verify failed: certificate has expired".
std::string tls_failure_reason(SSL* ssl, const boost::system::error_code& ec);

} // namespace leaselocker::detail
