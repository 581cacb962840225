// The HTTP(S) transport: a small pool of keep-alive connections behind a
// strand, one coroutine per request.
#include <leaselocker/transport/client.hpp>

#include "server_address.hpp"
#include "tls_context.hpp"
#include "exec_credential.hpp"
#include "resolver.hpp"
#include "token_source.hpp"
#include "../detail/spawn.hpp"

#include <leaselocker/detail/proxy.hpp>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/bind_executor.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/dispatch.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/buffer_body.hpp>
#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>

#include <algorithm>
#include <atomic>
#include <charconv>
#include <fstream>
#include <list>
#include <mutex>
#include <set>
#include <sstream>
#include <stdexcept>

#include <sys/stat.h>

namespace leaselocker {
namespace detail {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using asio::awaitable;
using clock = std::chrono::steady_clock;
constexpr auto use_tuple = asio::as_tuple(asio::use_awaitable);

namespace {

http::verb to_verb(http_method m) {
    switch (m) {
    case http_method::get: return http::verb::get;
    case http_method::post: return http::verb::post;
    case http_method::put: return http::verb::put;
    case http_method::patch: return http::verb::patch;
    case http_method::delete_: return http::verb::delete_;
    }
    return http::verb::get;
}

std::optional<std::chrono::seconds> parse_retry_after(std::string_view v) {
    unsigned long secs = 0;
    auto [p, ec] = std::from_chars(v.data(), v.data() + v.size(), secs);
    if (ec != std::errc() || p != v.data() + v.size()) return std::nullopt; // HTTP-date form: not used by Kubernetes
    return std::chrono::seconds(secs);
}

} // namespace

void classify(error_code raw, bool tls, error_code& ec, std::string& failure) {
    if (raw == beast::error::timeout) {
        ec = error::timeout;
        failure = "deadline passed";
    } else if (raw == asio::error::operation_aborted) {
        ec = raw;
        failure = "cancelled";
    } else if (raw == http::error::body_limit || raw == http::error::header_limit || raw == http::error::buffer_overflow) {
        ec = error::response_too_large;
        failure = "response exceeds the size limit";
    } else if (raw.category() == http::make_error_code(http::error::bad_version).category() &&
               raw != http::error::end_of_stream && raw != http::error::partial_message) {
        ec = error::protocol;
        failure = "invalid HTTP: " + raw.message();
    } else if (tls && raw.category() == asio::error::get_ssl_category() && raw != asio::ssl::error::stream_truncated) {
        ec = error::tls;
        failure = "TLS error: " + raw.message();
    } else {
        ec = error::connection;
        failure = raw.message();
    }
}

// One keep-alive connection. For http:// servers only the TCP layer is used.
struct connection {
    connection(const asio::any_io_executor& ex, asio::ssl::context& ctx) : stream(ex, ctx) {}
    beast::ssl_stream<beast::tcp_stream> stream;
    beast::flat_buffer buffer;
    bool reused = false;
    std::uint64_t epoch = 0; // the pool's epoch when opened: an older one is not reused

    beast::tcp_stream& tcp() { return stream.next_layer(); }
};

// A response body read incrementally on a connection of its own.
class stream_impl : public std::enable_shared_from_this<stream_impl> {
public:
    stream_impl(std::unique_ptr<connection> conn, bool tls, asio::strand<asio::any_io_executor> strand, std::size_t max_line)
        : conn_(std::move(conn)), tls_(tls), strand_(std::move(strand)), max_line_(max_line) {
        parser_.body_limit(boost::none); // a watch has no end; lines are bounded instead
    }

    http::response_parser<http::buffer_body>& parser() { return parser_; }
    connection& conn() { return *conn_; }
    unsigned status = 0;
    std::string error_body;

    void start_read_line(std::chrono::milliseconds idle, asio::any_completion_handler<void(error_code, std::string)> h) {
        spawn_for(strand_, read_line(shared_from_this(), idle), std::move(h));
    }

    void close() {
        asio::dispatch(strand_, [self = shared_from_this()] {
            error_code ignored;
            self->conn_->tcp().socket().close(ignored);
        });
    }

