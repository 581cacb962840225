// lease_locker against the real control plane, with short leases.
#include "support/cluster_env.hpp"
#include "support/integration.hpp"
#include "support/lease_fixture.hpp"
#include "support/printing.hpp"
#include "support/run.hpp"

#include <leaselocker/leaselocker.hpp>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/bind_executor.hpp>
#include <boost/asio/deferred.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/use_future.hpp>
#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/test/unit_test.hpp>

#include <algorithm>
#include <atomic>
#include <mutex>
#include <fstream>
#include <future>
#include <thread>

namespace asio = boost::asio;
using namespace leaselocker;
using namespace std::chrono_literals;
using test::cluster_config_for;
using fixture = test::lease_fixture;
using test::counting_client;
using test::fast;
using test::sleep_for;
using clock_type = std::chrono::steady_clock;
constexpr auto tuple_awaitable = asio::as_tuple(asio::use_awaitable);

namespace {

} // namespace

BOOST_AUTO_TEST_SUITE(locker_it)

BOOST_FIXTURE_TEST_CASE(a_fast_local_clock_shortens_the_trusted_validity, fixture) {
    // The injected clock (for chaos tests): at 1.5× the locker believes
    // time passes faster, so it trusts its lease for 1/1.5 of the real time
    // (and renews 1.5× as often); at 0.75× for 1/0.75 of it.
    auto fast_clock = fast("fast-clock"), slow_clock = fast("slow-clock");
    fast_clock.clock_rate = 1.5;
    slow_clock.clock_rate = 0.75;
    lease_locker quick{api, {"", name + "-fast"}, fast_clock}, slow{api, {"", name + "-slow"}, slow_clock};
    test::run(io, [&]() -> asio::awaitable<void> {
        const auto t0 = clock_type::now();
        co_await quick.lock(asio::use_awaitable);
        co_await slow.lock(asio::use_awaitable);
        const double trusted_fast = std::chrono::duration<double>(quick.valid_until() - t0).count();
        const double trusted_slow = std::chrono::duration<double>(slow.valid_until() - t0).count();
        BOOST_TEST_MESSAGE("trusted for " << trusted_fast << " s at 1.5x, " << trusted_slow << " s at 0.75x (lease 3 s)");
        BOOST_TEST(trusted_fast < 3 * 0.99 / 1.5 + 0.05);
        BOOST_TEST(trusted_fast > 1.5);
        BOOST_TEST(trusted_slow > 3.5);
        BOOST_TEST(trusted_slow < 3 / 0.75 + 0.05);
        co_await sleep_for(2500ms); // renewals keep both valid on their own clocks
        BOOST_TEST(quick.held());
        BOOST_TEST(slow.held());
        BOOST_TEST((quick.valid_until() > clock_type::now()));
        co_await quick.unlock(asio::use_awaitable);
        co_await slow.unlock(asio::use_awaitable);
    }());
}

BOOST_FIXTURE_TEST_CASE(lock_then_unlock, fixture) {
    lease_locker locker{api, {"", name}, fast("solo")};
    test::run(io, [&]() -> asio::awaitable<void> {
        auto [lec] = co_await locker.lock(tuple_awaitable);
        BOOST_TEST_REQUIRE(!lec, lec.message());
        BOOST_TEST(locker.held());
        BOOST_TEST((locker.valid_until() > clock_type::now() + 2s));
        auto token = locker.current_fencing_token();
        BOOST_TEST(token.valid());
        BOOST_TEST(token.sequence == 0); // created
        BOOST_TEST(!token.epoch.empty());

        lease l = co_await leases.get(name, asio::use_awaitable);
        BOOST_TEST(*l.spec.holder_identity == "solo");
        BOOST_TEST(*l.spec.lease_duration_seconds == 3);
        BOOST_TEST(l.metadata.uid == token.epoch);

        co_await sleep_for(1500ms); // a few renewals
        BOOST_TEST(locker.held());
        lease renewed = co_await leases.get(name, asio::use_awaitable);
        BOOST_TEST((*renewed.spec.renew_time > *l.spec.renew_time));
        BOOST_TEST(*renewed.spec.lease_transitions == 0); // unchanged by renewals

        auto [uec, result] = co_await locker.unlock(tuple_awaitable);
        BOOST_TEST(!uec, uec.message());
        BOOST_TEST((result == unlock_result::released));
        BOOST_TEST(!locker.held());
        lease freed = co_await leases.get(name, asio::use_awaitable);
        BOOST_TEST(freed.spec.holder_identity.value_or("") == "");
        BOOST_TEST(*freed.spec.lease_duration_seconds == 1);
        BOOST_TEST(*freed.spec.lease_transitions == 0);

        auto [again, result2] = co_await locker.unlock(tuple_awaitable);
        BOOST_TEST(!again);
        BOOST_TEST((result2 == unlock_result::not_held));

        // Taken again: a new grant, a new fencing token.
        auto [lec2] = co_await locker.lock(tuple_awaitable);
        BOOST_TEST_REQUIRE(!lec2);
        BOOST_TEST(locker.current_fencing_token().sequence == 1);
        co_await locker.unlock(asio::use_awaitable);
    }());
}

