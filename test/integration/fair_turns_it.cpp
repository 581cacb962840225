// Fair turns (lock_config::fair_turns) against the real control plane:
// the queue in the Lease's annotation, turns in waiting order, a waiter
// that left costing the next one its grace once, try_lock not jumping the
// queue.
#include "support/cluster_env.hpp"
#include "support/integration.hpp"
#include "support/lease_fixture.hpp"
#include "support/printing.hpp"
#include "support/run.hpp"

#include <leaselocker/leaselocker.hpp>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/test/unit_test.hpp>

#include <vector>

namespace asio = boost::asio;
using namespace leaselocker;
using namespace std::chrono_literals;
using fixture = test::lease_fixture;
using test::sleep_for;
using clock_type = std::chrono::steady_clock;
constexpr auto tuple_awaitable = asio::as_tuple(asio::use_awaitable);

namespace {

lock_config fair(const std::string& identity, std::chrono::milliseconds grace = 1s) {
    auto c = test::fast(identity);
    c.fair_turns = true;
    c.fair_claim_grace = grace;
    return c;
}

asio::awaitable<std::vector<std::string>> queue_of(lease_client& leases, const std::string& name) {
    auto l = co_await leases.get(name, asio::use_awaitable);
    co_return to_lock_record(l).queue;
}

} // namespace

BOOST_AUTO_TEST_SUITE(fair_turns_it)

// Four lockers back at lock() 10 ms after each release: without fair turns
// the quickest waiter wins whoever waited longest; with them, the turns go
// round in the order the waiters joined, every round.
BOOST_FIXTURE_TEST_CASE(back_to_back_lockers_take_turns_in_waiting_order, fixture) {
    const std::vector<std::string> ids{"fair-h", "fair-a", "fair-b", "fair-c"};
    std::vector<std::unique_ptr<lease_locker>> lockers;
    for (const auto& id : ids) lockers.push_back(std::make_unique<lease_locker>(api, lease_name{"", name}, fair(id)));
    constexpr int rounds = 4;
    std::vector<std::string> turns;
    int failures = 0, finished = 0;
    auto contend = [&](lease_locker& l, bool first) -> asio::awaitable<void> {
        for (int r = 0; r < rounds; ++r) {
            auto [ec] = co_await l.lock(tuple_awaitable);
            if (ec) {
                ++failures;
                break;
            }
            turns.push_back(l.identity());
            co_await sleep_for(first && r == 0 ? 1500ms : 50ms); // the first turn: long enough for all to queue up
            auto [uec, res] = co_await l.unlock(tuple_awaitable);
            if (uec || res != unlock_result::released) ++failures;
            co_await sleep_for(10ms);
        }
        ++finished;
    };
    test::run(io, [&]() -> asio::awaitable<void> {
        asio::co_spawn(io, contend(*lockers[0], true), asio::detached);
        while (turns.empty()) co_await sleep_for(5ms);
        for (std::size_t i = 1; i < lockers.size(); ++i) { // join one after the other
            asio::co_spawn(io, contend(*lockers[i], false), asio::detached);
            co_await sleep_for(200ms);
        }
        const auto queued = co_await queue_of(leases, name); // the holder is not in it
        BOOST_TEST((queued == std::vector<std::string>{"fair-a", "fair-b", "fair-c"}));
        for (int i = 0; i < 600 && finished < static_cast<int>(lockers.size()); ++i) co_await sleep_for(50ms);
    }());
    BOOST_TEST(failures == 0);
    BOOST_TEST_REQUIRE(turns.size() == ids.size() * rounds);
    for (std::size_t i = 0; i < turns.size(); ++i) BOOST_TEST(turns[i] == ids[i % ids.size()], "turn " << i);
}