    // Reads body bytes until `pending_` holds a whole line (or the body ends).
    // Returns false with ec set on failure or end.
    awaitable<bool> fill(error_code& ec, std::chrono::milliseconds idle) {
        if (parser_.is_done()) {
            ec = asio::error::eof;
            co_return false;
        }
        if (pending_.size() > max_line_) {
            ec = error::response_too_large;
            co_return false;
        }
        conn_->tcp().expires_after(idle);
        parser_.get().body().data = chunk_;
        parser_.get().body().size = sizeof chunk_;
        auto read = [&](auto& stream) -> awaitable<error_code> {
            auto [rec, n] = co_await http::async_read_some(stream, conn_->buffer, parser_, use_tuple);
            co_return rec;
        };
        error_code raw = tls_ ? co_await read(conn_->stream) : co_await read(conn_->tcp());
        pending_.append(chunk_, sizeof chunk_ - parser_.get().body().size);
        conn_->tcp().expires_never();
        if (raw == http::error::need_buffer) raw = {};
        if (raw) {
            std::string ignored;
            classify(raw, tls_, ec, ignored);
            co_return false;
        }
        co_return true;
    }

private:
    static awaitable<std::pair<error_code, std::string>> read_line(std::shared_ptr<stream_impl> self, std::chrono::milliseconds idle) {
        co_await asio::this_coro::reset_cancellation_state(asio::enable_total_cancellation());
        co_await asio::this_coro::throw_if_cancelled(false);
        for (;;) {
            if (auto nl = self->pending_.find('\n'); nl != std::string::npos) {
                std::string line = self->pending_.substr(0, nl);
                self->pending_.erase(0, nl + 1);
                co_return std::pair{error_code{}, std::move(line)};
            }
            error_code ec;
            if (!co_await self->fill(ec, idle)) {
                error_code ignored;
                self->conn_->tcp().socket().close(ignored);
                co_return std::pair{ec, std::string{}};
            }
        }
    }

    std::unique_ptr<connection> conn_;
    bool tls_;
    asio::strand<asio::any_io_executor> strand_;
    std::size_t max_line_;
    http::response_parser<http::buffer_body> parser_;
    std::string pending_;
    char chunk_[8192];

    friend class client_impl;
};

class client_impl : public std::enable_shared_from_this<client_impl> {
public:
    client_impl(asio::any_io_executor ex, cluster_config cfg, client_options opts)
        : executor_(std::move(ex)), strand_(asio::make_strand(executor_)), cfg_(std::move(cfg)), opts_(std::move(opts)),
          address_(parse_server_address(cfg_.server, cfg_.source)), tls_inputs_(cfg_), tls_files_stamp_(tls_files_stamp()),
          tls_(make_tls_context(cfg_)), tokens_(cfg_, opts_.token_file_reload),
          proxy_(choose_proxy(address_.tls, address_.host_unbracketed(), address_.port, std::string(cfg_.proxy_url.reveal()),
                              opts_.proxy_from_environment ? proxy_environment::from_process() : proxy_environment{}, cfg_.source)) {
        if (opts_.max_connections == 0) opts_.max_connections = 1;
        if (proxy_ && !address_.tls)
            throw config_error(make_error_code(error::config_invalid),
                               cfg_.source + ": proxy-url: a plain http:// server (kubectl proxy on loopback) is not reached through a proxy");
    }

    using handler_type = asio::any_completion_handler<void(error_code, http_response)>;

    void start(http_request req, handler_type handler) {
        spawn_for(strand_, run(shared_from_this(), std::move(req)), std::move(handler));
    }

    void start_stream(http_request req, asio::any_completion_handler<void(error_code, response_stream)> handler) {
        spawn_for(strand_, open_stream(shared_from_this(), std::move(req)), std::move(handler));
    }

    // Aborts what is in flight and queued; with `for_good` (the client is
    // going away) later requests fail too.
    void cancel(bool for_good) {
        asio::dispatch(strand_, [self = shared_from_this(), for_good] { self->abort_all(for_good); });
    }

    const asio::any_io_executor& executor() const { return executor_; }
    bool authorized_before(http_method m, std::string_view collection, bool streaming) const {
        std::lock_guard lock(authorized_mutex_);
        return authorized_.count(authorization_key(m, collection, streaming)) > 0;
    }
    const cluster_config& config() const { return cfg_; }
    const client_options& options() const { return opts_; }

private:
    struct outcome {
        error_code ec;
        http_response response;
    };

    static awaitable<std::pair<error_code, http_response>> run(std::shared_ptr<client_impl> self, http_request req) {
        // Any kind of cancellation aborts an exchange: it is one unit.
        co_await asio::this_coro::reset_cancellation_state(asio::enable_total_cancellation());
        co_await asio::this_coro::throw_if_cancelled(false);
        auto out = co_await self->exchange(std::move(req));
        co_return std::pair{out.ec, std::move(out.response)};
    }

