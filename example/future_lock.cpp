// From a thread that does not run the io_context: use_future. The
// io_context runs on a thread of its own; main() blocks on the futures
// (a failure comes out of get() as boost::system::system_error).
#include <leaselocker/leaselocker.hpp>

#include <boost/asio.hpp>
#include <boost/asio/use_future.hpp>
#include <iostream>
#include <thread>

namespace asio = boost::asio;

int main() try {
    asio::io_context io;
    // Made before the thread starts (a bad kubeconfig throws here).
    auto api = std::make_unique<leaselocker::client>(io.get_executor(), leaselocker::load_default());
    auto locker = std::make_unique<leaselocker::lease_locker>(*api, leaselocker::lease_name{"", "future-lock"});
    auto work = asio::make_work_guard(io);
    std::thread io_thread{[&] { io.run(); }};
    int status = 0;
    try {
        locker->lock(asio::use_future).get(); // blocks this thread, not the io_context's
        std::cout << "holding, fencing token " << locker->current_fencing_token().sequence << "\n";
        const auto result = locker->unlock(asio::use_future).get();
        std::cout << (result == leaselocker::unlock_result::released ? "released" : "was not held") << "\n";
    } catch (const std::exception& e) {
        std::cerr << "future_lock: " << e.what() << "\n";
        status = 1;
    }
    // The locker and the client end on the io_context's thread, while
    // nothing of theirs can run concurrently; then the thread may stop.
    asio::post(io, asio::use_future([&] {
        locker.reset();
        api.reset();
    })).get();
    work.reset();
    io_thread.join();
    return status;
} catch (const std::exception& e) { // no usable kubeconfig
    std::cerr << "future_lock: " << e.what() << "\n";
    return 1;
}
