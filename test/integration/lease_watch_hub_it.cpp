// The shared watch against the real kube-apiserver: one watch request for
// many lockers, every newer version handed over, never an older one.
#include "support/cluster_env.hpp"
#include "support/integration.hpp"
#include "support/lease_fixture.hpp"
#include "support/printing.hpp"
#include "support/run.hpp"

#include <leaselocker/leaselocker.hpp>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/use_future.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/test/unit_test.hpp>

#include <atomic>
#include <future>
#include <thread>

namespace asio = boost::asio;
using namespace leaselocker;
using namespace std::chrono_literals;
using test::cluster_config_for;
using test::counting_client;
using test::sleep_for;
using clock_type = std::chrono::steady_clock;
constexpr auto tuple_awaitable = asio::as_tuple(asio::use_awaitable);

namespace {

lease new_lease(const std::string& name, const std::string& holder) {
    lease l;
    l.metadata.name = name;
    l.spec.holder_identity = holder;
    l.spec.lease_duration_seconds = 10;
    return l;
}

// The next event of `sub`, or operation_aborted after `limit`.
asio::awaitable<std::pair<error_code, watch_event>> next_within(lease_watch_hub::subscription& sub, clock_type::duration limit) {
    using namespace asio::experimental::awaitable_operators;
    auto result = co_await (sub.next(tuple_awaitable) || sleep_for(limit));
    if (result.index() == 1) co_return std::pair{make_error_code(asio::error::operation_aborted), watch_event{}};
    auto [ec, ev] = std::get<0>(std::move(result));
    co_return std::pair{ec, std::move(ev)};
}

} // namespace

BOOST_AUTO_TEST_SUITE(lease_watch_hub_it)

BOOST_AUTO_TEST_CASE(six_lockers_on_three_leases_share_one_watch) {
    asio::io_context io;
    counting_client counting{io};
    const auto base = test::unique_name("hub");
    const lock_config cfg{.lease_duration = 3s, .renew_deadline = 2s, .retry_period = 500ms};
    std::vector<std::unique_ptr<lease_locker>> holders, waiters;
    for (int i = 0; i < 3; ++i) {
        const lease_name name{"", base + "-" + std::to_string(i)};
        auto h = cfg, w = cfg;
        h.identity = "holder-" + std::to_string(i);
        w.identity = "waiter-" + std::to_string(i);
        holders.push_back(std::make_unique<lease_locker>(counting.api, name, h));
        waiters.push_back(std::make_unique<lease_locker>(counting.api, name, w));
    }
    test::run(io, [&]() -> asio::awaitable<void> {
        for (auto& h : holders) co_await h->lock(asio::use_awaitable);
        int acquired = 0;
        for (auto& w : waiters) w->lock([&](error_code ec) { acquired += !ec; });
        co_await sleep_for(1500ms); // all waiting on the watch; renewals go on
        // Releases reach each waiter through the one shared watch: no
        // waiter polls (retry_period 0.5 s), so each takes over at once.
        const auto released = clock_type::now();
        for (auto& h : holders) co_await h->unlock(asio::use_awaitable);
        while (acquired < 3 && clock_type::now() - released < 5s) co_await sleep_for(5ms);
        const auto handoff = clock_type::now() - released;
        BOOST_TEST(acquired == 3);
        const double handoff_ms = std::chrono::duration<double, std::milli>(handoff).count();
        BOOST_TEST_MESSAGE("3 handoffs in " << handoff_ms << " ms");
        BOOST_TEST((handoff < 400ms)); // polling would take a jittered retry period or more
        for (auto& w : waiters) co_await w->unlock(asio::use_awaitable);
    }());
    // One watch on the first lease, then one on the namespace once a second
    // lease is followed: never one per locker.
    BOOST_TEST(counting.watches >= 1, "no watch at all");
    BOOST_TEST(counting.watches <= 2, counting.watches << " watch requests");
}

