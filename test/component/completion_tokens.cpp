// Every public asynchronous operation with each kind of completion token: a
// plain callback, use_awaitable, use_future (from a thread that does not
// run the io_context) and deferred. The handler runs on its associated
// executor, never inside the initiating call, and holds work there.
//
// The operations: client::request, client::open_stream,
// response_stream::read_line; lease_client get, create, replace, remove;
// lease_watch::next; lease_watch_hub::subscription::next; lease_locker
// lock, try_lock, unlock, unlock_with_retry, wait_lost.
#include "support/printing.hpp"
#include "support/run.hpp"
#include "support/scripted_lease.hpp"
#include "support/scripted_server.hpp"

#include <leaselocker/leaselocker.hpp>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/bind_executor.hpp>
#include <boost/asio/deferred.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/use_future.hpp>
#include <boost/test/unit_test.hpp>

#include <atomic>
#include <thread>

namespace asio = boost::asio;
using namespace leaselocker;
using namespace std::chrono_literals;

namespace {

// Lease "t" for the Lease API and watches (held by "x", version 7); the
// lockers use Lease "lk", kept by a scripted_lease.
const std::string a_lease = R"({"kind":"Lease","metadata":{"name":"t","namespace":"ns","resourceVersion":"7"},"spec":{"holderIdentity":"x"}})";

struct server_script {
    test::scripted_lease locker_lease{"ns", "lk"};
    // Requests sent, but for the lockers' PUTs and the watches: a renewal
    // may go out at any time, and so may a shared watch re-opening, so
    // "nothing sent before invoked" counts the rest, and watches apart.
    std::shared_ptr<std::atomic<int>> sent = std::make_shared<std::atomic<int>>(0);
    std::shared_ptr<std::atomic<int>> watches = std::make_shared<std::atomic<int>>(0);

    // A watch opened afresh gets an ADDED event; one re-opened from a
    // version gets no answer (held open), so a shared watch waits instead
    // of re-opening in a loop.
    std::function<test::reply(const test::recorded_request&)> handler(std::chrono::milliseconds delay = {}) {
        return [sent = sent, watches = watches, delay, lk = locker_lease.handler()](const test::recorded_request& r) {
            const bool for_locker = r.target.find("/leases/lk") != std::string::npos || r.body.find("\"lk\"") != std::string::npos;
            const bool watch = r.target.find("watch=true") != std::string::npos;
            ++*(watch ? watches : sent);
            if (for_locker && r.method == "PUT") --*sent;
            if (for_locker) return lk(r);
            if (watch) {
                if (r.target.find("resourceVersion=") != std::string::npos) return test::reply{.hold = [](std::function<void()>) {}};
                return test::reply{.body = R"({"type":"ADDED","object":)" + a_lease + "}\n", .delay = delay};
            }
            if (r.target == "/stream") return test::reply{.body = "first\nsecond\n", .delay = delay};
            return test::reply{.body = a_lease, .delay = delay};
        };
    }
};

lock_config polling(const std::string& identity) {
    lock_config c{.lease_duration = 3s, .renew_deadline = 2s, .retry_period = 500ms, .identity = identity};
    c.use_watch = false; // the scripted Lease has no watch
    return c;
}

struct fixture {
    asio::io_context io;
    server_script script;
    test::scripted_server server{io.get_executor()};
    client api{io.get_executor(), server.config()};
    lease_client leases{api, "ns"};
    lease_locker locker{api, {"ns", "lk"}, polling("me")};
    lease example;

    fixture() {
        server.on_request(script.handler());
        example.metadata.name = "t";
        example.metadata.resource_version = "7";
    }

    // Runs io until `done`, bounded.
    void run_until(const bool& done) {
        for (int i = 0; i < 200 && !done; ++i) io.run_one_for(std::chrono::milliseconds(50));
        BOOST_TEST_REQUIRE(done);
    }

