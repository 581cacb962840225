#include <leaselocker/leader/lease_candidate.hpp>

#include "../detail/spawn.hpp"

#include <leaselocker/detail/status.hpp>
#include <leaselocker/lease/micro_time.hpp>
#include <leaselocker/transport/client.hpp>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <boost/json/value.hpp>

#include <atomic>
#include <stdexcept>

namespace leaselocker {

namespace asio = boost::asio;
namespace json = boost::json;

namespace detail {

namespace {

constexpr auto use_tuple = asio::as_tuple(asio::use_awaitable);

std::optional<micro_time> time_field(const json::object& spec, std::string_view key) {
    auto* v = spec.if_contains(key);
    if (!v || !v->is_string()) return std::nullopt;
    return parse_micro_time(v->get_string());
}

// The controller asks for an answer by a pingTime after the renewTime.
bool pinged(const json::object& candidate) {
    auto* spec = candidate.if_contains("spec");
    if (!spec || !spec->is_object()) return false;
    auto ping = time_field(spec->get_object(), "pingTime");
    auto renew = time_field(spec->get_object(), "renewTime");
    return ping && (!renew || *ping > *renew);
}

std::string metadata_field(const json::object& o, std::string_view key) {
    auto* meta = o.if_contains("metadata");
    auto* v = meta && meta->is_object() ? meta->get_object().if_contains(key) : nullptr;
    return v && v->is_string() ? std::string(v->get_string()) : std::string();
}

} // namespace

class candidate_impl : public std::enable_shared_from_this<candidate_impl> {
public:
    candidate_impl(client& api, candidate_config cfg)
        : api_(api), cfg_(std::move(cfg)), strand_(asio::make_strand(api.get_executor())) {
        if (cfg_.lease.namespace_name.empty()) cfg_.lease.namespace_name = api.config().default_namespace;
        collection_ = "/apis/coordination.k8s.io/v1beta1/namespaces/" + cfg_.lease.namespace_name + "/leasecandidates";
    }

    asio::any_io_executor strand() const { return strand_; }

    void start(asio::any_completion_handler<void(error_code)> h) {
        auto stop = spawn_for(strand_, run_op(shared_from_this()), std::move(h));
        asio::dispatch(strand_, [self = shared_from_this(), stop] {
            // Only the run() that runs (a second one ends at once with already_started).
            if (auto current = self->run_cancel_.lock(); !current || current->done) self->run_cancel_ = stop;
        });
    }

    void shutdown() {
        asio::dispatch(strand_, [self = shared_from_this()] {
            self->shut_down_ = true;
            if (auto stop = self->run_cancel_.lock(); stop && !stop->done) stop->signal.emit(asio::cancellation_type::terminal);
        });
    }

    std::size_t pings_answered() const { return pings_.load(); }

private:
    // What ended a watch: a ping; the renewal due; the candidate deleted or
    // the watch's version too old (both: put it in place afresh); a
    // failure (`ec`: reopened after retry_period unless permanent).
    enum class turn { pinged, due, gone, failed };
    struct watched {
        turn what;
        error_code ec;
    };

    static asio::awaitable<error_code> run_op(std::shared_ptr<candidate_impl> self) {
        co_await asio::this_coro::reset_cancellation_state(asio::enable_total_cancellation());
        co_await asio::this_coro::throw_if_cancelled(false);
        if (self->running_) co_return make_error_code(asio::error::already_started);
        self->running_ = true;
        auto result = co_await self->keep();
        if (self->cfg_.remove_on_exit) co_await self->remove();
        self->answering_ping_ = false;
        self->running_ = false;
        co_return result;
    }

    asio::awaitable<bool> stopping() const {
        co_return shut_down_ || (co_await asio::this_coro::cancellation_state).cancelled() != asio::cancellation_type::none;
    }

    // Put in place (fresh renewTime), then follow until a ping, a deletion,
    // the next renewal or a failure; again.
    asio::awaitable<error_code> keep() {
        for (;;) {
            if (co_await stopping()) co_return asio::error::operation_aborted;
            auto [ec, rv] = co_await refresh();
            if (co_await stopping()) co_return asio::error::operation_aborted;
            // Changed between our read and write (a ping), or created by
            // another run meanwhile: at once.
            if (ec == error::conflict || ec == error::already_exists) continue;
            if (ec == condition::permanent) co_return ec;
            if (ec) {
                co_await pause(cfg_.retry_period);
                continue;
            }
            if (std::exchange(answering_ping_, false)) ++pings_;
            const auto renew_at = std::chrono::steady_clock::now() + cfg_.renew_interval;
            for (;;) { // a broken watch is reopened from the last version until the renewal is due
                auto w = co_await follow(rv, renew_at);
                if (w.what == turn::pinged) answering_ping_ = true;
                if (w.what != turn::failed || co_await stopping()) break;
                if (w.ec == condition::permanent) co_return w.ec; // e.g. no watch permission: pings would go unseen
                co_await pause(cfg_.retry_period);
                if (std::chrono::steady_clock::now() >= renew_at) break;
            }
        }
    }

