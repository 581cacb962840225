// leader_elector and lease_observer against the real control plane:
// handover in order (the old leader's on_stopped_leading before the new
// one's on_started_leading), loss signalled before the lease can expire,
// a leader whose work ends stepping down, the observer's changes at zero
// requests, the health check and the metrics.
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
#include <boost/asio/use_future.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/value.hpp>
#include <boost/test/unit_test.hpp>

#include <atomic>
#include <future>
#include <mutex>
#include <thread>
#include <vector>

namespace asio = boost::asio;
using namespace leaselocker;
using namespace std::chrono_literals;
using fixture = test::lease_fixture;
using test::counting_client;
using test::fast;
using test::sleep_for;
using clock_type = std::chrono::steady_clock;
constexpr auto tuple_awaitable = asio::as_tuple(asio::use_awaitable);

namespace {

// The leader's work of these tests: waits until cancelled (or `ends_after`);
// as most coroutines do, it ends on cancellation by throwing operation_aborted.
asio::awaitable<void> lead_until_cancelled(clock_type::duration ends_after = 1h) {
    asio::steady_timer t(co_await asio::this_coro::executor, ends_after);
    co_await t.async_wait(asio::use_awaitable);
}

// A work that sets `stopped` when it is stopped (a parameter, not a
// lambda capture: the frame must own what it refers to).
asio::awaitable<void> note_when_stopped(bool& stopped) {
    try {
        co_await sleep_for(1h);
    } catch (...) {
        stopped = true;
        throw;
    }
}

// What every elector of a test did, in the order it happened (one thread).
struct journal {
    struct entry {
        std::string who, what;
        clock_type::time_point at;
    };
    std::vector<entry> entries;
    void note(const std::string& who, const std::string& what) { entries.push_back({who, what, clock_type::now()}); }
    std::vector<std::string> of(const std::string& what) const {
        std::vector<std::string> r;
        for (const auto& e : entries)
            if (e.what == what) r.push_back(e.who);
        return r;
    }
    // Between each "started" of one elector and the next "started" of
    // another, the first one's "stopped".
    bool ordered() const {
        std::string leading;
        for (const auto& e : entries) {
            if (e.what == "started") {
                if (!leading.empty()) return false;
                leading = e.who;
            } else if (e.what == "stopped") {
                if (e.who != leading) return false;
                leading.clear();
            }
        }
        return true;
    }
    std::string dump() const {
        std::string s;
        for (const auto& e : entries) s += e.who + ":" + e.what + " ";
        return s;
    }
};

elector_config electing(asio::io_context& io, journal& j, const std::string& id, clock_type::duration ends_after = 1h) {
    elector_config c;
    c.lock = fast(id);
    c.lock.release_on_cancel = true;
    c.on_started_leading = [&j, id, ends_after](leadership l, asio::any_completion_handler<void(std::exception_ptr)> done) {
        BOOST_TEST(l.token.valid());
        BOOST_TEST(l.identity == id);
        j.note(id, "started");
        asio::co_spawn(l.executor, lead_until_cancelled(ends_after), std::move(done));
    };
    c.on_stopped_leading = [&j, id] { j.note(id, "stopped"); };
    c.on_new_leader = [&j, id](const std::string& leader) { j.note(id, "new-leader " + (leader.empty() ? std::string("-") : leader)); };
    return c;
}

// For electors on several threads: a journal behind a mutex, and works that
// count how many of them run at once.
struct concurrent_works {
    std::mutex m;
    journal j;
    std::atomic<int> running{0}, most{0};
    void note(const std::string& id, const std::string& what) {
        std::lock_guard lock(m);
        j.note(id, what);
    }
    // on_started_leading: notes "started", runs until cancelled; `flag`
    // (if any) is true while the work runs.
    leader_work leader(std::string id, std::atomic<bool>* flag = nullptr) {
        return [this, id, flag](leadership l, asio::any_completion_handler<void(std::exception_ptr)> done) {
            note(id, "started");
            if (flag) *flag = true;
            const int now = ++running;
            for (int seen = most; now > seen && !most.compare_exchange_weak(seen, now);) {
            }
            // Wrapping `done` must keep its cancellation slot: it carries the stop.
            auto slot = asio::get_associated_cancellation_slot(done);
            asio::co_spawn(l.executor, lead_until_cancelled(),
                           asio::bind_cancellation_slot(slot, [this, flag, done = std::move(done)](std::exception_ptr e) mutable {
                               if (flag) *flag = false;
                               --running;
                               std::move(done)(e);
                           }));
        };
    }
    std::function<void()> stopped(std::string id) {
        return [this, id] { note(id, "stopped"); };
    }
};

} // namespace

BOOST_AUTO_TEST_SUITE(leader_elector_it)