BOOST_FIXTURE_TEST_CASE(lockers_in_one_process_take_turns, fixture) {
    constexpr int lockers = 4, rounds = 3;
    struct interval {
        clock_type::time_point from, to;
        std::int64_t token;
    };
    std::vector<interval> held;
    std::vector<std::unique_ptr<lease_locker>> all;
    for (int i = 0; i < lockers; ++i) all.push_back(std::make_unique<lease_locker>(api, lease_name{"", name}, fast("turn-" + std::to_string(i))));
    int finished = 0;
    for (auto& l : all) {
        asio::co_spawn(io, [&, locker = l.get()]() -> asio::awaitable<void> {
            for (int r = 0; r < rounds; ++r) {
                auto [ec] = co_await locker->lock(tuple_awaitable);
                BOOST_TEST_REQUIRE(!ec, ec.message());
                interval iv{clock_type::now(), {}, locker->current_fencing_token().sequence};
                co_await sleep_for(100ms);
                iv.to = clock_type::now();
                BOOST_TEST(locker->held());
                auto [uec, res] = co_await locker->unlock(tuple_awaitable);
                BOOST_TEST(!uec, uec.message());
                BOOST_TEST((res == unlock_result::released));
                held.push_back(iv);
            }
            ++finished;
        }, asio::detached);
    }
    test::run(io, [&]() -> asio::awaitable<void> {
        while (finished < lockers) co_await sleep_for(50ms);
    }(), std::chrono::seconds(120));
    BOOST_TEST_REQUIRE(held.size() == std::size_t(lockers * rounds));
    std::sort(held.begin(), held.end(), [](auto& a, auto& b) { return a.from < b.from; });
    for (std::size_t i = 1; i < held.size(); ++i) {
        BOOST_TEST((held[i].from >= held[i - 1].to), "overlap at " << i);
        BOOST_TEST(held[i].token > held[i - 1].token); // every grant its own, increasing token
    }
}

BOOST_AUTO_TEST_CASE(lockers_on_a_multi_threaded_io_context_take_turns) {
    asio::io_context io;
    client api{io.get_executor(), cluster_config_for("lease")};
    const auto name = test::unique_name("threads");
    constexpr int lockers = 3, rounds = 2;
    std::mutex mutex;
    std::vector<std::pair<clock_type::time_point, clock_type::time_point>> held;
    std::atomic<int> finished{0}, failures{0};
    std::vector<std::unique_ptr<lease_locker>> all;
    for (int i = 0; i < lockers; ++i)
        all.push_back(std::make_unique<lease_locker>(api, lease_name{"", name}, fast("mt-" + std::to_string(i))));
    for (auto& l : all) {
        asio::co_spawn(io, [&, locker = l.get()]() -> asio::awaitable<void> {
            for (int r = 0; r < rounds; ++r) {
                auto [ec] = co_await locker->lock(tuple_awaitable);
                if (ec) ++failures;
                auto from = clock_type::now();
                co_await sleep_for(100ms);
                auto to = clock_type::now();
                auto [uec, res] = co_await locker->unlock(tuple_awaitable);
                if (uec || res != unlock_result::released) ++failures;
                std::lock_guard lock(mutex);
                held.emplace_back(from, to);
            }
            ++finished;
        }, asio::detached);
    }
    std::thread second([&] { io.run_for(std::chrono::seconds(60)); });
    io.run_for(std::chrono::seconds(60));
    second.join();
    BOOST_TEST(finished.load() == lockers);
    BOOST_TEST(failures.load() == 0);
    std::sort(held.begin(), held.end());
    for (std::size_t i = 1; i < held.size(); ++i) BOOST_TEST((held[i].first >= held[i - 1].second), "overlap at " << i);
}

BOOST_FIXTURE_TEST_CASE(a_waiter_is_woken_by_the_watch_and_does_not_poll, fixture) {
    // Polling every retry_period (2 s here) would cost a GET per period and
    // up to 2-4.4 s per handoff; the watch costs neither.
    int waiter_requests = 0;
    client_options counting;
    counting.log = {.level = log_level::debug, .sink = [&](log_level, std::string_view line) {
        if (line.find(" -> ") != std::string_view::npos) ++waiter_requests;
    }};
    client waiter_api{io.get_executor(), cluster_config_for("lease"), counting};
    lock_config slow_poll{.lease_duration = 15s, .renew_deadline = 10s, .retry_period = 2s};
    slow_poll.identity = "holder";
    lease_locker holder{api, {"", name}, slow_poll};
    slow_poll.identity = "waiter";
    lease_locker waiter{waiter_api, {"", name}, slow_poll};
    test::run(io, [&]() -> asio::awaitable<void> {
        co_await holder.lock(asio::use_awaitable);
        bool acquired = false;
        clock_type::time_point acquired_at{};
        waiter.lock([&](error_code ec) {
            BOOST_TEST(!ec, ec.message());
            acquired = true;
            acquired_at = clock_type::now();
        });
        co_await sleep_for(5s); // the holder renews twice meanwhile
        const int while_waiting = waiter_requests;
        const auto released_at = clock_type::now();
        co_await holder.unlock(asio::use_awaitable);
        while (!acquired && clock_type::now() - released_at < 10s) co_await sleep_for(5ms);
        BOOST_TEST_REQUIRE(acquired);
        const double handoff_ms = std::chrono::duration<double, std::milli>(acquired_at - released_at).count();
        BOOST_TEST_MESSAGE("handoff " << handoff_ms << " ms; waiter requests while waiting 5 s: " << while_waiting);
        BOOST_TEST(while_waiting <= 2); // one read, one watch
        BOOST_TEST((acquired_at - released_at < 1s));
        co_await waiter.unlock(asio::use_awaitable);
    }());
}

