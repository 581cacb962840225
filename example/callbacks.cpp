// The same lock with plain completion handlers, for code without coroutines.
#include <leaselocker/leaselocker.hpp>

#include <boost/asio.hpp>
#include <iostream>

namespace asio = boost::asio;
using namespace std::chrono_literals;

int main() try {
    asio::io_context io;
    leaselocker::client api{io.get_executor(), leaselocker::load_default()}; // throws config_error
    leaselocker::lease_locker locker{api, {"", "report-generator"}};
    asio::steady_timer work{io};
    int status = 0;

    locker.lock([&](leaselocker::error_code ec) {
        if (ec) {
            std::cerr << "callbacks: lock failed: " << ec.message() << "\n";
            status = 1;
            return;
        }
        std::cout << "holding, fencing token " << locker.current_fencing_token().sequence << "\n";
        work.expires_after(1s);
        work.async_wait([&](leaselocker::error_code) {
            locker.unlock([](leaselocker::error_code ec, leaselocker::unlock_result r) {
                std::cout << (ec ? "unlock failed: " + ec.message()
                                 : r == leaselocker::unlock_result::released ? std::string("released") : std::string("was not held"))
                          << "\n";
            });
        });
    });
    io.run();
    return status;
} catch (const std::exception& e) {
    std::cerr << "callbacks: " << e.what() << "\n";
    return 1;
}