BOOST_FIXTURE_TEST_CASE(a_cancelled_leader_hands_over_and_stops_before_the_next_starts, fixture) {
    journal j;
    leader_elector a{api, {"", name}, electing(io, j, "elector-a")}, b{api, {"", name}, electing(io, j, "elector-b")};
    asio::cancellation_signal stop_a, stop_b;
    std::optional<error_code> a_done, b_done;
    double handover_ms = -1;
    test::run(io, [&]() -> asio::awaitable<void> {
        a.run(asio::bind_cancellation_slot(stop_a.slot(), [&](error_code ec) { a_done = ec; }));
        while (!a.is_leader()) co_await sleep_for(10ms);
        b.run(asio::bind_cancellation_slot(stop_b.slot(), [&](error_code ec) { b_done = ec; }));
        while (b.current_leader() != "elector-a") co_await sleep_for(10ms); // b follows the lease
        co_await sleep_for(1s);                                             // renewals: no new leader
        BOOST_TEST(!b.is_leader());
        const auto t0 = clock_type::now();
        stop_a.emit(asio::cancellation_type::terminal);
        while (!b.is_leader()) co_await sleep_for(1ms);
        handover_ms = std::chrono::duration<double, std::milli>(clock_type::now() - t0).count();
        while (!a_done) co_await sleep_for(5ms);
        while (a.current_leader() == "elector-a" && b.current_leader() != "elector-b") co_await sleep_for(5ms);
        stop_b.emit(asio::cancellation_type::terminal);
        while (!b_done) co_await sleep_for(5ms);
    }());
    BOOST_TEST_MESSAGE("handover (a cancelled -> b leads) " << handover_ms << " ms; " << j.dump());
    BOOST_TEST(j.ordered(), j.dump());
    BOOST_TEST(j.of("started") == (std::vector<std::string>{"elector-a", "elector-b"}));
    BOOST_TEST(j.of("stopped") == (std::vector<std::string>{"elector-a", "elector-b"}));
    BOOST_TEST((a_done && *a_done == asio::error::operation_aborted));
    BOOST_TEST((b_done && *b_done == asio::error::operation_aborted));
    // b saw a lead, then itself (perhaps the released lease in between); never a renewal as a change.
    int b_saw_a = 0, b_saw_b = 0;
    for (const auto& e : j.entries) {
        if (e.who == "elector-b" && e.what == "new-leader elector-a") ++b_saw_a;
        if (e.who == "elector-b" && e.what == "new-leader elector-b") ++b_saw_b;
    }
    BOOST_TEST(b_saw_a == 1);
    BOOST_TEST(b_saw_b == 1);
    // release_on_cancel: b released on its way out.
    auto l = test::run(io, leases.get(name, asio::use_awaitable));
    BOOST_TEST(!l.spec.held());
}

BOOST_FIXTURE_TEST_CASE(cut_off_the_leader_stops_before_its_lease_can_expire_and_campaigns_again, fixture) {
    // The API server hangs (SIGSTOP): renewals time out. The leader's work
    // must be cancelled and on_stopped_leading run before the validity of
    // its last renewal ends, so before anyone else could take over; after
    // the server is back, the other elector leads and a campaigns again.
    journal j;
    leader_elector a{api, {"", name}, electing(io, j, "cut-a")};
    client other{io.get_executor(), test::cluster_config_for("lease")};
    leader_elector b{other, {"", name}, electing(io, j, "cut-b")};
    auto control = [](const std::string& action) {
        auto cmd = std::string(LEASELOCKER_LLCLUSTER) + " apiserver " + action + " --dir " + test::cluster().dir;
        BOOST_TEST_REQUIRE(std::system(cmd.c_str()) == 0, cmd);
    };
    asio::cancellation_signal stop_a, stop_b;
    std::optional<error_code> a_done, b_done;
    clock_type::time_point valid_before{}, stopped_at{};
    test::run(io, [&]() -> asio::awaitable<void> {
        a.run(asio::bind_cancellation_slot(stop_a.slot(), [&](error_code ec) { a_done = ec; }));
        while (!a.is_leader()) co_await sleep_for(10ms);
        b.run(asio::bind_cancellation_slot(stop_b.slot(), [&](error_code ec) { b_done = ec; }));
        co_await sleep_for(700ms);
        valid_before = a.current_fencing_token().valid() ? clock_type::now() + 3s : clock_type::time_point{};
        std::thread([&] { control("pause"); }).join();
        while (j.of("stopped").empty() && clock_type::now() < valid_before + 3s) co_await sleep_for(10ms);
        for (const auto& e : j.entries)
            if (e.what == "stopped" && e.who == "cut-a") stopped_at = e.at;
        BOOST_TEST(!a_done.has_value()); // it campaigns again
        std::thread([&] { control("resume"); }).join();
        while (!b.is_leader() && !a.is_leader()) co_await sleep_for(20ms); // someone leads again (b, or a campaigning again)
        co_await sleep_for(500ms);
        stop_a.emit(asio::cancellation_type::terminal);
        stop_b.emit(asio::cancellation_type::terminal);
        while (!a_done || !b_done) co_await sleep_for(10ms);
    }(), std::chrono::seconds(90));
    BOOST_TEST_MESSAGE(j.dump());
    BOOST_TEST_REQUIRE((stopped_at != clock_type::time_point{}));
    // The last renewal before the pause was sent at most a retry period
    // (plus jitter) before valid_before was estimated: the loss must come
    // before that lease could expire.
    BOOST_TEST((stopped_at < valid_before), "stopped " << std::chrono::duration<double>(stopped_at - valid_before).count() << " s after the lease could expire");
    BOOST_TEST(j.ordered(), j.dump());
    BOOST_TEST(j.of("stopped").front() == "cut-a");
    BOOST_TEST(j.of("started").size() >= 2u); // someone led again after the loss
}

