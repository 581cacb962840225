/// @file
/// The Lease API of one namespace: get, create, replace (guarded by
/// resourceVersion), delete (with preconditions).
#pragma once

#include <leaselocker/lease/lease.hpp>
#include <leaselocker/transport/client.hpp>

#include <chrono>
#include <string>

namespace leaselocker {

/// Per-request settings of lease_client's and resource_lock's operations.
struct request_options {
    /// Deadline of the request; zero means the client's default.
    std::chrono::milliseconds timeout{0};
    /// Filled on failure: the server's message and ours. Must outlive the operation.
    diagnostics* diag = nullptr;
};

/// Delete only if the object still is the one we saw.
struct delete_preconditions {
    std::string uid;              ///< the object's metadata.uid; empty: not checked
    std::string resource_version; ///< its metadata.resourceVersion; empty: not checked
};

/// The Lease API of one namespace, over a client.
///
/// Errors: every operation completes with a Kubernetes error
/// (error::not_found, conflict, forbidden, ...) for a non-2xx Status, a
/// transport error (as client::request), or error::malformed_response for
/// a body that is not a Lease. Names are checked (DNS-1123 subdomain)
/// before any request: error::invalid. request_options::diag, if set, gets
/// the server's message apart from ours.
/// Cancellation: as client::request (terminal, partial and total all abort
/// the request: operation_aborted).
///
/// Threads: a lease_client is a reference to a client and a namespace name,
/// cheap to copy; operations may be started from any thread. They complete
/// on the handler's associated executor (default: the client's executor),
/// never inside the initiating call. The client must outlive the
/// lease_client and its copies.
class lease_client {
public:
    /// namespace_name empty: the client's configured default namespace.
    explicit lease_client(client& c, std::string namespace_name = {});

    const std::string& namespace_name() const noexcept { return namespace_; } ///< the namespace every request goes to
    client& get_client() const noexcept { return *client_; }                 ///< the client requests are sent through
    /// The API path of Lease `name`; empty: of the namespace's Leases.
    std::string path(std::string_view name = {}) const;
    client::executor_type get_executor() const noexcept { return client_->get_executor(); } ///< the client's executor

    /// Reads Lease `name`. Signature: void(error_code, lease).
    /// Errors: error::not_found if it does not exist; see the class.
    /// Cancellation: any type aborts the request (operation_aborted).
    template <BOOST_ASIO_COMPLETION_TOKEN_FOR(void(error_code, lease)) CompletionToken = boost::asio::deferred_t>
    auto get(std::string name, request_options opts, CompletionToken&& token = {}) {
        return initiate<void(error_code, lease)>(&lease_client::start_get, std::forward<CompletionToken>(token), std::move(name), opts);
    }
    /// As above, with default request_options.
    template <BOOST_ASIO_COMPLETION_TOKEN_FOR(void(error_code, lease)) CompletionToken = boost::asio::deferred_t>
    auto get(std::string name, CompletionToken&& token = {}) {
        return get(std::move(name), request_options{}, std::forward<CompletionToken>(token));
    }

    /// Creates `l` (metadata.name set, resourceVersion empty); completes with
    /// the stored object. Signature: void(error_code, lease).
    /// Errors: error::already_exists if the name is taken; see the class.
    /// Cancellation: any type aborts the request (operation_aborted); the
    /// Lease may have been created all the same.
    template <BOOST_ASIO_COMPLETION_TOKEN_FOR(void(error_code, lease)) CompletionToken = boost::asio::deferred_t>
    auto create(lease l, request_options opts, CompletionToken&& token = {}) {
        return initiate<void(error_code, lease)>(&lease_client::start_create, std::forward<CompletionToken>(token), std::move(l), opts);
    }
    /// As above, with default request_options.
    template <BOOST_ASIO_COMPLETION_TOKEN_FOR(void(error_code, lease)) CompletionToken = boost::asio::deferred_t>
    auto create(lease l, CompletionToken&& token = {}) {
        return create(std::move(l), request_options{}, std::forward<CompletionToken>(token));
    }

    /// PUT guarded by l.metadata.resource_version (required): error::conflict
    /// if the object changed since. Completes with the stored object.
    /// Signature: void(error_code, lease).
    /// Errors: error::conflict as said; error::invalid without a
    /// resourceVersion (nothing sent); error::not_found if the Lease is
    /// gone; see the class.
    /// Cancellation: any type aborts the request (operation_aborted); the
    /// write may have been made all the same.
    template <BOOST_ASIO_COMPLETION_TOKEN_FOR(void(error_code, lease)) CompletionToken = boost::asio::deferred_t>
    auto replace(lease l, request_options opts, CompletionToken&& token = {}) {
        return initiate<void(error_code, lease)>(&lease_client::start_replace, std::forward<CompletionToken>(token), std::move(l), opts);
    }
    /// As above, with default request_options.
    template <BOOST_ASIO_COMPLETION_TOKEN_FOR(void(error_code, lease)) CompletionToken = boost::asio::deferred_t>
    auto replace(lease l, CompletionToken&& token = {}) {
        return replace(std::move(l), request_options{}, std::forward<CompletionToken>(token));
    }

    /// DELETE, only if the preconditions (those not empty) still hold:
    /// error::conflict otherwise. Signature: void(error_code).
    /// Errors: error::conflict as said; error::not_found if there is no
    /// such Lease; see the class.
    /// Cancellation: any type aborts the request (operation_aborted); the
    /// Lease may have been deleted all the same.
    template <BOOST_ASIO_COMPLETION_TOKEN_FOR(void(error_code)) CompletionToken = boost::asio::deferred_t>
    auto remove(std::string name, delete_preconditions pre, request_options opts, CompletionToken&& token = {}) {
        return initiate<void(error_code)>(&lease_client::start_remove, std::forward<CompletionToken>(token), std::move(name), std::move(pre), opts);
    }
    /// As above, with default request_options.
    template <BOOST_ASIO_COMPLETION_TOKEN_FOR(void(error_code)) CompletionToken = boost::asio::deferred_t>
    auto remove(std::string name, delete_preconditions pre = {}, CompletionToken&& token = {}) {
        return remove(std::move(name), std::move(pre), request_options{}, std::forward<CompletionToken>(token));
    }

private:
    using lease_handler = boost::asio::any_completion_handler<void(error_code, lease)>;
    using void_handler = boost::asio::any_completion_handler<void(error_code)>;

    template <class Signature, class Start, class CompletionToken, class... Args>
    auto initiate(Start start, CompletionToken&& token, Args&&... args) {
        return boost::asio::async_initiate<CompletionToken, Signature>(
            [this, start](auto handler, auto&&... a) { (this->*start)(std::move(handler), std::forward<decltype(a)>(a)...); },
            token, std::forward<Args>(args)...);
    }

    void start_get(lease_handler h, std::string name, request_options opts);
    void start_create(lease_handler h, lease l, request_options opts);
    void start_replace(lease_handler h, lease l, request_options opts);
    void start_remove(void_handler h, std::string name, delete_preconditions pre, request_options opts);

    void send(http_request req, request_options opts, std::string what, lease_handler h);

    client* client_;
    std::string namespace_;
};

} // namespace leaselocker
