// Helpers shared by the integration tests: short valid timings, a sleep,
// and a client that counts the requests it sends.
#pragma once

#include "support/cluster_env.hpp"

#include <leaselocker/lease/lease_client.hpp>
#include <leaselocker/locker/lease_locker.hpp>
#include <leaselocker/transport/client.hpp>

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <atomic>
#include <string>
#include <string_view>

namespace leaselocker::test {

// Short but valid: 3 s > 2 s > 1.2 × 0.5 s.
inline lock_config fast(const std::string& identity) {
    using namespace std::chrono_literals;
    return {.lease_duration = 3s, .renew_deadline = 2s, .retry_period = 500ms, .unlock_retry_period = 3s, .identity = identity};
}

inline boost::asio::awaitable<void> sleep_for(std::chrono::steady_clock::duration d) {
    boost::asio::steady_timer t(co_await boost::asio::this_coro::executor, d);
    co_await t.async_wait(boost::asio::use_awaitable);
}

// A client (as the least-privilege identity) that counts the requests it
// sends, from its debug log: one " -> " line per answered exchange, one
// "failed" line per failed one; watch requests apart.
struct counting_client {
    boost::asio::io_context& io;
    std::atomic<int> requests{0};
    std::atomic<int> watches{0};
    client api{io.get_executor(), cluster_config_for("lease"),
               client_options{.log = {.level = log_level::debug, .sink = [this](log_level, std::string_view line) {
                                  const bool answered = line.find(" -> ") != std::string_view::npos;
                                  if (answered || line.find(" failed: ") != std::string_view::npos) ++requests;
                                  if (answered && line.find("watch=true") != std::string_view::npos) ++watches;
                              }}}};
};

// Someone with more rights than the lockers (the admin identity) writes
// another holder over the Lease: a takeover no locker decided. A new term
// (leaseTransitions + 1) unless `new_term` is false. Completes with the
// Lease written; throws if the write fails.
inline boost::asio::awaitable<lease> overwrite_holder(boost::asio::io_context& io, const std::string& name, const std::string& holder,
                                                      bool new_term = true) {
    client admin{io.get_executor(), cluster_config_for("admin")};
    lease_client admin_leases{admin};
    lease current = co_await admin_leases.get(name, boost::asio::use_awaitable);
    current.spec.holder_identity = holder;
    if (new_term) current.spec.lease_transitions = current.spec.lease_transitions.value_or(0) + 1;
    co_return co_await admin_leases.replace(current, boost::asio::use_awaitable);
}

} // namespace leaselocker::test
