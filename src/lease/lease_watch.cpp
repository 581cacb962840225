#include <leaselocker/lease/lease_watch.hpp>

#include "../detail/spawn.hpp"
#include "lease_json.hpp"

#include <leaselocker/detail/status.hpp>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/dispatch.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <boost/json/value.hpp>

#include <mutex>

namespace leaselocker {
namespace detail {

namespace asio = boost::asio;
namespace json = boost::json;
constexpr auto use_tuple = asio::as_tuple(asio::use_awaitable);

class lease_watch_impl : public std::enable_shared_from_this<lease_watch_impl> {
public:
    lease_watch_impl(lease_client& leases, std::string name, std::string rv, lease_watch_options opts)
        : rv_(std::move(rv)), leases_(leases), name_(std::move(name)), opts_(opts),
          strand_(asio::make_strand(leases.get_executor())) {}

    void start_next(diagnostics* diag, asio::any_completion_handler<void(error_code, watch_event)> h) {
        spawn_for(strand_, next(shared_from_this(), diag), std::move(h));
    }

    void cancel() {
        asio::dispatch(strand_, [self = shared_from_this()] {
            self->stream_.close();
            self->stream_ = {};
        });
    }

    // Where the watch continues from: written on the strand, read from
    // anywhere (a shared watch widening reads it on its own strand).
    std::string resource_version() const {
        std::lock_guard lock(rv_mutex_);
        return rv_;
    }

private:
    void set_resource_version(std::string rv) {
        std::lock_guard lock(rv_mutex_);
        rv_ = std::move(rv);
    }

    using result = std::pair<error_code, watch_event>;

    static asio::awaitable<result> next(std::shared_ptr<lease_watch_impl> self, diagnostics* diag) {
        co_await asio::this_coro::reset_cancellation_state(asio::enable_total_cancellation());
        co_await asio::this_coro::throw_if_cancelled(false);
        self->diag_ = diag;
        if (diag) diag->clear();
        auto out = co_await self->run();
        if (out.first == asio::error::operation_aborted) {
            self->stream_.close();
            self->stream_ = {};
        }
        if (diag && !out.first) diag->clear(); // a re-list may have noted a 404 on its way to `deleted`
        if (diag && out.first && diag->client_message.empty()) diag->client_message = self->describe() + ": " + out.first.message();
        self->diag_ = nullptr;
        co_return out;
    }

    std::string describe() const {
        return "watch of lease" + (name_.empty() ? "s in " + leases_.namespace_name() : " " + leases_.namespace_name() + "/" + name_);
    }

    // For the diagnostics of the next() in progress, if it asked for them.
    void fill(std::string server_message) const {
        if (!diag_) return;
        diag_->client_message = describe() + " refused";
        diag_->server_message = std::move(server_message);
    }

    asio::awaitable<result> run() {
        for (int reopened = 0;; ) {
            // Checked on every turn: a cancellation that came while no
            // cancellable wait was pending (the watch being opened) is not
            // emitted again, and the stream may stay quiet for minutes.
            if ((co_await asio::this_coro::cancellation_state).cancelled() != asio::cancellation_type::none)
                co_return result{asio::error::operation_aborted, {}};
            if (stream_.status() == 0) {
                error_code ec;
                bool gone = false;
                co_await open(ec, gone);
                if (gone) co_return co_await relist();
                if (ec) co_return result{ec, {}};
                continue; // opened: look at the cancellation again before reading
            }
            auto [ec, line] = co_await stream_.read_line(std::chrono::duration_cast<std::chrono::milliseconds>(opts_.idle_timeout), use_tuple);
            if (ec == asio::error::operation_aborted) co_return result{ec, {}};
            if (ec) {
                // The server ended the watch (its timeout, a restart) or the
                // connection went quiet: continue from the last version.
                stream_ = {};
                if (++reopened > 3 && ec != asio::error::eof) co_return result{ec, {}};
                continue;
            }
            reopened = 0;
            if (line.empty()) continue;
            auto parsed = parse_event(line);
            if (parsed.gone) {
                stream_.close();
                stream_ = {};
                co_return co_await relist();
            }
            if (parsed.ec) co_return result{parsed.ec, {}};
            if (parsed.bookmark) continue;
            co_return result{error_code{}, std::move(parsed.event)};
        }
    }

