// A worker that stops the moment its lease is lost, not after it expired
// (its coroutine is bound to the locker's loss signal), and whose every
// write carries the fencing token, so that the store refuses a writer that
// was deposed without knowing it (paused past its lease, say).
#include <leaselocker/leaselocker.hpp>

#include <boost/asio.hpp>
#include <iostream>
#include <map>

namespace asio = boost::asio;
using namespace std::chrono_literals;

// The protected resource. The check belongs to the resource, not to the
// writer: here an in-memory table; in real life a database row's condition
// (UPDATE ... WHERE token <= ?), an object-store precondition, or a
// Kubernetes object's annotation checked on write. It keeps the highest
// token it has accepted and refuses anything older. A token of another
// epoch (the Lease was deleted and created again) is refused too: whoever
// recreates the Lease resets the store.
class fenced_store {
public:
    bool write(const leaselocker::fencing_token& token, const std::string& key, const std::string& value) {
        if (!token.valid()) return false;
        if (!epoch_.empty() && token.epoch != epoch_) return false;
        if (token.sequence < highest_) return false;
        epoch_ = token.epoch;
        highest_ = token.sequence;
        rows_[key] = value;
        return true;
    }
    std::size_t size() const { return rows_.size(); }

private:
    std::string epoch_;
    std::int64_t highest_ = -1;
    std::map<std::string, std::string> rows_;
};

asio::awaitable<void> process_batches(const leaselocker::lease_locker& locker, fenced_store& store, int batches) {
    for (int i = 0; i < batches; ++i) {
        asio::steady_timer step{co_await asio::this_coro::executor, 300ms};
        co_await step.async_wait(asio::use_awaitable); // throws operation_aborted on loss
        // The token of the grant we hold, read at the write.
        const auto token = locker.current_fencing_token();
        if (!store.write(token, "batch-" + std::to_string(i), "done"))
            throw std::runtime_error("the store refused fencing token " + std::to_string(token.sequence));
        std::cout << "batch " << i << " written with fencing token " << token.sequence << "\n";
    }
}

asio::awaitable<void> worker(leaselocker::client& api) {
    fenced_store store;
    leaselocker::lease_locker locker{api, {"", "batch-writer"}, {.lease_duration = 15s}};
    co_await locker.lock(asio::use_awaitable);
    const auto granted = locker.current_fencing_token();
    try {
        co_await asio::co_spawn(co_await asio::this_coro::executor, process_batches(locker, store, 5),
                                asio::bind_cancellation_slot(locker.lost_slot(), asio::use_awaitable));
    } catch (const boost::system::system_error& e) {
        std::cout << "lease lost, work stopped: " << e.code().message() << "\n";
        co_return;
    }
    co_await locker.unlock(asio::use_awaitable);
    std::cout << "all batches written, released\n";

    // The next grant has a higher token; the writer that held the old one
    // is refused from then on, whatever it believes.
    co_await locker.lock(asio::use_awaitable);
    const auto next = locker.current_fencing_token();
    const bool fresh = store.write(next, "batch-0", "redone");
    const bool stale = store.write(granted, "batch-0", "late write of a deposed holder");
    std::cout << "next grant, token " << next.sequence << ": write " << (fresh ? "accepted" : "refused")
              << "; a write with the old token " << granted.sequence << ": " << (stale ? "accepted" : "refused") << "\n";
    co_await locker.unlock(asio::use_awaitable);
    if (!fresh || stale) throw std::runtime_error("the store did not fence as it should");
}

int main() {
    try {
        asio::io_context io;
        leaselocker::client api{io.get_executor(), leaselocker::load_default()};
        int status = 0;
        asio::co_spawn(io, worker(api), [&](std::exception_ptr e) {
            try {
                if (e) std::rethrow_exception(e);
            } catch (const std::exception& failure) {
                std::cerr << "guarded_worker: " << failure.what() << "\n";
                status = 1;
            }
        });
        io.run();
        return status;
    } catch (const std::exception& e) { // no usable kubeconfig
        std::cerr << "guarded_worker: " << e.what() << "\n";
        return 1;
    }
}
