/// @file
/// The transport: client, the connection to one API server, and response_stream.
#pragma once

#include <leaselocker/config/cluster_config.hpp>
#include <leaselocker/log.hpp>
#include <leaselocker/transport/http.hpp>
#include <leaselocker/version.hpp>

#include <boost/asio/any_completion_handler.hpp>
#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/deferred.hpp>

#include <chrono>
#include <cstddef>
#include <memory>

namespace leaselocker {

namespace detail {
class client_impl;
class stream_impl;
} // namespace detail

/// A response read as it arrives, line by line (a watch). It holds a
/// connection of its own, closed when the last copy goes away.
///
/// Threads: one read_line at a time; it runs on the client's strand and
/// completes on its handler's associated executor (default: that strand),
/// never inside the initiating call, holding work there until then.
/// status(), error_body() and close() may be called from any thread.
class response_stream {
public:
    response_stream() = default;

    /// The response's HTTP status (0 for a stream that was never opened).
    unsigned status() const noexcept;
    /// For a non-2xx status: the whole body (a Kubernetes Status).
    const std::string& error_body() const noexcept;

    /// The next `'\n'`-terminated line of the body, without the `'\n'`.
    /// Precondition: the stream came from client::open_stream (else
    /// std::logic_error, thrown by the initiating call).
    /// Signature: void(error_code, std::string line).
    /// Errors: error::timeout if no byte arrives for `idle`;
    /// boost::asio::error::eof when the server ends the response;
    /// error::response_too_large for a line longer than
    /// client_options::max_response_bytes; a transport error
    /// (error::connection, error::tls, error::protocol);
    /// operation_aborted when cancelled or close()d. After any error the
    /// stream is closed.
    /// Cancellation: terminal, partial, total: completes with
    /// operation_aborted; the stream is closed afterwards.
    template <BOOST_ASIO_COMPLETION_TOKEN_FOR(void(error_code, std::string)) CompletionToken = boost::asio::deferred_t>
    auto read_line(std::chrono::milliseconds idle, CompletionToken&& token = {}) {
        return boost::asio::async_initiate<CompletionToken, void(error_code, std::string)>(
            [](auto handler, detail::stream_impl* impl, std::chrono::milliseconds idle) {
                start_read_line(impl, idle, std::move(handler));
            },
            token, impl_.get(), idle);
    }

    /// Closes the connection (on the client's strand); a pending read_line
    /// completes with operation_aborted.
    void close();

private:
    friend class detail::client_impl;
    static void start_read_line(detail::stream_impl* impl, std::chrono::milliseconds idle,
                                boost::asio::any_completion_handler<void(error_code, std::string)> handler);
    std::shared_ptr<detail::stream_impl> impl_;
};

/// How a client behaves, apart from where the server is (cluster_config).
struct client_options {
    /// Deadline of one request when the request names none.
    std::chrono::milliseconds request_timeout{std::chrono::seconds(10)};
    /// Keep-alive connections kept open at most; requests beyond queue.
    std::size_t max_connections = 4;
    /// A larger response fails with error::response_too_large.
    std::size_t max_response_bytes = 4 * 1024 * 1024;
    /// How often a token file is re-read (and at once after a 401).
    std::chrono::seconds token_file_reload{60};
    /// Without cluster_config::proxy_url: use HTTPS_PROXY / HTTP_PROXY /
    /// NO_PROXY (or their lower-case forms) as Go's net/http does: never for
    /// localhost or a loopback address, NO_PROXY's domains, IPs and CIDRs
    /// excepted. Read when the client is constructed.
    bool proxy_from_environment = true;
    std::string user_agent = "leaselocker/" LEASELOCKER_VERSION_STRING; ///< the User-Agent header of every request
    /// Where the client logs: each request's outcome at debug level,
    /// certificate file changes at info, unusable rotated files at warning.
    logger log;
};

/// The connection to one API server: HTTPS keep-alive connections in a small
/// pool, per-request deadlines, reconnects, bearer tokens reloaded from their
/// file.
///
/// Threads: bound to an executor; starts no thread. Safe to use from several
/// threads running the executor's context (all state is behind a strand):
/// every member may be called from any thread. Operations run on that
/// strand and complete on the handler's associated executor (default: the
/// strand), never inside the initiating call, holding work there until
/// then. Objects built on a client (lease_client, lease_locker, ...) keep a
/// reference to it: destroy them first.
class client {
public:
    /// The type of executor the client was constructed with.
    using executor_type = boost::asio::any_io_executor;

