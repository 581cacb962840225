// One io_context run by four threads, three lockers of one Lease taking
// turns: each operation may start on any thread; every locker keeps its
// state on a strand of its own.
#include <leaselocker/leaselocker.hpp>

#include <boost/asio.hpp>
#include <atomic>
#include <iostream>
#include <mutex>
#include <thread>
#include <vector>

namespace asio = boost::asio;
using namespace std::chrono_literals;

int main() try {
    asio::io_context io{4};
    leaselocker::client api{io.get_executor(), leaselocker::load_default()};
    std::mutex print;
    std::atomic<int> holders{0}, overlaps{0}, failures{0}, turns{0};
    std::vector<std::unique_ptr<leaselocker::lease_locker>> lockers;
    for (int i = 0; i < 3; ++i)
        lockers.push_back(std::make_unique<leaselocker::lease_locker>(
            api, leaselocker::lease_name{"", "multithreaded"},
            leaselocker::lock_config{.lease_duration = 3s, .renew_deadline = 2s, .retry_period = 500ms}));
    for (auto& locker : lockers)
        asio::co_spawn(io, [&, l = locker.get()]() -> asio::awaitable<void> {
            for (int turn = 0; turn < 3; ++turn) {
                co_await l->lock(asio::use_awaitable);
                if (++holders > 1) ++overlaps; // never: one holder at a time
                {
                    std::lock_guard lock{print};
                    std::cout << l->identity() << " holds it (token " << l->current_fencing_token().sequence << ") on thread "
                              << std::this_thread::get_id() << std::endl;
                }
                asio::steady_timer work{co_await asio::this_coro::executor, 50ms};
                co_await work.async_wait(asio::use_awaitable);
                --holders;
                ++turns;
                co_await l->unlock(asio::use_awaitable);
            }
        }, [&](std::exception_ptr e) {
            if (!e) return;
            try {
                std::rethrow_exception(e);
            } catch (const std::exception& failure) {
                std::lock_guard lock{print};
                std::cerr << "multithreaded: " << failure.what() << "\n";
                ++failures;
            }
        });
    std::vector<std::thread> threads;
    for (int i = 0; i < 4; ++i) threads.emplace_back([&] { io.run(); });
    for (auto& t : threads) t.join();
    std::cout << turns << " turns, " << overlaps << " overlaps, " << failures << " failures\n";
    return failures || overlaps || turns != 9 ? 1 : 0;
} catch (const std::exception& e) {
    std::cerr << "multithreaded: " << e.what() << "\n";
    return 1;
}
