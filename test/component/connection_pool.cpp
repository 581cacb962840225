// The client's connection pool: every connection that comes back goes to
// the request that has waited longest, so no queued request waits, or times
// out, while a connection lies idle.
#include "support/printing.hpp"
#include "support/scripted_server.hpp"

#include <leaselocker/leaselocker.hpp>

#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/error.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/test/unit_test.hpp>

#include <future>
#include <mutex>
#include <thread>

namespace asio = boost::asio;
using namespace leaselocker;
using namespace std::chrono_literals;

namespace {

// The scripted server on a thread of its own, so that the client's thread
// can be held still while answers arrive: their completions, and the
// releases of their connections, then come together.
struct threaded_server {
    asio::io_context io;
    test::scripted_server server{io.get_executor()};
    asio::executor_work_guard<asio::io_context::executor_type> work = asio::make_work_guard(io);
    cluster_config config = server.config();
    std::thread thread;

    explicit threaded_server(std::function<test::reply(const test::recorded_request&)> handler) {
        server.on_request(std::move(handler)); // before the thread starts: no race on it
        thread = std::thread([this] { io.run(); });
    }
    ~threaded_server() {
        work.reset();
        io.stop();
        thread.join();
    }
};

// Runs io until `done()` (bounded).
template <class Done>
void run_until(asio::io_context& io, Done done, std::chrono::seconds limit = 20s) {
    const auto until = std::chrono::steady_clock::now() + limit;
    while (!done() && std::chrono::steady_clock::now() < until) io.run_one_for(50ms);
}

} // namespace

BOOST_AUTO_TEST_SUITE(connection_pool)

BOOST_AUTO_TEST_CASE(every_released_connection_goes_to_a_queued_request) {
    for (std::size_t max : {1u, 2u, 3u}) {
        BOOST_TEST_CONTEXT("max_connections " << max) {
            constexpr std::size_t requests = 10;
            asio::io_context io;
            // The server answers in rounds: it holds each request until
            // `max` are in (or the last one is), then stops the client's
            // thread and lets the whole round go at once.
            std::mutex mutex;
            std::vector<std::function<void()>> held;
            std::vector<std::size_t> rounds;
            std::size_t arrived = 0;
            threaded_server s([&](const test::recorded_request&) {
                test::reply r;
                r.hold = [&](std::function<void()> go) {
                    std::lock_guard lock(mutex);
                    ++arrived;
                    held.push_back(std::move(go));
                    if (held.size() < max && arrived < requests) return;
                    rounds.push_back(held.size());
                    auto still = std::make_shared<std::promise<void>>();
                    auto client_still = still->get_future();
                    asio::post(io, [still] {
                        still->set_value();
                        std::this_thread::sleep_for(100ms); // the answers arrive meanwhile
                    });
                    if (client_still.wait_for(10s) != std::future_status::ready) return; // the client's thread is gone
                    for (auto& release : held) release();
                    held.clear();
                };
                return r;
            });
            client api{io.get_executor(), s.config, {.max_connections = max}};
            std::size_t ok = 0;
            std::vector<error_code> failed;
            for (std::size_t i = 0; i < requests; ++i)
                api.request(http_request{.target = "/x", .timeout = 30s}, [&](error_code ec, http_response resp) {
                    if (!ec && resp.status == 200)
                        ++ok;
                    else
                        failed.push_back(ec);
                });
            run_until(io, [&] { return ok + failed.size() == requests; }, 40s);
            BOOST_TEST(ok == requests);
            for (auto& ec : failed) BOOST_TEST_MESSAGE("failed: " << ec.message());
            std::lock_guard lock(mutex);
            // Every round but the last was full: the pool never let a
            // connection sit idle while a request waited.
            std::vector<std::size_t> expected(requests / max, max);
            if (requests % max) expected.push_back(requests % max);
            BOOST_TEST(rounds == expected, boost::test_tools::per_element());
        }
    }
}

BOOST_AUTO_TEST_CASE(a_woken_request_that_is_cancelled_passes_its_connection_on) {
    // One connection, three requests: r on it, a and b queued. r's handler
    // cancels a, which has just been handed the connection but has not run
    // yet: b must get it, not wait until its deadline.
    asio::io_context io;
    test::scripted_server server{io.get_executor()};
    server.on_request([](const test::recorded_request&) { return test::reply{.delay = 100ms}; });
    client api{io.get_executor(), server.config(), {.max_connections = 1}};
    asio::cancellation_signal cancel_a;
    error_code a_result, b_result;
    unsigned b_status = 0;
    int done = 0;
    api.request(http_request{.target = "/r", .timeout = 3s}, [&](error_code, http_response) {
        ++done;
        cancel_a.emit(asio::cancellation_type::terminal);
    });
    api.request(http_request{.target = "/a", .timeout = 3s}, asio::bind_cancellation_slot(cancel_a.slot(), [&](error_code ec, http_response) {
        a_result = ec;
        ++done;
    }));
    api.request(http_request{.target = "/b", .timeout = 3s}, [&](error_code ec, http_response resp) {
        b_result = ec;
        b_status = resp.status;
        ++done;
    });
    run_until(io, [&] { return done == 3; });
    BOOST_TEST_REQUIRE(done == 3);
    BOOST_TEST(a_result == asio::error::operation_aborted, a_result.message());
    BOOST_TEST(!b_result, b_result.message());
    BOOST_TEST(b_status == 200u);
    BOOST_TEST_REQUIRE(server.requests().size() == 2u);
    BOOST_TEST(server.requests()[0].target == "/r");
    BOOST_TEST(server.requests()[1].target == "/b"); // a was never sent
}

BOOST_AUTO_TEST_CASE(a_connection_handed_on_before_cancel_is_not_kept) {
    // One connection: r on it, a queued. r's handler cancels the client just
    // after r's connection was handed to a, before a ran: a ends, and that
    // connection is closed (cancel() starts afresh), so the next request
    // opens a new one.
    asio::io_context io;
    test::scripted_server server{io.get_executor()};
    client api{io.get_executor(), server.config(), {.max_connections = 1}};
    error_code a_result;
    int done = 0;
    api.request(http_request{.target = "/r", .timeout = 3s}, [&](error_code, http_response) {
        ++done;
        api.cancel();
    });
    api.request(http_request{.target = "/a", .timeout = 3s}, [&](error_code ec, http_response) {
        a_result = ec;
        ++done;
    });
    run_until(io, [&] { return done == 2; });
    BOOST_TEST(a_result == asio::error::operation_aborted, a_result.message());
    bool next_done = false;
    unsigned status = 0;
    api.request(http_request{.target = "/next", .timeout = 3s}, [&](error_code, http_response resp) {
        status = resp.status;
        next_done = true;
    });
    run_until(io, [&] { return next_done; });
    BOOST_TEST(status == 200u);
    BOOST_TEST(server.connections_accepted() == 2u);
}

BOOST_AUTO_TEST_SUITE_END()