// A waiter that died while queued (here: an identity written into the
// queue by hand) costs the next in line one grace; the third in line waits
// its own turn behind that one instead of racing it. Meanwhile try_lock by
// a newcomer does not jump the queue.
BOOST_FIXTURE_TEST_CASE(a_dead_waiter_costs_the_next_its_grace_once_and_the_third_waits_its_turn, fixture) {
    constexpr auto grace = 400ms;
    lease_locker holder{api, {"", name}, fair("fair-holder", grace)};
    lease_locker second{api, {"", name}, fair("fair-second", grace)};
    lease_locker third{api, {"", name}, fair("fair-third", grace)};
    lease_locker newcomer{api, {"", name}, fair("fair-newcomer", grace)};
    test::run(io, [&]() -> asio::awaitable<void> {
        co_await holder.lock(asio::use_awaitable);
        auto l = co_await leases.get(name, asio::use_awaitable);
        set_queue(l.metadata, {"fair-dead"});
        co_await leases.replace(l, asio::use_awaitable);
        std::vector<std::string> turns;
        std::vector<clock_type::time_point> at;
        auto take = [&](lease_locker& who) {
            who.lock([&, id = who.identity()](error_code ec) {
                BOOST_TEST(!ec, ec.message());
                turns.push_back(id);
                at.push_back(clock_type::now());
            });
        };
        take(second);
        co_await sleep_for(200ms);
        take(third);
        co_await sleep_for(200ms);
        const auto queued = co_await queue_of(leases, name);
        BOOST_TEST((queued == std::vector<std::string>{"fair-dead", "fair-second", "fair-third"}));

        co_await holder.unlock(asio::use_awaitable);
        const auto released = clock_type::now();
        auto [tec, taken] = co_await newcomer.try_lock(tuple_awaitable);
        BOOST_TEST(!tec, tec.message());
        BOOST_TEST(!taken); // free, but not its turn
        for (int i = 0; i < 300 && turns.empty(); ++i) co_await sleep_for(10ms);
        BOOST_TEST_REQUIRE(turns.size() == 1u);
        BOOST_TEST(turns[0] == "fair-second"); // not the third: it waits two graces
        const double waited_ms = std::chrono::duration<double, std::milli>(at[0] - released).count();
        BOOST_TEST_MESSAGE("the second in line took the lease after " << waited_ms << " ms");
        BOOST_TEST((at[0] - released >= grace));
        BOOST_TEST((at[0] - released < grace + 1500ms));
        const auto after = co_await queue_of(leases, name);
        BOOST_TEST((after == std::vector<std::string>{"fair-third"})); // the dead one was dropped
        co_await sleep_for(2 * grace); // the third's two graces pass: the lease is held, it waits on
        BOOST_TEST(turns.size() == 1u);
        const auto handed = clock_type::now();
        co_await second.unlock(asio::use_awaitable);
        for (int i = 0; i < 300 && turns.size() < 2; ++i) co_await sleep_for(5ms);
        BOOST_TEST_REQUIRE(turns.size() == 2u);
        BOOST_TEST(turns[1] == "fair-third");
        BOOST_TEST((at[1] - handed < grace)); // the head now: at once
        co_await third.unlock(asio::use_awaitable);
        auto [t2ec, taken2] = co_await newcomer.try_lock(tuple_awaitable); // nobody queued: takes it
        BOOST_TEST(!t2ec, t2ec.message());
        BOOST_TEST(taken2);
        co_await newcomer.unlock(asio::use_awaitable);
    }());
}

// A cancelled lock() leaves the queue again, and joining never rewrites the
// spec: a hand-made Lease without leaseDurationSeconds stays without it.
BOOST_FIXTURE_TEST_CASE(a_cancelled_waiter_leaves_the_queue_and_joining_leaves_the_spec_alone, fixture) {
    lease_locker waiter{api, {"", name}, fair("fair-cancelled")};
    test::run(io, [&]() -> asio::awaitable<void> {
        lease hand_made;
        hand_made.metadata.name = name;
        hand_made.spec.holder_identity = "someone-by-hand";
        co_await leases.create(hand_made, asio::use_awaitable);
        const auto before = co_await leases.get(name, asio::use_awaitable);
        asio::cancellation_signal cancel;
        bool done = false;
        waiter.lock(asio::bind_cancellation_slot(cancel.slot(), [&](error_code ec) {
            BOOST_TEST(ec == asio::error::operation_aborted);
            done = true;
        }));
        co_await sleep_for(300ms);
        const auto joined = co_await leases.get(name, asio::use_awaitable);
        BOOST_TEST((to_lock_record(joined).queue == std::vector<std::string>{"fair-cancelled"}));
        BOOST_TEST(!joined.spec.lease_duration_seconds.has_value());
        BOOST_TEST((joined.spec.holder_identity == before.spec.holder_identity));
        BOOST_TEST(!joined.spec.renew_time.has_value());
        cancel.emit(asio::cancellation_type::total);
        for (int i = 0; i < 200 && !done; ++i) co_await sleep_for(5ms);
        BOOST_TEST_REQUIRE(done);
        const auto left = co_await leases.get(name, asio::use_awaitable);
        BOOST_TEST(to_lock_record(left).queue.empty());
        BOOST_TEST(!left.spec.lease_duration_seconds.has_value()); // leaving did not touch the spec either
        BOOST_TEST(!left.spec.renew_time.has_value());
    }());
}

BOOST_AUTO_TEST_SUITE_END()
