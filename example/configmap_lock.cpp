// A resource_lock of one's own: the lock kept in an annotation of a
// ConfigMap (as client-go's old ConfigMapLock kept it) instead of a Lease.
// lease_locker's waiting, renewing, loss signal and fencing tokens work over
// it unchanged; without a watch it polls every retry_period. Needs get,
// create and update on configmaps.
//
// Two lockers of one process take turns on the ConfigMap "configmap-lock".
// Kept simple: no fair turns (the queue is not stored), no coordinated
// leader election fields, and a cancelled request runs to its timeout.
#include <leaselocker/detail/status.hpp>
#include <leaselocker/leaselocker.hpp>

#include <boost/asio.hpp>
#include <boost/json.hpp>
#include <iostream>
#include <vector>

namespace asio = boost::asio;
namespace json = boost::json;
using namespace std::chrono_literals;
using leaselocker::error_code;
using leaselocker::lock_record;

class configmap_lock final : public leaselocker::resource_lock {
public:
    configmap_lock(leaselocker::client& api, std::string ns, std::string name, std::string identity)
        : api_(api), ns_(std::move(ns)), name_(std::move(name)), identity_(std::move(identity)) {}

    void record_event(std::string_view) override {}
    std::optional<lock_record> current() const override { return current_; }
    std::string identity() const override { return identity_; }
    std::string describe() const override { return ns_ + "/" + name_ + " (ConfigMap)"; }
    std::string epoch() const override { return uid_; }
    executor_type get_executor() const override { return api_.get_executor(); }

private:
    static constexpr const char* annotation = "control-plane.alpha.kubernetes.io/leader";
    using get_handler = asio::any_completion_handler<void(error_code, std::optional<lock_record>, std::string)>;
    using write_handler = asio::any_completion_handler<void(error_code)>;

    std::string path(bool collection = false) const {
        return "/api/v1/namespaces/" + ns_ + "/configmaps" + (collection ? "" : "/" + name_);
    }

    void do_get(leaselocker::request_options opts, get_handler h) override {
        send({.method = leaselocker::http_method::get, .target = path(), .timeout = opts.timeout, .diag = opts.diag}, std::move(h),
             [this](get_handler& h, error_code ec, const leaselocker::http_response& r) {
                 if (!ec && r.status == 404) forget();
                 std::move(h)(ec, current_, r.body);
             });
    }
    void do_create(lock_record r, leaselocker::request_options opts, write_handler h) override {
        json::object cm{{"apiVersion", "v1"}, {"kind", "ConfigMap"},
                        {"metadata", {{"name", name_}, {"annotations", {{annotation, encode(r)}}}}}};
        write(leaselocker::http_method::post, path(true), cm, opts, std::move(h));
    }
    void do_update(lock_record r, leaselocker::request_options opts, write_handler h) override {
        if (!object_) return asio::post(get_executor(), asio::append(std::move(h), make_error_code(leaselocker::error::conflict)));
        json::object cm = *object_; // its resourceVersion guards the write: a conflict if it changed
        auto& meta = cm["metadata"].as_object();
        if (!meta.contains("annotations") || !meta["annotations"].is_object()) meta["annotations"] = json::object{};
        meta["annotations"].as_object()[annotation] = encode(r);
        write(leaselocker::http_method::put, path(), cm, opts, std::move(h));
    }

    void write(leaselocker::http_method m, std::string target, const json::object& body, leaselocker::request_options opts, write_handler h) {
        send({.method = m, .target = std::move(target), .body = json::serialize(body), .timeout = opts.timeout, .diag = opts.diag},
             std::move(h), [](write_handler& h, error_code ec, const leaselocker::http_response&) { std::move(h)(ec); });
    }

    // One request; a non-2xx answer becomes the error its Status says
    // (404 excepted: "no such object" for a read), a 2xx one the object we
    // know. Our state changes on the locker's strand (the handler's executor).
    template <class Handler, class Done>
    void send(leaselocker::http_request req, Handler h, Done done) {
        auto ex = asio::get_associated_executor(h, get_executor());
        auto* diag = req.diag;
        const bool read = req.method == leaselocker::http_method::get;
        const bool replace = req.method == leaselocker::http_method::put;
        api_.request(std::move(req), asio::bind_executor(ex, [this, diag, read, replace, h = std::move(h), done](error_code ec, leaselocker::http_response r) mutable {
            if (!ec && replace && r.status == 404) { // deleted since we read it: read again, create it anew
                forget();
                ec = make_error_code(leaselocker::error::conflict);
            } else if (!ec && r.status / 100 != 2 && !(read && r.status == 404)) {
                std::string server_message;
                ec = leaselocker::detail::status_to_error(r.status, r.body, server_message);
                if (diag) diag->server_message = server_message;
            }
            if (!ec && r.status / 100 == 2 && !remember(r.body)) ec = make_error_code(leaselocker::error::malformed_response);
            done(h, ec, r);
        }));
    }

