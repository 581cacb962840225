// lease_locker against a scripted Lease (test/support/scripted_lease) for
// what the real API server will not do on demand: a write between our read
// and our write, a write held in flight while the caller cancels, a 403
// from a server whose authorizer is not ready yet.
#include "support/printing.hpp"
#include "support/run.hpp"
#include "support/scripted_lease.hpp"
#include "support/scripted_server.hpp"

#include <leaselocker/leaselocker.hpp>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/test/unit_test.hpp>

#include <atomic>
#include <optional>

namespace asio = boost::asio;
using namespace leaselocker;
using namespace std::chrono_literals;
using clock_type = std::chrono::steady_clock;
constexpr auto tuple_awaitable = asio::as_tuple(asio::use_awaitable);

namespace {

struct fixture {
    asio::io_context io;
    test::scripted_server server{io.get_executor()};
    test::scripted_lease stored{"ns", "t"};
    client api{io.get_executor(), server.config()};

    fixture() { server.on_request(stored.handler()); }

    // Short but valid; polling (the scripted Lease refuses watches).
    static lock_config fast(const std::string& identity) {
        lock_config c{.lease_duration = 3s, .renew_deadline = 2s, .retry_period = 500ms, .unlock_retry_period = 2s, .identity = identity};
        c.use_watch = false;
        return c;
    }

    // Requests the server has seen, as "METHOD" strings.
    std::vector<std::string> methods() const {
        std::vector<std::string> out;
        for (auto& r : server.requests()) out.push_back(r.method);
        return out;
    }

    void run_for(clock_type::duration d) {
        asio::steady_timer t(io, d);
        bool done = false;
        t.async_wait([&](error_code) { done = true; });
        while (!done) io.run_one();
    }
};

} // namespace

BOOST_AUTO_TEST_SUITE(locker_faults)

BOOST_FIXTURE_TEST_CASE(try_lock_is_one_read_and_at_most_one_write, fixture) {
    lease_locker locker{api, {"ns", "t"}, fast("me")};
    // Held by another: one read, no write.
    stored.write_holder("other");
    server.keep_requests(true);
    auto [ec, held] = test::run(io, locker.try_lock(tuple_awaitable));
    BOOST_TEST(!ec, ec.message());
    BOOST_TEST(!held);
    BOOST_TEST(methods() == std::vector<std::string>{"GET"}, boost::test_tools::per_element());

    // Free, but someone writes between our read and our write (every PUT
    // conflicts): one read, one write, and no second round.
    stored.write_holder("");
    stored.inject([](const test::recorded_request& r) -> std::optional<test::reply> {
        if (r.method != "PUT") return std::nullopt;
        return test::reply{.status = 409, .body = R"({"kind":"Status","reason":"Conflict","code":409})"};
    });
    auto before = server.requests().size();
    auto [ec2, held2] = test::run(io, locker.try_lock(tuple_awaitable));
    BOOST_TEST(!ec2, ec2.message());
    BOOST_TEST(!held2);
    BOOST_TEST(server.requests().size() - before == 2u);
    BOOST_TEST(server.requests()[before].method == "GET");
    BOOST_TEST(server.requests()[before + 1].method == "PUT");

    // Free and no conflict: one read, one write, held.
    stored.inject(nullptr);
    before = server.requests().size();
    auto [ec3, held3] = test::run(io, locker.try_lock(tuple_awaitable));
    BOOST_TEST(!ec3, ec3.message());
    BOOST_TEST(held3);
    BOOST_TEST(server.requests().size() - before == 2u);
    BOOST_TEST(stored.holder() == "me");
    test::run(io, locker.unlock(tuple_awaitable));
}

// --- cancellation: what each type leaves behind ---------------------------

namespace {

// Emits `type` on `signal` while the first granting write (PUT or POST) is
// held at the server, after the server applied it; then lets it go.
void cancel_during_first_write(test::scripted_lease& stored, asio::cancellation_signal& signal, asio::cancellation_type type) {
    auto first = std::make_shared<bool>(true);
    stored.on_answer([&signal, type, first](const test::recorded_request& r, test::reply& reply) {
        if (r.method == "GET" || !*first) return;
        *first = false;
        reply.hold = [&signal, type](std::function<void()> go) {
            signal.emit(type);
            go();
        };
    });
}

struct lock_outcome {
    error_code ec;
    bool held = false;
};

lock_outcome lock_with(fixture& f, lease_locker& locker, asio::cancellation_signal& signal) {
    return test::run(f.io, [&]() -> asio::awaitable<lock_outcome> {
        auto [ec] = co_await locker.lock(asio::bind_cancellation_slot(signal.slot(), tuple_awaitable));
        co_return lock_outcome{ec, locker.held()};
    }());
}

} // namespace

