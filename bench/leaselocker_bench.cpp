// Our side of bench/run.sh, measured as bench/peers/clientgo measures
// client-go's leader election. Prints one JSON line per run.
//
//   leaselocker_bench handoff KUBECONFIG LEASE N   graceful handoffs between two lockers: unlock -> the waiter holds
//   leaselocker_bench acquire KUBECONFIG LEASE N   uncontended lock() of N fresh leases
//   leaselocker_bench hold    KUBECONFIG LEASE ID  lock and hold (or wait) until killed
//
// It checks its own correctness: every handoff is a new grant (the fencing
// token grows by one) and a locker is never told it holds while the other does.
#include <leaselocker/leaselocker.hpp>

#include <boost/asio.hpp>

#include <cstdio>
#include <iostream>
#include <string>
#include <vector>

namespace asio = boost::asio;
using namespace leaselocker;
using namespace std::chrono_literals;
using clock_type = std::chrono::steady_clock;

namespace {

const lock_config timing{.lease_duration = 3s, .renew_deadline = 2s, .retry_period = 500ms};

lock_config with_identity(std::string id) {
    auto c = timing;
    c.identity = std::move(id);
    return c;
}

double ms_since(clock_type::time_point t0) {
    return std::chrono::duration<double, std::milli>(clock_type::now() - t0).count();
}

void print(const std::string& what, const std::vector<double>& samples, int violations) {
    std::printf("{\"impl\":\"leaselocker\",\"what\":\"%s\",\"violations\":%d,\"samples_ms\":[", what.c_str(), violations);
    for (std::size_t i = 0; i < samples.size(); ++i) std::printf("%s%.3f", i ? "," : "", samples[i]);
    std::printf("]}\n");
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
        asio::co_spawn(io, locker.lock(asio::use_awaitable), asio::detached);
        io.run();
        return 0;
    }
    const int n = std::atoi(argv[4]);
    asio::co_spawn(io, [&]() -> asio::awaitable<void> {
        if (mode == "handoff") {
            lease_locker a{api, {"", lease}, with_identity("ll-a")}, b{api, {"", lease}, with_identity("ll-b")};
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