BOOST_FIXTURE_TEST_CASE(a_takeover_stops_the_work_and_without_recampaign_ends_run_with_lock_lost, fixture) {
    // Someone overwrites the holder (an administrator): the loss must reach
    // the elector although its locker would release after a loss
    // (release_on_cancel), and end run() when it may not campaign again.
    journal j;
    auto cfg = electing(io, j, "overthrown");
    cfg.recampaign = false;
    leader_elector a{api, {"", name}, cfg};
    std::optional<error_code> done;
    test::run(io, [&]() -> asio::awaitable<void> {
        a.run([&](error_code ec) { done = ec; });
        while (j.of("started").empty()) co_await sleep_for(10ms);
        co_await test::overwrite_holder(io, name, "usurper");
        for (int i = 0; i < 500 && !done; ++i) co_await sleep_for(10ms);
    }());
    BOOST_TEST_MESSAGE(j.dump());
    BOOST_TEST_REQUIRE(done.has_value());
    BOOST_TEST(*done == error::lock_lost, done->message());
    BOOST_TEST(j.of("stopped") == (std::vector<std::string>{"overthrown"}));
    BOOST_TEST(!a.is_leader());
    auto l = test::run(io, leases.get(name, asio::use_awaitable));
    BOOST_TEST(*l.spec.holder_identity == "usurper"); // never written over
}

BOOST_FIXTURE_TEST_CASE(work_that_ends_steps_down_and_run_completes, fixture) {
    journal j;
    leader_elector a{api, {"", name}, electing(io, j, "short-work", 300ms)};
    auto ec = test::run(io, [&]() -> asio::awaitable<error_code> {
        auto [e] = co_await a.run(tuple_awaitable);
        co_return e;
    }());
    BOOST_TEST(!ec, ec.message());
    BOOST_TEST(j.of("started") == (std::vector<std::string>{"short-work"}));
    BOOST_TEST(j.of("stopped") == (std::vector<std::string>{"short-work"}));
    BOOST_TEST(!a.is_leader());
    auto l = test::run(io, leases.get(name, asio::use_awaitable));
    BOOST_TEST(!l.spec.held()); // released: the work had ended
}

BOOST_FIXTURE_TEST_CASE(an_exception_of_the_work_comes_out_of_run_after_the_lease_is_released, fixture) {
    elector_config c;
    c.lock = fast("thrower");
    c.on_started_leading = [](leadership l, asio::any_completion_handler<void(std::exception_ptr)> done) {
        asio::co_spawn(l.executor, []() -> asio::awaitable<void> {
            co_await sleep_for(50ms);
            throw std::runtime_error("the work failed");
        }(), std::move(done));
    };
    leader_elector a{api, {"", name}, c};
    a.run(asio::detached);
    BOOST_CHECK_THROW(io.run_for(20s), std::runtime_error); // as co_spawn's completion would
    auto l = test::run(io, leases.get(name, asio::use_awaitable));
    BOOST_TEST(!l.spec.held());
    BOOST_TEST(!a.is_leader());
}

BOOST_FIXTURE_TEST_CASE(a_hook_that_throws_after_starting_the_work_stops_it_before_stepping_down, fixture) {
    elector_config c;
    c.lock = fast("throwing-hook");
    bool work_stopped = false;
    c.on_started_leading = [&](leadership l, asio::any_completion_handler<void(std::exception_ptr)> done) {
        asio::co_spawn(l.executor, note_when_stopped(work_stopped), std::move(done));
        throw std::logic_error("the hook failed after starting the work");
    };
    leader_elector a{api, {"", name}, c};
    a.run(asio::detached);
    BOOST_CHECK_THROW(io.run_for(20s), std::logic_error);
    BOOST_TEST(work_stopped); // stopped before run() let the exception out
    auto l = test::run(io, leases.get(name, asio::use_awaitable));
    BOOST_TEST(!l.spec.held());
}

BOOST_FIXTURE_TEST_CASE(without_release_on_cancel_the_lease_is_left_to_expire, fixture) {
    journal j;
    auto cfg = electing(io, j, "no-release");
    cfg.lock.release_on_cancel = false;
    auto metrics = std::make_shared<metrics_registry>();
    cfg.lock.metrics = metrics;
    leader_elector a{api, {"", name}, cfg};
    asio::cancellation_signal stop;
    std::optional<error_code> done;
    test::run(io, [&]() -> asio::awaitable<void> {
        a.run(asio::bind_cancellation_slot(stop.slot(), [&](error_code ec) { done = ec; }));
        while (!a.is_leader()) co_await sleep_for(10ms);
        stop.emit(asio::cancellation_type::terminal);
        while (!done) co_await sleep_for(5ms);
    }());
    BOOST_TEST((*done == asio::error::operation_aborted));
    BOOST_TEST(j.of("stopped").size() == 1u);
    auto l = test::run(io, leases.get(name, asio::use_awaitable));
    BOOST_TEST(l.spec.held()); // still named: client-go's behaviour without ReleaseOnCancel
    const auto text = metrics->prometheus_text(); // but we do not lead any more
    BOOST_TEST(text.find("leader_election_master_status{name=\"" + leases.namespace_name() + "/" + name + "\"} 0\n") != std::string::npos, text);
    // Renewing stopped: nothing changes on the lease any more.
    test::run(io, sleep_for(1500ms));
    auto later = test::run(io, leases.get(name, asio::use_awaitable));
    BOOST_TEST(later.metadata.resource_version == l.metadata.resource_version);
}