BOOST_FIXTURE_TEST_CASE(hands_over_newer_versions_only_and_catches_up_on_what_it_did_not_see, test::lease_fixture) {
    client admin{io.get_executor(), cluster_config_for("admin")};
    lease_client admin_leases{admin, leases.namespace_name()};
    lease_watch_hub hub{leases};
    const auto x = name + "-x", y = name + "-y";
    // The admin writes `holder` over version `l`; returns the stored Lease.
    // (No class-type arguments by value: see the GCC 12 note above.)
    auto hand_to = [&](const lease& l, const char* holder) -> asio::awaitable<lease> {
        lease next = l;
        next.spec.holder_identity = holder;
        auto [ec, stored] = co_await admin_leases.replace(next, tuple_awaitable);
        BOOST_TEST_REQUIRE(!ec, ec.message());
        co_return stored;
    };
    test::run(io, [&]() -> asio::awaitable<void> {
        // Named, not temporaries: GCC 12 destroys a temporary made inside a
        // co_await operand twice.
        const auto x0 = new_lease(x, "a"), y0 = new_lease(y, "a");
        auto [xec, x1] = co_await leases.create(x0, tuple_awaitable);
        auto [yec, y1] = co_await leases.create(y0, tuple_awaitable);
        BOOST_TEST_REQUIRE((!xec && !yec));

        // The first subscriber opens the stream on its name from its version.
        auto sx = hub.subscribe(x, x1.metadata.resource_version);
        const auto x2stored = co_await hand_to(x1, "b");
        auto [e1, ev1] = co_await next_within(sx, 5s);
        BOOST_TEST_REQUIRE(!e1, e1.message());
        BOOST_TEST(ev1.object.metadata.resource_version == x2stored.metadata.resource_version);
        BOOST_TEST(*ev1.object.spec.holder_identity == "b");

        // y changed before anyone followed it, and its follower names the
        // version before that change: the stream cannot vouch for the gap,
        // so the hub reads y and hands over the newer version.
        const auto y2stored = co_await hand_to(y1, "c");
        auto sy = hub.subscribe(y, y1.metadata.resource_version);
        auto [e2, ev2] = co_await next_within(sy, 5s);
        BOOST_TEST_REQUIRE(!e2, e2.message());
        BOOST_TEST(ev2.object.metadata.resource_version == y2stored.metadata.resource_version);
        BOOST_TEST(*ev2.object.spec.holder_identity == "c");

        // Both names on one stream now (the namespace): a change of each
        // reaches its own follower, and only its own.
        const auto x3stored = co_await hand_to(x2stored, "d");
        co_await hand_to(y2stored, "e");
        auto [e3, ev3] = co_await next_within(sx, 5s);
        auto [e4, ev4] = co_await next_within(sy, 5s);
        BOOST_TEST_REQUIRE((!e3 && !e4));
        BOOST_TEST(*ev3.object.spec.holder_identity == "d");
        BOOST_TEST(*ev4.object.spec.holder_identity == "e");

        // A follower that already knows the newest version is handed
        // nothing older, and nothing at all until the next change.
        auto sx_late = hub.subscribe(x, x3stored.metadata.resource_version);
        auto [e5, ev5] = co_await next_within(sx_late, 1500ms);
        BOOST_TEST(e5 == asio::error::operation_aborted, "got version " << ev5.object.metadata.resource_version);
        const delete_preconditions any_version;
        auto [dec] = co_await admin_leases.remove(x, any_version, tuple_awaitable);
        BOOST_TEST_REQUIRE(!dec);
        auto [e6, ev6] = co_await next_within(sx_late, 5s);
        BOOST_TEST_REQUIRE(!e6, e6.message());
        BOOST_TEST((ev6.type == watch_event_type::deleted));
    }());
    BOOST_TEST(hub.watches_started() == 2); // x alone, then the namespace
}