BOOST_FIXTURE_TEST_CASE(cancelled_while_waiting_lock_leaves_no_trace_whatever_the_type, fixture) {
    stored.write_holder("other");
    for (auto type : {asio::cancellation_type::terminal, asio::cancellation_type::partial, asio::cancellation_type::total}) {
        BOOST_TEST_CONTEXT("cancellation type " << int(type)) {
            lease_locker locker{api, {"ns", "t"}, fast("me")};
            asio::cancellation_signal signal;
            asio::steady_timer later(io, 300ms);
            later.async_wait([&](error_code) { signal.emit(type); });
            const auto writes = stored.writes();
            auto out = lock_with(*this, locker, signal);
            BOOST_TEST(out.ec == asio::error::operation_aborted, out.ec.message());
            BOOST_TEST(!out.held);
            BOOST_TEST(stored.writes() == writes); // nothing written
            BOOST_TEST(stored.holder() == "other");
        }
    }
}

BOOST_AUTO_TEST_CASE(cancelled_between_its_read_and_its_write_lock_writes_nothing) {
    // The cancellation arrives after the read's answer is in, before the
    // write is sent (emitted from the client's log line of that answer).
    for (auto type : {asio::cancellation_type::terminal, asio::cancellation_type::total}) {
        BOOST_TEST_CONTEXT("cancellation type " << int(type)) {
            asio::io_context io;
            test::scripted_server server{io.get_executor()};
            test::scripted_lease stored{"ns", "t"};
            server.on_request(stored.handler());
            asio::cancellation_signal signal;
            client_options opts;
            opts.log = {.level = log_level::debug, .sink = [&](log_level, std::string_view line) {
                if (line.starts_with("GET") && line.find(" -> 404") != std::string_view::npos) signal.emit(type);
            }};
            client api{io.get_executor(), server.config(), opts};
            lease_locker locker{api, {"ns", "t"}, fixture::fast("me")};
            auto [ec] = test::run(io, locker.lock(asio::bind_cancellation_slot(signal.slot(), tuple_awaitable)));
            BOOST_TEST(ec == asio::error::operation_aborted, ec.message());
            BOOST_TEST(stored.writes() == 0);
            BOOST_TEST(server.requests().size() == 1u);
        }
    }
}

BOOST_FIXTURE_TEST_CASE(terminal_or_partial_cancellation_after_the_granting_write_releases_before_completing, fixture) {
    for (auto type : {asio::cancellation_type::terminal, asio::cancellation_type::partial}) {
        BOOST_TEST_CONTEXT("cancellation type " << int(type)) {
            stored.write_holder("");
            lease_locker locker{api, {"ns", "t"}, fast("me")};
            asio::cancellation_signal signal;
            cancel_during_first_write(stored, signal, type);
            const auto writes = stored.writes();
            auto out = lock_with(*this, locker, signal);
            stored.on_answer(nullptr);
            BOOST_TEST(out.ec == asio::error::operation_aborted, out.ec.message());
            BOOST_TEST(!out.held);
            // The grant happened and was undone: granted, then released (a
            // trace: leaseTransitions and acquireTime moved).
            BOOST_TEST(stored.writes() == writes + 2);
            BOOST_TEST(stored.holder() == "");
        }
    }
}

BOOST_FIXTURE_TEST_CASE(total_cancellation_after_the_granting_write_is_not_honoured, fixture) {
    // Total cancellation promises no side effect; once the grant is written
    // that cannot be kept, so the request is ignored and lock() succeeds.
    stored.write_holder("");
    lease_locker locker{api, {"ns", "t"}, fast("me")};
    asio::cancellation_signal signal;
    cancel_during_first_write(stored, signal, asio::cancellation_type::total);
    auto out = lock_with(*this, locker, signal);
    stored.on_answer(nullptr);
    BOOST_TEST(!out.ec, out.ec.message());
    BOOST_TEST(out.held);
    BOOST_TEST(stored.holder() == "me");
    test::run(io, locker.unlock(tuple_awaitable));
}