BOOST_FIXTURE_TEST_CASE(a_second_run_is_refused_and_needs_on_started_leading, fixture) {
    journal j;
    leader_elector a{api, {"", name}, electing(io, j, "twice")};
    asio::cancellation_signal stop;
    std::optional<error_code> first, second;
    test::run(io, [&]() -> asio::awaitable<void> {
        a.run(asio::bind_cancellation_slot(stop.slot(), [&](error_code ec) { first = ec; }));
        co_await sleep_for(50ms);
        a.run([&](error_code ec) { second = ec; });
        while (!second) co_await sleep_for(5ms);
        stop.emit(asio::cancellation_type::terminal);
        while (!first) co_await sleep_for(5ms);
    }());
    BOOST_TEST((*second == asio::error::already_started));
    BOOST_TEST((*first == asio::error::operation_aborted));
    elector_config none;
    none.lock = fast("nothing-to-do");
    BOOST_CHECK_THROW(leader_elector(api, {"", name}, none), config_error);
}

BOOST_FIXTURE_TEST_CASE(the_observer_reports_changes_and_sends_nothing_while_nothing_changes, fixture) {
    counting_client watcher{io};
    lease_observer observer{watcher.api, {"", name}};
    lease_locker holder{api, {"", name}, fast("observed")};
    std::vector<std::string> seen;
    int requests_while_renewing = -1;
    test::run(io, [&]() -> asio::awaitable<void> {
        auto first = co_await observer.next_change(asio::use_awaitable); // no Lease yet
        BOOST_TEST(!first.exists);
        BOOST_TEST(first.holder.empty());
        co_await holder.lock(asio::use_awaitable);
        auto held = co_await observer.next_change(asio::use_awaitable);
        seen.push_back(held.holder);
        BOOST_TEST(held.exists);
        BOOST_TEST(held.lease_transitions == holder.current_fencing_token().sequence);
        // Renewals every 0.5 s for 3 s: no change, and not one request.
        const int before = watcher.requests;
        asio::cancellation_signal give_up;
        std::optional<error_code> waited;
        observer.next_change(asio::bind_cancellation_slot(give_up.slot(), [&](error_code ec, leader_info) { waited = ec; }));
        co_await sleep_for(3s);
        requests_while_renewing = watcher.requests - before;
        BOOST_TEST(!waited.has_value()); // no change while renewing
        give_up.emit(asio::cancellation_type::terminal);
        for (int i = 0; i < 100 && !waited; ++i) co_await sleep_for(5ms);
        BOOST_TEST((waited && *waited == asio::error::operation_aborted));
        co_await holder.unlock(asio::use_awaitable);
        auto released = co_await observer.next_change(asio::use_awaitable);
        seen.push_back(released.holder);
        BOOST_TEST((observer.current() && observer.current()->holder.empty()));
    }());
    BOOST_TEST(seen == (std::vector<std::string>{"observed", ""}));
    BOOST_TEST(requests_while_renewing == 0);
}

BOOST_FIXTURE_TEST_CASE(health_and_metrics_follow_the_leader, fixture) {
    journal j;
    auto metrics = std::make_shared<metrics_registry>();
    auto cfg = electing(io, j, "measured");
    cfg.lock.metrics = metrics;
    leader_elector a{api, {"", name}, cfg};
    healthz_adaptor health{500ms};
    health.set_elector(&a);
    asio::cancellation_signal stop;
    std::optional<error_code> done;
    std::string while_leading;
    test::run(io, [&]() -> asio::awaitable<void> {
        BOOST_TEST(!health.check()); // not leading: healthy
        a.run(asio::bind_cancellation_slot(stop.slot(), [&](error_code ec) { done = ec; }));
        while (!a.is_leader()) co_await sleep_for(10ms);
        co_await sleep_for(1300ms); // two renewals at least
        BOOST_TEST(!health.check());
        while_leading = metrics->prometheus_text();
        stop.emit(asio::cancellation_type::terminal);
        while (!done) co_await sleep_for(5ms);
    }());
    const std::string label = "{name=\"" + leases.namespace_name() + "/" + name + "\"}";
    BOOST_TEST(while_leading.find("leader_election_master_status" + label + " 1\n") != std::string::npos, while_leading);
    BOOST_TEST(while_leading.find("leaselocker_acquire_wait_seconds_count" + label + " 1\n") != std::string::npos, while_leading);
    BOOST_TEST(while_leading.find("leaselocker_renew_slack_seconds_count" + label + " 0\n") == std::string::npos, while_leading);
    const auto after = metrics->prometheus_text();
    BOOST_TEST(after.find("leader_election_master_status" + label + " 0\n") != std::string::npos, after);
}