    // GET, then PUT the spec over it (or POST it if there is none), with
    // renewTime now. Completes with the version written.
    asio::awaitable<std::pair<error_code, std::string>> refresh() {
        // Requests are named before they are passed: GCC 12 destroys a
        // braced temporary passed to a coroutine twice.
        http_request read{.method = http_method::get, .target = collection_ + "/" + cfg_.identity};
        auto [gec, got] = co_await send(std::move(read), "reading");
        if (gec && gec != error::not_found) co_return std::pair{gec, std::string()};
        json::object o;
        if (!gec) {
            boost::system::error_code jec;
            auto v = json::parse(got, jec);
            if (jec || !v.is_object()) co_return std::pair{make_error_code(error::malformed_response), std::string()};
            o = std::move(v.get_object());
        } else {
            o["apiVersion"] = "coordination.k8s.io/v1beta1";
            o["kind"] = "LeaseCandidate";
            o["metadata"] = json::object{{"name", cfg_.identity}, {"namespace", cfg_.lease.namespace_name}};
        }
        auto& spec = o["spec"];
        if (!spec.is_object()) spec = json::object{};
        auto& s = spec.get_object();
        if (auto* lease = s.if_contains("leaseName"); lease && lease->is_string() && lease->get_string() != cfg_.lease.name) {
            cfg_.log(log_level::error, [&] {
                return "lease_candidate " + cfg_.identity + ": a LeaseCandidate of that name is for Lease " + std::string(lease->get_string()) +
                       ", not " + cfg_.lease.name + " (leaseName cannot change)";
            });
            co_return std::pair{make_error_code(error::invalid), std::string()};
        }
        s["leaseName"] = cfg_.lease.name;
        s["binaryVersion"] = cfg_.binary_version;
        if (cfg_.emulation_version.empty()) s.erase("emulationVersion");
        else s["emulationVersion"] = cfg_.emulation_version;
        s["strategy"] = cfg_.strategy;
        // After the ping, whatever our clock says: the controller compares
        // the two, and a clock behind the server's would answer too early.
        auto renew = std::chrono::time_point_cast<std::chrono::microseconds>(std::chrono::system_clock::now());
        if (auto ping = time_field(s, "pingTime"); ping && *ping >= renew) renew = *ping + std::chrono::microseconds(1);
        s["renewTime"] = format_micro_time(renew);
        const bool create = gec == error::not_found;
        http_request write{.method = create ? http_method::post : http_method::put,
                           .target = create ? collection_ : collection_ + "/" + cfg_.identity,
                           .body = json::serialize(o)};
        auto [wec, written] = co_await send(std::move(write), create ? "creating" : "renewing");
        if (wec) co_return std::pair{wec, std::string()};
        boost::system::error_code jec;
        auto v = json::parse(written, jec);
        if (jec || !v.is_object()) co_return std::pair{error_code{}, std::string()};
        written_uid_ = metadata_field(v.get_object(), "uid"); // ours to delete on exit
        co_return std::pair{error_code{}, metadata_field(v.get_object(), "resourceVersion")};
    }

    // Watches the candidate from `rv` (until `renew_at`: the server ends the
    // watch then) for a ping or a deletion.
    asio::awaitable<watched> follow(const std::string& rv, std::chrono::steady_clock::time_point renew_at) {
        const auto left = std::chrono::duration_cast<std::chrono::seconds>(renew_at - std::chrono::steady_clock::now());
        if (left.count() < 1) co_return watched{turn::due, {}};
        std::string target = collection_ + "?watch=true&fieldSelector=metadata.name%3D" + cfg_.identity +
                             "&timeoutSeconds=" + std::to_string(left.count());
        if (!rv.empty()) target += "&resourceVersion=" + rv;
        http_request watch{.method = http_method::get, .target = std::move(target)};
        auto [oec, stream] = co_await api_.open_stream(std::move(watch), use_tuple);
        if (oec) {
            note_failure("watching", oec, {});
            co_return watched{turn::failed, oec};
        }
        if (stream.status() == 410) co_return watched{turn::gone, {}}; // our version is too old: read afresh
        if (stream.status() < 200 || stream.status() >= 300) {
            std::string message;
            auto ec = status_to_error(stream.status(), stream.error_body(), message);
            note_failure("watching", ec, message);
            co_return watched{turn::failed, ec};
        }
        for (;;) {
            // The server ends the stream at timeoutSeconds; a quiet
            // connection past that plus a margin is a dead one.
            const auto idle = std::chrono::duration_cast<std::chrono::milliseconds>(renew_at - std::chrono::steady_clock::now()) +
                              std::chrono::seconds(15);
            auto [ec, line] = co_await stream.read_line(idle, use_tuple);
            if (ec == asio::error::eof) co_return watched{turn::due, {}}; // the server's timeout: time to renew
            if (ec) {
                if (ec != asio::error::operation_aborted) note_failure("watching", ec, {});
                co_return watched{turn::failed, ec};
            }
            boost::system::error_code jec;
            auto v = json::parse(line, jec);
            if (jec || !v.is_object()) continue;
            auto* type = v.get_object().if_contains("type");
            auto* object = v.get_object().if_contains("object");
            if (!type || !type->is_string() || !object || !object->is_object()) continue;
            // DELETED: created again; ERROR 410 (our version too old): read
            // afresh; any other ERROR: a failure, tried again after a pause.
            if (type->get_string() == "DELETED") co_return watched{turn::gone, {}};
            if (type->get_string() == "ERROR") {
                auto* code = object->get_object().if_contains("code");
                const auto status = code && code->is_int64() ? static_cast<unsigned>(code->get_int64()) : 500u;
                if (status == 410) co_return watched{turn::gone, {}};
                std::string message;
                const auto ec = status_to_error(status, json::serialize(*object), message); // a Status: classified as an answer
                note_failure("watching", ec, message);
                co_return watched{turn::failed, ec};
            }
            if ((type->get_string() == "MODIFIED" || type->get_string() == "ADDED") && pinged(object->get_object()))
                co_return watched{turn::pinged, {}};
        }
    }

