// The library starts no thread: not for timers, not for TLS, not for
// resolving a host name (Asio's resolver would), not for exec plugins.
#include "support/printing.hpp"
#include "support/run.hpp"
#include "support/scripted_server.hpp"

#include <leaselocker/leaselocker.hpp>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/test/unit_test.hpp>

#include <fstream>

namespace asio = boost::asio;
using namespace leaselocker;
using namespace std::chrono_literals;

namespace {

int thread_count() {
    std::ifstream status("/proc/self/status");
    for (std::string line; std::getline(status, line);)
        if (line.starts_with("Threads:")) return std::stoi(line.substr(8));
    return -1;
}

std::pair<error_code, unsigned> send(asio::io_context& io, client& c, std::chrono::milliseconds timeout = 5s) {
    return test::run(io, [&]() -> asio::awaitable<std::pair<error_code, unsigned>> {
        http_request req{.target = "/x", .timeout = timeout};
        auto [ec, resp] = co_await c.request(std::move(req), asio::as_tuple(asio::use_awaitable));
        co_return std::pair{ec, resp.status};
    }());
}

} // namespace

BOOST_AUTO_TEST_SUITE(no_threads)

BOOST_AUTO_TEST_CASE(a_server_given_by_name_is_resolved_without_a_thread) {
    const int before = thread_count();
    BOOST_TEST(before == 1);
    asio::io_context io;
    test::scripted_server server{io.get_executor()};
    auto cfg = server.config();
    cfg.server = "https://localhost:" + std::to_string(server.port()); // /etc/hosts; the certificate names localhost
    client c{io.get_executor(), cfg};
    for (int i = 0; i < 3; ++i) {
        auto [ec, status] = send(io, c);
        BOOST_TEST(!ec, ec.message());
        BOOST_TEST(status == 200u);
        c.cancel(); // drop the connection: the next request resolves again
    }
    BOOST_TEST(thread_count() == before);
}

BOOST_AUTO_TEST_SUITE_END()