BOOST_AUTO_TEST_CASE(electors_on_a_multi_threaded_io_context_hand_over_in_order) {
    // Three electors, an io_context on two threads; the leader's run() is
    // cancelled and started again six times. Never two works at once, and
    // every on_stopped_leading before the next on_started_leading.
    asio::io_context io;
    client api{io.get_executor(), test::cluster_config_for("lease")};
    const auto name = test::unique_name("threads");
    concurrent_works works;
    constexpr int n = 3;
    std::atomic<bool> working[n] = {false, false, false}; // its work runs: a leader that started
    std::vector<std::unique_ptr<leader_elector>> electors(n);
    for (int i = 0; i < n; ++i) {
        const std::string id = "mt-" + std::to_string(i);
        elector_config c;
        c.lock = fast(id);
        c.lock.release_on_cancel = true;
        c.on_started_leading = works.leader(id, &working[i]);
        c.on_stopped_leading = works.stopped(id);
        electors[i] = std::make_unique<leader_elector>(api, lease_name{"", name}, c);
    }
    auto work = asio::make_work_guard(io);
    std::thread t1([&] { io.run(); }), t2([&] { io.run(); });
    std::vector<std::unique_ptr<asio::cancellation_signal>> stops(n);
    std::vector<std::future<void>> runs(n);
    auto start = [&](int i) {
        stops[i] = std::make_unique<asio::cancellation_signal>();
        auto done = std::make_shared<std::promise<void>>();
        runs[i] = done->get_future();
        electors[i]->run(asio::bind_cancellation_slot(stops[i]->slot(), [done](error_code) { done->set_value(); }));
    };
    for (int i = 0; i < n; ++i) start(i);
    int handovers = 0;
    for (int round = 0; round < 6; ++round) {
        int leader = -1;
        for (int tries = 0; tries < 1000 && leader < 0; ++tries) {
            for (int i = 0; i < n; ++i)
                if (working[i] && electors[i]->is_leader()) leader = i;
            if (leader < 0) std::this_thread::sleep_for(10ms);
        }
        BOOST_TEST_REQUIRE(leader >= 0);
        stops[leader]->emit(asio::cancellation_type::terminal);
        BOOST_TEST_REQUIRE((runs[leader].wait_for(10s) == std::future_status::ready));
        ++handovers;
        start(leader);
    }
    for (int i = 0; i < n; ++i) stops[i]->emit(asio::cancellation_type::terminal);
    for (int i = 0; i < n; ++i) BOOST_TEST((runs[i].wait_for(10s) == std::future_status::ready));
    work.reset();
    io.stop();
    t1.join();
    t2.join();
    BOOST_TEST(handovers == 6);
    BOOST_TEST(works.most.load() == 1);
    BOOST_TEST(works.j.ordered(), works.j.dump());
    BOOST_TEST(works.j.of("started").size() >= 6u); // each round cancels a leader that started after the previous cancellation
}

BOOST_FIXTURE_TEST_CASE(the_observer_coalesces_changes_between_two_calls, fixture) {
    lease_observer observer{api, {"", name}};
    lease_locker a{api, {"", name}, fast("coalesce-a")}, b{api, {"", name}, fast("coalesce-b")};
    leader_info first, newest;
    std::optional<error_code> quiet;
    test::run(io, [&]() -> asio::awaitable<void> {
        co_await a.lock(asio::use_awaitable);
        first = co_await observer.next_change(asio::use_awaitable);
        // Four changes while nobody asks: released, b, released, a again.
        co_await a.unlock(asio::use_awaitable);
        co_await b.lock(asio::use_awaitable);
        co_await b.unlock(asio::use_awaitable);
        co_await a.lock(asio::use_awaitable);
        newest = co_await observer.next_change(asio::use_awaitable); // the newest state, once
        asio::cancellation_signal give_up;
        observer.next_change(asio::bind_cancellation_slot(give_up.slot(), [&](error_code ec, leader_info) { quiet = ec; }));
        co_await sleep_for(1200ms); // renewals only
        give_up.emit(asio::cancellation_type::terminal);
        for (int i = 0; i < 100 && !quiet; ++i) co_await sleep_for(5ms);
        co_await a.unlock(asio::use_awaitable);
    }());
    BOOST_TEST(first.holder == "coalesce-a");
    BOOST_TEST(newest.holder == "coalesce-a"); // the same holder, a new term: a change
    BOOST_TEST(newest.lease_transitions == first.lease_transitions + 2);
    BOOST_TEST((quiet && *quiet == asio::error::operation_aborted)); // nothing left over from the coalesced changes
}