    static awaitable<std::pair<error_code, response_stream>> open_stream(std::shared_ptr<client_impl> self, http_request req) {
        co_await asio::this_coro::reset_cancellation_state(asio::enable_total_cancellation());
        co_await asio::this_coro::throw_if_cancelled(false);
        co_return co_await self->open(std::move(req));
    }

    awaitable<std::pair<error_code, response_stream>> open(http_request req) {
        const auto deadline = clock::now() + (req.timeout.count() > 0 ? req.timeout : opts_.request_timeout);
        error_code ec;
        std::string failure;
        auto fail = [&](error_code e, std::string what) {
            if (req.diag) {
                req.diag->clear();
                req.diag->client_message = describe(req) + ": " + std::move(what);
            }
            return std::pair{e, response_stream{}};
        };
        for (bool reloaded_after_401 = false;;) {
            auto token = co_await credential(reloaded_after_401, deadline, ec, failure);
            if (ec) co_return fail(ec, failure);
            refresh_tls_files();
            auto stream = std::make_shared<stream_impl>(std::make_unique<connection>(strand_, *tls_), address_.tls, strand_,
                                                        opts_.max_response_bytes);
            auto& c = stream->conn();
            c.tcp().expires_at(deadline);
            co_await connect(c, deadline, ec, failure);
            if (ec) co_return fail(ec, failure);
            auto message = make_message(req, token);
            auto head = [&](auto& s) -> awaitable<error_code> {
                auto [wec, wn] = co_await http::async_write(s, message, use_tuple);
                if (wec) co_return wec;
                auto [rec, rn] = co_await http::async_read_header(s, c.buffer, stream->parser(), use_tuple);
                co_return rec;
            };
            error_code raw = address_.tls ? co_await head(c.stream) : co_await head(c.tcp());
            if (raw) {
                classify(raw, address_.tls, ec, failure);
                co_return fail(ec, failure);
            }
            stream->status = stream->parser().get().result_int();
            note_authorized(req, true, stream->status);
            opts_.log(log_level::debug, [&] { return describe(req) + " -> " + std::to_string(stream->status) + " (streaming)"; });
            if (stream->status >= 200 && stream->status < 300) {
                c.tcp().expires_never();
                response_stream out;
                out.impl_ = std::move(stream);
                co_return std::pair{error_code{}, std::move(out)};
            }
            // An error status: its body is a Status, read whole (bounded).
            while (!stream->parser().is_done()) {
                auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - clock::now());
                if (!co_await stream->fill(ec, left)) break;
            }
            if (ec && ec != asio::error::eof) co_return fail(ec, "reading the error response");
            stream->error_body = std::move(stream->pending_);
            if (stream->status == 401 && !reloaded_after_401 && credential_renewable()) {
                reloaded_after_401 = true; // renewed before the next attempt
                continue;
            }
            response_stream out;
            out.impl_ = std::move(stream);
            co_return std::pair{error_code{}, std::move(out)};
        }
    }

    // The bearer token for the next request: from the token source, or from
    // the exec plugin, run when there is no credential yet, when it is about
    // to expire, or when `renew` (after a 401). Only one plugin run at a time.
    awaitable<std::string> credential(bool renew, clock::time_point deadline, error_code& ec, std::string& failure) {
        if (!cfg_.exec) co_return renew ? tokens_.current(true, ec, failure) : tokens_.current(false, ec, failure);
        using namespace std::chrono;
        auto fresh = [&] {
            return exec_cred_ && (!exec_cred_->expiry || system_clock::now() + seconds(10) < *exec_cred_->expiry);
        };
        while (exec_running_) { // another request is running the plugin: wait for it
            auto& timer = exec_waiters_.emplace_back(strand_, deadline);
            auto it = std::prev(exec_waiters_.end());
            auto [wec] = co_await timer.async_wait(use_tuple);
            exec_waiters_.erase(it);
            if ((co_await asio::this_coro::cancellation_state).cancelled() != asio::cancellation_type::none) {
                ec = asio::error::operation_aborted;
                failure = "cancelled while waiting for the exec credential plugin";
                co_return std::string{};
            }
            if (!wec) {
                ec = error::timeout;
                failure = "waiting for the exec credential plugin";
                co_return std::string{};
            }
            renew = false; // the run we waited for is the renewal
        }
        if (!renew && fresh()) co_return std::string(exec_cred_->token.reveal());
        exec_running_ = true;
        auto cred = co_await run_exec_plugin(*cfg_.exec, cfg_, deadline, ec, failure);
        exec_running_ = false;
        for (auto& w : exec_waiters_) w.cancel();
        if (ec) co_return std::string{};
        if (!cred.client_certificate_pem.empty()) {
            // New client certificate: new connections use it, old ones go
            // (idle ones now, busy ones when they come back).
            auto with_cert = tls_inputs_;
            with_cert.client_certificate_pem = cred.client_certificate_pem;
            with_cert.client_key_pem = cred.client_key_pem;
            try {
                tls_ = make_tls_context(with_cert);
                tls_inputs_ = std::move(with_cert);
            } catch (const config_error& e) {
                ec = error::credential_unavailable;
                failure = std::string("the exec plugin's client certificate: ") + e.what();
                co_return std::string{};
            }
            ++epoch_;
            idle_.clear();
        }
        exec_cred_ = std::move(cred);
        co_return std::string(exec_cred_->token.reveal());
    }