    /// Builds the TLS context from cfg; throws config_error if the CA, the
    /// client certificate or the key cannot be used, or the server URL is bad.
    client(executor_type ex, cluster_config cfg, client_options opts = {});
    /// Aborts the requests in flight and queued, as cancel() does; never
    /// blocks.
    ~client();
    client(const client&) = delete;
    client& operator=(const client&) = delete;

    /// The executor given at construction (the client's strand runs on it).
    executor_type get_executor() const noexcept;
    /// The configuration given at construction.
    const cluster_config& config() const noexcept;
    /// The options given at construction (a max_connections of 0 raised to 1).
    const client_options& options() const noexcept;

    /// Sends one request and reads the whole response. Completes with an
    /// error only for transport failures (timeout, tls, connection, ...); an
    /// HTTP error status is a successful exchange. A 429 or 5xx with
    /// Retry-After is sent again after that wait while it fits before the
    /// deadline (at most 10 times, as client-go); a 401 is sent again once
    /// after renewing a token that can be renewed (token file, exec plugin).
    /// Signature: void(error_code, http_response).
    ///
    /// Errors: error::timeout (the request's deadline passed), error::tls,
    /// error::connection, error::resolve, error::protocol,
    /// error::response_too_large, error::proxy_denied, error::proxy_failed,
    /// error::credential_unavailable (token file unreadable, exec plugin
    /// failed); operation_aborted when cancelled or by cancel(). The
    /// request's `diag`, if set, gets what went wrong.
    ///
    /// Cancellation: terminal, partial and total are all honoured and abort
    /// the exchange (operation_aborted); its connection is closed (its state
    /// is unknown), the pool keeps working.
    template <BOOST_ASIO_COMPLETION_TOKEN_FOR(void(error_code, http_response)) CompletionToken = boost::asio::deferred_t>
    auto request(http_request req, CompletionToken&& token = {}) {
        return boost::asio::async_initiate<CompletionToken, void(error_code, http_response)>(
            [](auto handler, detail::client_impl* impl, http_request req) {
                start_request(impl, std::move(req), std::move(handler));
            },
            token, impl_.get(), std::move(req));
    }

    /// Sends a request and reads only the response head; the body is then
    /// read with response_stream::read_line. Uses a connection outside the
    /// pool. req.timeout bounds connecting and the head.
    /// Signature: void(error_code, response_stream). A non-2xx status is a
    /// success: the stream's status() and error_body() (read whole) tell; a
    /// 401 is retried once after renewing a token that can be renewed.
    /// Errors: the transport errors of request() (error::timeout,
    /// error::tls, error::connection, ...); operation_aborted when
    /// cancelled.
    /// Cancellation: terminal, partial and total are all honoured and abort
    /// the opening (operation_aborted); its connection is closed.
    template <BOOST_ASIO_COMPLETION_TOKEN_FOR(void(error_code, response_stream)) CompletionToken = boost::asio::deferred_t>
    auto open_stream(http_request req, CompletionToken&& token = {}) {
        return boost::asio::async_initiate<CompletionToken, void(error_code, response_stream)>(
            [](auto handler, detail::client_impl* impl, http_request req) {
                start_stream(impl, std::move(req), std::move(handler));
            },
            token, impl_.get(), std::move(req));
    }

    /// Closes idle connections and aborts requests in flight.
    void cancel();

    /// Whether the server has let this client through with a request of
    /// method `m` on `collection` (a resource's path in a namespace, e.g.
    /// "/apis/coordination.k8s.io/v1/namespaces/ns/leases"; `streaming`:
    /// opened with open_stream, a watch) before: answered 2xx, 404, 409, 410
    /// or 422, so past authentication and authorization. A 401 or 403 after
    /// that is more likely a restarted server whose authorizer is not ready
    /// yet than missing rights. Any thread.
    bool authorized_before(http_method m, std::string_view collection, bool streaming = false) const;

private:
    static void start_request(detail::client_impl* impl, http_request req,
                              boost::asio::any_completion_handler<void(error_code, http_response)> handler);
    static void start_stream(detail::client_impl* impl, http_request req,
                             boost::asio::any_completion_handler<void(error_code, response_stream)> handler);
    std::shared_ptr<detail::client_impl> impl_;
};

} // namespace leaselocker