BOOST_AUTO_TEST_CASE(health_fails_while_the_leaders_executor_is_blocked) {
    // client-go's HealthzAdaptor case: renewals stop because the leader's
    // event loop is stuck; the health check (from another thread) fails
    // once the lease's validity is past by more than the tolerance, and
    // recovers when the elector leads again.
    asio::io_context io;
    client api{io.get_executor(), test::cluster_config_for("lease")};
    const auto name = test::unique_name("blocked");
    elector_config c;
    c.lock = fast("blocked");
    c.on_started_leading = [](leadership l, asio::any_completion_handler<void(std::exception_ptr)> done) {
        asio::co_spawn(l.executor, lead_until_cancelled(), std::move(done));
    };
    leader_elector elector{api, {"", name}, c};
    healthz_adaptor health{500ms};
    health.set_elector(&elector);
    asio::cancellation_signal stop;
    std::promise<void> ended;
    auto work = asio::make_work_guard(io);
    std::thread runner([&] { io.run(); });
    elector.run(asio::bind_cancellation_slot(stop.slot(), [&](error_code) { ended.set_value(); }));
    for (int i = 0; i < 500 && !elector.is_leader(); ++i) std::this_thread::sleep_for(10ms);
    BOOST_TEST_REQUIRE(elector.is_leader());
    BOOST_TEST(!health.check());
    // Block the only thread of the io_context for 4.5 s: validity (≈ 3 s
    // after the last renewal) passes, then the 500 ms tolerance.
    asio::post(io, [] { std::this_thread::sleep_for(4500ms); });
    std::this_thread::sleep_for(4000ms);
    const auto while_blocked = health.check();
    // Unblocked: the loss is noticed, the elector campaigns again (the
    // lease still names it: it waits it out) and leads.
    bool healthy_again = false;
    for (int i = 0; i < 1000 && !healthy_again; ++i) {
        std::this_thread::sleep_for(10ms);
        healthy_again = elector.is_leader() && !health.check();
    }
    asio::post(io, [&] { stop.emit(asio::cancellation_type::terminal); }); // on the io_context's one thread
    BOOST_TEST((ended.get_future().wait_for(10s) == std::future_status::ready));
    work.reset();
    io.stop();
    runner.join();
    BOOST_TEST((while_blocked == error::lock_lost), while_blocked.message());
    BOOST_TEST(healthy_again);
}

BOOST_AUTO_TEST_CASE(a_takeover_on_a_multi_threaded_io_context_stops_the_work_before_the_lease_could_expire) {
    // Two threads; an administrator overwrites the holder: the work is
    // stopped and on_stopped_leading runs long before the intruder's lease
    // (3 s) could have been taken from it, the elector campaigns again and
    // leads with a newer token once the intruder's lease ran out.
    asio::io_context io;
    client api{io.get_executor(), test::cluster_config_for("lease")};
    const auto name = test::unique_name("mt-loss");
    concurrent_works works;
    elector_config c;
    c.lock = fast("mt-loss");
    c.on_started_leading = works.leader("mt-loss");
    c.on_stopped_leading = works.stopped("mt-loss");
    leader_elector elector{api, {"", name}, c};
    auto guard = asio::make_work_guard(io);
    std::thread t1([&] { io.run(); }), t2([&] { io.run(); });
    asio::cancellation_signal stop;
    std::promise<void> ended;
    asio::post(elector.get_executor(), [&] {
        elector.run(asio::bind_cancellation_slot(stop.slot(), [&](error_code) { ended.set_value(); }));
    });
    for (int i = 0; i < 500 && !elector.is_leader(); ++i) std::this_thread::sleep_for(10ms);
    BOOST_TEST_REQUIRE(elector.is_leader());
    const auto first_token = elector.current_fencing_token();
    // The overwrite, from a third context on this thread.
    asio::io_context admin_io;
    test::run(admin_io, test::overwrite_holder(admin_io, name, "intruder"));
    const auto overwritten = std::chrono::steady_clock::now();
    std::optional<std::chrono::steady_clock::time_point> stopped_at;
    for (int i = 0; i < 300 && !stopped_at; ++i) {
        {
            std::lock_guard lock(works.m);
            for (const auto& e : works.j.entries)
                if (e.what == "stopped" && !stopped_at) stopped_at = e.at;
        }
        if (!stopped_at) std::this_thread::sleep_for(10ms);
    }
    for (int i = 0; i < 1000 && !(elector.is_leader() && elector.current_fencing_token().sequence > first_token.sequence); ++i)
        std::this_thread::sleep_for(10ms);
    const bool led_again = elector.is_leader() && elector.current_fencing_token().sequence > first_token.sequence + 1;
    asio::post(elector.get_executor(), [&] { stop.emit(asio::cancellation_type::terminal); });
    BOOST_TEST((ended.get_future().wait_for(10s) == std::future_status::ready));
    guard.reset();
    io.stop();
    t1.join();
    t2.join();
    BOOST_TEST_REQUIRE(stopped_at.has_value());
    BOOST_TEST((*stopped_at - overwritten < 3s)); // the intruder's lease: before anyone could take it from the intruder
    BOOST_TEST(led_again); // after the intruder's term (its token + 1)
    BOOST_TEST(works.most.load() == 1);
    BOOST_TEST(works.j.ordered(), works.j.dump());
}

// Coordinated leader election (KEP-4355): the API server's own election
// controller (the test control plane runs with the CoordinatedLeaderElection
// gate) picks the leader among the LeaseCandidates; our electors are its
// candidates (lock_config::coordinated).
namespace {
elector_config candidate_elector(asio::io_context& io, journal& j, const std::string& id) {
    auto c = electing(io, j, id);
    c.lock.coordinated = true;
    c.lock.release_on_cancel = false; // stepping down for a preferred holder releases all the same
    return c;
}
candidate_config candidacy(const std::string& lease, const std::string& id, std::string emulation) {
    return {.lease = {"", lease}, .identity = id, .binary_version = "1.36.0", .emulation_version = std::move(emulation)};
}
} // namespace

