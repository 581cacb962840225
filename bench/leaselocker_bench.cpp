// Our side of bench/run.sh, measured as test/peers/cmd/clientgo-bench measures
// client-go's leader election. Prints one JSON line per run.
//
//   leaselocker_bench handoff KUBECONFIG LEASE N   graceful handoffs between two lockers: unlock -> the waiter holds
//   leaselocker_bench handoff-fair KUBECONFIG LEASE N   the same with fair turns on (the waiter queues first)
//   leaselocker_bench elector-handover KUBECONFIG LEASE N   two leader_electors (release_on_cancel): the
//                                                  leader's run() cancelled -> the other's on_started_leading,
//                                                  as clientgo-bench's handoff measures client-go's elector
//   leaselocker_bench acquire KUBECONFIG LEASE N   uncontended lock() of N fresh leases
//   leaselocker_bench hold    KUBECONFIG LEASE ID  lock and hold (or wait) until killed; prints "held" once held
//   leaselocker_bench failover KUBECONFIG LEASE N  N times: a holder process is SIGKILLed, a waiter takes over;
//                                                  samples are (takeover - kill) - lease duration
//   leaselocker_bench renew   KUBECONFIG LEASE S   hold for S seconds; samples are the renewals' PUT latencies
//   leaselocker_bench scale   KUBECONFIG PREFIX N S [watch|nowatch] [R]  N leases held and renewed by this
//                                                  process on one thread for S seconds, renewing every R s (10;
//                                                  lease 6 R, renew deadline 4 R); nowatch: use_watch = false
//
// It checks its own correctness: every handoff is a new grant (the fencing
// token grows by one) and a locker is never told it holds while the other does.
#include <leaselocker/leaselocker.hpp>

#include <boost/asio.hpp>

#include <csignal>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <malloc.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>
#include <string>
#include <optional>
#include <vector>

namespace asio = boost::asio;
using namespace leaselocker;
using namespace std::chrono_literals;
using clock_type = std::chrono::steady_clock;