BOOST_FIXTURE_TEST_CASE(any_cancellation_during_a_write_that_is_refused_leaves_no_trace, fixture) {
    for (auto type : {asio::cancellation_type::terminal, asio::cancellation_type::total}) {
        BOOST_TEST_CONTEXT("cancellation type " << int(type)) {
            stored.write_holder("");
            lease_locker locker{api, {"ns", "t"}, fast("me")};
            asio::cancellation_signal signal;
            // Someone else wrote between our read and our write.
            stored.inject([&signal, type](const test::recorded_request& r) -> std::optional<test::reply> {
                if (r.method != "PUT") return std::nullopt;
                test::reply conflict{.status = 409, .body = R"({"kind":"Status","reason":"Conflict","code":409})"};
                conflict.hold = [&signal, type](std::function<void()> go) {
                    signal.emit(type);
                    go();
                };
                return conflict;
            });
            const auto writes = stored.writes();
            const auto sent = server.requests().size();
            auto out = lock_with(*this, locker, signal);
            stored.inject(nullptr);
            BOOST_TEST(out.ec == asio::error::operation_aborted, out.ec.message());
            BOOST_TEST(stored.writes() == writes);
            BOOST_TEST(server.requests().size() - sent == 2u); // the read and the refused write, nothing after
        }
    }
}

BOOST_FIXTURE_TEST_CASE(unlock_is_not_cancellable_and_still_releases, fixture) {
    lease_locker locker{api, {"ns", "t"}, fast("me")};
    BOOST_TEST_REQUIRE(std::get<1>(test::run(io, locker.try_lock(tuple_awaitable))));
    asio::cancellation_signal signal;
    bool done = false;
    error_code result_ec;
    unlock_result result = unlock_result::not_held;
    locker.unlock(asio::bind_cancellation_slot(signal.slot(), [&](error_code ec, unlock_result r) {
        result_ec = ec;
        result = r;
        done = true;
    }));
    signal.emit(asio::cancellation_type::terminal); // as it starts, and again while it reads
    asio::steady_timer later(io, 2ms);
    later.async_wait([&](error_code) { signal.emit(asio::cancellation_type::terminal); });
    for (int i = 0; i < 200 && !done; ++i) io.run_one_for(50ms);
    BOOST_TEST_REQUIRE(done);
    BOOST_TEST(!result_ec, result_ec.message());
    BOOST_TEST((result == unlock_result::released));
    BOOST_TEST(stored.holder() == "");
}

BOOST_FIXTURE_TEST_CASE(cancelling_wait_lost_changes_nothing_else, fixture) {
    lease_locker locker{api, {"ns", "t"}, fast("me")};
    BOOST_TEST_REQUIRE(std::get<1>(test::run(io, locker.try_lock(tuple_awaitable))));
    for (auto type : {asio::cancellation_type::terminal, asio::cancellation_type::partial, asio::cancellation_type::total}) {
        asio::cancellation_signal signal;
        asio::steady_timer later(io, 100ms);
        later.async_wait([&](error_code) { signal.emit(type); });
        auto [ec] = test::run(io, locker.wait_lost(asio::bind_cancellation_slot(signal.slot(), tuple_awaitable)));
        BOOST_TEST(ec == asio::error::operation_aborted, ec.message());
        BOOST_TEST(locker.held());
    }
    test::run(io, locker.unlock(tuple_awaitable));
    BOOST_TEST(stored.holder() == "");
}

// --- 401/403 from a server that authorized us before -------------------------

BOOST_FIXTURE_TEST_CASE(a_client_never_authorized_fails_at_once, fixture) {
    stored.inject([](const test::recorded_request&) -> std::optional<test::reply> {
        return test::reply{.status = 403, .body = R"({"kind":"Status","reason":"Forbidden","code":403,"message":"not yet"})"};
    });
    lease_locker locker{api, {"ns", "t"}, fast("me")};
    auto [ec] = test::run(io, locker.lock(tuple_awaitable));
    BOOST_TEST(ec == error::forbidden, ec.message());
    BOOST_TEST(server.requests().size() == 1u);
}

