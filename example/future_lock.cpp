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
    auto work = asio::make_work_guard(io);
    std::thread io_thread{[&] { io.run(); }};
    int status = 0;
    {
        leaselocker::client api{io.get_executor(), leaselocker::load_default()};
        leaselocker::lease_locker locker{api, {"", "future-lock"}};
        try {
            locker.lock(asio::use_future).get(); // blocks this thread, not the io_context's
            std::cout << "holding, fencing token " << locker.current_fencing_token().sequence << "\n";
            const auto result = locker.unlock(asio::use_future).get();
            std::cout << (result == leaselocker::unlock_result::released ? "released" : "was not held") << "\n";
        } catch (const std::exception& e) {
            std::cerr << "future_lock: " << e.what() << "\n";
            status = 1;
        }
    } // the locker and the client end first: they cancel what is left, never block
    work.reset();
    io_thread.join();
    return status;
} catch (const std::exception& e) { // no usable kubeconfig
    std::cerr << "future_lock: " << e.what() << "\n";
    return 1;
}
