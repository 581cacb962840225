#pragma once

#include <boost/asio/async_result.hpp>
#include <boost/asio/deferred.hpp>

#include <type_traits>

namespace leaselocker::detail {

// The completion token an operation uses when none is given: the
// executor's own (asio::as_default_on, e.g. use_awaitable_t<>::
// as_default_on_t<lease_locker>), else deferred (Boost 1.81 names none).
template <class Executor>
using default_token_t = std::conditional_t<std::is_void_v<typename boost::asio::default_completion_token<Executor>::type>,
                                           boost::asio::deferred_t,
                                           typename boost::asio::default_completion_token<Executor>::type>;

} // namespace leaselocker::detail