BOOST_FIXTURE_TEST_CASE(a_restarted_servers_403_is_ridden_out_by_waiters_and_holders, fixture) {
    // Authorized before (a lock), then every request is refused for 2.5 s,
    // as by an API server whose authorizer is not ready after a restart: a
    // holder keeps its lock (renew deadline 6 s) and a waiter's lock()
    // (polling every 1-2.2 s) keeps trying and gets the lock afterwards.
    // Each must have met a refusal and ridden it out.
    int holder_rode = 0, waiter_rode = 0;
    auto slow = [](const std::string& identity, int& rode) {
        auto c = fast(identity);
        c.lease_duration = 9s;
        c.renew_deadline = 6s;
        c.retry_period = 1s;
        c.log = {.level = log_level::warning, .sink = [&rode](log_level, std::string_view line) {
            if (line.find("let through before") != std::string_view::npos) ++rode;
        }};
        return c;
    };
    lease_locker holder{api, {"ns", "t"}, slow("holder", holder_rode)}, waiter{api, {"ns", "t"}, slow("waiter", waiter_rode)};
    auto refusing = std::make_shared<std::atomic<bool>>(false);
    int refused = 0;
    stored.inject([refusing, &refused](const test::recorded_request&) -> std::optional<test::reply> {
        if (!*refusing) return std::nullopt;
        ++refused;
        return test::reply{.status = 403, .body = R"({"kind":"Status","reason":"Forbidden","code":403,"message":"not yet"})"};
    });
    test::run(io, [&]() -> asio::awaitable<void> {
        auto [lec] = co_await holder.lock(tuple_awaitable);
        BOOST_TEST_REQUIRE(!lec, lec.message());
        error_code waited{asio::error::would_block};
        waiter.lock([&](error_code ec) { waited = ec; });
        asio::steady_timer t(io, 300ms);
        co_await t.async_wait(asio::use_awaitable);
        *refusing = true;
        t.expires_after(2500ms);
        co_await t.async_wait(asio::use_awaitable);
        *refusing = false;
        BOOST_TEST(holder.held());
        BOOST_TEST(waited == asio::error::would_block, waited.message()); // still waiting
        auto [uec, res] = co_await holder.unlock(tuple_awaitable);
        BOOST_TEST(!uec, uec.message());
        for (int i = 0; i < 100 && waited == asio::error::would_block; ++i) {
            t.expires_after(50ms);
            co_await t.async_wait(asio::use_awaitable);
        }
        BOOST_TEST(!waited, waited.message());
        BOOST_TEST(waiter.held());
        co_await waiter.unlock(tuple_awaitable);
    }());
    BOOST_TEST(refused >= 2);
    BOOST_TEST(holder_rode > 0);
    BOOST_TEST(waiter_rode > 0);
}

BOOST_FIXTURE_TEST_CASE(a_release_after_a_loss_does_not_undo_a_grant_that_came_after_it, fixture) {
    // release_on_cancel: after a loss the locker releases in the background.
    // Its write takes effect but its answer is slow; meanwhile the caller
    // locks again and is granted. The late answer must not end that grant.
    auto cfg = fast("racer");
    cfg.release_on_cancel = true;
    lease_locker locker{api, {"ns", "t"}, cfg};
    std::atomic<bool> failing{false};
    stored.inject([&](const test::recorded_request& r) -> std::optional<test::reply> {
        if (failing && r.method == "PUT" && r.body.find("\"holderIdentity\":\"racer\"") != std::string::npos)
            return test::reply{.status = 503, .body = R"({"kind":"Status","apiVersion":"v1","status":"Failure","reason":"ServiceUnavailable","code":503})"};
        return std::nullopt;
    });
    stored.on_answer([](const test::recorded_request& r, test::reply& reply) {
        if (r.method == "PUT" && r.body.find("\"holderIdentity\":\"racer\"") == std::string::npos) reply.delay = 700ms; // the release
    });
    std::optional<error_code> relocked;
    bool lost = false;
    locker.lock([&](error_code ec) {
        BOOST_TEST_REQUIRE(!ec);
        failing = true; // renewals fail until the renew deadline
        locker.wait_lost([&](error_code lec) {
            lost = lec == error::lock_lost;
            failing = false;
            locker.lock([&](error_code lec2) { relocked = lec2; });
        });
    });
    for (int i = 0; i < 400 && !relocked; ++i) io.run_one_for(20ms);
    BOOST_TEST_REQUIRE(lost);
    BOOST_TEST_REQUIRE(relocked.has_value());
    BOOST_TEST(!*relocked, relocked->message());
    run_for(1500ms); // the release's late answer arrives
    BOOST_TEST(locker.held());
    BOOST_TEST(stored.holder() == "racer");
    BOOST_TEST(!locker.check(0ms));
}

