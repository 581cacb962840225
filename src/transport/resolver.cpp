#include "resolver.hpp"

#include <boost/asio/append.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>

#include <ares.h>
#include <arpa/inet.h>

#include <cstring>
#include <map>
#include <memory>
#include <mutex>

namespace leaselocker::detail {

namespace asio = boost::asio;

namespace {

class resolve_op : public std::enable_shared_from_this<resolve_op> {
public:
    using handler_type = asio::any_completion_handler<void(error_code, endpoints)>;

    resolve_op(asio::any_io_executor ex, std::uint16_t port, std::chrono::steady_clock::time_point deadline, handler_type h)
        : ex_(std::move(ex)), port_(port), ares_timer_(ex_), deadline_timer_(ex_, deadline), handler_(std::move(h)) {}

    ~resolve_op() {
        if (channel_) ares_destroy(channel_);
    }

    void start(const std::string& host) {
        static std::once_flag init;
        std::call_once(init, [] { ares_library_init(ARES_LIB_INIT_ALL); });
        ares_options opts{};
        opts.sock_state_cb = &resolve_op::on_socket_state;
        opts.sock_state_cb_data = this;
        if (int rc = ares_init_options(&channel_, &opts, ARES_OPT_SOCK_STATE_CB); rc != ARES_SUCCESS) {
            channel_ = nullptr;
            return finish(error::resolve, {});
        }
        self_ = shared_from_this(); // alive until finished
        deadline_timer_.async_wait([w = weak_from_this()](error_code ec) {
            if (auto self = w.lock(); self && !ec && !self->done_) {
                self->timed_out_ = true;
                ares_cancel(self->channel_); // completes the query with ARES_ECANCELLED
            }
        });
        ares_addrinfo_hints hints{};
        hints.ai_family = AF_UNSPEC;
        hints.ai_socktype = SOCK_STREAM;
        ares_getaddrinfo(channel_, host.c_str(), nullptr, &hints, &resolve_op::on_addrinfo, this);
        arm_timer();
    }

private:
    // A socket of c-ares: what it wants, and which waits are in flight.
    struct watched {
        std::unique_ptr<asio::posix::stream_descriptor> descriptor;
        bool want_read = false, want_write = false;
        bool reading = false, writing = false;
    };

    // c-ares tells which of its sockets it wants to read or write.
    static void on_socket_state(void* data, ares_socket_t fd, int readable, int writable) {
        auto* self = static_cast<resolve_op*>(data);
        if (!readable && !writable) {
            if (auto it = self->sockets_.find(fd); it != self->sockets_.end()) {
                it->second.descriptor->cancel();
                it->second.descriptor->release(); // c-ares closes its own socket
                self->sockets_.erase(it);
            }
            return;
        }
        auto& w = self->sockets_[fd];
        if (!w.descriptor) w.descriptor = std::make_unique<asio::posix::stream_descriptor>(self->ex_, fd);
        w.want_read = readable;
        w.want_write = writable;
        self->arm(fd);
    }

    void arm(ares_socket_t fd) {
        auto it = sockets_.find(fd);
        if (it == sockets_.end() || done_) return;
        auto& w = it->second;
        using wait_type = asio::posix::stream_descriptor::wait_type;
        auto start = [&](wait_type type, bool& in_flight) {
            in_flight = true;
            w.descriptor->async_wait(type, [weak = weak_from_this(), fd, type](error_code ec) {
                auto self = weak.lock();
                if (!self) return;
                auto it = self->sockets_.find(fd);
                if (it != self->sockets_.end())
                    (type == wait_type::wait_read ? it->second.reading : it->second.writing) = false;
                if (ec || self->done_) return;
                const bool read = type == wait_type::wait_read;
                ares_process_fd(self->channel_, read ? fd : ARES_SOCKET_BAD, read ? ARES_SOCKET_BAD : fd);
                self->arm(fd); // still wanted: wait again
                self->arm_timer();
            });
        };
        if (w.want_read && !w.reading) start(wait_type::wait_read, w.reading);
        if (w.want_write && !w.writing) start(wait_type::wait_write, w.writing);
    }

    // c-ares' own retry/timeout schedule.
    void arm_timer() {
        if (done_ || !channel_) return;
        timeval tv{};
        if (!ares_timeout(channel_, nullptr, &tv)) return;
        ares_timer_.expires_after(std::chrono::seconds(tv.tv_sec) + std::chrono::microseconds(tv.tv_usec));
        ares_timer_.async_wait([w = weak_from_this()](error_code ec) {
            auto self = w.lock();
            if (!self || ec || self->done_) return;
            ares_process_fd(self->channel_, ARES_SOCKET_BAD, ARES_SOCKET_BAD);
            self->arm_timer();
        });
    }

    static void on_addrinfo(void* arg, int status, int, ares_addrinfo* result) {
        auto* self = static_cast<resolve_op*>(arg);
        endpoints v4, v6;
        if (status == ARES_SUCCESS && result) {
            for (auto* n = result->nodes; n; n = n->ai_next) {
                if (n->ai_family == AF_INET) {
                    auto* sa = reinterpret_cast<const sockaddr_in*>(n->ai_addr);
                    v4.emplace_back(asio::ip::address_v4(ntohl(sa->sin_addr.s_addr)), self->port_);
                } else if (n->ai_family == AF_INET6) {
                    auto* sa = reinterpret_cast<const sockaddr_in6*>(n->ai_addr);
                    asio::ip::address_v6::bytes_type bytes;
                    std::memcpy(bytes.data(), sa->sin6_addr.s6_addr, 16);
                    v6.emplace_back(asio::ip::address_v6(bytes, sa->sin6_scope_id), self->port_);
                }
            }
        }
        if (result) ares_freeaddrinfo(result);
        v4.insert(v4.end(), v6.begin(), v6.end());
        error_code ec;
        if (self->timed_out_) ec = error::timeout;
        else if (v4.empty()) ec = error::resolve;
        self->finish(ec, std::move(v4));
    }

    // Called from inside c-ares: the channel is destroyed later, not here.
    void finish(error_code ec, endpoints eps) {
        if (done_) return;
        done_ = true;
        deadline_timer_.cancel();
        ares_timer_.cancel();
        for (auto& [fd, w] : sockets_) {
            w.descriptor->cancel();
            w.descriptor->release();
        }
        sockets_.clear();
        asio::post(ex_, asio::append(std::move(handler_), ec, std::move(eps)));
        asio::post(ex_, [self = std::move(self_)] {}); // drop the last reference outside c-ares
    }

    asio::any_io_executor ex_;
    std::uint16_t port_;
    ares_channel channel_ = nullptr;
    std::map<ares_socket_t, watched> sockets_;
    asio::steady_timer ares_timer_;
    asio::steady_timer deadline_timer_;
    handler_type handler_;
    std::shared_ptr<resolve_op> self_;
    bool done_ = false;
    bool timed_out_ = false;
};

} // namespace

void async_resolve(asio::any_io_executor ex, std::string host, std::uint16_t port, std::chrono::steady_clock::time_point deadline,
                   asio::any_completion_handler<void(error_code, endpoints)> handler) {
    auto op = std::make_shared<resolve_op>(ex, port, deadline, std::move(handler));
    op->start(host);
}

} // namespace leaselocker::detail
