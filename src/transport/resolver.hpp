// Host-name resolution without a thread: c-ares, its sockets and timeouts
// driven by the executor. (Asio's own resolver runs getaddrinfo on a
// private thread.) Reads /etc/hosts and /etc/resolv.conf as the system does.
#pragma once

#include <leaselocker/error.hpp>

#include <boost/asio/any_completion_handler.hpp>
#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/ip/tcp.hpp>

#include <chrono>
#include <string>
#include <vector>

namespace leaselocker::detail {

using endpoints = std::vector<boost::asio::ip::tcp::endpoint>;

// Completes with the host's addresses (IPv4 first), error::resolve when the
// name does not resolve, or error::timeout at the deadline. `ex` must be a
// strand (or a single-threaded executor). Cancellation: none; use the deadline.
void async_resolve(boost::asio::any_io_executor ex, std::string host, std::uint16_t port,
                   std::chrono::steady_clock::time_point deadline,
                   boost::asio::any_completion_handler<void(error_code, endpoints)> handler);

} // namespace leaselocker::detail
