#include <leaselocker/error.hpp>

#include <boost/asio/error.hpp>

namespace leaselocker {
namespace {

class error_category_impl final : public boost::system::error_category {
public:
    const char* name() const noexcept override { return "leaselocker"; }

    std::string message(int ev) const override {
        switch (static_cast<error>(ev)) {
        case error::bad_request: return "bad request (400)";
        case error::unauthorized: return "unauthorized (401)";
        case error::forbidden: return "forbidden (403)";
        case error::not_found: return "not found (404)";
        case error::method_not_allowed: return "method not allowed (405)";
        case error::already_exists: return "already exists (409)";
        case error::conflict: return "conflict (409)";
        case error::gone: return "gone (410)";
        case error::invalid: return "invalid (422)";
        case error::too_many_requests: return "too many requests (429)";
        case error::internal_error: return "internal server error (500)";
        case error::bad_gateway: return "bad gateway (502)";
        case error::service_unavailable: return "service unavailable (503)";
        case error::server_timeout: return "server timeout";
        case error::unexpected_status: return "unexpected HTTP status";
        case error::timeout: return "request timed out";
        case error::tls: return "TLS handshake or certificate verification failed";
        case error::connection: return "connection to the API server failed";
        case error::resolve: return "could not resolve the API server's host name";
        case error::protocol: return "invalid HTTP from the API server";
        case error::response_too_large: return "response larger than the configured limit";
        case error::malformed_response: return "malformed response body";
        case error::proxy_denied: return "the HTTP proxy refused the tunnel (its credentials or rules)";
        case error::proxy_failed: return "the HTTP proxy could not open a tunnel to the API server";
        case error::config_not_found: return "no Kubernetes configuration found";
        case error::config_invalid: return "invalid Kubernetes configuration";
        case error::credential_unavailable: return "credentials unavailable";
        case error::lock_lost: return "the lock was lost";
        case error::already_locking: return "a lock operation of this locker is already running";
        case error::preempted: return "another holder is preferred (coordinated leader election): stepped down";
        case error::fenced_out: return "refused by the lease's admission fence: not written by the current holder with its fencing token";
        }
        return "unknown leaselocker error";
    }

    boost::system::error_condition default_error_condition(int ev) const noexcept override {
        switch (static_cast<error>(ev)) {
        case error::timeout:
        case error::server_timeout: return condition::timed_out;
        case error::conflict:
        case error::gone:
        case error::too_many_requests:
        case error::internal_error:
        case error::bad_gateway:
        case error::service_unavailable:
        case error::connection:
        case error::resolve:
        case error::proxy_failed:
        case error::credential_unavailable: return condition::transient;
        default: return condition::permanent;
        }
    }
};

class condition_category_impl final : public boost::system::error_category {
public:
    const char* name() const noexcept override { return "leaselocker.condition"; }

    std::string message(int ev) const override {
        switch (static_cast<condition>(ev)) {
        case condition::permanent: return "permanent error";
        case condition::transient: return "transient error";
        case condition::timed_out: return "timed out";
        }
        return "unknown condition";
    }

    bool equivalent(const error_code& code, int cond) const noexcept override {
        if (code.category() == leaselocker::error_category())
            return leaselocker::error_category().default_error_condition(code.value()).value() == cond;
        // Timeouts and transient failures reported by Asio itself.
        namespace ae = boost::asio::error;
        switch (static_cast<condition>(cond)) {
        case condition::timed_out: return code == ae::timed_out;
        case condition::transient:
            return code == ae::connection_reset || code == ae::connection_refused ||
                   code == ae::connection_aborted || code == ae::eof || code == ae::broken_pipe ||
                   code == ae::network_unreachable || code == ae::host_unreachable ||
                   code == ae::timed_out;
        case condition::permanent: return false;
        }
        return false;
    }
};

} // namespace

const boost::system::error_category& error_category() noexcept {
    static const error_category_impl instance;
    return instance;
}

const boost::system::error_category& condition_category() noexcept {
    static const condition_category_impl instance;
    return instance;
}

std::string diagnostics::to_string() const {
    if (server_message.empty()) return client_message;
    if (client_message.empty()) return server_message;
    return client_message + ": " + server_message;
}

} // namespace leaselocker