BOOST_AUTO_TEST_CASE(without_watch_permission_waiters_poll) {
    // The identity may get/create/update leases but not watch them: the
    // watch is refused once (403) and the waiter polls every retry_period.
    asio::io_context io;
    int watch_requests = 0;
    client_options counting;
    counting.log = {.level = log_level::debug, .sink = [&](log_level, std::string_view line) {
        if (line.find("watch=true") != std::string_view::npos && line.find(" -> ") != std::string_view::npos) ++watch_requests;
    }};
    client api{io.get_executor(), cluster_config_for("lease-no-watch"), counting};
    const auto name = test::unique_name("nowatch");
    lease_locker a{api, {"", name}, fast("nw-a")}, b{api, {"", name}, fast("nw-b")};
    test::run(io, [&]() -> asio::awaitable<void> {
        co_await a.lock(asio::use_awaitable);
        bool acquired = false;
        b.lock([&](error_code ec) {
            BOOST_TEST(!ec, ec.message());
            acquired = true;
        });
        co_await sleep_for(2s);
        const auto released = clock_type::now();
        co_await a.unlock(asio::use_awaitable);
        while (!acquired && clock_type::now() - released < 5s) co_await sleep_for(10ms);
        BOOST_TEST(acquired); // found by polling: within about 2.2 retry periods
        BOOST_TEST((clock_type::now() - released < 2s));
        co_await b.unlock(asio::use_awaitable);
    }());
    // The shared watch: refused once, or once more if the second locker
    // subscribed after the first refusal; never asked again after that.
    BOOST_TEST(watch_requests >= 1);
    BOOST_TEST(watch_requests <= 2);
}

BOOST_FIXTURE_TEST_CASE(try_lock_does_not_wait, fixture) {
    lease_locker a{api, {"", name}, fast("a")}, b{api, {"", name}, fast("b")};
    test::run(io, [&]() -> asio::awaitable<void> {
        co_await a.lock(asio::use_awaitable);
        auto start = clock_type::now();
        auto [ec, got] = co_await b.try_lock(tuple_awaitable);
        BOOST_TEST(!ec, ec.message());
        BOOST_TEST(!got);
        BOOST_TEST((clock_type::now() - start < 1s));
        // Unlock by a non-holder changes nothing.
        lease before = co_await leases.get(name, asio::use_awaitable);
        auto [uec, res] = co_await b.unlock(tuple_awaitable);
        BOOST_TEST((res == unlock_result::not_held));
        lease after = co_await leases.get(name, asio::use_awaitable);
        BOOST_TEST(*after.spec.holder_identity == "a");
        BOOST_TEST((after.spec.lease_transitions == before.spec.lease_transitions));

        co_await a.unlock(asio::use_awaitable);
        auto [ec2, got2] = co_await b.try_lock(tuple_awaitable);
        BOOST_TEST(got2); // free at once after a release
        co_await b.unlock(asio::use_awaitable);
    }());
}

BOOST_FIXTURE_TEST_CASE(unlock_right_after_renewals_still_releases, fixture) {
    // Renewing every ~0.3 s: unlock races a renewal in flight now and then;
    // a stale version must never make the release fail.
    auto cfg = fast("racer");
    cfg.retry_period = 300ms;
    lease_locker locker{api, {"", name}, cfg};
    test::run(io, [&]() -> asio::awaitable<void> {
        for (int i = 0; i < 8; ++i) {
            co_await locker.lock(asio::use_awaitable);
            co_await sleep_for(std::chrono::milliseconds(250 + 20 * i));
            auto [uec, res] = co_await locker.unlock(tuple_awaitable);
            BOOST_TEST(!uec, uec.message());
            BOOST_TEST((res == unlock_result::released), "round " << i);
        }
    }(), std::chrono::seconds(60));
}

BOOST_FIXTURE_TEST_CASE(cancelling_a_waiting_lock_leaves_no_trace, fixture) {
    lease_locker holder{api, {"", name}, fast("holder")}, waiter{api, {"", name}, fast("waiter")};
    test::run(io, [&]() -> asio::awaitable<void> {
        co_await holder.lock(asio::use_awaitable);
        asio::cancellation_signal cancel;
        error_code waited;
        bool done = false;
        waiter.lock(asio::bind_cancellation_slot(cancel.slot(), [&](error_code ec) {
            waited = ec;
            done = true;
        }));
        co_await sleep_for(700ms);
        cancel.emit(asio::cancellation_type::total);
        while (!done) co_await sleep_for(10ms);
        BOOST_TEST(waited == asio::error::operation_aborted, waited.message());
        co_await holder.unlock(asio::use_awaitable);
        lease freed = co_await leases.get(name, asio::use_awaitable);
        co_await sleep_for(2s); // a live waiter would have taken the free lease by now
        lease later = co_await leases.get(name, asio::use_awaitable);
        BOOST_TEST(later.metadata.resource_version == freed.metadata.resource_version);
        BOOST_TEST(!waiter.held());
    }());
}

BOOST_FIXTURE_TEST_CASE(permanent_errors_complete_at_once, fixture) {
    test::run(io, [&]() -> asio::awaitable<void> {
        lease_locker elsewhere{api, {"default", name}, fast("x")}; // RBAC: leases only in the test namespace
        auto start = clock_type::now();
        auto [ec] = co_await elsewhere.lock(tuple_awaitable);
        BOOST_TEST(ec == error::forbidden, ec.message());
        BOOST_TEST((clock_type::now() - start < 1s));

        client admin{io.get_executor(), cluster_config_for("admin")};
        lease_locker nowhere{admin, {"no-such-namespace", name}, fast("x")};
        auto [ec2] = co_await nowhere.lock(tuple_awaitable);
        BOOST_TEST(ec2 == error::not_found, ec2.message());
    }());
}

