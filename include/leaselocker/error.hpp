/// @file
/// Error codes of leaselocker: Kubernetes API failures (from the server's
/// Status), transport failures, configuration errors, and the conditions that
/// group them (permanent, transient, timeout).
#pragma once

#include <boost/system/error_code.hpp>

#include <stdexcept>
#include <string>
#include <type_traits>

namespace leaselocker {

/// Boost.System's error code, which every operation completes with.
using boost::system::error_code;

/// Every error leaselocker reports, in the category error_category()
/// (name "leaselocker"). Compare with a condition to act on a class of
/// them: `ec == condition::transient`. In five groups: the API server
/// answered with a Status (HTTP code in parentheses; bad_request to
/// unexpected_status), talking to the server (timeout to proxy_failed),
/// configuration and credentials (config_not_found to
/// credential_unavailable), the locker (lock_lost to preempted) and the
/// admission fence (fenced_out).
enum class error {
    // The API server answered with a Status (HTTP code in parentheses).
    bad_request = 1,        ///< 400
    unauthorized,           ///< 401
    forbidden,              ///< 403
    not_found,              ///< 404
    method_not_allowed,     ///< 405
    already_exists,         ///< 409, reason AlreadyExists
    conflict,               ///< 409: stale resourceVersion or precondition failed
    gone,                   ///< 410: a watch's resourceVersion is too old
    invalid,                ///< 422
    too_many_requests,      ///< 429
    internal_error,         ///< 500
    bad_gateway,            ///< 502: a proxy in front of the server could not reach it
    service_unavailable,    ///< 503
    server_timeout,         ///< 504, or reason ServerTimeout/Timeout
    unexpected_status,      ///< any other non-2xx

    // Talking to the server.
    timeout,                ///< the request's deadline passed
    tls,                    ///< handshake or certificate verification failed
    connection,             ///< connect, reset, or closed mid-response
    resolve,                ///< the server's host name could not be resolved
    protocol,               ///< not valid HTTP
    response_too_large,     ///< past the client's response-size limit
    malformed_response,     ///< a body that is not the JSON object expected
    proxy_denied,           ///< the HTTP proxy refused the tunnel for good (401, 403, 407: its credentials or rules)
    proxy_failed,           ///< the HTTP proxy could not open the tunnel (another non-2xx: e.g. 502)

    // Configuration and credentials.
    config_not_found,       ///< no kubeconfig / in-cluster environment
    config_invalid,         ///< a file or field that cannot be used
    credential_unavailable, ///< token file unreadable, exec plugin failed

    // The locker.
    lock_lost,              ///< a held lock was lost (renewal failed past the deadline, or taken over)
    already_locking,        ///< lock/try_lock while another lock/try_lock of the same locker is running
    preempted,              ///< the Lease's preferredHolder names another (coordinated leader election): stepped down
    fenced_out,             ///< a guarded write refused by the lease's admission fence: not the current holder and token
};

/// Classes of errors that callers act on, in the category
/// condition_category(). timed_out: error::timeout and
/// error::server_timeout. transient: conflict, gone, too_many_requests,
/// internal_error, bad_gateway, service_unavailable, connection, resolve,
/// proxy_failed, credential_unavailable (and Asio's connection errors).
/// permanent: every other leaselocker error.
enum class condition {
    permanent = 1, ///< retrying the same request cannot succeed
    transient,     ///< worth retrying with back-off
    timed_out,     ///< a deadline passed (ours or the server's)
};

/// The category of `error` codes (name "leaselocker"): its messages, and
/// each code's default condition.
const boost::system::error_category& error_category() noexcept;
/// The category of `condition` (name "leaselocker.condition"); it also
/// matches Asio's timeouts and connection errors as timed_out or transient.
const boost::system::error_category& condition_category() noexcept;

/// An error_code from an `error` value; found by argument-dependent lookup,
/// so `error_code ec = error::timeout;` works.
inline error_code make_error_code(error e) noexcept {
    return {static_cast<int>(e), error_category()};
}
/// An error_condition from a `condition` value, for `ec == condition::transient`.
inline boost::system::error_condition make_error_condition(condition c) noexcept {
    return {static_cast<int>(c), condition_category()};
}

/// Details of a failure: what the server said (its Status message, verbatim)
/// kept apart from what we add (which request, which file and field). Never
/// contains a secret.
struct diagnostics {
    std::string server_message; ///< the server's Status message, verbatim; empty if it sent none
    std::string client_message; ///< ours: which request, file or field, and what went wrong

    /// Empties both messages.
    void clear() {
        server_message.clear();
        client_message.clear();
    }
    /// "client message: server message", for logs and exceptions.
    std::string to_string() const;
};

/// Thrown for configuration that cannot be used (kubeconfig loaders, client
/// and locker constructors): code() says what kind of failure, what() names
/// the file and field or the setting, never a secret.
class config_error : public std::runtime_error {
public:
    /// `ec` says what kind of failure (usually error::config_invalid,
    /// error::config_not_found or error::credential_unavailable); `what` is
    /// the message what() returns.
    config_error(error_code ec, const std::string& what) : std::runtime_error(what), code_(ec) {}
    /// The kind of failure.
    error_code code() const noexcept { return code_; }

private:
    error_code code_;
};

} // namespace leaselocker

/// @cond INTERNAL
template <>
struct boost::system::is_error_code_enum<leaselocker::error> : std::true_type {};
template <>
struct boost::system::is_error_condition_enum<leaselocker::condition> : std::true_type {};
/// @endcond
