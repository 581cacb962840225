// lease_locker across processes: contention, and failover after SIGKILL.
#include "support/cluster_env.hpp"
#include "support/locker_child.hpp"
#include "support/printing.hpp"
#include "support/run.hpp"

#include <leaselocker/leaselocker.hpp>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/test/unit_test.hpp>

#include <algorithm>
#include <thread>
#include <csignal>
#include <cstdio>
#include <sstream>
#include <sys/wait.h>
#include <unistd.h>

namespace asio = boost::asio;
using namespace leaselocker;
using namespace std::chrono_literals;
using test::cluster;
using test::child;

namespace {

long long now_ns() {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

} // namespace

BOOST_AUTO_TEST_SUITE(locker_process_it)

BOOST_AUTO_TEST_CASE(processes_take_turns_without_overlap) {
    const auto lease = test::unique_name("procs");
    constexpr int processes = 3, rounds = 4;
    // A recorder watches the Lease: the server's own history of it.
    std::vector<lock_record> history;
    asio::io_context watch_io;
    client watch_api{watch_io.get_executor(), test::cluster_config_for("lease")};
    lease_client watch_leases{watch_api};
    lease_watch recorder{watch_leases, lease};
    asio::co_spawn(watch_io, [&]() -> asio::awaitable<void> {
        for (;;) {
            auto [ec, ev] = co_await recorder.next(asio::as_tuple(asio::use_awaitable));
            if (ec) co_return;
            history.push_back(to_lock_record(ev.object.spec));
        }
    }, asio::detached);
    auto watch_work = asio::make_work_guard(watch_io);
    std::thread watcher([&] { watch_io.run_for(std::chrono::seconds(120)); });
    std::this_thread::sleep_for(std::chrono::milliseconds(500)); // the watch is open before anyone writes
    std::vector<std::unique_ptr<child>> children;
    for (int i = 0; i < processes; ++i)
        children.push_back(std::make_unique<child>(lease, "proc-" + std::to_string(i), std::vector<std::string>{"rounds", std::to_string(rounds)}));
    struct interval {
        long long from, to, token;
    };
    std::vector<interval> all;
    for (auto& c : children) {
        for (int r = 0; r < rounds; ++r) {
            std::istringstream acquired(c->line()), released(c->line());
            std::string word;
            interval iv{};
            acquired >> word >> iv.from >> iv.token;
            BOOST_TEST_REQUIRE(word == "acquired");
            released >> word >> iv.to;
            BOOST_TEST_REQUIRE(word == "released");
            all.push_back(iv);
        }
        BOOST_TEST(c->wait() == 0);
    }
    std::sort(all.begin(), all.end(), [](auto& a, auto& b) { return a.from < b.from; });
    for (std::size_t i = 1; i < all.size(); ++i) {
        BOOST_TEST(all[i].from >= all[i - 1].to, "overlapping holders at " << i);
        BOOST_TEST(all[i].token > all[i - 1].token);
    }

    std::this_thread::sleep_for(std::chrono::milliseconds(500)); // the last events arrive
    asio::post(watch_io, [&] { recorder.cancel(); });
    watch_work.reset();
    watcher.join();
    // Server order: leaseTransitions never decreases, and grows with every
    // grant: each time a holder appears after a release or another holder.
    BOOST_TEST_REQUIRE(history.size() >= std::size_t(processes * rounds * 2));
    int grants = 0;
    for (std::size_t i = 1; i < history.size(); ++i) {
        const auto &prev = history[i - 1], &cur = history[i];
        BOOST_TEST(cur.lease_transitions >= prev.lease_transitions, "transitions went back at event " << i);
        if (!cur.holder_identity.empty() && cur.holder_identity != prev.holder_identity) {
            ++grants;
            BOOST_TEST(cur.lease_transitions == prev.lease_transitions + 1, "grant without a new token at event " << i);
        }
    }
    BOOST_TEST(grants == processes * rounds - 1); // the first grant is the create
}

BOOST_AUTO_TEST_CASE(a_killed_holder_is_replaced_after_the_lease_duration_not_before) {
    const auto lease = test::unique_name("failover");
    child holder(lease, "doomed", {"hold"});
    BOOST_TEST_REQUIRE(holder.line().starts_with("acquired"));

    asio::io_context io;
    client api{io.get_executor(), test::cluster_config_for("lease")};
    lease_locker waiter{api, {"", lease}, {.lease_duration = 3s, .renew_deadline = 2s, .retry_period = 500ms, .identity = "heir"}};
    long long killed_at = 0, acquired_at = 0;
    test::run(io, [&]() -> asio::awaitable<void> {
        // The waiter watches the holder renew for a while, then the holder dies.
        asio::steady_timer kill_timer(io, 1500ms);
        kill_timer.async_wait([&](boost::system::error_code) {
            killed_at = now_ns();
            ::kill(holder.pid, SIGKILL);
        });
        auto [ec] = co_await waiter.lock(asio::as_tuple(asio::use_awaitable));
        acquired_at = now_ns();
        BOOST_TEST_REQUIRE(!ec, ec.message());
    }());
    const double after = (acquired_at - killed_at) / 1e9;
    BOOST_TEST_MESSAGE("failover " << after << " s after SIGKILL (lease 3 s, renewals every 0.5 s)");
    // Its last renewal was at most one retry period before the kill; the
    // waiter takes over one lease duration after seeing it, not before.
    BOOST_TEST(after >= 3.0 - 0.5 - 0.05);
    BOOST_TEST(after <= 3.0 + 1.0);
    BOOST_TEST(waiter.current_fencing_token().sequence == 1);
    test::run(io, waiter.unlock(asio::use_awaitable));
}

BOOST_AUTO_TEST_SUITE_END()