BOOST_FIXTURE_TEST_CASE(the_servers_election_controller_names_the_leader_and_a_better_candidate_takes_over, fixture) {
    journal j;
    lease_candidate cand_a{api, candidacy(name, "cle-a", "1.36.0")}, cand_b{api, candidacy(name, "cle-b", "1.35.0")};
    std::optional<error_code> a_lost;
    auto cfg_a = candidate_elector(io, j, "cle-a");
    cfg_a.lock.on_lost = [&](error_code why) {
        a_lost = why;
        j.note("cle-a", "lost");
    };
    leader_elector a{api, {"", name}, cfg_a}, b{api, {"", name}, candidate_elector(io, j, "cle-b")};
    asio::cancellation_signal stop_ca, stop_cb, stop_a, stop_b;
    std::optional<error_code> ca_done, cb_done, a_done, b_done;
    fencing_token a_token, b_token;
    lease after;
    // Every version of the Lease, in order (a watch coalesces nothing).
    std::vector<std::string> holders;
    asio::cancellation_signal stop_recording;
    bool recording = true;
    asio::co_spawn(io, [&]() -> asio::awaitable<void> {
        lease_watch watch{leases, name};
        for (;;) {
            auto [ec, ev] = co_await watch.next(asio::bind_cancellation_slot(stop_recording.slot(), tuple_awaitable));
            if (ec) break;
            const auto h = ev.object.spec.holder_identity.value_or("");
            if (ev.type != watch_event_type::deleted && (holders.empty() || holders.back() != h)) holders.push_back(h);
        }
        recording = false;
    }, asio::detached);
    test::run(io, [&]() -> asio::awaitable<void> {
        cand_a.run(asio::bind_cancellation_slot(stop_ca.slot(), [&](error_code ec) { ca_done = ec; }));
        a.run(asio::bind_cancellation_slot(stop_a.slot(), [&](error_code ec) { a_done = ec; }));
        // The controller creates the Lease for the only candidate.
        while (!a.is_leader() && !a_done) co_await sleep_for(20ms);
        BOOST_TEST_REQUIRE(a.is_leader());
        a_token = a.current_fencing_token();
        lease first = co_await leases.get(name, asio::use_awaitable);
        BOOST_TEST(first.spec.strategy.value_or("") == "OldestEmulationVersion");
        BOOST_TEST(first.spec.holder_identity.value_or("") == "cle-a");

        // A candidate with an older emulation version is better: the
        // controller marks it preferred, a steps down (its work stopped,
        // the lease released), the controller names b.
        cand_b.run(asio::bind_cancellation_slot(stop_cb.slot(), [&](error_code ec) { cb_done = ec; }));
        b.run(asio::bind_cancellation_slot(stop_b.slot(), [&](error_code ec) { b_done = ec; }));
        for (int i = 0; i < 3000 && !b.is_leader() && !b_done; ++i) co_await sleep_for(20ms);
        BOOST_TEST_REQUIRE(b.is_leader());
        b_token = b.current_fencing_token();
        after = co_await leases.get(name, asio::use_awaitable);
        BOOST_TEST(!a.is_leader());
        BOOST_TEST(!a_done); // a campaigns on, as a candidate

        stop_b.emit(asio::cancellation_type::terminal);
        stop_a.emit(asio::cancellation_type::terminal);
        stop_cb.emit(asio::cancellation_type::terminal);
        stop_ca.emit(asio::cancellation_type::terminal);
        while (!a_done || !b_done || !ca_done || !cb_done) co_await sleep_for(10ms);
        stop_recording.emit(asio::cancellation_type::terminal);
        while (recording) co_await sleep_for(5ms);
    }(), std::chrono::seconds(200)); // ~25 s as a rule; once past 90 s under ThreadSanitizer beside locker_it (2026-12-05)
    BOOST_TEST_MESSAGE(j.dump());
    BOOST_TEST(j.ordered(), j.dump()); // a stopped before b started
    BOOST_TEST(j.of("started") == (std::vector<std::string>{"cle-a", "cle-b"}));
    // a stepped down for the preferred b (not by its lease expiring), and
    // released the lease (seen free) before b was named.
    BOOST_TEST_REQUIRE(a_lost.has_value());
    BOOST_TEST((*a_lost == error::preempted));
    std::string versions;
    for (const auto& h : holders) versions += (h.empty() ? "-" : h) + " ";
    BOOST_TEST(versions.find("cle-a - cle-b") != std::string::npos, versions); // a released; then the controller named b
    BOOST_TEST(after.spec.holder_identity.value_or("") == "cle-b");
    BOOST_TEST(after.spec.preferred_holder.value_or("") == ""); // cleared by the controller as it named b
    BOOST_TEST(b_token.epoch == a_token.epoch);
    BOOST_TEST(b_token.sequence > a_token.sequence); // the controller leaves leaseTransitions; each grant bumped it
    BOOST_TEST(after.spec.strategy.value_or("") == "OldestEmulationVersion"); // kept by every write of ours
    BOOST_TEST((*ca_done == asio::error::operation_aborted));
    BOOST_TEST((*cb_done == asio::error::operation_aborted));
}