    // RBAC grants verbs (get, create, update, watch, ...) on a resource in
    // a namespace: so, a key per method (or stream) and collection.
    static std::string authorization_key(http_method m, std::string_view collection, bool streaming) {
        return std::to_string(static_cast<int>(m)) + (streaming ? "s " : "  ") + std::string(collection);
    }
    // Statuses only a request past authentication and authorization gets:
    // proof that the server lets this client make such requests there. The
    // collection of a POST or a stream (a watch) is its path; of any other
    // request, the path's parent.
    void note_authorized(const http_request& req, bool streaming, unsigned status) {
        if (!((status >= 200 && status < 300) || status == 404 || status == 409 || status == 410 || status == 422)) return;
        std::string_view path(req.target);
        path = path.substr(0, path.find('?'));
        if (req.method != http_method::post && !streaming) path = path.substr(0, path.rfind('/'));
        auto key = authorization_key(req.method, path, streaming);
        std::lock_guard lock(authorized_mutex_);
        authorized_.insert(std::move(key));
    }

    bool credential_renewable() const { return tokens_.reloadable() || cfg_.exec.has_value(); }

    awaitable<outcome> exchange(http_request req) {
        const auto started = clock::now();
        const auto deadline = started + (req.timeout.count() > 0 ? req.timeout : opts_.request_timeout);
        outcome out;
        auto fail = [&](error_code ec, std::string what) {
            out.ec = ec;
            if (req.diag) {
                req.diag->clear();
                req.diag->client_message = describe(req) + ": " + std::move(what);
            }
            opts_.log(log_level::debug, [&] { return describe(req) + " failed: " + out.ec.message(); });
            return std::move(out);
        };

        bool reloaded_after_401 = false, renew_credential = false;
        int retries = 0;
        for (int attempt = 0;; ++attempt) {
            error_code ec;
            std::string failure;
            auto token = co_await credential(renew_credential, deadline, ec, failure);
            renew_credential = false;
            if (ec) co_return fail(ec, failure);

            auto conn = co_await acquire(deadline, ec);
            if (ec) co_return fail(ec, ec == asio::error::operation_aborted ? "cancelled" : "no connection free before the deadline");
            // Cancelled while it waited for its credential: never sent.
            if ((co_await asio::this_coro::cancellation_state).cancelled() != asio::cancellation_type::none) {
                release(std::move(conn));
                co_return fail(asio::error::operation_aborted, "cancelled");
            }

            const bool reused = conn->reused;
            http::response_parser<http::string_body> parser;
            parser.body_limit(opts_.max_response_bytes);
            // Named, not a temporary in the co_await: GCC 12 destroys class
            // temporaries in a co_await operand twice (fixed in GCC 13).
            auto message = make_message(req, token);
            co_await transact(*conn, std::move(message), parser, deadline, ec, failure);

            if (!ec) {
                auto& msg = parser.get();
                if (msg.keep_alive())
                    release(std::move(conn));
                else
                    discard(std::move(conn));
                if (msg.result_int() == 401 && !reloaded_after_401 && credential_renewable()) {
                    // A rotated token file or an expired plugin token: renew
                    // at once and try again.
                    reloaded_after_401 = renew_credential = true;
                    continue;
                }
                out.response.status = msg.result_int();
                note_authorized(req, false, out.response.status);
                out.response.content_type = std::string(msg[http::field::content_type]);
                out.response.date = std::string(msg[http::field::date]);
                if (auto ra = msg.find(http::field::retry_after); ra != msg.end())
                    out.response.retry_after = parse_retry_after(ra->value());
                out.response.body = std::move(msg.body());
                // 429 (API Priority and Fairness) and 5xx with Retry-After:
                // the server did not act; wait as told and send again, but
                // only while that still fits before the deadline.
                if (auto wait = retry_wait(out.response, retries); wait && clock::now() + *wait < deadline) {
                    ++retries;
                    opts_.log(log_level::debug, [&] {
                        return describe(req) + " -> " + std::to_string(out.response.status) + ", retrying after " +
                               std::to_string(wait->count()) + " ms";
                    });
                    asio::steady_timer timer(strand_, *wait);
                    auto [tec] = co_await timer.async_wait(use_tuple);
                    if (tec) co_return fail(tec, "cancelled while waiting to retry");
                    out.response = {};
                    attempt = -1; // a fresh stale-connection allowance per send
                    continue;
                }
                opts_.log(log_level::debug, [&] {
                    auto ms = std::chrono::duration<double, std::milli>(clock::now() - started).count();
                    return describe(req) + " -> " + std::to_string(out.response.status) + " in " + std::to_string(ms) + " ms";
                });
                co_return out;
            }
            discard(std::move(conn));
            // A keep-alive connection the server closed while it sat idle
            // fails before any byte of a response: retry once on a new one.
            // Safe for every verb the API uses: a replayed write is refused
            // with a conflict by its resourceVersion / name.
            const bool stale = reused && !parser.got_some() && attempt == 0 && clock::now() < deadline &&
                               (ec == error::connection);
            if (!stale) co_return fail(ec, failure);
        }
    }