BOOST_FIXTURE_TEST_CASE(a_refusal_reaches_the_caller_with_the_servers_message, fixture) {
    // RBAC lets the lease user touch leases only in the test namespace.
    lease_locker elsewhere{api, {"default", name}, fast("x")};
    test::run(io, [&]() -> asio::awaitable<void> {
        diagnostics diag;
        auto [ec] = co_await elsewhere.lock(diag, tuple_awaitable);
        BOOST_TEST(ec == error::forbidden, ec.message());
        BOOST_TEST_MESSAGE("lock: " << diag.to_string());
        BOOST_TEST(diag.server_message.find("cannot get resource \"leases\"") != std::string::npos, diag.server_message);
        BOOST_TEST(diag.server_message.find("lease-user") != std::string::npos, diag.server_message);
        BOOST_TEST(diag.client_message.find("default") != std::string::npos, diag.client_message);

        diagnostics try_diag;
        auto [tec, held] = co_await elsewhere.try_lock(try_diag, tuple_awaitable);
        BOOST_TEST(tec == error::forbidden, tec.message());
        BOOST_TEST(try_diag.server_message.find("cannot get resource \"leases\"") != std::string::npos, try_diag.server_message);

        diagnostics unlock_diag;
        auto [uec, res] = co_await elsewhere.unlock(unlock_diag, tuple_awaitable);
        BOOST_TEST(uec == error::forbidden, uec.message());
        BOOST_TEST(unlock_diag.server_message.find("cannot get resource \"leases\"") != std::string::npos, unlock_diag.server_message);

        // A success leaves the diagnostics empty.
        lease_locker here{api, {"", name}, fast("y")};
        diagnostics ok = diag;
        auto [hec] = co_await here.lock(ok, tuple_awaitable);
        BOOST_TEST(!hec, hec.message());
        BOOST_TEST(ok.server_message.empty());
        BOOST_TEST(ok.client_message.empty());
        co_await here.unlock(asio::use_awaitable);
    }());
}

// While held, the watch keeps the newest version: unlock writes the lease
// free over it without reading first (one request on the handoff's path;
// it read afresh before, a GET more per handoff). The write is guarded by
// that version, so a stale copy could only cost a conflict.
// Answered GETs (reads) and PUTs (writes) a client sent, from its debug
// log; the watch's GET is not a read.
struct request_tally {
    int reads = 0, writes = 0;
    leaselocker::logger logger() {
        return {.level = log_level::debug, .sink = [this](log_level, std::string_view line) {
            if (line.find(" -> ") == std::string_view::npos || line.find("watch=true") != std::string_view::npos) return;
            if (line.starts_with("GET ")) ++reads;
            if (line.starts_with("PUT ")) ++writes;
        }};
    }
};

BOOST_FIXTURE_TEST_CASE(unlock_of_a_watched_lease_is_one_write_and_no_read, fixture) {
    request_tally tally;
    client counted{io.get_executor(), cluster_config_for("lease"), client_options{.log = tally.logger()}};
    auto& reads = tally.reads;
    auto& writes = tally.writes;
    // A 2 s retry period: no renewal is due while the test unlocks.
    lease_locker holder{counted, {"", name}, {.lease_duration = 6s, .renew_deadline = 4s, .retry_period = 2s, .identity = "one-write"}};
    lease_locker waiter{api, {"", name}, fast("one-write-waiter")};
    test::run(io, [&]() -> asio::awaitable<void> {
        co_await holder.lock(asio::use_awaitable);
        bool got = false;
        waiter.lock([&](error_code ec) {
            BOOST_TEST(!ec, ec.message());
            got = true;
        });
        co_await sleep_for(300ms);
        const int reads_before = reads, writes_before = writes;
        const auto result = co_await holder.unlock(asio::use_awaitable);
        BOOST_TEST((result == unlock_result::released));
        BOOST_TEST(reads - reads_before == 0);
        BOOST_TEST(writes - writes_before == 1);
        for (int i = 0; i < 200 && !got; ++i) co_await sleep_for(10ms);
        BOOST_TEST(got);
        co_await waiter.unlock(asio::use_awaitable);
    }());
}

// The version unlock writes over is stale (no watch, and somebody changed
// the object since): the write conflicts, unlock reads afresh, sees the
// Lease still names it and releases it: one read and two writes.
BOOST_FIXTURE_TEST_CASE(unlock_over_a_stale_version_reads_afresh_and_releases, fixture) {
    request_tally tally;
    client counted{io.get_executor(), cluster_config_for("lease"), client_options{.log = tally.logger()}};
    auto& reads = tally.reads;
    auto& writes = tally.writes;
    auto cfg = fast("stale-unlock");
    cfg.use_watch = false;
    lease_locker holder{counted, {"", name}, cfg};
    test::run(io, [&]() -> asio::awaitable<void> {
        co_await holder.lock(asio::use_awaitable);
        auto l = co_await leases.get(name, asio::use_awaitable);
        l.metadata.labels["touched"] = "by-someone";
        co_await leases.replace(l, asio::use_awaitable);
        const int reads_before = reads, writes_before = writes;
        const auto result = co_await holder.unlock(asio::use_awaitable);
        BOOST_TEST((result == unlock_result::released));
        BOOST_TEST(reads - reads_before == 1);
        BOOST_TEST(writes - writes_before == 2);
        const auto after = co_await leases.get(name, asio::use_awaitable);
        BOOST_TEST(!after.spec.held());
        BOOST_TEST(after.metadata.labels.at("touched") == "by-someone");
    }());
}