    // Best effort, bounded, and not cancellable: run() is ending anyway.
    asio::awaitable<void> remove() {
        co_await asio::this_coro::reset_cancellation_state(asio::disable_cancellation());
        if (written_uid_.empty()) co_return; // never written by this run: not ours to delete
        json::object body{{"apiVersion", "v1"}, {"kind", "DeleteOptions"}, {"preconditions", json::object{{"uid", written_uid_}}}};
        http_request del{.method = http_method::delete_, .target = collection_ + "/" + cfg_.identity, .body = json::serialize(body),
                         .timeout = std::chrono::seconds(5)};
        co_await send(std::move(del), "deleting"); // 404 (gone already) and 409 (another's now) are not logged
        written_uid_.clear();
    }

    asio::awaitable<std::pair<error_code, std::string>> send(http_request req, const char* what) {
        auto [ec, resp] = co_await api_.request(std::move(req), use_tuple);
        std::string message;
        if (!ec && (resp.status < 200 || resp.status >= 300)) ec = status_to_error(resp.status, resp.body, message);
        if (ec && ec != error::not_found && ec != error::conflict) note_failure(what, ec, message);
        co_return std::pair{ec, std::move(resp.body)};
    }

    void note_failure(const char* what, error_code ec, const std::string& server_message) const {
        if (ec == asio::error::operation_aborted) return;
        cfg_.log(ec == condition::permanent ? log_level::error : log_level::warning, [&] {
            return "lease_candidate " + cfg_.lease.namespace_name + "/" + cfg_.identity + ": " + what + " failed: " + ec.message() +
                   (server_message.empty() ? "" : " (" + server_message + ")");
        });
    }

    asio::awaitable<void> pause(std::chrono::milliseconds d) {
        asio::steady_timer t(strand_, d);
        co_await t.async_wait(use_tuple);
    }

    client& api_;
    candidate_config cfg_;
    asio::strand<asio::any_io_executor> strand_;
    std::string collection_;
    std::weak_ptr<spawn_cancellation> run_cancel_;
    bool running_ = false;
    bool shut_down_ = false;
    bool answering_ping_ = false; // the next refresh answers a ping
    std::string written_uid_;     // of the LeaseCandidate this run wrote
    std::atomic<std::size_t> pings_{0};
};

} // namespace detail

lease_candidate_base::lease_candidate_base(client& api, candidate_config cfg) {
    cfg.lease = checked_lease_name(std::move(cfg.lease));
    if (cfg.identity.empty()) throw config_error(make_error_code(error::config_invalid), "lease_candidate: identity is required");
    if (cfg.binary_version.empty()) throw config_error(make_error_code(error::config_invalid), "lease_candidate: binary_version is required");
    impl_ = std::make_shared<detail::candidate_impl>(api, std::move(cfg));
}

asio::any_io_executor lease_candidate_base::strand() const noexcept {
    return impl_ ? impl_->strand() : asio::any_io_executor{};
}

lease_candidate_base::~lease_candidate_base() {
    if (impl_) impl_->shutdown();
}

std::size_t lease_candidate_base::pings_answered() const {
    return impl_ ? impl_->pings_answered() : 0; // moved from
}

void lease_candidate_base::start_run(detail::candidate_impl* impl, asio::any_completion_handler<void(error_code)> h) {
    if (!impl) throw std::logic_error("lease_candidate: used after being moved from");
    impl->start(std::move(h));
}

} // namespace leaselocker
