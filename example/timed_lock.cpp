// Bounding the wait for a lock: lock() || a timer, with Asio's
// awaitable_operators. The loser is cancelled (terminal): a lock() cancelled
// after its granting write releases the lease again before it completes, so
// nothing is held when the timer wins.
//
//   leaselocker_timed_lock [SECONDS]     exit 0: done; 2: not acquired in time; 1: failed
#include <leaselocker/leaselocker.hpp>

#include <boost/asio.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <iostream>

namespace asio = boost::asio;
using namespace asio::experimental::awaitable_operators;

asio::awaitable<int> timed_job(leaselocker::client& api, std::chrono::seconds limit) {
    leaselocker::lease_locker locker{api, {"", "nightly-invoices"}};
    asio::steady_timer deadline{co_await asio::this_coro::executor, limit};
    auto first = co_await (locker.lock(asio::as_tuple(asio::use_awaitable)) || deadline.async_wait(asio::as_tuple(asio::use_awaitable)));
    if (first.index() == 1) {
        std::cout << "not acquired within " << limit.count() << " s\n";
        co_return 2;
    }
    if (auto [ec] = std::get<0>(first); ec) {
        std::cerr << "timed_lock: " << ec.message() << "\n";
        co_return 1;
    }
    std::cout << "holding, fencing token " << locker.current_fencing_token().sequence << "\n";
    co_await locker.unlock(asio::use_awaitable);
    std::cout << "released\n";
    co_return 0;
}

int main(int argc, char** argv) try {
    const std::chrono::seconds limit{argc > 1 ? std::stoi(argv[1]) : 10};
    asio::io_context io;
    leaselocker::client api{io.get_executor(), leaselocker::load_default()}; // throws config_error
    int status = 1;
    asio::co_spawn(io, timed_job(api, limit), [&](std::exception_ptr e, int result) {
        status = result;
        try {
            if (e) std::rethrow_exception(e);
        } catch (const std::exception& failure) {
            std::cerr << "timed_lock: " << failure.what() << "\n";
            status = 1;
        }
    });
    io.run();
    return status;
} catch (const std::exception& e) {
    std::cerr << "timed_lock: " << e.what() << "\n";
    return 1;
}