    // How long to wait before sending again after this response, if at all.
    static std::optional<std::chrono::milliseconds> retry_wait(const http_response& r, int retries) {
        constexpr int max_retries = 10; // as client-go
        if (!r.retry_after || retries >= max_retries) return std::nullopt;
        if (r.status != 429 && (r.status < 500 || r.status > 599)) return std::nullopt;
        // Retry-After: 0 must not turn into a busy loop.
        return std::max<std::chrono::milliseconds>(*r.retry_after, std::chrono::milliseconds(50));
    }

    std::string describe(const http_request& req) const {
        return std::string(http::to_string(to_verb(req.method))) + " " + address_.base_path + req.target;
    }

    http::request<http::string_body> make_message(const http_request& req, std::string_view token) const {
        http::request<http::string_body> msg{to_verb(req.method), address_.base_path + req.target, 11};
        msg.set(http::field::host, address_.host_header);
        msg.set(http::field::user_agent, opts_.user_agent);
        msg.set(http::field::accept, "application/json");
        if (!token.empty()) msg.set(http::field::authorization, std::string("Bearer ").append(token));
        if (!req.body.empty()) {
            msg.set(http::field::content_type, req.content_type);
            msg.body() = req.body;
        }
        msg.keep_alive(true);
        msg.prepare_payload();
        return msg;
    }

    // Connect (if new), write the request, read the response, all before
    // the deadline. On failure ec is one of our transport errors or
    // operation_aborted, and failure says what happened.
    awaitable<void> transact(connection& c, http::request<http::string_body> msg, http::response_parser<http::string_body>& parser,
                             clock::time_point deadline, error_code& ec, std::string& failure) {
        c.tcp().expires_at(deadline);
        if (!c.reused) {
            co_await connect(c, deadline, ec, failure);
            if (ec) co_return;
        }
        c.reused = true;
        auto io = [&](auto& stream) -> awaitable<error_code> {
            auto [wec, wn] = co_await http::async_write(stream, msg, use_tuple);
            if (wec) co_return wec;
            auto [rec, rn] = co_await http::async_read(stream, c.buffer, parser, use_tuple);
            co_return rec;
        };
        error_code raw = address_.tls ? co_await io(c.stream) : co_await io(c.tcp());
        if (raw) classify(raw, address_.tls, ec, failure);
        c.tcp().expires_never();
    }

    awaitable<void> connect(connection& c, clock::time_point deadline, error_code& ec, std::string& failure) {
        const auto& host = proxy_ ? proxy_->host : address_.host;
        const auto port = proxy_ ? proxy_->port : address_.port;
        auto addresses = co_await resolve(host, port, deadline, ec, failure);
        if (ec) co_return;
        auto [cec, ep] = co_await c.tcp().async_connect(addresses, use_tuple);
        if (cec) {
            classify(cec, false, ec, failure);
            failure = "connecting to " + (proxy_ ? "proxy " + proxy_->display : address_.host + ":" + std::to_string(address_.port)) +
                      ": " + failure;
            co_return;
        }
        error_code ignored;
        c.tcp().socket().set_option(asio::ip::tcp::no_delay(true), ignored);
        if (proxy_) {
            co_await open_tunnel(c, ec, failure);
            if (ec) co_return;
        }
        if (!address_.tls) co_return;
        prepare_tls(c.stream.native_handle(), cfg_, address_);
        auto [hec] = co_await c.stream.async_handshake(asio::ssl::stream_base::client, use_tuple);
        if (hec) {
            // classify decides as for any request: what TLS itself refused is
            // error::tls (permanent, with OpenSSL's reason); the connection
            // ending or timing out mid-handshake is the network's.
            classify(hec, true, ec, failure);
            const auto where = "TLS handshake with " + address_.host + ":" + std::to_string(address_.port);
            failure = ec == error::tls ? where + " failed: " + tls_failure_reason(c.stream.native_handle(), hec) : where + ": " + failure;
        }
    }

