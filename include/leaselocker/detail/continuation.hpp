#pragma once

#include <boost/asio/associated_cancellation_slot.hpp>
#include <boost/asio/associated_executor.hpp>
#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/bind_executor.hpp>

#include <utility>

namespace leaselocker::detail {

// The completion handler for an inner operation of a composed one. It takes
// the outer handler and carries its executor and cancellation slot, so the
// inner operation is cancelled with the outer one and `f(outer, args...)`
// runs where the outer handler must run.
template <class Handler, class Executor, class F>
auto continuation(Handler outer, const Executor& fallback, F f) {
    auto slot = boost::asio::get_associated_cancellation_slot(outer);
    auto ex = boost::asio::get_associated_executor(outer, fallback);
    return boost::asio::bind_cancellation_slot(
        slot, boost::asio::bind_executor(ex, [h = std::move(outer), f = std::move(f)](auto&&... args) mutable {
            f(h, std::forward<decltype(args)>(args)...);
        }));
}

} // namespace leaselocker::detail
