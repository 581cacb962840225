#pragma once

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_future.hpp>

#include <chrono>

namespace leaselocker::test {

// Runs a coroutine on io until it finishes (bounded: a hung test fails
// instead of hanging) and returns its result or rethrows its exception.
template <class T>
T run(boost::asio::io_context& io, boost::asio::awaitable<T> task, std::chrono::seconds limit = std::chrono::seconds(60)) {
    auto result = boost::asio::co_spawn(io, std::move(task), boost::asio::use_future);
    // Until the task is done, not until io runs out of work: a test server
    // on the same io_context always has some.
    const auto deadline = std::chrono::steady_clock::now() + limit;
    io.restart();
    while (result.wait_for(std::chrono::seconds(0)) != std::future_status::ready) {
        if (std::chrono::steady_clock::now() > deadline) throw std::runtime_error("test coroutine did not finish in time");
        io.run_one_for(std::chrono::milliseconds(100));
        if (io.stopped()) io.restart();
    }
    return result.get();
}

} // namespace leaselocker::test