BOOST_FIXTURE_TEST_CASE(invalid_names_and_timings_are_refused_before_any_request, fixture) {
    counting_client counted{io};
    auto& c = counted.api;
    BOOST_CHECK_THROW(lease_locker(c, {"", "bad_name"}), config_error);
    BOOST_CHECK_THROW(lease_locker(c, {"Bad_NS", "ok"}), config_error);
    BOOST_CHECK_THROW(lease_locker(c, {"", name}, {.lease_duration = 2s, .renew_deadline = 2s}), config_error);
    BOOST_CHECK_THROW(lease_locker(c, {"", name}, {.lease_duration = 15s, .renew_deadline = 2s, .retry_period = 2s}), config_error);
    BOOST_CHECK_THROW(lease_locker(c, {"", name}, {.lease_duration = 900ms, .renew_deadline = 500ms, .retry_period = 100ms}), config_error);
    // Renewals count for client-go's waiters only when renewTime moves to a
    // new second: validity must outlast 1 s + retry_period.
    BOOST_CHECK_THROW(lease_locker(c, {"", name}, {.lease_duration = 2s, .renew_deadline = 1500ms, .retry_period = 1s}), config_error);
    BOOST_CHECK_NO_THROW(lease_locker(c, {"", name}, {.lease_duration = 2s, .renew_deadline = 1500ms, .retry_period = 250ms}));
    // Fair turns: a positive grace; yielding to pollers only with a queue.
    auto unfair_yield = fast("f");
    unfair_yield.yield_every = 3;
    unfair_yield.yield_window = 500ms;
    BOOST_CHECK_THROW(lease_locker(c, {"", name}, unfair_yield), config_error);
    auto no_grace = fast("f");
    no_grace.fair_turns = true;
    no_grace.fair_claim_grace = 0ms;
    BOOST_CHECK_THROW(lease_locker(c, {"", name}, no_grace), config_error);
    // Names are lowercased first, as the seed does.
    lease_locker upper{c, {"", "Mixed-CASE"}, fast("u")};
    BOOST_TEST(upper.describe().find("mixed-case") != std::string::npos, upper.describe());
    io.run_for(300ms);
    BOOST_TEST(counted.requests == 0);
}

BOOST_FIXTURE_TEST_CASE(nothing_keeps_running_after_a_loss_seen_on_the_watch, fixture) {
    // Found by running tools/demo.sh: after a takeover seen on the watch the
    // shared watch stayed subscribed, so the program's io.run() never
    // returned.
    lease_locker victim{api, {"", name}, fast("idle-after-loss")};
    test::run(io, [&]() -> asio::awaitable<void> {
        co_await victim.lock(asio::use_awaitable);
        error_code lost;
        victim.wait_lost([&](error_code ec) { lost = ec; });
        co_await test::overwrite_holder(io, name, "usurper", false);
        const auto taken = clock_type::now();
        while (!lost && clock_type::now() - taken < 5s) co_await sleep_for(10ms);
        BOOST_TEST(lost == error::lock_lost, lost.message());
    }());
    io.restart();
    const auto t0 = clock_type::now();
    io.run_for(5s); // returns early once no work is left
    BOOST_TEST(io.stopped(), "work still pending 5 s after the loss");
    BOOST_TEST((clock_type::now() - t0 < 4s));
}

BOOST_FIXTURE_TEST_CASE(a_takeover_is_reported_as_loss_first, fixture) {
    std::vector<std::string> order;
    auto cfg = fast("victim");
    cfg.on_lost = [&](error_code ec) { order.push_back("callback:" + ec.message()); };
    lease_locker victim{api, {"", name}, cfg};
    client admin{io.get_executor(), cluster_config_for("admin")};
    lease_client admin_leases{admin};
    test::run(io, [&]() -> asio::awaitable<void> {
        co_await victim.lock(asio::use_awaitable);
        BOOST_TEST(!victim.check(0ms));
        // Guarded work bound to the loss signal, and an operation waiting for loss.
        asio::steady_timer guarded_work(io, std::chrono::hours(1));
        guarded_work.async_wait(asio::bind_cancellation_slot(victim.lost_slot(), [&](error_code ec) {
            order.push_back("work:" + ec.message());
        }));
        bool lost_done = false;
        victim.wait_lost([&](error_code ec) {
            order.push_back(ec == error::lock_lost ? "wait_lost:lock_lost" : "wait_lost:" + ec.message());
            lost_done = true;
        });
        // Someone with more rights writes another holder over it.
        co_await test::overwrite_holder(io, name, "usurper");
        const auto taken = clock_type::now();
        while (!lost_done && clock_type::now() - taken < 5s) co_await sleep_for(20ms);
        BOOST_TEST(lost_done);
        BOOST_TEST(order.size() == 3u); // all at once
        // Reported at the next renewal (every ~0.5 s), well before our lease could run out.
        BOOST_TEST((clock_type::now() - taken < 1500ms));
        BOOST_TEST(!victim.held());
        BOOST_TEST(!victim.current_fencing_token().valid());
        co_await sleep_for(50ms);
        BOOST_TEST(victim.check(10ms) == error::lock_lost);
        // Unlock after a loss: the lease is someone else's, nothing is written.
        auto [uec, res] = co_await victim.unlock(tuple_awaitable);
        BOOST_TEST((res == unlock_result::not_held));
        lease after = co_await admin_leases.get(name, asio::use_awaitable);
        BOOST_TEST(*after.spec.holder_identity == "usurper");
        BOOST_TEST(!victim.check(0ms)); // unlocked: healthy again
    }());
    // All three fired together at the loss, before anything else (the
    // unlock came later and wrote nothing).
    BOOST_TEST_REQUIRE(order.size() == 3u);
    std::sort(order.begin(), order.end());
    BOOST_TEST(order[0].starts_with("callback:"));
    BOOST_TEST(order[1] == "wait_lost:lock_lost");
    BOOST_TEST(order[2] == "work:" + make_error_code(asio::error::operation_aborted).message()); // the guarded work was cancelled
}

