#include "support/scripted_server.hpp"
#include "support/test_pki.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>

namespace leaselocker::test {

namespace asio = boost::asio;
namespace http = boost::beast::http;
using tcp = asio::ip::tcp;
constexpr auto use_tuple = asio::as_tuple(asio::use_awaitable);

struct scripted_server::state : std::enable_shared_from_this<state> {
    state(asio::any_io_executor ex, bool use_tls, const std::string& cert_pem, const std::string& key_pem)
        : tls(use_tls), acceptor(ex, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0)), ssl(asio::ssl::context::tls_server) {
        ssl.use_certificate_chain(asio::buffer(cert_pem));
        ssl.use_private_key(asio::buffer(key_pem), asio::ssl::context::pem);
    }

    bool tls;
    tcp::acceptor acceptor;
    asio::ssl::context ssl;
    std::deque<reply> queue;
    std::function<reply(const recorded_request&)> handler;
    std::vector<recorded_request> requests;
    bool keep_requests = true;
    std::size_t accepted = 0;
    std::vector<std::weak_ptr<tcp::socket>> sockets;

    reply next(const recorded_request& r) {
        if (!queue.empty()) {
            reply out = std::move(queue.front());
            queue.pop_front();
            return out;
        }
        return handler ? handler(r) : reply{};
    }

    static std::string head(const reply& r) {
        std::string out = "HTTP/1.1 " + std::to_string(r.status) + " Scripted\r\n";
        out += "Content-Type: application/json\r\nContent-Length: " + std::to_string(r.body.size()) + "\r\n";
        out += "Date: Thu, 26 Nov 2026 10:00:00 GMT\r\n";
        for (const auto& [k, v] : r.headers) out += k + ": " + v + "\r\n";
        if (r.how == reply::mode::close_after) out += "Connection: close\r\n";
        return out + "\r\n";
    }

    template <class Stream>
    asio::awaitable<void> serve(Stream& stream, tcp::socket& socket) {
        boost::beast::flat_buffer buffer;
        for (;;) {
            http::request<http::string_body> req;
            auto [rec, rn] = co_await http::async_read(stream, buffer, req, use_tuple);
            if (rec) co_return;
            recorded_request rr{std::string(req.method_string()), std::string(req.target()),
                                std::string(req[http::field::authorization]), req.body()};
            if (keep_requests) requests.push_back(rr);
            reply r = next(rr);
            if (r.hold) {
                auto gate = std::make_shared<asio::steady_timer>(socket.get_executor(), std::chrono::seconds(10));
                r.hold([gate, ex = socket.get_executor()] { asio::post(ex, [gate] { gate->cancel(); }); });
                co_await gate->async_wait(use_tuple);
            }
            if (r.delay.count() > 0) {
                asio::steady_timer t(socket.get_executor(), r.delay);
                co_await t.async_wait(use_tuple);
            }
            if (r.how == reply::mode::close_without_reply) co_return;
            std::string text = head(r);
            if (r.how == reply::mode::reset_mid_body) {
                text += r.body.substr(0, r.body.size() / 2);
                co_await asio::async_write(stream, asio::buffer(text), use_tuple);
                socket.set_option(asio::socket_base::linger(true, 0)); // close sends RST
                socket.close();
                co_return;
            }
            if (r.how == reply::mode::slow_body) {
                co_await asio::async_write(stream, asio::buffer(text), use_tuple);
                for (char c : r.body) {
                    asio::steady_timer t(socket.get_executor(), r.byte_interval);
                    co_await t.async_wait(use_tuple);
                    auto [wec, wn] = co_await asio::async_write(stream, asio::buffer(&c, 1), use_tuple);
                    if (wec) co_return;
                }
                continue;
            }
            text += r.body;
            auto [wec, wn] = co_await asio::async_write(stream, asio::buffer(text), use_tuple);
            if (wec || r.how == reply::mode::close_after) co_return;
        }
    }

    static asio::awaitable<void> connection(std::shared_ptr<state> self, std::shared_ptr<tcp::socket> socket) {
        if (self->tls) {
            asio::ssl::stream<tcp::socket&> stream(*socket, self->ssl);
            auto [hec] = co_await stream.async_handshake(asio::ssl::stream_base::server, use_tuple);
            if (!hec) co_await self->serve(stream, *socket);
        } else {
            co_await self->serve(*socket, *socket);
        }
        boost::system::error_code ignored;
        socket->close(ignored);
    }

    static asio::awaitable<void> accept_loop(std::shared_ptr<state> self) {
        for (;;) {
            auto socket = std::make_shared<tcp::socket>(self->acceptor.get_executor());
            auto [ec] = co_await self->acceptor.async_accept(*socket, use_tuple);
            if (ec) co_return;
            ++self->accepted;
            self->sockets.push_back(socket);
            asio::co_spawn(self->acceptor.get_executor(), connection(self, socket), asio::detached);
        }
    }
};

scripted_server::scripted_server(asio::any_io_executor ex, bool tls)
    : state_(std::make_shared<state>(ex, tls, pki().cert_pem, pki().key_pem)) {
    asio::co_spawn(ex, state::accept_loop(state_), asio::detached);
}

scripted_server::scripted_server(asio::any_io_executor ex, const std::string& cert_pem, const std::string& key_pem)
    : state_(std::make_shared<state>(ex, true, cert_pem, key_pem)) {
    asio::co_spawn(ex, state::accept_loop(state_), asio::detached);
}

scripted_server::~scripted_server() {
    boost::system::error_code ignored;
    state_->acceptor.close(ignored);
    for (auto& w : state_->sockets)
        if (auto s = w.lock()) s->close(ignored);
}

cluster_config scripted_server::config() const {
    cluster_config cfg;
    cfg.server = std::string(state_->tls ? "https" : "http") + "://127.0.0.1:" + std::to_string(port());
    if (state_->tls) cfg.certificate_authority_pem = pki().ca_pem;
    cfg.source = "scripted test server";
    return cfg;
}

unsigned short scripted_server::port() const {
    return state_->acceptor.local_endpoint().port();
}

void scripted_server::push(reply r) {
    state_->queue.push_back(std::move(r));
}

void scripted_server::on_request(std::function<reply(const recorded_request&)> handler) {
    state_->handler = std::move(handler);
}

void scripted_server::keep_requests(bool keep) {
    state_->keep_requests = keep;
}

const std::vector<recorded_request>& scripted_server::requests() const {
    return state_->requests;
}

std::size_t scripted_server::connections_accepted() const {
    return state_->accepted;
}

} // namespace leaselocker::test
