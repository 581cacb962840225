// One client used from an io_context run by several threads: all state is
// behind the client's strand, so concurrent requests neither race nor get lost.
#include "support/printing.hpp"
#include "support/scripted_server.hpp"

#include <leaselocker/leaselocker.hpp>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/test/unit_test.hpp>

#include <atomic>
#include <thread>

namespace asio = boost::asio;
using namespace leaselocker;

BOOST_AUTO_TEST_SUITE(multithreaded)

BOOST_AUTO_TEST_CASE(concurrent_requests_from_two_threads) {
    // The server on its own single thread; the client's context on two.
    asio::io_context server_io, client_io;
    test::scripted_server server{server_io.get_executor()};
    server.on_request([](const test::recorded_request& r) {
        return test::reply{.body = R"({"kind":"Lease","metadata":{"name":")" + r.target.substr(r.target.rfind('/') + 1) +
                                   R"(","resourceVersion":"1"}})"};
    });
    auto server_work = asio::make_work_guard(server_io);
    std::thread server_thread([&] { server_io.run(); });

    client api{client_io.get_executor(), server.config(), {.max_connections = 3}};
    lease_client leases{api, "ns"};
    constexpr int requests = 200;
    std::atomic<int> ok{0}, mismatched{0};
    for (int i = 0; i < requests; ++i) {
        asio::co_spawn(client_io, [&, i]() -> asio::awaitable<void> {
            std::string name = "lease-" + std::to_string(i);
            auto [ec, l] = co_await leases.get(name, asio::as_tuple(asio::use_awaitable));
            if (!ec && l.metadata.name == name) ++ok;
            else ++mismatched;
        }, asio::detached);
    }
    std::thread second([&] { client_io.run_for(std::chrono::seconds(60)); });
    client_io.run_for(std::chrono::seconds(60));
    second.join();
    server_work.reset();
    server_io.stop();
    server_thread.join();

    BOOST_TEST(ok.load() == requests);
    BOOST_TEST(mismatched.load() == 0);
    BOOST_TEST(server.connections_accepted() <= 3u); // the pool's bound held
}

BOOST_AUTO_TEST_CASE(a_watchs_resource_version_is_read_from_another_thread_while_it_parses) {
    // lease_watch::resource_version() is read from outside the watch's
    // strand (a shared watch reads it on its own strand when it widens);
    // the watch writes it on every event it parses. Here one thread runs
    // the watch through a long stream of events while another reads.
    asio::io_context server_io, client_io;
    test::scripted_server server{server_io.get_executor()};
    constexpr int events = 2000;
    std::string stream;
    for (int i = 1; i <= events; ++i)
        stream += R"({"type":"MODIFIED","object":{"kind":"Lease","metadata":{"name":"t","namespace":"ns","resourceVersion":")" +
                  std::to_string(i) + R"("},"spec":{"holderIdentity":"h"}}})" + "\n";
    server.on_request([&](const test::recorded_request&) { return test::reply{.body = stream}; });
    auto server_work = asio::make_work_guard(server_io);
    std::thread server_thread([&] { server_io.run(); });

    client api{client_io.get_executor(), server.config()};
    lease_client leases{api, "ns"};
    lease_watch watch{leases, "t"};
    std::atomic<int> seen{0};
    std::atomic<bool> done{false};
    asio::co_spawn(client_io, [&]() -> asio::awaitable<void> {
        for (int i = 0; i < events; ++i) {
            auto [ec, ev] = co_await watch.next(asio::as_tuple(asio::use_awaitable));
            if (ec) break;
            ++seen;
        }
        done = true;
    }, asio::detached);
    std::thread runner([&] { client_io.run_for(std::chrono::seconds(60)); });
    std::size_t reads = 0;
    std::string last;
    while (!done && reads < 10'000'000) {
        last = watch.resource_version();
        ++reads;
    }
    runner.join();
    server_work.reset();
    server_io.stop();
    server_thread.join();
    BOOST_TEST(seen.load() == events);
    BOOST_TEST(watch.resource_version() == std::to_string(events));
    BOOST_TEST_MESSAGE(reads << " reads of the version while the watch parsed");
}

BOOST_AUTO_TEST_SUITE_END()