// With release_on_cancel the locker also releases after a loss; that
// release (which finds the lease someone else's) must not turn the loss
// into a plain end: wait_lost still says lock_lost and check() still fails.
BOOST_FIXTURE_TEST_CASE(a_takeover_with_release_on_cancel_is_still_reported_as_a_loss, fixture) {
    auto cfg = fast("victim-releasing");
    cfg.release_on_cancel = true;
    lease_locker victim{api, {"", name}, cfg};
    std::optional<error_code> lost;
    test::run(io, [&]() -> asio::awaitable<void> {
        co_await victim.lock(asio::use_awaitable);
        victim.wait_lost([&](error_code ec) { lost = ec; });
        co_await test::overwrite_holder(io, name, "usurper");
        const auto taken = clock_type::now();
        while (!lost && clock_type::now() - taken < 5s) co_await sleep_for(20ms);
        co_await sleep_for(100ms); // the background release has run
    }());
    BOOST_TEST_REQUIRE(lost.has_value());
    BOOST_TEST(*lost == error::lock_lost, lost->message());
    BOOST_TEST(victim.check(10ms) == error::lock_lost);
    BOOST_TEST(!victim.held());
}

BOOST_FIXTURE_TEST_CASE(cut_off_from_the_server_the_holder_reports_loss_before_its_lease_can_expire, fixture) {
    lease_locker holder{api, {"", name}, fast("cut-off")};
    auto control = [](const std::string& action) {
        auto cmd = std::string(LEASELOCKER_LLCLUSTER) + " apiserver " + action + " --dir " + test::cluster().dir;
        BOOST_TEST_REQUIRE(std::system(cmd.c_str()) == 0, cmd);
    };
    clock_type::time_point valid_before{}, lost_at{};
    test::run(io, [&]() -> asio::awaitable<void> {
        co_await holder.lock(asio::use_awaitable);
        co_await sleep_for(700ms);
        valid_before = holder.valid_until();
        bool lost = false;
        holder.wait_lost([&](error_code) {
            lost = true;
            lost_at = clock_type::now();
        });
        // SIGSTOP: a server that hangs without resetting anything, the hard
        // case (requests time out instead of failing fast). Off this thread,
        // which runs the io_context.
        std::thread([&] { control("pause"); }).join();
        while (!lost && clock_type::now() < valid_before + 2s) co_await sleep_for(20ms);
    }(), std::chrono::seconds(60));
    control("resume");
    BOOST_TEST_REQUIRE((lost_at != clock_type::time_point{}));
    // The last renewal before the stop was sent at most one retry period
    // before valid_before was read; loss comes at its renew deadline (2 s
    // after it), which is before its lease (3 s after it) can expire.
    BOOST_TEST((lost_at < valid_before), "lost " << std::chrono::duration<double>(lost_at - valid_before).count() << " s after validity ended");
    BOOST_TEST((lost_at > valid_before - 3s));
    BOOST_TEST(!holder.held());
}

BOOST_FIXTURE_TEST_CASE(an_api_server_restart_ends_neither_waiting_nor_holding, fixture) {
    // The long chaos run saw lock() end with 403 after API-server restarts
    // (an authorizer not ready yet). A holder must keep its lock through a
    // restart and a waiter must keep waiting, then take it on the release.
    std::atomic<int> refusals_ridden_out{0};
    client_options watching;
    watching.log = {.level = log_level::warning, .sink = [&](log_level, std::string_view line) {
        if (line.find("let through before") != std::string_view::npos) ++refusals_ridden_out;
    }};
    client restarting{io.get_executor(), cluster_config_for("lease"), watching};
    // The waiter's own client, whose requests are listed: after the release
    // it must write at once, on the version its watch delivered, without a
    // read first (a polling waiter reads first).
    std::vector<std::pair<clock_type::time_point, std::string>> waiter_requests;
    client_options listing;
    listing.log = {.level = log_level::debug, .sink = [&](log_level, std::string_view line) {
        if (line.find("let through before") != std::string_view::npos) ++refusals_ridden_out;
        if (line.find(" -> ") != std::string_view::npos && line.find("watch=true") == std::string_view::npos)
            waiter_requests.emplace_back(clock_type::now(), std::string(line));
    }};
    client waiter_api{io.get_executor(), cluster_config_for("lease"), listing};
    // A restart with a watch open takes about 10 s here (the old server
    // drains its watches first): the lease outlasts it.
    lock_config cfg{.lease_duration = 30s, .renew_deadline = 20s, .retry_period = 2s};
    cfg.log = watching.log;
    cfg.identity = "through-holder";
    lease_locker holder{restarting, {"", name}, cfg};
    cfg.identity = "through-waiter";
    cfg.log = listing.log;
    lease_locker waiter{waiter_api, {"", name}, cfg};
    test::run(io, [&]() -> asio::awaitable<void> {
        auto [hec] = co_await holder.lock(tuple_awaitable);
        BOOST_TEST_REQUIRE(!hec, hec.message());
        error_code holder_lost, waited{asio::error::would_block};
        holder.wait_lost([&](error_code ec) { holder_lost = ec; });
        waiter.lock([&](error_code ec) { waited = ec; });
        co_await sleep_for(1500ms);
        std::atomic<bool> restarted{false};
        std::thread restart([&] {
            auto cmd = std::string(LEASELOCKER_LLCLUSTER) + " apiserver restart --dir " + test::cluster().dir;
            BOOST_TEST(std::system(cmd.c_str()) == 0, cmd);
            restarted = true;
        });
        while (!restarted) co_await sleep_for(50ms);
        restart.join();
        co_await sleep_for(5s); // renewals and the waiter's watch come back
        BOOST_TEST(holder.held());
        BOOST_TEST(!holder_lost, holder_lost.message());
        BOOST_TEST(waited == asio::error::would_block, waited.message()); // still waiting, not failed
        const auto released = clock_type::now(); // before: the waiter may take it before unlock() returns
        auto [uec, res] = co_await holder.unlock(tuple_awaitable);
        BOOST_TEST(!uec, uec.message());
        for (int i = 0; i < 200 && waited == asio::error::would_block; ++i) co_await sleep_for(10ms);
        BOOST_TEST(!waited, waited.message());
        BOOST_TEST(waiter.held());
        // By its watch, not by polling: the watch came back.
        auto first_after = std::find_if(waiter_requests.begin(), waiter_requests.end(), [&](auto& r) { return r.first > released; });
        BOOST_TEST_REQUIRE((first_after != waiter_requests.end()));
        BOOST_TEST(first_after->second.starts_with("PUT"), first_after->second);
        BOOST_TEST((clock_type::now() - released < 2s));
        co_await waiter.unlock(asio::use_awaitable);
    }(), std::chrono::seconds(90));
    // Whether the restarted server refused anything depends on timing (its
    // authorizer is ready within moments): reported, not required.
    BOOST_TEST_MESSAGE("401/403 answers ridden out during the restart: " << refusals_ridden_out.load());
}

