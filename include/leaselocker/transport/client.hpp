/// @file
/// The connection to one API server: HTTPS keep-alive connections in a small
/// pool, per-request deadlines, reconnects, bearer tokens reloaded from their
/// file. Bound to an executor; starts no thread. Safe to use from several
/// threads running the executor's context (all state is behind a strand).
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
class response_stream {
public:
    response_stream() = default;

    unsigned status() const noexcept;
    /// For a non-2xx status: the whole body (a Kubernetes Status).
    const std::string& error_body() const noexcept;

    /// The next '\n'-terminated line of the body, without the '\n'.
    /// Precondition: the stream came from client::open_stream (else
    /// std::logic_error).
    /// error::timeout if no byte arrives for `idle`; boost::asio::error::eof
    /// when the server ends the response. Cancellation: any type; the stream
    /// is closed afterwards.
    template <BOOST_ASIO_COMPLETION_TOKEN_FOR(void(error_code, std::string)) CompletionToken = boost::asio::deferred_t>
    auto read_line(std::chrono::milliseconds idle, CompletionToken&& token = {}) {
        return boost::asio::async_initiate<CompletionToken, void(error_code, std::string)>(
            [](auto handler, detail::stream_impl* impl, std::chrono::milliseconds idle) {
                start_read_line(impl, idle, std::move(handler));
            },
            token, impl_.get(), idle);
    }

    void close();

private:
    friend class detail::client_impl;
    static void start_read_line(detail::stream_impl* impl, std::chrono::milliseconds idle,
                                boost::asio::any_completion_handler<void(error_code, std::string)> handler);
    std::shared_ptr<detail::stream_impl> impl_;
};

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
    std::string user_agent = "leaselocker/" LEASELOCKER_VERSION_STRING;
    logger log;
};

class client {
public:
    using executor_type = boost::asio::any_io_executor;

    /// Builds the TLS context from cfg; throws config_error if the CA, the
    /// client certificate or the key cannot be used, or the server URL is bad.
    client(executor_type ex, cluster_config cfg, client_options opts = {});
    ~client();
    client(const client&) = delete;
    client& operator=(const client&) = delete;

    executor_type get_executor() const noexcept;
    const cluster_config& config() const noexcept;
    const client_options& options() const noexcept;

    /// Sends one request and reads the whole response. Completes with an
    /// error only for transport failures (timeout, tls, connection, ...); an
    /// HTTP error status is a successful exchange.
    ///
    /// Cancellation: terminal, partial and total are all honoured and abort
    /// the exchange; its connection is closed (its state is unknown), the
    /// pool keeps working.
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
