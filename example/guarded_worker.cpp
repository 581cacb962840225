// A worker that stops the moment its lease is lost, not after it expired:
// its coroutine is bound to the locker's loss signal. Each batch carries
// the fencing token, for the protected system to reject stale writers.
#include <leaselocker/leaselocker.hpp>

#include <boost/asio.hpp>
#include <iostream>

namespace asio = boost::asio;
using namespace std::chrono_literals;

asio::awaitable<void> process_batches(leaselocker::fencing_token token, int batches) {
    for (int i = 0; i < batches; ++i) {
        asio::steady_timer step{co_await asio::this_coro::executor, 300ms};
        co_await step.async_wait(asio::use_awaitable); // throws operation_aborted on loss
        std::cout << "batch " << i << " written with fencing token " << token.sequence << "\n";
    }
}

asio::awaitable<void> worker(leaselocker::client& api) {
    leaselocker::lease_locker locker{api, {"", "batch-writer"}, {.lease_duration = 15s}};
    co_await locker.lock(asio::use_awaitable);
    try {
        co_await asio::co_spawn(co_await asio::this_coro::executor, process_batches(locker.current_fencing_token(), 5),
                                asio::bind_cancellation_slot(locker.lost_slot(), asio::use_awaitable));
    } catch (const boost::system::system_error& e) {
        std::cout << "lease lost, work stopped: " << e.code().message() << "\n";
        co_return;
    }
    co_await locker.unlock(asio::use_awaitable);
    std::cout << "all batches written, released\n";
}

int main() {
    try {
        asio::io_context io;
        leaselocker::client api{io.get_executor(), leaselocker::load_default()};
        int status = 0;
        asio::co_spawn(io, worker(api), [&](std::exception_ptr e) {
            try {
                if (e) std::rethrow_exception(e);
            } catch (const std::exception& failure) {
                std::cerr << "guarded_worker: " << failure.what() << "\n";
                status = 1;
            }
        });
        io.run();
        return status;
    } catch (const std::exception& e) { // no usable kubeconfig
        std::cerr << "guarded_worker: " << e.what() << "\n";
        return 1;
    }
}
