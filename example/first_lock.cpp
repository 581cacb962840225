// The first lock: take it, work, give it back. Uses $KUBECONFIG (or
// ~/.kube/config, or the pod's service account).
#include <leaselocker/leaselocker.hpp>

#include <boost/asio.hpp>
#include <iostream>

namespace asio = boost::asio;
using namespace std::chrono_literals;

asio::awaitable<void> nightly_job(leaselocker::client& api) {
    leaselocker::lease_locker locker{api, {"", "nightly-invoices"}, {.lease_duration = 15s}};
    co_await locker.lock(asio::use_awaitable);
    std::cout << "holding the lease as " << locker.identity() << ", fencing token "
              << locker.current_fencing_token().sequence << "\n";
    asio::steady_timer work{co_await asio::this_coro::executor, 2s}; // the guarded work
    co_await work.async_wait(asio::use_awaitable);
    co_await locker.unlock(asio::use_awaitable);
    std::cout << "released\n";
}

int main() {
    try {
        asio::io_context io;
        leaselocker::client api{io.get_executor(), leaselocker::load_default()}; // throws config_error: no usable kubeconfig
        int status = 0;
        asio::co_spawn(io, nightly_job(api), [&](std::exception_ptr e) {
            try {
                if (e) std::rethrow_exception(e);
            } catch (const std::exception& failure) { // e.g. forbidden (403): a permanent error ends lock()
                std::cerr << "first_lock: " << failure.what() << "\n";
                status = 1;
            }
        });
        // lock() rides out transient errors (a server out of reach) for as
        // long as it takes, and says so on stderr (lock_config::log; the
        // first failure, then one line per 30 s). timed_lock.cpp bounds it.
        io.run();
        return status;
    } catch (const std::exception& e) {
        std::cerr << "first_lock: " << e.what() << "\n";
        return 1;
    }
}
