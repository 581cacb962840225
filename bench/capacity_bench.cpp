// Client-side capacity: how many renewals one core drives when the server is
// not the limit. The scripted in-process server (test/support) runs on a
// thread of its own and answers every PUT with the Lease it was sent; the
// lockers run on this thread, and only this thread's CPU time is counted.
//
//   leaselocker_capacity_bench LEASES SECONDS [tls|http] [CONNECTIONS]
//
// Prints one JSON line: renewals, client CPU seconds, renewals per CPU
// second (= per core) and per wall second.
#include "support/scripted_server.hpp"

#include <leaselocker/leaselocker.hpp>

#include <boost/asio.hpp>
#include <boost/json.hpp>

#include <atomic>
#include <cstdio>
#include <ctime>
#include <string>
#include <thread>
#include <vector>

namespace asio = boost::asio;
using namespace leaselocker;
using namespace std::chrono_literals;

namespace {

double thread_cpu_seconds() {
    timespec ts{};
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
}

asio::awaitable<void> sleep_for(std::chrono::steady_clock::duration d) {
    asio::steady_timer t(co_await asio::this_coro::executor, d);
    co_await t.async_wait(asio::use_awaitable);
}

} // namespace

int main(int argc, char** argv) {
    if (argc < 3) {
        std::fprintf(stderr, "usage: %s LEASES SECONDS [tls|http] [CONNECTIONS]\n", argv[0]);
        return 2;
    }
    const int count = std::atoi(argv[1]);
    const int seconds = std::atoi(argv[2]);
    const bool tls = !(argc > 3 && std::string(argv[3]) == "http");
    const std::size_t connections = argc > 4 ? static_cast<std::size_t>(std::atoi(argv[4])) : 4;

    // The server: its own io_context and thread. GET: not found (so each
    // locker creates its Lease); POST: the Lease sent, with a uid and a
    // resourceVersion; PUT: the Lease sent, as it is (the cheapest answer,
    // so the server stays out of the way).
    asio::io_context server_io;
    test::scripted_server server(server_io.get_executor(), tls);
    server.keep_requests(false);
    std::atomic<long> puts{0};
    server.on_request([&](const test::recorded_request& r) {
        if (r.method == "GET") return test::reply{.status = 404, .body = R"({"kind":"Status","code":404,"reason":"NotFound"})"};
        if (r.method == "PUT") {
            ++puts;
            return test::reply{.status = 200, .body = r.body};
        }
        auto lease = boost::json::parse(r.body).as_object();
        lease["metadata"].as_object()["resourceVersion"] = "1";
        lease["metadata"].as_object()["uid"] = "capacity";
        return test::reply{.status = 201, .body = boost::json::serialize(lease)};
    });
    auto server_work = asio::make_work_guard(server_io);
    std::thread server_thread([&] { server_io.run(); });

    asio::io_context io(1);
    client api{io.get_executor(), server.config(), client_options{.max_connections = connections}};
    // Renew as fast as allowed: every locker renews every millisecond or so;
    // a long lease, so only a locker starved for 40 s counts as missed.
    std::vector<std::unique_ptr<lease_locker>> lockers;
    for (int i = 0; i < count; ++i)
        lockers.push_back(std::make_unique<lease_locker>(
            api, lease_name{"default", "capacity-" + std::to_string(i)},
            lock_config{.lease_duration = 60s, .renew_deadline = 40s, .retry_period = 1ms, .use_watch = false, .identity = "capacity"}));
    int lost = 0;
    long renewals = 0;
    double cpu = 0, wall = 0;
    asio::co_spawn(io, [&]() -> asio::awaitable<void> {
        for (auto& l : lockers) co_await l->lock(asio::use_awaitable);
        co_await sleep_for(500ms); // warm: connections open, steady state
        const long puts0 = puts;
        const double cpu0 = thread_cpu_seconds();
        const auto t0 = std::chrono::steady_clock::now();
        co_await sleep_for(std::chrono::seconds(seconds));
        renewals = puts - puts0;
        cpu = thread_cpu_seconds() - cpu0;
        wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        for (auto& l : lockers) lost += !l->held();
        lockers.clear(); // stop renewing (no release: the server does not care)
        api.cancel();
    }, asio::detached);
    io.run();
    server_work.reset();
    server_io.stop();
    server_thread.join();

    std::printf("{\"impl\":\"leaselocker\",\"what\":\"capacity\",\"violations\":0,\"missed_deadlines\":%d,\"leases\":%d,\"seconds\":%d,\"transport\":\"%s\","
                "\"connections\":%zu,\"renewals\":%ld,\"client_cpu_s\":%.3f,\"renewals_per_cpu_second\":%.0f,"
                "\"renewals_per_second\":%.0f,\"cpu_us_per_renew\":%.2f,\"samples_ms\":[]}\n",
                lost, count, seconds, tls ? "https" : "http", connections, renewals, cpu, renewals / cpu, renewals / wall,
                renewals ? cpu * 1e6 / static_cast<double>(renewals) : 0.0);
    return 0;
}