    // A ConfigMap as the server sent it; false (nothing changed) for a body
    // that is not one.
    bool remember(const std::string& body) {
        json::error_code ec;
        auto v = json::parse(body, ec);
        const auto* meta = !ec && v.is_object() ? v.as_object().if_contains("metadata") : nullptr;
        const auto* uid = meta && meta->is_object() ? meta->as_object().if_contains("uid") : nullptr;
        if (!uid || !uid->is_string()) return false;
        lock_record record; // no annotation: free
        if (auto* a = meta->as_object().if_contains("annotations"); a && a->is_object())
            if (auto* rec = a->as_object().if_contains(annotation); rec && rec->is_string()) record = decode(std::string(rec->as_string()));
        uid_ = std::string(uid->as_string());
        current_ = record;
        object_ = std::move(v.as_object());
        return true;
    }
    void forget() {
        object_.reset();
        current_.reset();
    }

    static std::string encode(const lock_record& r) {
        return json::serialize(json::object{{"holderIdentity", r.holder_identity},
                                            {"leaseDurationSeconds", r.lease_duration_seconds},
                                            {"acquireTime", leaselocker::format_micro_time(r.acquire_time)},
                                            {"renewTime", leaselocker::format_micro_time(r.renew_time)},
                                            {"leaderTransitions", r.lease_transitions}});
    }
    static lock_record decode(const std::string& text) {
        lock_record r;
        json::error_code ec;
        auto v = json::parse(text, ec);
        if (ec || !v.is_object()) return r; // unreadable: free
        auto& o = v.as_object();
        auto str = [&](const char* k) { auto* p = o.if_contains(k); return p && p->is_string() ? std::string(p->as_string()) : std::string(); };
        auto num = [&](const char* k) { auto* p = o.if_contains(k); return p && p->is_int64() ? static_cast<std::int32_t>(p->as_int64()) : 0; };
        r.holder_identity = str("holderIdentity");
        r.lease_duration_seconds = num("leaseDurationSeconds");
        r.acquire_time = leaselocker::parse_micro_time(str("acquireTime")).value_or(leaselocker::micro_time{});
        r.renew_time = leaselocker::parse_micro_time(str("renewTime")).value_or(leaselocker::micro_time{});
        r.lease_transitions = num("leaderTransitions");
        return r;
    }

    leaselocker::client& api_;
    std::string ns_, name_, identity_;
    std::optional<json::object> object_; // as last read or written
    std::optional<lock_record> current_;
    std::string uid_;
};

asio::awaitable<void> take_turn(leaselocker::lease_locker& locker, const char* who, std::vector<std::int64_t>& tokens) {
    co_await locker.lock(asio::use_awaitable);
    tokens.push_back(locker.current_fencing_token().sequence);
    std::cout << who << " holds it, fencing token " << tokens.back() << std::endl;
    asio::steady_timer work{co_await asio::this_coro::executor, 1s};
    co_await work.async_wait(asio::use_awaitable);
    co_await locker.unlock(asio::use_awaitable);
    std::cout << who << " released it" << std::endl;
}

int main() try {
    asio::io_context io;
    leaselocker::client api{io.get_executor(), leaselocker::load_default()};
    const auto ns = api.config().default_namespace;
    const leaselocker::lock_config timing{.lease_duration = 3s, .renew_deadline = 2s, .retry_period = 500ms};
    leaselocker::lease_locker first{std::make_unique<configmap_lock>(api, ns, "configmap-lock", "first"), timing};
    leaselocker::lease_locker second{std::make_unique<configmap_lock>(api, ns, "configmap-lock", "second"), timing};
    int status = 0;
    auto report = [&](std::exception_ptr e) {
        try {
            if (e) std::rethrow_exception(e);
        } catch (const std::exception& failure) {
            std::cerr << "configmap_lock: " << failure.what() << "\n";
            status = 1;
        }
    };
    std::vector<std::int64_t> tokens;
    asio::co_spawn(io, take_turn(first, "first", tokens), report);
    asio::co_spawn(io, [&]() -> asio::awaitable<void> { // after the first has it: waits for its turn
        asio::steady_timer later{io, 200ms};
        co_await later.async_wait(asio::use_awaitable);
        co_await take_turn(second, "second", tokens);
    }, report);
    io.run();
    const bool increasing = tokens.size() == 2 && tokens[1] > tokens[0];
    std::cout << "2 turns: " << (increasing ? "tokens increase" : "WRONG") << std::endl;
    return status || !increasing ? 1 : 0;
} catch (const std::exception& e) {
    std::cerr << "configmap_lock: " << e.what() << "\n";
    return 1;
}