namespace {

const lock_config timing{.lease_duration = 3s, .renew_deadline = 2s, .retry_period = 500ms};

lock_config with_identity(std::string id, bool fair = false) {
    auto c = timing;
    c.identity = std::move(id);
    c.fair_turns = fair;
    return c;
}

double ms_since(clock_type::time_point t0) {
    return std::chrono::duration<double, std::milli>(clock_type::now() - t0).count();
}

void print(const std::string& what, const std::vector<double>& samples, int violations, const std::string& extra = "") {
    std::printf("{\"impl\":\"leaselocker\",\"what\":\"%s\",\"violations\":%d,%s\"samples_ms\":[", what.c_str(), violations,
                extra.c_str());
    for (std::size_t i = 0; i < samples.size(); ++i) std::printf("%s%.3f", i ? "," : "", samples[i]);
    std::printf("]}\n");
}

// "PUT ... -> 200 in 1.23 ms" from the client's debug log: a renewal's latency.
logger put_latencies(std::vector<double>& out) {
    return {.level = log_level::debug, .sink = [&out](log_level, std::string_view line) {
        if (!line.starts_with("PUT ")) return;
        if (auto in = line.rfind(" in "); in != std::string_view::npos) out.push_back(std::atof(std::string(line.substr(in + 4)).c_str()));
    }};
}

double cpu_seconds() {
    rusage u{};
    ::getrusage(RUSAGE_SELF, &u);
    return u.ru_utime.tv_sec + u.ru_stime.tv_sec + (u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1e6;
}

// Heap bytes in use (glibc): what the library keeps, without the pages
// malloc holds on to after a burst.
long heap_bytes() {
    return static_cast<long>(::mallinfo2().uordblks);
}

long resident_bytes() {
    std::ifstream statm("/proc/self/statm");
    long pages = 0, resident = 0;
    statm >> pages >> resident;
    return resident * ::sysconf(_SC_PAGESIZE);
}

asio::awaitable<void> sleep_for(clock_type::duration d) {
    asio::steady_timer t(co_await asio::this_coro::executor, d);
    co_await t.async_wait(asio::use_awaitable);
}

} // namespace

int main(int argc, char** argv) {
    if (argc < 5) {
        std::cerr << "usage: " << argv[0] << " handoff|acquire|hold KUBECONFIG LEASE N|ID\n";
        return 2;
    }
    const std::string mode = argv[1], lease = argv[3];
    asio::io_context io;
    client api{io.get_executor(), load_kubeconfig(argv[2], "lease")};
    std::vector<double> samples;
    int violations = 0;
    int status = 0;

    if (mode == "hold") {
        lease_locker locker{api, {"", lease}, with_identity(argv[4])};
        locker.lock([](error_code ec) {
            std::printf(ec ? "failed\n" : "held\n");
            std::fflush(stdout);
        });
        io.run();
        return 0;
    }
    if (mode == "renew") {
        std::vector<double> puts;
        client timed{io.get_executor(), load_kubeconfig(argv[2], "lease"), {.log = put_latencies(puts)}};
        lease_locker locker{timed, {"", lease}, with_identity("ll-renew")};
        asio::co_spawn(io, [&]() -> asio::awaitable<void> {
            co_await locker.lock(asio::use_awaitable);
            puts.clear(); // the acquiring write is not a renewal
            co_await sleep_for(std::chrono::seconds(std::atoi(argv[4])));
            co_await locker.unlock(asio::use_awaitable);
            puts.pop_back(); // nor is the release
        }, asio::detached);
        io.run();
        print("renew", puts, 0);
        return 0;
    }
    if (mode == "scale") {
        const int count = std::atoi(argv[4]);
        const int seconds = argc > 5 ? std::atoi(argv[5]) : 120;
        const bool watch = !(argc > 6 && std::string(argv[6]) == "nowatch");
        // Renew period (lease = 6 ×, renew deadline = 4 × it).
        const std::chrono::seconds retry(argc > 7 ? std::atoi(argv[7]) : 10);
        int renewals = 0, lost = 0, acquired = 0;
        client counting{io.get_executor(), load_kubeconfig(argv[2], "lease"),
                        {.log = {.level = log_level::debug, .sink = [&](log_level, std::string_view l) { renewals += l.starts_with("PUT "); }}}};
        const long rss_before = resident_bytes(), heap_before = heap_bytes();
        std::vector<std::unique_ptr<lease_locker>> lockers;
        for (int i = 0; i < count; ++i) {
            lock_config c{.lease_duration = 6 * retry, .renew_deadline = 4 * retry, .retry_period = retry, .use_watch = watch, .identity = "ll-scale"};
            c.on_lost = [&](error_code) { ++lost; };
            lockers.push_back(std::make_unique<lease_locker>(counting, lease_name{"", lease + "-" + std::to_string(i)}, c));
        }
        double cpu0 = 0, cpu1 = 0;
        int renewals0 = 0, renewals1 = 0;
        long rss_held = 0, heap_held = 0, heap_end = 0;
        asio::co_spawn(io, [&]() -> asio::awaitable<void> {
            for (auto& l : lockers) l->lock([&](error_code ec) { acquired += !ec; });
            while (acquired < count) co_await sleep_for(100ms);
            rss_held = resident_bytes();
            heap_held = heap_bytes();
            cpu0 = cpu_seconds();
            renewals0 = renewals;
            co_await sleep_for(std::chrono::seconds(seconds));
            cpu1 = cpu_seconds();
            heap_end = heap_bytes();
            renewals1 = renewals;
            for (auto& l : lockers) co_await l->unlock(asio::use_awaitable);
        }, asio::detached);
        io.run();
        const int renewed = renewals1 - renewals0;
        char extra[256];
        std::snprintf(extra, sizeof extra,
                      "\"leases\":%d,\"seconds\":%d,\"retry_s\":%d,\"watch\":%s,\"renewals\":%d,\"cpu_us_per_renew\":%.2f,\"bytes_per_lease\":%ld,"
                      "\"heap_bytes_per_lease\":%ld,\"heap_bytes_per_lease_at_end\":%ld,\"missed_deadlines\":%d,",
                      count, seconds, static_cast<int>(retry.count()), watch ? "true" : "false", renewed, renewed ? (cpu1 - cpu0) * 1e6 / renewed : 0.0, (rss_held - rss_before) / count,
                      (heap_held - heap_before) / count, (heap_end - heap_before) / count, lost);
        print("scale", {}, lost, extra);
        return lost ? 3 : 0;
    }
    if (mode == "failover") {
        const int n = std::atoi(argv[4]);
        for (int i = 0; i < n; ++i) {
            const std::string name = lease + "-" + std::to_string(i);
            int fds[2];
            if (::pipe(fds) != 0) return 1;
            pid_t holder = ::fork();
            if (holder == 0) {
                ::dup2(fds[1], STDOUT_FILENO);
                ::execl(argv[0], argv[0], "hold", argv[2], name.c_str(), "victim", nullptr);
                ::_exit(127);
            }
            ::close(fds[1]);
            char line[16] = {};
            if (::read(fds[0], line, sizeof line - 1) <= 0 || std::string(line).rfind("held", 0) != 0) return 1;
            ::close(fds[0]);
            lease_locker heir{api, {"", name}, with_identity("heir")};
            clock_type::time_point killed{}, took{};
            asio::co_spawn(io, [&]() -> asio::awaitable<void> {
                asio::steady_timer kill(io, 1s);
                kill.async_wait([&](error_code) {
                    killed = clock_type::now();
                    ::kill(holder, SIGKILL);
                });
                co_await heir.lock(asio::use_awaitable);
                took = clock_type::now();
                co_await heir.unlock(asio::use_awaitable);
            }, asio::detached);
            io.restart();
            io.run();
            ::waitpid(holder, nullptr, 0);
            samples.push_back(std::chrono::duration<double, std::milli>(took - killed - timing.lease_duration).count());
        }
        print("failover", samples, 0);
        return 0;
    }
    const int n = std::atoi(argv[4]);
    asio::co_spawn(io, [&]() -> asio::awaitable<void> {
        if (mode == "handoff" || mode == "handoff-fair") {
            const bool fair = mode == "handoff-fair";
            lease_locker a{api, {"", lease}, with_identity("ll-a", fair)}, b{api, {"", lease}, with_identity("ll-b", fair)};
            lease_locker* holder = &a;
            lease_locker* waiter = &b;
            co_await holder->lock(asio::use_awaitable);
            for (int i = 0; i < n; ++i) {
                bool acquired = false;
                clock_type::time_point t0{};
                double sample = 0;
                waiter->lock([&](error_code ec) {
                    if (ec) status = 1;
                    sample = ms_since(t0);
                    acquired = true;
                });
                asio::steady_timer settle(io, 200ms); // the waiter is watching
                co_await settle.async_wait(asio::use_awaitable);
                const auto before = holder->current_fencing_token().sequence;
                t0 = clock_type::now();
                co_await holder->unlock(asio::use_awaitable);
                while (!acquired) {
                    asio::steady_timer poll(io, 100us);
                    co_await poll.async_wait(asio::use_awaitable);
                }
                samples.push_back(sample);
                if (holder->held() || waiter->current_fencing_token().sequence != before + 1) ++violations;
                std::swap(holder, waiter);
            }
            co_await holder->unlock(asio::use_awaitable);
        } else if (mode == "elector-handover") {
            // As clientgo-bench handoff: cancel the leader, time until the
            // other's on_started_leading; the old leader campaigns again.
            std::optional<clock_type::time_point> started_at;
            int leading = 0;
            auto config = [&](std::string id) {
                elector_config c;
                c.lock = with_identity(std::move(id));
                c.lock.release_on_cancel = true;
                c.on_started_leading = [&](leadership l, asio::any_completion_handler<void(std::exception_ptr)> done) {
                    started_at = clock_type::now();
                    if (++leading > 1) ++violations;
                    auto slot = asio::get_associated_cancellation_slot(done);
                    asio::co_spawn(l.executor, sleep_for(1h), asio::bind_cancellation_slot(slot, [&, done = std::move(done)](std::exception_ptr e) mutable {
                        --leading;
                        std::move(done)(e);
                    }));
                };
                return c;
            };
            leader_elector a{api, {"", lease}, config("ll-elector-a")}, b{api, {"", lease}, config("ll-elector-b")};
            asio::cancellation_signal stop_a, stop_b;
            std::optional<error_code> done_a, done_b;
            auto run = [&](leader_elector& e, asio::cancellation_signal& stop, std::optional<error_code>& done) {
                done.reset();
                e.run(asio::bind_cancellation_slot(stop.slot(), [&done](error_code ec) { done = ec; }));
            };
            auto until = [&](auto condition) -> asio::awaitable<void> {
                for (int i = 0; i < 200000 && !condition(); ++i) co_await sleep_for(100us); // at most ~20 s
            };
            run(a, stop_a, done_a);
            co_await until([&] { return a.is_leader(); });
            run(b, stop_b, done_b);
            co_await sleep_for(timing.retry_period * 2); // the other elector follows the lease
            leader_elector* leader = &a;
            for (int i = 0; i < n; ++i) {
                auto& stop = leader == &a ? stop_a : stop_b;
                auto& done = leader == &a ? done_a : done_b;
                leader_elector* next = leader == &a ? &b : &a;
                started_at.reset();
                const auto t0 = clock_type::now();
                stop.emit(asio::cancellation_type::terminal);
                co_await until([&] { return started_at.has_value() && next->is_leader(); });
                if (!started_at) {
                    status = 1;
                    break;
                }
                samples.push_back(std::chrono::duration<double, std::milli>(*started_at - t0).count());
                co_await until([&] { return done.has_value(); });
                run(*leader, stop, done); // the old leader stands by again
                leader = next;
                co_await sleep_for(timing.retry_period * 2);
            }
            stop_a.emit(asio::cancellation_type::terminal);
            stop_b.emit(asio::cancellation_type::terminal);
            co_await until([&] { return done_a.has_value() && done_b.has_value(); });
        } else if (mode == "acquire") {
            for (int i = 0; i < n; ++i) {
                lease_locker l{api, {"", lease + "-" + std::to_string(i)}, with_identity("ll-acquire")};
                auto t0 = clock_type::now();
                co_await l.lock(asio::use_awaitable);
                samples.push_back(ms_since(t0));
                co_await l.unlock(asio::use_awaitable);
            }
        }
    }, [&](std::exception_ptr e) {
        if (e) status = 1;
    });
    io.run();
    print(mode, samples, violations);
    return status ? status : (violations ? 3 : 0);
}