BOOST_FIXTURE_TEST_CASE(every_operation_with_every_token_and_no_thread_of_ours, fixture) {
    auto threads = [] {
        std::ifstream status("/proc/self/status");
        for (std::string line; std::getline(status, line);)
            if (line.starts_with("Threads:")) return std::stoi(line.substr(8));
        return -1;
    };
    const int before = threads();
    lease_locker locker{api, {"", name}, fast("tokens")};
    auto strand = asio::make_strand(io);

    // Callback bound to a strand: runs there, never inside the initiating call.
    bool initiating = true, done = false;
    locker.lock(asio::bind_executor(strand, [&](error_code ec) {
        BOOST_TEST(!ec, ec.message());
        BOOST_TEST(!initiating);
        BOOST_TEST(strand.running_in_this_thread());
        done = true;
    }));
    initiating = false;
    for (int i = 0; i < 200 && !done; ++i) io.run_one_for(50ms);
    BOOST_TEST_REQUIRE(done);
    BOOST_TEST(threads() == before); // renewing now, still no thread

    // deferred: nothing happens until invoked (another locker, on another
    // lease, whose client counts its requests).
    counting_client counted{io};
    lease_locker second{counted.api, {"", name + "-deferred"}, fast("deferred")};
    auto op = second.lock(asio::deferred);
    io.run_for(300ms);
    BOOST_TEST(counted.requests == 0);
    BOOST_TEST(!second.held());
    done = false;
    std::move(op)([&](error_code ec) {
        BOOST_TEST(!ec, ec.message());
        done = true;
    });
    for (int i = 0; i < 200 && !done; ++i) io.run_one_for(50ms);
    BOOST_TEST(done);
    BOOST_TEST(counted.requests > 0);
    BOOST_TEST(second.held());
    auto unlocked = second.unlock(asio::deferred);
    done = false;
    std::move(unlocked)([&](error_code ec, unlock_result r) {
        BOOST_TEST(!ec, ec.message());
        BOOST_TEST((r == unlock_result::released));
        done = true;
    });
    for (int i = 0; i < 200 && !done; ++i) io.run_one_for(50ms);
    BOOST_TEST(done);

    // use_future from a thread that does not run the io_context.
    auto work = asio::make_work_guard(io);
    std::thread runner([&] { io.run(); });
    auto released = locker.unlock(asio::use_future);
    BOOST_TEST((released.get() == unlock_result::released));
    auto again = locker.unlock_with_retry(asio::use_future);
    BOOST_TEST((again.get() == unlock_result::not_held));
    work.reset();
    runner.join();
}

BOOST_FIXTURE_TEST_CASE(check_fails_when_the_holder_stalls_past_its_lease, fixture) {
    // What client-go's Check exists for (kubernetes#70819): the thread that
    // renews is blocked, so nothing can notice a loss, yet the lock still
    // reads as held. check() must fail once valid_until() + tolerance passed.
    lease_locker locker{api, {"", name}, fast("stalled")};
    auto work = asio::make_work_guard(io);
    std::thread runner([&] { io.run(); });
    locker.lock(asio::use_future).get();
    BOOST_TEST(!locker.check(500ms));
    auto lost = locker.wait_lost(asio::use_future);
    auto blocked = std::make_shared<std::promise<void>>();
    auto io_blocked = blocked->get_future();
    asio::post(io, [blocked] {
        blocked->set_value();
        std::this_thread::sleep_for(4500ms); // past the 3 s lease
    });
    io_blocked.wait();
    const auto valid_until = locker.valid_until();
    BOOST_TEST((valid_until > clock_type::now()));
    std::this_thread::sleep_until(valid_until + 600ms);
    BOOST_TEST(locker.held()); // nobody could tell it otherwise: the point
    BOOST_TEST(locker.check(500ms) == error::lock_lost);
    BOOST_TEST(!locker.check(10s)); // still within that tolerance
    // Running again, the locker finds its renew deadline passed by itself.
    error_code why;
    try {
        lost.get();
    } catch (const boost::system::system_error& e) {
        why = e.code();
    }
    BOOST_TEST(why == error::lock_lost, why.message());
    BOOST_TEST(!locker.held());
    work.reset();
    io.stop();
    runner.join();
}

