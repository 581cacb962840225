// Internal: running a coroutine as the body of an Asio operation.
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/bind_executor.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/strand.hpp>
#include <boost/system/error_code.hpp>

#include <exception>
#include <utility>

namespace leaselocker::detail {

// Runs a coroutine yielding (error_code, T) on `strand` for a handler of
// void(error_code, T): the handler's cancellation slot reaches the
// coroutine, and the result is delivered through the handler's executor
// (co_spawn posts, so never inside the initiating call).
template <class T, class Handler>
void spawn_for(const boost::asio::strand<boost::asio::any_io_executor>& strand, boost::asio::awaitable<std::pair<boost::system::error_code, T>> task, Handler handler) {
    auto slot = boost::asio::get_associated_cancellation_slot(handler);
    auto handler_ex = boost::asio::get_associated_executor(handler, strand);
    boost::asio::co_spawn(strand, std::move(task),
                   boost::asio::bind_cancellation_slot(
                       slot, boost::asio::bind_executor(handler_ex, [h = std::move(handler)](std::exception_ptr e, std::pair<boost::system::error_code, T> r) mutable {
                           if (e) std::rethrow_exception(e);
                           std::move(h)(r.first, std::move(r.second));
                       })));
}


// The same for a coroutine yielding only an error_code, for a handler of
// void(error_code).
template <class Handler>
void spawn_for(const boost::asio::strand<boost::asio::any_io_executor>& strand, boost::asio::awaitable<boost::system::error_code> task, Handler handler) {
    auto slot = boost::asio::get_associated_cancellation_slot(handler);
    auto handler_ex = boost::asio::get_associated_executor(handler, strand);
    boost::asio::co_spawn(strand, std::move(task),
                          boost::asio::bind_cancellation_slot(
                              slot, boost::asio::bind_executor(handler_ex, [h = std::move(handler)](std::exception_ptr e, boost::system::error_code ec) mutable {
                                  if (e) std::rethrow_exception(e);
                                  std::move(h)(ec);
                              })));
}

} // namespace leaselocker::detail
