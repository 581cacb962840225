// Embedded in an event loop the program owns: its own poll(2) loop waits on
// its own descriptors and gives Asio a turn with io_context::poll() (no
// run()). Here the program's descriptor is a pipe that a timer of the loop
// writes to; the lock is taken, held for three ticks and given back.
#include <leaselocker/leaselocker.hpp>

#include <boost/asio.hpp>
#include <iostream>
#include <poll.h>
#include <unistd.h>

namespace asio = boost::asio;

int main() try {
    asio::io_context io;
    leaselocker::client api{io.get_executor(), leaselocker::load_default()};
    leaselocker::lease_locker locker{api, {"", "own-event-loop"}};
    enum { waiting, holding, releasing, done, failed } state = waiting;
    locker.lock([&](leaselocker::error_code ec) {
        if (ec) std::cerr << "own_event_loop: lock failed: " << ec.message() << "\n";
        state = ec ? failed : holding;
    });

    int ticks[2];
    if (::pipe(ticks) != 0) return 1;
    int held_ticks = 0;
    while (state != done && state != failed) {
        // The program's own wait: its descriptors, with a short timeout so
        // that Asio's timers and sockets get their turn often enough (10 ms
        // here; the lease's renewals need far less).
        pollfd fds[] = {{ticks[0], POLLIN, 0}};
        if (::poll(fds, 1, 10) > 0) {
            char c;
            if (::read(ticks[0], &c, 1) == 1 && state == holding && ++held_ticks == 3) {
                state = releasing;
                locker.unlock([&](leaselocker::error_code ec, leaselocker::unlock_result) {
                    std::cout << (ec ? "unlock failed: " + ec.message() : std::string("released")) << "\n";
                    state = ec ? failed : done;
                });
            }
        }
        if (state == holding) { // the program's own work, one tick per loop turn while held
            std::cout << "holding (tick " << held_ticks << "), fencing token " << locker.current_fencing_token().sequence << "\n";
            if (::write(ticks[1], "t", 1) != 1) return 1;
        }
        if (io.stopped()) io.restart(); // poll() stops it whenever it ran out of work
        io.poll();                      // Asio's turn: handlers ready now, nothing more
    }
    ::close(ticks[0]);
    ::close(ticks[1]);
    return state == done ? 0 : 1;
} catch (const std::exception& e) {
    std::cerr << "own_event_loop: " << e.what() << "\n";
    return 1;
}
