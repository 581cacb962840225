// A leader-only worker next to an HTTP server, on one io_context: every
// replica serves /healthz, /leader and /metrics; only the leader works.
//
//   leaselocker_leader_server [--port N] [--check]
//
// --check: ask its own endpoints once it leads, print the answers, step
// down (release) and exit: what CI runs. Without it: serve until SIGINT or
// SIGTERM, then step down.
#include <leaselocker/leaselocker.hpp>

#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include <iostream>
#include <string>

namespace asio = boost::asio;
namespace http = boost::beast::http;
using tcp = asio::ip::tcp;
using namespace std::chrono_literals;

// The leader's work: stopped by cancellation the moment leadership ends.
asio::awaitable<void> lead(leaselocker::fencing_token token) {
    for (int tick = 0;; ++tick) {
        std::cout << "leading: tick " << tick << " (fencing token " << token.sequence << ")" << std::endl;
        asio::steady_timer t{co_await asio::this_coro::executor, 1s};
        co_await t.async_wait(asio::use_awaitable); // throws operation_aborted when leadership ends
    }
}

struct endpoints {
    const leaselocker::leader_elector& elector;
    const leaselocker::healthz_adaptor& health;
    const leaselocker::metrics_registry& metrics;

    http::response<http::string_body> answer(const http::request<http::string_body>& req) const {
        http::response<http::string_body> res{http::status::ok, req.version()};
        res.set(http::field::content_type, "text/plain");
        if (req.target() == "/healthz") {
            auto ec = health.check();
            if (ec) res.result(http::status::internal_server_error);
            res.body() = ec ? std::string(health.name()) + " failed: " + ec.message() + "\n" : "ok\n";
        } else if (req.target() == "/leader") {
            res.body() = elector.current_leader() + (elector.is_leader() ? " (this replica)\n" : "\n");
        } else if (req.target() == "/metrics") {
            res.set(http::field::content_type, "text/plain; version=0.0.4");
            res.body() = metrics.prometheus_text();
        } else {
            res.result(http::status::not_found);
            res.body() = "try /healthz, /leader or /metrics\n";
        }
        res.prepare_payload();
        return res;
    }
};

asio::awaitable<void> serve_one(tcp::socket socket, endpoints e) {
    boost::beast::flat_buffer buffer;
    for (;;) {
        http::request<http::string_body> req;
        auto [ec, n] = co_await http::async_read(socket, buffer, req, asio::as_tuple(asio::use_awaitable));
        if (ec) co_return;
        co_await http::async_write(socket, e.answer(req), asio::use_awaitable);
        if (!req.keep_alive()) co_return;
    }
}

asio::awaitable<void> serve(tcp::acceptor& acceptor, endpoints e) {
    for (;;) {
        auto [ec, socket] = co_await acceptor.async_accept(asio::as_tuple(asio::use_awaitable));
        if (ec) co_return; // closed: shutting down
        asio::co_spawn(acceptor.get_executor(), serve_one(std::move(socket), e), asio::detached);
    }
}

asio::awaitable<std::string> get(unsigned short port, const std::string& target) {
    tcp::socket s{co_await asio::this_coro::executor};
    co_await s.async_connect({asio::ip::make_address("127.0.0.1"), port}, asio::use_awaitable);
    http::request<http::string_body> req{http::verb::get, target, 11};
    req.set(http::field::host, "127.0.0.1");
    co_await http::async_write(s, req, asio::use_awaitable);
    boost::beast::flat_buffer buffer;
    http::response<http::string_body> res;
    co_await http::async_read(s, buffer, res, asio::use_awaitable);
    co_return std::to_string(res.result_int()) + " " + res.body();
}

int main(int argc, char** argv) try {
    unsigned short port = 8080;
    bool check = false;
    for (int i = 1; i < argc; ++i) {
        const std::string a = argv[i];
        if (a == "--port" && i + 1 < argc) port = static_cast<unsigned short>(std::stoi(argv[++i]));
        else if (a == "--check") check = true;
        else {
            std::cerr << "usage: leaselocker_leader_server [--port N] [--check]\n";
            return 2;
        }
    }
    asio::io_context io;
    leaselocker::client api{io.get_executor(), leaselocker::load_default()};
    auto metrics = std::make_shared<leaselocker::metrics_registry>();

    leaselocker::elector_config cfg;
    cfg.lock.lease_duration = 15s;
    cfg.lock.release_on_cancel = true; // the work has stopped by then: hand over at once
    cfg.lock.metrics = metrics;
    cfg.on_started_leading = [](leaselocker::leadership l, auto done) { asio::co_spawn(l.executor, lead(l.token), std::move(done)); };
    cfg.on_stopped_leading = [] { std::cout << "stopped leading" << std::endl; };
    cfg.on_new_leader = [](const std::string& who) { std::cout << "leader: " << (who.empty() ? "nobody" : who) << std::endl; };
    leaselocker::leader_elector elector{api, {"", "leader-server"}, cfg};
    leaselocker::healthz_adaptor health{20s};
    health.set_elector(&elector);

    tcp::acceptor acceptor{io, {asio::ip::make_address("127.0.0.1"), check ? static_cast<unsigned short>(0) : port}};
    port = acceptor.local_endpoint().port();
    std::cout << "serving http://127.0.0.1:" << port << "/healthz /leader /metrics as " << elector.identity() << std::endl;
    asio::co_spawn(io, serve(acceptor, {elector, health, *metrics}), asio::detached);

    asio::cancellation_signal stop;
    asio::signal_set signals{io, SIGINT, SIGTERM};
    int status = 0;
    bool finished = false;
    elector.run(asio::bind_cancellation_slot(stop.slot(), [&](leaselocker::error_code ec) {
        if (ec != asio::error::operation_aborted) {
            std::cerr << "leader election ended: " << ec.message() << "\n";
            status = 1;
        }
        finished = true;
        signals.cancel();
        acceptor.close();
    }));
    signals.async_wait([&](leaselocker::error_code ec, int) {
        if (!ec) stop.emit(asio::cancellation_type::terminal);
    });
    if (check)
        asio::co_spawn(io, [&]() -> asio::awaitable<void> {
            while (!elector.is_leader()) {
                if (finished) co_return; // run() failed: nothing to ask
                asio::steady_timer t{io, 50ms};
                co_await t.async_wait(asio::use_awaitable);
            }
            for (const char* target : {"/healthz", "/leader", "/metrics"}) {
                auto body = co_await get(port, target);
                std::cout << "GET " << target << " -> " << body.substr(0, body.find("leaselocker_acquire")) << std::endl;
            }
            signals.cancel();
            stop.emit(asio::cancellation_type::terminal);
        }, [](std::exception_ptr e) { if (e) std::rethrow_exception(e); });
    io.run();
    return status;
} catch (const std::exception& e) { // no usable kubeconfig, the port taken
    std::cerr << "leader_server: " << e.what() << "\n";
    return 1;
}