    // HTTP CONNECT through the proxy to the API server (the connection's
    // deadline bounds it). The TLS handshake then runs inside the tunnel,
    // verifying the API server as without a proxy.
    awaitable<void> open_tunnel(connection& c, error_code& ec, std::string& failure) {
        const auto target = address_.host + ":" + std::to_string(address_.port);
        http::request<http::empty_body> req{http::verb::connect, target, 11};
        req.set(http::field::host, target);
        req.set(http::field::user_agent, opts_.user_agent);
        if (!proxy_->authorization.empty()) req.set(http::field::proxy_authorization, proxy_->authorization.reveal());
        const auto where = "proxy " + proxy_->display + " (tunnel to " + target + ")";
        if (auto [wec, n] = co_await http::async_write(c.tcp(), req, use_tuple); wec) {
            classify(wec, false, ec, failure);
            failure = where + ": " + failure;
            co_return;
        }
        http::response_parser<http::empty_body> parser;
        parser.skip(true); // a 2xx answer to CONNECT has no body: the tunnel follows
        auto [rec, n] = co_await http::async_read_header(c.tcp(), c.buffer, parser, use_tuple);
        if (rec) {
            classify(rec, false, ec, failure);
            failure = where + ": " + failure;
            co_return;
        }
        const auto& head = parser.get();
        const unsigned status = head.result_int();
        if (status / 100 != 2) {
            // 407 asks for other credentials (tinyproxy says 401), 403 is its rules.
            ec = status == 401 || status == 403 || status == 407 ? error::proxy_denied : error::proxy_failed;
            failure = where + ": refused: " + std::to_string(status) + " " + std::string(head.reason());
            co_return;
        }
        if (c.buffer.size() != 0) { // the API server speaks only after our ClientHello
            ec = error::protocol;
            failure = where + ": data after the proxy's answer, before the TLS handshake";
        }
    }

    // Host names are resolved without a thread (see resolver.hpp); IP
    // literals need no resolution at all. `host` as written (IPv6 in brackets or not).
    awaitable<endpoints> resolve(const std::string& host, std::uint16_t port, clock::time_point deadline, error_code& ec,
                                 std::string& failure) {
        const bool bracketed = host.size() > 2 && host.front() == '[';
        const auto bare = bracketed ? host.substr(1, host.size() - 2) : host;
        error_code parse_ec;
        auto ip = asio::ip::make_address(bare, parse_ec);
        if (!parse_ec) co_return endpoints{{ip, port}};
        auto [rec, eps] = co_await asio::async_initiate<decltype(use_tuple), void(error_code, endpoints)>(
            [&](auto handler) { async_resolve(strand_, bare, port, deadline, std::move(handler)); }, use_tuple);
        if (rec) {
            ec = rec;
            failure = "resolving \"" + bare + "\"" + (proxy_ ? " (the proxy)" : "") + ": " +
                      (rec == error::timeout ? "deadline passed" : "no address found");
        }
        co_return eps;
    }

    // --- TLS material from files ------------------------------------------

    // What identifies the current contents of the CA and client certificate
    // files: device, inode (a Secret volume swaps a symlink), size, mtime.
    std::string tls_files_stamp() const {
        if (cfg_.certificate_authority_file.empty() && cfg_.client_certificate_file.empty() && cfg_.client_key_file.empty()) return {};
        std::string stamp;
        for (const auto* file : {&cfg_.certificate_authority_file, &cfg_.client_certificate_file, &cfg_.client_key_file}) {
            struct stat st {};
            if (!file->empty() && ::stat(file->c_str(), &st) == 0)
                stamp += std::to_string(st.st_dev) + ":" + std::to_string(st.st_ino) + ":" + std::to_string(st.st_size) + ":" +
                         std::to_string(st.st_mtim.tv_sec) + "." + std::to_string(st.st_mtim.tv_nsec);
            stamp += ";";
        }
        return stamp;
    }