BOOST_AUTO_TEST_CASE(lockers_on_several_leases_on_four_threads_widen_and_reopen_the_shared_watch) {
    // Run under ThreadSanitizer by tools/test.sh. Each round the hub opens a
    // watch on one name (its first locker holds and renews), widens it to
    // the namespace from where that watch had got to (the other names'
    // lockers arrive), and closes it when every locker is gone; meanwhile
    // renewals, releases and takeovers keep the watch's own strand busy on
    // other threads.
    asio::io_context io;
    client api{io.get_executor(), cluster_config_for("lease")};
    lease_client leases{api};
    auto hub = lease_watch_hub::shared(leases); // the lockers' own hub, kept between rounds
    const auto base = test::unique_name("widen");
    constexpr int rounds = 5, names = 3, per_name = 3;
    std::atomic<int> failures{0};
    auto driver = asio::co_spawn(io, [&]() -> asio::awaitable<void> {
        for (int round = 0; round < rounds; ++round) {
            std::vector<std::shared_ptr<lease_locker>> lockers; // shared with the turns below
            for (int n = 0; n < names; ++n)
                for (int i = 0; i < per_name; ++i) {
                    lock_config cfg{.lease_duration = 3s, .renew_deadline = 2s, .retry_period = 500ms};
                    cfg.identity = "r" + std::to_string(round) + "-n" + std::to_string(n) + "-" + std::to_string(i);
                    lockers.push_back(std::make_shared<lease_locker>(api, lease_name{"", base + "-" + std::to_string(n)}, cfg));
                }
            auto [first] = co_await lockers[0]->lock(tuple_awaitable); // the watch follows its name alone
            failures += bool(first);
            co_await sleep_for(600ms);                                 // a renewal on it
            auto turns = std::make_shared<std::atomic<int>>(0);
            for (std::size_t i = 1; i < lockers.size(); ++i) // a turn each, all at once: the watch widens
                asio::co_spawn(io, [&failures, turns, l = lockers[i]]() -> asio::awaitable<void> {
                    auto [ec] = co_await l->lock(tuple_awaitable);
                    co_await sleep_for(20ms);
                    auto [uec, res] = co_await l->unlock(tuple_awaitable);
                    failures += bool(ec) + bool(uec);
                    ++*turns;
                }, asio::detached);
            co_await sleep_for(300ms);
            auto [uec, res] = co_await lockers[0]->unlock(tuple_awaitable);
            failures += bool(uec);
            for (int i = 0; i < 600 && *turns < int(lockers.size()) - 1; ++i) co_await sleep_for(50ms);
            BOOST_TEST(turns->load() == int(lockers.size()) - 1, "round " << round);
            lockers.clear(); // nobody follows anything: the watch closes
            co_await sleep_for(100ms);
        }
    }, asio::use_future);
    auto work = asio::make_work_guard(io);
    std::vector<std::thread> threads;
    for (int i = 0; i < 4; ++i) threads.emplace_back([&] { io.run(); });
    const bool finished = driver.wait_for(std::chrono::seconds(240)) == std::future_status::ready;
    work.reset();
    io.stop();
    for (auto& t : threads) t.join();
    BOOST_TEST_REQUIRE(finished);
    driver.get();
    BOOST_TEST(failures.load() == 0);
    // Per round: the name alone, then the namespace.
    BOOST_TEST(hub->watches_started() >= std::size_t(2 * rounds), hub->watches_started() << " watches");
}

BOOST_AUTO_TEST_CASE(a_refused_watch_fails_every_subscriber_once) {
    asio::io_context io;
    client api{io.get_executor(), cluster_config_for("lease-no-watch")};
    lease_client leases{api};
    lease_watch_hub hub{leases};
    const auto name = test::unique_name("hub-403");
    test::run(io, [&]() -> asio::awaitable<void> {
        auto a = hub.subscribe(name + "-a", "");
        auto b = hub.subscribe(name + "-b", "");
        diagnostics diag;
        auto [ea, eva] = co_await next_within(a, 5s);
        auto [eb, evb] = co_await b.next(diag, tuple_awaitable);
        BOOST_TEST(ea == error::forbidden, ea.message());
        BOOST_TEST(eb == error::forbidden, eb.message());
        BOOST_TEST(diag.server_message.find("cannot watch resource \"leases\"") != std::string::npos, diag.server_message);
        auto [again, ev] = co_await next_within(a, 1s); // stays failed: subscribe again
        BOOST_TEST(again == error::forbidden, again.message());
    }());
}

BOOST_AUTO_TEST_SUITE_END()