    // A callback bound to a strand: it must run on that strand, after the
    // initiating call returned.
    template <class Initiate>
    void check_callback(const char* what, Initiate initiate, error_code expected = {}) {
        BOOST_TEST_CONTEXT(what) {
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
    }
};

} // namespace

BOOST_AUTO_TEST_SUITE(completion_tokens)

BOOST_FIXTURE_TEST_CASE(callbacks_run_on_their_executor_never_inline, fixture) {
    check_callback("request", [&](auto cb) { api.request(http_request{.target = "/x"}, std::move(cb)); });
    check_callback("open_stream", [&](auto cb) { api.open_stream(http_request{.target = "/stream"}, std::move(cb)); });
    auto stream = test::run(io, api.open_stream(http_request{.target = "/stream"}, asio::use_awaitable));
    check_callback("read_line", [&](auto cb) { stream.read_line(5s, std::move(cb)); });
    check_callback("get", [&](auto cb) { leases.get("t", std::move(cb)); });
    check_callback("create", [&](auto cb) { leases.create(example, std::move(cb)); });
    check_callback("replace", [&](auto cb) { leases.replace(example, std::move(cb)); });
    check_callback("remove", [&](auto cb) { leases.remove("t", {}, std::move(cb)); });
    lease_watch watch{leases, "t"};
    check_callback("lease_watch::next", [&](auto cb) { watch.next(std::move(cb)); });
    lease_watch_hub hub{leases};
    auto subscription = hub.subscribe("t", "");
    check_callback("subscription::next", [&](auto cb) { subscription.next(std::move(cb)); });

    check_callback("lock", [&](auto cb) { locker.lock(std::move(cb)); });
    check_callback("try_lock", [&](auto cb) { locker.try_lock(std::move(cb)); });
    bool lost_done = false;
    auto strand = asio::make_strand(io);
    locker.wait_lost(asio::bind_executor(strand, [&](error_code ec) {
        BOOST_TEST(ec == asio::error::operation_aborted); // unlocked, not lost
        BOOST_TEST(strand.running_in_this_thread());
        lost_done = true;
    }));
    check_callback("unlock", [&](auto cb) { locker.unlock(std::move(cb)); });
    run_until(lost_done);
    check_callback("unlock_with_retry", [&](auto cb) { locker.unlock_with_retry(std::move(cb)); });
}

BOOST_FIXTURE_TEST_CASE(an_error_found_before_any_io_is_still_not_inline, fixture) {
    check_callback("get", [&](auto cb) { leases.get("Invalid Name", std::move(cb)); }, error::invalid);
    check_callback("wait_lost while not held", [&](auto cb) { locker.wait_lost(std::move(cb)); }, asio::error::operation_aborted);
    BOOST_TEST(server.requests().empty());
}

BOOST_FIXTURE_TEST_CASE(use_awaitable, fixture) {
    auto holder = test::run(io, [&]() -> asio::awaitable<std::string> {
        http_request req{.target = "/x"}; // named: see the GCC 12 note in README
        auto resp = co_await api.request(std::move(req), asio::use_awaitable);
        BOOST_TEST(resp.status == 200u);
        http_request stream_req{.target = "/stream"};
        auto stream = co_await api.open_stream(std::move(stream_req), asio::use_awaitable);
        auto line = co_await stream.read_line(5s, asio::use_awaitable);
        BOOST_TEST(line == "first");
        lease got = co_await leases.get("t", asio::use_awaitable);
        lease_watch watch{leases, "t"};
        watch_event ev = co_await watch.next(asio::use_awaitable);
        BOOST_TEST((ev.type == watch_event_type::added));
        lease_watch_hub hub{leases};
        auto subscription = hub.subscribe("t", "");
        watch_event shared = co_await subscription.next(asio::use_awaitable);
        BOOST_TEST(shared.object.metadata.resource_version == "7");

        co_await locker.lock(asio::use_awaitable);
        const bool held = co_await locker.try_lock(asio::use_awaitable);
        BOOST_TEST(held);
        const auto released = co_await locker.unlock(asio::use_awaitable);
        BOOST_TEST((released == unlock_result::released));
        const auto again = co_await locker.unlock_with_retry(asio::use_awaitable);
        BOOST_TEST((again == unlock_result::not_held));
        error_code not_held;
        try {
            co_await locker.wait_lost(asio::use_awaitable);
        } catch (const boost::system::system_error& e) {
            not_held = e.code();
        }
        BOOST_TEST(not_held == asio::error::operation_aborted, not_held.message());
        co_return *got.spec.holder_identity;
    }());
    BOOST_TEST(holder == "x");
}

// Without a token, the executor's default completion token is used, so
// asio::as_default_on works (Boost.Redis's model); with the plain
// any_io_executor the default stays deferred.
using awaitable_locker = asio::use_awaitable_t<>::as_default_on_t<lease_locker>;
static_assert(std::is_same_v<awaitable_locker, basic_lease_locker<asio::use_awaitable_t<>::executor_with_default<asio::any_io_executor>>>);
static_assert(std::is_same_v<asio::use_awaitable_t<>::as_default_on_t<leader_elector>::executor_type,
                             asio::use_awaitable_t<>::executor_with_default<asio::any_io_executor>>);
static_assert(std::is_same_v<asio::use_awaitable_t<>::as_default_on_t<lease_observer>::executor_type,
                             asio::use_awaitable_t<>::executor_with_default<asio::any_io_executor>>);
static_assert(std::is_same_v<asio::use_awaitable_t<>::as_default_on_t<lease_candidate>::executor_type,
                             asio::use_awaitable_t<>::executor_with_default<asio::any_io_executor>>);

BOOST_FIXTURE_TEST_CASE(the_executors_default_completion_token, fixture) {
    // Constructed with that executor type.
    awaitable_locker by_type{api, {"ns", "lk"}, polling("typed")};
    // Converted from a locker built already (its lock moves over).
    auto converted = asio::use_awaitable.as_default_on(lease_locker{api, {"ns", "lk"}, polling("converted")});
    lease_observer plain_observer{api, {"ns", "lk"}};
    auto observer = asio::use_awaitable.as_default_on(std::move(plain_observer));
    auto order = test::run(io, [&]() -> asio::awaitable<std::vector<std::string>> {
        std::vector<std::string> out;
        co_await by_type.lock(); // no token: use_awaitable
        out.push_back(by_type.identity() + (by_type.held() ? " held" : " not held"));
        const bool second = co_await converted.try_lock();
        out.push_back(converted.identity() + (second ? " held" : " refused"));
        auto released = co_await by_type.unlock();
        out.push_back(released == unlock_result::released ? "released" : "not released");
        co_await converted.lock();
        out.push_back(converted.identity() + " held");
        leader_info seen = co_await observer.next_change();
        out.push_back("observed " + seen.holder);
        co_await converted.unlock();
        co_return out;
    }());
    BOOST_TEST(order == (std::vector<std::string>{"typed held", "converted refused", "released", "converted held", "observed converted"}),
               boost::test_tools::per_element());
    // The plain types keep deferred: nothing happens until invoked.
    const int before = *script.sent;
    auto op = locker.try_lock();
    static_assert(!std::is_void_v<decltype(op)>);
    for (int i = 0; i < 5; ++i) io.run_one_for(20ms);
    BOOST_TEST(*script.sent == before, "a deferred operation started before it was invoked");
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
    BOOST_TEST(api.request(http_request{.target = "/x"}, asio::use_future).get().status == 200u);
    auto stream = api.open_stream(http_request{.target = "/stream"}, asio::use_future).get();
    BOOST_TEST(stream.read_line(5s, asio::use_future).get() == "first");
    BOOST_TEST(*leases.get("t", asio::use_future).get().spec.holder_identity == "x");
    BOOST_TEST(leases.create(example, asio::use_future).get().metadata.name == "t");
    BOOST_TEST(leases.replace(example, asio::use_future).get().metadata.name == "t");
    leases.remove("t", {}, asio::use_future).get();
    {
        lease_watch watch{leases, "t"};
        BOOST_TEST((watch.next(asio::use_future).get().type == watch_event_type::added));
        lease_watch_hub hub{leases};
        auto subscription = hub.subscribe("t", "");
        BOOST_TEST(subscription.next(asio::use_future).get().object.metadata.resource_version == "7");
    }
    locker.lock(asio::use_future).get();
    BOOST_TEST(locker.try_lock(asio::use_future).get());
    auto lost = locker.wait_lost(asio::use_future);
    BOOST_TEST((locker.unlock(asio::use_future).get() == unlock_result::released));
    BOOST_CHECK_THROW(lost.get(), boost::system::system_error); // unlocked: operation_aborted
    BOOST_TEST((locker.unlock_with_retry(asio::use_future).get() == unlock_result::not_held));
    io.stop(); // the server's accept loop never runs out of work
    runner.join();
}

BOOST_FIXTURE_TEST_CASE(deferred_operations_start_when_invoked, fixture) {
    // Each operation made with asio::deferred sends nothing until invoked.
    auto check = [&](const char* what, auto op, bool sends = true, std::atomic<int>* counter = nullptr) {
        BOOST_TEST_CONTEXT(what) {
            auto& sent = counter ? *counter : *script.sent;
            const int before = sent;
            for (int i = 0; i < 5; ++i) io.poll();
            BOOST_TEST(sent == before); // nothing sent until invoked
            bool done = false;
            std::move(op)([&](error_code ec, auto&&...) {
                BOOST_TEST(!ec, ec.message());
                done = true;
            });
            run_until(done);
            BOOST_TEST((sent > before) == sends);
        }
    };
    check("request", api.request(http_request{.target = "/x"}, asio::deferred));
    check("get", leases.get("t", asio::deferred));
    check("create", leases.create(example, asio::deferred));
    check("replace", leases.replace(example, asio::deferred));
    check("remove", leases.remove("t", {}, asio::deferred));
    lease_watch watch{leases, "t"};
    check("lease_watch::next", watch.next(asio::deferred), true, script.watches.get());
    lease_watch_hub hub{leases};
    auto subscription = hub.subscribe("t", ""); // subscribing opens the shared watch: next() itself sends nothing
    for (int i = 0; i < 5; ++i) io.poll();
    auto next = subscription.next(asio::deferred);
    bool shared_done = false;
    std::move(next)([&](error_code ec, watch_event) {
        BOOST_TEST(!ec, ec.message());
        shared_done = true;
    });
    run_until(shared_done);
    check("lock", locker.lock(asio::deferred));
    check("try_lock", locker.try_lock(asio::deferred), false); // held: completes without a request
    // unlock's one request is a PUT over the version it knows, which `sent`
    // leaves out: judged by its effect.
    auto unlock_op = locker.unlock(asio::deferred);
    for (int i = 0; i < 5; ++i) io.poll();
    BOOST_TEST(locker.held()); // not started until invoked
    check("unlock", std::move(unlock_op), false);
    BOOST_TEST(!locker.held());
    check("unlock_with_retry", locker.unlock_with_retry(asio::deferred), false); // the version it knows is free: no request

    // The stream: read_line reads what the server already sent, so it is
    // checked by its effect: the line is not consumed until invoked.
    response_stream stream;
    check("open_stream", api.open_stream(http_request{.target = "/stream"}, asio::deferred) | asio::deferred([&](error_code ec, response_stream s) {
                             stream = std::move(s);
                             return asio::deferred.values(ec);
                         }));
    auto first = stream.read_line(5s, asio::deferred);
    for (int i = 0; i < 5; ++i) io.poll();
    auto second = stream.read_line(5s, asio::deferred);
    std::string got_first, got_second;
    bool done = false;
    std::move(second)([&](error_code, std::string line) {
        got_first = line; // invoked first, so it reads the first line
        std::move(first)([&](error_code, std::string l) {
            got_second = l;
            done = true;
        });
    });
    run_until(done);
    BOOST_TEST(got_first == "first");
    BOOST_TEST(got_second == "second");

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

BOOST_AUTO_TEST_CASE(a_callback_bound_to_another_io_context_keeps_it_running) {
    // The operations run on `io` (a thread of its own); their callbacks are
    // bound to `other`, which nothing else keeps busy. An operation holds
    // work on its handler's executor until it completes, so other.run()
    // returns only after the callback ran.
    asio::io_context io, other;
    server_script script;
    test::scripted_server server{io.get_executor()};
    server.on_request(script.handler(300ms)); // before the thread starts
    client api{io.get_executor(), server.config()};
    lease_client leases{api, "ns"};
    std::thread runner([&] { io.run(); });

    bool request_done = false;
    api.request(http_request{.target = "/x"}, asio::bind_executor(other, [&](error_code ec, http_response) {
        BOOST_TEST(!ec, ec.message());
        request_done = true;
    }));
    other.run_for(10s); // returns early once the callback ran and nothing else is left
    BOOST_TEST(request_done);
    BOOST_TEST(other.stopped()); // no work left behind

    {
        lease_watch_hub hub{leases};
        auto subscription = hub.subscribe("t", "");
        bool event_done = false;
        subscription.next(asio::bind_executor(other, [&](error_code ec, watch_event) {
            BOOST_TEST(!ec, ec.message());
            event_done = true;
        }));
        other.restart();
        other.run_for(10s);
        BOOST_TEST(event_done);
        BOOST_TEST(other.stopped());
    }
    io.stop(); // the server's accept loop never runs out of work
    runner.join();
}

BOOST_AUTO_TEST_SUITE_END()