    // GET ...?watch=true[&fieldSelector=metadata.name=<name>]&resourceVersion=<rv>
    asio::awaitable<void> open(error_code& ec, bool& gone) {
        std::string target = "/apis/coordination.k8s.io/v1/namespaces/" + leases_.namespace_name() +
                             "/leases?watch=true&allowWatchBookmarks=true&timeoutSeconds=" + std::to_string(opts_.server_timeout.count());
        if (!name_.empty()) target += "&fieldSelector=metadata.name%3D" + name_;
        if (auto rv = resource_version(); !rv.empty()) target += "&resourceVersion=" + rv;
        http_request req{.method = http_method::get, .target = std::move(target), .timeout = opts_.open_timeout, .diag = diag_};
        auto [oec, stream] = co_await leases_.get_client().open_stream(std::move(req), use_tuple);
        if (oec) {
            ec = oec;
            co_return;
        }
        if (stream.status() == 410) {
            gone = true;
            co_return;
        }
        if (stream.status() < 200 || stream.status() >= 300) {
            std::string message;
            ec = status_to_error(stream.status(), stream.error_body(), message);
            fill(std::move(message));
            co_return;
        }
        stream_ = std::move(stream);
    }

    // After 410 Gone: read the object again and continue from its version.
    // A watch on the whole namespace reports error::gone instead.
    asio::awaitable<result> relist() {
        if (name_.empty()) {
            set_resource_version({});
            co_return result{make_error_code(error::gone), {}};
        }
        auto [ec, l] = co_await leases_.get(name_, request_options{.diag = diag_}, use_tuple);
        if (ec == error::not_found) {
            set_resource_version({}); // watch from now: a later create arrives as `added`
            watch_event ev{watch_event_type::deleted, {}, true};
            ev.object.metadata.name = name_;
            co_return result{error_code{}, std::move(ev)};
        }
        if (ec) co_return result{ec, {}};
        set_resource_version(l.metadata.resource_version);
        co_return result{error_code{}, watch_event{watch_event_type::modified, std::move(l), true}};
    }

    struct parsed_event {
        error_code ec;
        bool gone = false;
        bool bookmark = false;
        watch_event event;
    };

    parsed_event parse_event(const std::string& line) {
        parsed_event out;
        boost::system::error_code jec;
        auto v = json::parse(line, jec);
        const json::object* o = (!jec && v.is_object()) ? &v.get_object() : nullptr;
        const json::value* type = o ? o->if_contains("type") : nullptr;
        const json::value* object = o ? o->if_contains("object") : nullptr;
        if (!type || !type->is_string() || !object || !object->is_object()) {
            out.ec = error::malformed_response;
            return out;
        }
        const auto& t = type->get_string();
        if (t == "ERROR") {
            const auto& status = object->get_object();
            auto* code = status.if_contains("code");
            if (code && code->is_int64() && code->get_int64() == 410) {
                out.gone = true;
                return out;
            }
            std::string message;
            out.ec = status_to_error(code && code->is_int64() ? static_cast<unsigned>(code->get_int64()) : 500, json::serialize(status), message);
            fill(std::move(message));
            return out;
        }
        auto l = decode_lease_object(object->get_object(), json::serialize(object->get_object()), nullptr);
        if (!l) {
            out.ec = error::malformed_response;
            return out;
        }
        if (!l->metadata.resource_version.empty()) set_resource_version(l->metadata.resource_version);
        if (t == "BOOKMARK") {
            out.bookmark = true;
        } else if (t == "ADDED") {
            out.event = watch_event{watch_event_type::added, std::move(*l)};
        } else if (t == "MODIFIED") {
            out.event = watch_event{watch_event_type::modified, std::move(*l)};
        } else if (t == "DELETED") {
            out.event = watch_event{watch_event_type::deleted, std::move(*l)};
        } else {
            out.ec = error::malformed_response;
        }
        return out;
    }

    mutable std::mutex rv_mutex_;
    std::string rv_;
    lease_client& leases_;
    std::string name_;
    diagnostics* diag_ = nullptr; // of the next() in progress (one at a time)
    lease_watch_options opts_;
    asio::strand<asio::any_io_executor> strand_;
    response_stream stream_;
};

} // namespace detail

lease_watch::lease_watch(lease_client& leases, std::string name, std::string resource_version, lease_watch_options opts)
    : impl_(std::make_shared<detail::lease_watch_impl>(leases, std::move(name), std::move(resource_version), opts)) {}

lease_watch::~lease_watch() {
    impl_->cancel();
}

std::string lease_watch::resource_version() const {
    return impl_->resource_version();
}

void lease_watch::cancel() {
    impl_->cancel();
}

void lease_watch::start_next(detail::lease_watch_impl* impl, diagnostics* diag,
                             boost::asio::any_completion_handler<void(error_code, watch_event)> h) {
    impl->start_next(diag, std::move(h));
}

} // namespace leaselocker