BOOST_FIXTURE_TEST_CASE(a_candidate_answers_the_controllers_ping_and_deletes_its_lease_candidate, fixture) {
    // The controller pings a candidate whose renewTime is over 5 s old when
    // an election is needed, and leaves it out unless it answers within 5 s.
    journal j;
    lease_candidate cand{api, candidacy(name, "cle-pinged", "1.36.0")};
    leader_elector elector{api, {"", name}, candidate_elector(io, j, "cle-pinged")};
    asio::cancellation_signal stop, stop_elector;
    std::optional<error_code> done, elector_done;
    unsigned status_running = 0, status_after = 0, status_destroyed = 0;
    std::string ping_time, renew_time;
    auto read_candidate = [&](std::string who) -> asio::awaitable<http_response> {
        http_request get{.method = http_method::get,
                         .target = "/apis/coordination.k8s.io/v1beta1/namespaces/" + api.config().default_namespace + "/leasecandidates/" + who};
        auto [ec, resp] = co_await api.request(std::move(get), tuple_awaitable);
        co_return resp;
    };
    auto status_of = [&](std::string who) -> asio::awaitable<unsigned> { co_return (co_await read_candidate(who)).status; };
    auto spec_time = [](const std::string& body, const char* key) {
        auto v = boost::json::parse(body);
        auto* t = v.at("spec").as_object().if_contains(key);
        return t ? std::string(t->as_string()) : std::string();
    };
    test::run(io, [&]() -> asio::awaitable<void> {
        cand.run(asio::bind_cancellation_slot(stop.slot(), [&](error_code ec) { done = ec; }));
        // The only candidate, fresh: the controller creates the Lease for it.
        for (int i = 0; i < 500; ++i) {
            auto [ec, l] = co_await leases.get(name, tuple_awaitable);
            if (!ec && l.spec.holder_identity.value_or("") == "cle-pinged") break;
            co_await sleep_for(20ms);
        }
        co_await sleep_for(6s); // renewTime now older than 5 s
        // Freed: an election is needed, and the candidate is stale: a ping.
        lease l = co_await leases.get(name, asio::use_awaitable);
        l.spec.holder_identity = "";
        co_await leases.replace(l, asio::use_awaitable);
        elector.run(asio::bind_cancellation_slot(stop_elector.slot(), [&](error_code ec) { elector_done = ec; }));
        for (int i = 0; i < 1500 && !elector.is_leader(); ++i) co_await sleep_for(20ms);
        BOOST_TEST(elector.is_leader());
        auto running = co_await read_candidate("cle-pinged");
        status_running = running.status;
        ping_time = spec_time(running.body, "pingTime");
        renew_time = spec_time(running.body, "renewTime");
        stop_elector.emit(asio::cancellation_type::terminal);
        stop.emit(asio::cancellation_type::terminal);
        while (!done || !elector_done) co_await sleep_for(10ms);
        status_after = co_await status_of("cle-pinged");

        // Destroyed rather than cancelled: deleted all the same.
        auto other = std::make_unique<lease_candidate>(api, candidacy(name, "cle-destroyed", "1.36.0"));
        other->run(asio::detached);
        for (int i = 0; i < 250 && co_await status_of("cle-destroyed") != 200u; ++i) co_await sleep_for(20ms);
        other.reset();
        for (int i = 0; i < 250 && (status_destroyed = co_await status_of("cle-destroyed")) != 404u; ++i) co_await sleep_for(20ms);
    }(), std::chrono::seconds(60));
    BOOST_TEST_MESSAGE("pings answered: " << cand.pings_answered() << "; " << j.dump());
    BOOST_TEST(cand.pings_answered() >= 1u);
    BOOST_TEST(status_running == 200u);
    BOOST_TEST_REQUIRE(!ping_time.empty()); // the controller did ping
    BOOST_TEST((*parse_micro_time(renew_time) > *parse_micro_time(ping_time)), renew_time << " after " << ping_time);
    BOOST_TEST(status_after == 404u); // removed when run() ended
    BOOST_TEST(status_destroyed == 404u);
    BOOST_TEST((*done == asio::error::operation_aborted));
}

BOOST_FIXTURE_TEST_CASE(a_lease_with_a_strategy_is_left_to_the_controller_by_a_plain_locker, fixture) {
    // Free, and long expired, but assigned by coordinated election: an
    // elector that is not a candidate leaves it alone.
    lease l;
    l.metadata.name = name;
    l.spec = {.holder_identity = "", .lease_duration_seconds = 1, .lease_transitions = 2, .strategy = "OldestEmulationVersion"};
    lease_locker plain{api, {"", name}, fast("plain")};
    bool tried = false, got = false;
    test::run(io, [&]() -> asio::awaitable<void> {
        co_await leases.create(l, asio::use_awaitable);
        got = co_await plain.try_lock(asio::use_awaitable);
        tried = true;
        // lock() waits; cut it short after 3 lease durations.
        asio::steady_timer limit(io, 3s);
        asio::cancellation_signal cancel;
        limit.async_wait([&](error_code) { cancel.emit(asio::cancellation_type::terminal); });
        auto [ec] = co_await plain.lock(asio::bind_cancellation_slot(cancel.slot(), tuple_awaitable));
        BOOST_TEST((ec == asio::error::operation_aborted));
        lease still = co_await leases.get(name, asio::use_awaitable);
        BOOST_TEST(still.spec.holder_identity.value_or("") == "");
        BOOST_TEST(*still.spec.lease_transitions == 2);
    }());
    BOOST_TEST(tried);
    BOOST_TEST(!got);
}

BOOST_AUTO_TEST_SUITE_END()