    // Before each request (three stat calls): if a file changed, new
    // connections use the new CA or client certificate, and idle ones
    // close (a new certificate is meant to be used; client-go closes its
    // connections too); busy ones close when they come back. A file that
    // cannot be used as it is now (missing, empty, or half written) leaves
    // the settings in use, with one warning per change of the files.
    void refresh_tls_files() {
        auto stamp = tls_files_stamp();
        if (stamp == tls_files_stamp_ || stamp == tls_files_refused_) return;
        auto next = tls_inputs_;
        try {
            auto read = [](const std::string& path) {
                std::ifstream in(path, std::ios::binary);
                if (!in) throw config_error(make_error_code(error::config_invalid), path + ": cannot read");
                std::ostringstream out;
                out << in.rdbuf();
                // Empty would mean "the system's CAs" or "no client
                // certificate": a file caught while being rewritten.
                if (out.str().empty()) throw config_error(make_error_code(error::config_invalid), path + ": empty");
                return out.str();
            };
            if (!cfg_.certificate_authority_file.empty()) next.certificate_authority_pem = read(cfg_.certificate_authority_file);
            const bool exec_certificate = exec_cred_ && !exec_cred_->client_certificate_pem.empty();
            if (!exec_certificate && !cfg_.client_certificate_file.empty()) next.client_certificate_pem = read(cfg_.client_certificate_file);
            if (!exec_certificate && !cfg_.client_key_file.empty()) next.client_key_pem = secret(read(cfg_.client_key_file));
            tls_ = make_tls_context(next);
        } catch (const config_error& e) {
            opts_.log(log_level::warning, [&] { return std::string("keeping the TLS settings in use: ") + e.what(); });
            tls_files_refused_ = std::move(stamp); // tried again when the files change again
            return;
        }
        if (!tls_files_stamp_.empty())
            opts_.log(log_level::info, [&] { return cfg_.source + ": certificate files changed: new connections use them"; });
        tls_inputs_ = std::move(next);
        tls_files_stamp_ = std::move(stamp);
        tls_files_refused_.clear();
        ++epoch_;
        idle_.clear();
    }

    // --- the pool -------------------------------------------------------

    // A request queued for a connection. release() hands it a connection,
    // discard() the right to open one (the slot it freed), and marks it
    // served at once: a wake-up can be neither given twice nor taken by a
    // request that came later. One that was served but will not use what
    // it got (cancelled) passes it on. Entries live in waiters_ until their
    // request resumes.
    struct pool_waiter {
        asio::steady_timer timer;
        std::unique_ptr<connection> handed;
        bool may_open = false;
        bool served = false;
    };

    awaitable<std::unique_ptr<connection>> acquire(clock::time_point deadline, error_code& ec) {
        refresh_tls_files(); // a rotated certificate retires the idle connections before one is reused
        const auto generation = generation_;
        auto aborted = [&] { return closed_ || generation != generation_; };
        if (aborted()) {
            ec = asio::error::operation_aborted;
            co_return nullptr;
        }
        if (queued_ == 0) { // nobody waits before us
            if (!idle_.empty()) {
                auto c = std::move(idle_.back());
                idle_.pop_back();
                busy_.insert(c.get());
                co_return c;
            }
            if (busy_.size() + opening_ < opts_.max_connections) co_return open_connection();
        }
        // Wait to be served, or the deadline.
        auto it = waiters_.insert(waiters_.end(), pool_waiter{asio::steady_timer(strand_, deadline)});
        ++queued_;
        co_await it->timer.async_wait(use_tuple);
        auto handed = std::move(it->handed);
        const bool may_open = it->may_open, served = it->served;
        waiters_.erase(it);
        if (!served) --queued_;
        if (may_open) --opening_;
        auto cs = co_await asio::this_coro::cancellation_state;
        if (aborted() || cs.cancelled() != asio::cancellation_type::none) {
            if (handed) release(std::move(handed));
            if (may_open) grant_slot();
            ec = asio::error::operation_aborted;
            co_return nullptr;
        }
        if (clock::now() < deadline) {
            if (handed) co_return handed;
            if (may_open) co_return open_connection();
        }
        // Served too late to use it: the next in line gets it.
        if (handed) release(std::move(handed));
        if (may_open) grant_slot();
        ec = error::timeout;
        co_return nullptr;
    }

    std::unique_ptr<connection> open_connection() {
        auto c = std::make_unique<connection>(strand_, *tls_);
        c->epoch = epoch_;
        busy_.insert(c.get());
        return c;
    }