BOOST_FIXTURE_TEST_CASE(events_are_recorded_when_asked, fixture) {
    auto cfg = fast("eventful");
    cfg.record_events = true;
    lease_locker locker{api, {"", name}, cfg};
    client admin{io.get_executor(), cluster_config_for("admin")};
    auto body = test::run(io, [&]() -> asio::awaitable<std::string> {
        co_await locker.lock(asio::use_awaitable);
        co_await sleep_for(500ms);
        co_await locker.unlock(asio::use_awaitable);
        http_request req{.target = "/api/v1/namespaces/" + test::cluster().namespace_name +
                                   "/events?fieldSelector=involvedObject.name%3D" + name};
        auto resp = co_await admin.request(std::move(req), asio::use_awaitable);
        co_return resp.body;
    }());
    BOOST_TEST(body.find("eventful became leader") != std::string::npos, body);
    BOOST_TEST(body.find("\"reason\":\"LeaderElection\"") != std::string::npos);
}

BOOST_FIXTURE_TEST_CASE(release_on_cancel_releases_when_the_locker_goes_away, fixture) {
    auto cfg = fast("short-lived");
    cfg.release_on_cancel = true;
    test::run(io, [&]() -> asio::awaitable<void> {
        {
            lease_locker locker{api, {"", name}, cfg};
            co_await locker.lock(asio::use_awaitable);
        } // destroyed while holding: never blocks, releases in the background
        co_await sleep_for(1s);
        lease after = co_await leases.get(name, asio::use_awaitable);
        BOOST_TEST(after.spec.holder_identity.value_or("") == "");
        BOOST_TEST(*after.spec.lease_duration_seconds == 1);
    }());
}

// First sight (lock_config::first_sight_margin): the server's Date and the
// Lease's managedFields time say how long ago its holder last wrote.
namespace {
lease ghost_lease(const std::string& name, int duration_seconds) {
    lease l;
    l.metadata.name = name;
    const auto now = std::chrono::time_point_cast<std::chrono::microseconds>(std::chrono::system_clock::now());
    l.spec = {.holder_identity = "ghost", .lease_duration_seconds = duration_seconds, .acquire_time = now, .renew_time = now,
              .lease_transitions = 5};
    return l;
}
} // namespace

BOOST_FIXTURE_TEST_CASE(first_sight_takes_a_long_dead_lease_at_once_and_a_plain_locker_waits_it_out, fixture) {
    const auto dead = name + "-dead", plain_dead = name + "-plain";
    auto with_margin = fast("first-sight");
    with_margin.first_sight_margin = 500ms;
    lease_locker quick{api, {"", dead}, with_margin}, plain{api, {"", plain_dead}, fast("plain")};
    test::run(io, [&]() -> asio::awaitable<void> {
        co_await leases.create(ghost_lease(dead, 2), asio::use_awaitable);
        co_await leases.create(ghost_lease(plain_dead, 2), asio::use_awaitable);
        // Dead for 4.5 s: ≥ 3 s on the server's whole seconds less 1 s,
        // 2.5 s after the margin, 2.45 s after ρ: more than its 2 s.
        co_await sleep_for(4500ms);
        const auto t0 = clock_type::now();
        auto quick_lock = quick.lock(asio::deferred);
        auto plain_lock = plain.lock(asio::deferred);
        co_await std::move(quick_lock)(asio::use_awaitable);
        const auto quick_took = clock_type::now() - t0;
        co_await std::move(plain_lock)(asio::use_awaitable);
        const auto plain_took = clock_type::now() - t0;
        BOOST_TEST_MESSAGE("a lease dead for 4.5 s (duration 2 s): taken after " << std::chrono::duration<double>(quick_took).count()
                                                                              << " s with first sight, " << std::chrono::duration<double>(plain_took).count()
                                                                              << " s without");
        // One read and one write, no wait; the plain locker times the 2 s
        // from its first sight.
        BOOST_TEST((quick_took < 1s));
        BOOST_TEST((plain_took >= 2s));
        BOOST_TEST(quick.current_fencing_token().sequence == 6);
        co_await quick.unlock(asio::use_awaitable);
        co_await plain.unlock(asio::use_awaitable);
    }());
}

BOOST_FIXTURE_TEST_CASE(first_sight_never_takes_a_live_lease_before_its_duration_from_the_write, fixture) {
    auto cfg = fast("first-sight");
    cfg.first_sight_margin = 0ms; // the least margin: the server's clock alone
    lease_locker locker{api, {"", name}, cfg};
    test::run(io, [&]() -> asio::awaitable<void> {
        const auto before_write = clock_type::now();
        co_await leases.create(ghost_lease(name, 3), asio::use_awaitable);
        // First seen 2.5 s after the write: the server's whole seconds say
        // 2 or 3, so 1 or 2 s (× 0.98 for ρ) of its age are credited.
        co_await sleep_for(2500ms);
        co_await locker.lock(asio::use_awaitable);
        const auto after_write = clock_type::now() - before_write;
        BOOST_TEST_MESSAGE("a live 3 s lease first seen 2.5 s after its write: taken "
                           << std::chrono::duration<double>(after_write).count() << " s after the write");
        BOOST_TEST((after_write >= 3s)); // never before its duration from the write
        BOOST_TEST((after_write < 5s));  // but sooner than 3 s from first sight (5.5 s)
        co_await locker.unlock(asio::use_awaitable);
    }());
}

BOOST_AUTO_TEST_SUITE_END()
