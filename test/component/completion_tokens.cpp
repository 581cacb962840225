// Every public operation with each kind of completion token: a plain
// callback, use_awaitable, use_future (from a thread that does not run the
// io_context) and deferred. The handler runs on its associated executor and
// never inside the initiating call.
#include "support/printing.hpp"
#include "support/run.hpp"
#include "support/scripted_server.hpp"

#include <leaselocker/leaselocker.hpp>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/bind_executor.hpp>
#include <boost/asio/deferred.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/use_future.hpp>
#include <boost/test/unit_test.hpp>

#include <thread>

namespace asio = boost::asio;
using namespace leaselocker;

namespace {

const std::string a_lease = R"({"kind":"Lease","metadata":{"name":"t","namespace":"ns","resourceVersion":"7"},"spec":{"holderIdentity":"x"}})";

struct fixture {
    asio::io_context io;
    test::scripted_server server{io.get_executor()};
    client api{io.get_executor(), server.config()};
    lease_client leases{api, "ns"};
    fixture() {
        server.on_request([](const test::recorded_request& r) {
            if (r.target.find("watch=true") != std::string::npos)
                return test::reply{.body = R"({"type":"ADDED","object":)" + a_lease + "}\n"};
            return test::reply{.body = a_lease};
        });
    }

    // Runs io until `done`, bounded.
    void run_until(const bool& done) {
        for (int i = 0; i < 200 && !done; ++i) io.run_one_for(std::chrono::milliseconds(50));
        BOOST_TEST_REQUIRE(done);
    }

    // A callback bound to a strand: it must run on that strand, after the
    // initiating call returned.
    template <class Initiate>
    void check_callback(Initiate initiate, error_code expected = {}) {
        auto strand = asio::make_strand(io);
        bool initiating = true, done = false, on_strand = false;
        error_code result;
        initiate(asio::bind_executor(strand, [&](error_code ec, auto&&...) {
            BOOST_TEST(!initiating);
            on_strand = strand.running_in_this_thread();
            result = ec;
            done = true;
        }));
        initiating = false;
        run_until(done);
        BOOST_TEST(on_strand);
        BOOST_TEST(result == expected, result.message());
    }
};

} // namespace

BOOST_AUTO_TEST_SUITE(completion_tokens)

BOOST_FIXTURE_TEST_CASE(callbacks_run_on_their_executor_never_inline, fixture) {
    lease l;
    l.metadata.name = "t";
    l.metadata.resource_version = "7";
    check_callback([&](auto cb) { api.request(http_request{.target = "/x"}, std::move(cb)); });
    check_callback([&](auto cb) { leases.get("t", std::move(cb)); });
    check_callback([&](auto cb) { leases.create(l, std::move(cb)); });
    check_callback([&](auto cb) { leases.replace(l, std::move(cb)); });
    check_callback([&](auto cb) { leases.remove("t", {}, std::move(cb)); });
    lease_watch watch{leases, "t"};
    check_callback([&](auto cb) { watch.next(std::move(cb)); });
}

BOOST_FIXTURE_TEST_CASE(an_error_found_before_any_io_is_still_not_inline, fixture) {
    check_callback([&](auto cb) { leases.get("Invalid Name", std::move(cb)); }, error::invalid);
    BOOST_TEST(server.requests().empty());
}

BOOST_FIXTURE_TEST_CASE(use_awaitable, fixture) {
    auto holder = test::run(io, [&]() -> asio::awaitable<std::string> {
        http_request req{.target = "/x"}; // named: see the GCC 12 note in README
        auto resp = co_await api.request(std::move(req), asio::use_awaitable);
        BOOST_TEST(resp.status == 200u);
        lease got = co_await leases.get("t", asio::use_awaitable);
        lease_watch watch{leases, "t"};
        watch_event ev = co_await watch.next(asio::use_awaitable);
        BOOST_TEST((ev.type == watch_event_type::added));
        co_return *got.spec.holder_identity;
    }());
    BOOST_TEST(holder == "x");
}

BOOST_FIXTURE_TEST_CASE(errors_become_exceptions_with_use_awaitable, fixture) {
    server.push({.status = 404, .body = R"({"kind":"Status","reason":"NotFound","code":404})"});
    BOOST_CHECK_EXCEPTION(test::run(io, leases.get("t", asio::use_awaitable)), boost::system::system_error,
                          [](const auto& e) { return e.code() == error::not_found; });
}

BOOST_FIXTURE_TEST_CASE(use_future_from_another_thread, fixture) {
    auto work = asio::make_work_guard(io);
    std::thread runner([&] { io.run(); });
    // This thread does not run io: it initiates and blocks on the futures.
    auto got = leases.get("t", asio::use_future);
    auto resp = api.request(http_request{.target = "/x"}, asio::use_future);
    BOOST_TEST(*got.get().spec.holder_identity == "x");
    BOOST_TEST(resp.get().status == 200u);
    work.reset();
    io.stop();
    runner.join();
}

BOOST_FIXTURE_TEST_CASE(deferred_operations_start_when_invoked, fixture) {
    auto op = leases.get("t", asio::deferred);
    io.poll();
    BOOST_TEST(server.requests().empty()); // nothing sent until invoked
    bool done = false;
    std::move(op)([&](error_code ec, lease l) {
        BOOST_TEST(!ec);
        BOOST_TEST(*l.spec.holder_identity == "x");
        done = true;
    });
    run_until(done);
    BOOST_TEST(server.requests().size() == 1u);
    // The default token is deferred too, so composition needs no token at all.
    auto chained = leases.get("t") | asio::deferred([&](error_code ec, lease l) {
        return asio::deferred.values(ec, l.metadata.resource_version);
    });
    done = false;
    std::move(chained)([&](error_code ec, std::string rv) {
        BOOST_TEST(!ec);
        BOOST_TEST(rv == "7");
        done = true;
    });
    run_until(done);
}

BOOST_AUTO_TEST_SUITE_END()
