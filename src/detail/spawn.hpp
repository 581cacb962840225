// Internal: running a coroutine as the body of an Asio operation.
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/bind_executor.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/dispatch.hpp>
#include <boost/asio/execution/outstanding_work.hpp>
#include <boost/asio/prefer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/system/error_code.hpp>

#include <exception>
#include <memory>
#include <utility>

namespace leaselocker::detail {

// Cancellation plumbing shared by both spawn_for forms. Asio 1.81's
// co_spawn forwards cancellation to a handler with an associated executor by
// posting a raw pointer to its own signal, which dangles once the coroutine
// has finished (a use-after-free ThreadSanitizer found). So co_spawn gets a
// plain handler and a signal of ours, kept alive by a shared_ptr; the
// caller's cancellation reaches it on the strand, never after completion;
// the result is dispatched to the handler's executor by us.
struct spawn_cancellation {
    explicit spawn_cancellation(boost::asio::strand<boost::asio::any_io_executor> s) : strand(std::move(s)) {}
    boost::asio::strand<boost::asio::any_io_executor> strand;
    boost::asio::cancellation_signal signal;
    bool done = false;
};

// The caller's slot keeps only a weak reference: a handler left in it
// (a completion dropped with its io_context) holds nothing of ours alive.
template <class Handler>
std::shared_ptr<spawn_cancellation> connect_cancellation(const boost::asio::strand<boost::asio::any_io_executor>& strand,
                                                         Handler& handler) {
    auto state = std::make_shared<spawn_cancellation>(strand);
    auto slot = boost::asio::get_associated_cancellation_slot(handler);
    if (slot.is_connected())
        slot.assign([weak = std::weak_ptr<spawn_cancellation>(state)](boost::asio::cancellation_type type) {
            auto state = weak.lock();
            if (!state) return;
            boost::asio::dispatch(state->strand, [state, type] {
                if (!state->done) state->signal.emit(type);
            });
        });
    return state;
}

// The handler's associated executor, counting outstanding work until it is
// destroyed (Asio's rule for an operation in progress): an io_context that
// runs only the handler does not run out of work before the result arrives.
template <class Handler>
auto tracked_executor(const Handler& handler, const boost::asio::strand<boost::asio::any_io_executor>& fallback) {
    return boost::asio::prefer(boost::asio::get_associated_executor(handler, fallback),
                               boost::asio::execution::outstanding_work.tracked);
}

// The slot is cleared on the handler's executor, where its owner emits
// (clearing it here, on our strand, would race with an emit there); an
// emit that comes first finds `done` and is dropped.
template <class Handler, class Work, class... Args>
void complete_on_handler_executor(Handler handler, const Work& work, spawn_cancellation& state, Args... args) {
    state.done = true;
    boost::asio::dispatch(work, [h = std::move(handler), ... args = std::move(args)]() mutable {
        auto slot = boost::asio::get_associated_cancellation_slot(h);
        if (slot.is_connected()) slot.clear();
        std::move(h)(std::move(args)...);
    });
}

// Runs a coroutine yielding (error_code, T) on `strand` for a handler of
// void(error_code, T): the handler's cancellation reaches the coroutine, and
// the result is delivered through the handler's executor, on which work is
// held meanwhile (co_spawn posts the start, so never inside the initiating
// call).
template <class T, class Handler>
void spawn_for(const boost::asio::strand<boost::asio::any_io_executor>& strand,
               boost::asio::awaitable<std::pair<boost::system::error_code, T>> task, Handler handler) {
    auto state = connect_cancellation(strand, handler);
    auto& signal = state->signal;
    auto work = tracked_executor(handler, strand);
    boost::asio::co_spawn(strand, std::move(task),
                          boost::asio::bind_cancellation_slot(
                              signal.slot(), [h = std::move(handler), state, work](std::exception_ptr e,
                                                                                    std::pair<boost::system::error_code, T> r) mutable {
                                  if (e) std::rethrow_exception(e);
                                  complete_on_handler_executor(std::move(h), work, *state, r.first, std::move(r.second));
                              }));
}

// The same for a coroutine yielding only an error_code, for a handler of
// void(error_code).
// Returns the cancellation the coroutine sees, for an owner that must be
// able to stop it too (emit on the strand, unless done).
template <class Handler>
std::shared_ptr<spawn_cancellation> spawn_for(const boost::asio::strand<boost::asio::any_io_executor>& strand,
                                              boost::asio::awaitable<boost::system::error_code> task, Handler handler) {
    auto state = connect_cancellation(strand, handler);
    auto& signal = state->signal;
    auto work = tracked_executor(handler, strand);
    boost::asio::co_spawn(strand, std::move(task),
                          boost::asio::bind_cancellation_slot(
                              signal.slot(), [h = std::move(handler), state, work](std::exception_ptr e, boost::system::error_code ec) mutable {
                                  if (e) std::rethrow_exception(e);
                                  complete_on_handler_executor(std::move(h), work, *state, ec);
                              }));
    return state;
}

} // namespace leaselocker::detail