    // The request that has waited longest and is not served yet.
    pool_waiter* next_waiter() {
        if (queued_ == 0) return nullptr;
        auto w = std::find_if(waiters_.begin(), waiters_.end(), [](const pool_waiter& p) { return !p.served; });
        w->served = true;
        --queued_;
        w->timer.cancel();
        return &*w;
    }

    void release(std::unique_ptr<connection> c) {
        if (c->epoch != epoch_) return discard(std::move(c)); // from before cancel() or a new certificate
        busy_.erase(c.get());
        if (closed_) return;
        if (auto* w = next_waiter()) {
            busy_.insert(c.get());
            w->handed = std::move(c);
            return;
        }
        idle_.push_back(std::move(c));
    }

    void discard(std::unique_ptr<connection> c) {
        busy_.erase(c.get());
        error_code ignored;
        c->tcp().socket().close(ignored);
        grant_slot();
    }

    // A slot for one more connection is free: the next waiter may open it.
    void grant_slot() {
        if (auto* w = next_waiter()) {
            ++opening_;
            w->may_open = true;
        }
    }

    void abort_all(bool for_good) {
        closed_ = closed_ || for_good;
        ++generation_;
        ++epoch_;
        idle_.clear();
        for (auto* c : busy_) c->tcp().cancel();
        for (auto& w : waiters_) w.timer.cancel();
    }

    asio::any_io_executor executor_;
    asio::strand<asio::any_io_executor> strand_;
    cluster_config cfg_;
    client_options opts_;
    server_address address_;
    cluster_config tls_inputs_;   // cfg_ with the certificates in use now (files re-read, the exec plugin's)
    // tls_files_stamp() when tls_inputs_ was read; at first, when the client
    // was made: the PEMs in cluster_config are used until a file changes
    // (a caller may have set them over what the loader read).
    std::string tls_files_stamp_;
    std::string tls_files_refused_; // a stamp whose files could not be used (warned once)
    std::unique_ptr<asio::ssl::context> tls_;
    token_source tokens_;
    std::optional<proxy_endpoint> proxy_;
    std::optional<exec_credential> exec_cred_;
    bool exec_running_ = false;
    std::list<asio::steady_timer> exec_waiters_;

    std::vector<std::unique_ptr<connection>> idle_;
    std::set<connection*> busy_;
    std::list<pool_waiter> waiters_; // oldest first
    std::size_t queued_ = 0;         // waiters not served yet
    std::size_t opening_ = 0;        // slots granted to waiters, not opened yet
    std::uint64_t epoch_ = 0;        // bumped by cancel() and a new client certificate
    mutable std::mutex authorized_mutex_; // authorized_ is read from any thread
    std::set<std::string> authorized_;     // authorization_key()s
    bool closed_ = false;
    std::uint64_t generation_ = 0; // bumped by cancel(): queued requests abort
};

} // namespace detail

client::client(executor_type ex, cluster_config cfg, client_options opts)
    : impl_(std::make_shared<detail::client_impl>(std::move(ex), std::move(cfg), std::move(opts))) {}

client::~client() {
    impl_->cancel(true);
}

client::executor_type client::get_executor() const noexcept {
    return impl_->executor();
}

const cluster_config& client::config() const noexcept {
    return impl_->config();
}

const client_options& client::options() const noexcept {
    return impl_->options();
}

void client::cancel() {
    impl_->cancel(false);
}

bool client::authorized_before(http_method m, std::string_view collection, bool streaming) const {
    return impl_->authorized_before(m, collection, streaming);
}

void client::start_stream(detail::client_impl* impl, http_request req,
                          boost::asio::any_completion_handler<void(error_code, response_stream)> handler) {
    impl->start_stream(std::move(req), std::move(handler));
}

unsigned response_stream::status() const noexcept {
    return impl_ ? impl_->status : 0;
}

const std::string& response_stream::error_body() const noexcept {
    static const std::string none;
    return impl_ ? impl_->error_body : none;
}

void response_stream::close() {
    if (impl_) impl_->close();
}

void response_stream::start_read_line(detail::stream_impl* impl, std::chrono::milliseconds idle,
                                      boost::asio::any_completion_handler<void(error_code, std::string)> handler) {
    if (!impl) throw std::logic_error("response_stream::read_line on a stream that was never opened");
    impl->start_read_line(idle, std::move(handler));
}

void client::start_request(detail::client_impl* impl, http_request req,
                           boost::asio::any_completion_handler<void(error_code, http_response)> handler) {
    impl->start(std::move(req), std::move(handler));
}

} // namespace leaselocker