BOOST_FIXTURE_TEST_CASE(a_locker_destroyed_during_its_read_writes_nothing, fixture) {
    // The read is held at the server; the locker goes away meanwhile; the
    // lease is free, but no grant may be written after the read returns.
    auto release_read = std::make_shared<std::function<void()>>();
    stored.on_answer([release_read](const test::recorded_request& r, test::reply& reply) {
        if (r.method == "GET") reply.hold = [release_read](std::function<void()> go) { *release_read = std::move(go); };
    });
    error_code result;
    bool done = false;
    {
        lease_locker locker{api, {"ns", "t"}, fast("gone")};
        locker.lock([&](error_code ec) {
            result = ec;
            done = true;
        });
        for (int i = 0; i < 100 && !*release_read; ++i) io.run_one_for(20ms);
        BOOST_TEST_REQUIRE(bool(*release_read));
    } // destroyed with the read in flight
    (*release_read)();
    for (int i = 0; i < 200 && !done; ++i) io.run_one_for(20ms);
    BOOST_TEST(done);
    BOOST_TEST(result == asio::error::operation_aborted, result.message());
    for (int i = 0; i < 10; ++i) io.run_one_for(20ms);
    BOOST_TEST(stored.writes() == 0);
    BOOST_TEST(methods() == std::vector<std::string>{"GET"}, boost::test_tools::per_element());
}

BOOST_FIXTURE_TEST_CASE(a_write_refused_when_only_reads_were_ever_allowed_fails_at_once, fixture) {
    // The commonest RBAC mistake: get but no create/update. Reads work, so
    // the client has been let through, but never with a write: final.
    stored.inject([](const test::recorded_request& r) -> std::optional<test::reply> {
        if (r.method == "GET") return std::nullopt;
        return test::reply{.status = 403, .body = R"({"kind":"Status","reason":"Forbidden","code":403,"message":"cannot create"})"};
    });
    lease_locker locker{api, {"ns", "t"}, fast("me")};
    auto [ec] = test::run(io, locker.lock(tuple_awaitable));
    BOOST_TEST(ec == error::forbidden, ec.message());
    BOOST_TEST(methods() == (std::vector<std::string>{"GET", "POST"}), boost::test_tools::per_element());
}

BOOST_FIXTURE_TEST_CASE(refusals_past_the_grace_window_end_lock, fixture) {
    // Let through once, then every write refused for good while reads still
    // work: lock() gives up when auth_grace has passed (not at once, not
    // never, not a back-off later), with the server's message.
    auto cfg = fast("me");
    cfg.auth_grace = 1s;
    lease_locker locker{api, {"ns", "t"}, cfg};
    auto [ok, held] = test::run(io, locker.try_lock(tuple_awaitable));
    BOOST_TEST_REQUIRE((!ok && held));
    test::run(io, locker.unlock(tuple_awaitable));
    stored.inject([](const test::recorded_request& r) -> std::optional<test::reply> {
        if (r.method == "GET") return std::nullopt;
        return test::reply{.status = 403, .body = R"({"kind":"Status","reason":"Forbidden","code":403,"message":"leases is forbidden"})"};
    });
    const auto sent = server.requests().size();
    const auto start = clock_type::now();
    diagnostics diag;
    auto [ec] = test::run(io, locker.lock(diag, tuple_awaitable));
    const auto took = clock_type::now() - start;
    BOOST_TEST(ec == error::forbidden, ec.message());
    BOOST_TEST(diag.server_message == "leases is forbidden");
    BOOST_TEST(server.requests().size() - sent > 2u); // retried
    BOOST_TEST((took >= 1s));                          // for the window
    BOOST_TEST((took < 2500ms));                       // and no back-off past its end
    // A new lock() has a window of its own (not the spent one's end).
    const auto again = clock_type::now();
    auto [ec2] = test::run(io, locker.lock(tuple_awaitable));
    BOOST_TEST(ec2 == error::forbidden, ec2.message());
    BOOST_TEST((clock_type::now() - again >= 1s));
}

BOOST_FIXTURE_TEST_CASE(a_write_let_through_on_another_collection_does_not_count, fixture) {
    // The client's Event POSTs were let through, its Lease writes never:
    // a refused Lease write is a misconfiguration, final at once.
    stored.inject([](const test::recorded_request& r) -> std::optional<test::reply> {
        if (r.target.find("/events") != std::string::npos) return test::reply{.status = 201};
        if (r.method == "GET") return std::nullopt;
        return test::reply{.status = 403, .body = R"({"kind":"Status","reason":"Forbidden","code":403,"message":"cannot create"})"};
    });
    auto resp = test::run(io, api.request(http_request{.method = http_method::post, .target = "/api/v1/namespaces/ns/events", .body = "{}"},
                                          asio::use_awaitable));
    BOOST_TEST_REQUIRE(resp.status == 201u);
    lease_locker locker{api, {"ns", "t"}, fast("me")};
    auto [ec] = test::run(io, locker.lock(tuple_awaitable));
    BOOST_TEST(ec == error::forbidden, ec.message());
    BOOST_TEST(methods() == (std::vector<std::string>{"POST", "GET", "POST"}), boost::test_tools::per_element());
}

BOOST_AUTO_TEST_SUITE_END()
