// A process of the chaos suite (run_chaos.py starts many).
//
//   leaselocker_chaos_contender contend --kubeconfig K --lease L --id ID --events F --store S
//                               [--lease-ms 2000 --renew-ms 1500 --retry-ms 250 --clock-rate 1
//                                --writes 2 --work-ms 20 --long-hold-percent 2 --rest-ms 20 --seconds 600
//                                --fair 0|1 --yield-every 0 --yield-window-ms 0]
//       Takes turns on lease L: lock; write its fencing token to the
//       protected store S at once (fencing the store in); then per write:
//       ask the locker whether the lock is still valid and until when (a
//       "check"), work, write the token; log "unlocking", unlock; again.
//       Now and then (--long-hold-percent) it holds for 0.3-1 s, so that
//       renewals happen while holding. Between turns it rests up to
//       --rest-ms. Until SIGTERM or --seconds. SIGUSR1
//       arms a stop for 6 s: holding on (at most two leases) until a check
//       shows a renewed validity, the process logs "stopping" and stops
//       itself (SIGSTOP) between that check and its write; the
//       orchestrator continues it. SIGUSR2 makes the current (or next) hold
//       last two leases more, announced by a "holding" event: strikes at
//       the holder then find one. While holding, every change of
//       valid_until() (a renewal) is logged as a "promise" event.
//   leaselocker_chaos_contender elect ... (the same flags as contend)
//       The same turns as a leader_elector (recampaign on): on_started_leading
//       logs the grant and runs the same hold (fence, check, work, write) as
//       the leader's work, which then ends by itself ("unlocking"): the
//       elector steps down and releases, run() completes ("release"), and
//       after a rest it runs again. A loss cancels the work (no write after
//       it); on_stopped_leading logs "stopped" (the checker's elector rule).
//   leaselocker_chaos_contender record --kubeconfig K --lease L --events F [--seconds 600] [--store-configmap S]
//       Watches lease L and appends every version it sees; with
//       --store-configmap also every version of ConfigMap S (the guarded
//       store: its stamp, its writer and when that write was sent).
//   leaselocker_chaos_contender fence --kubeconfig K --lease L --store S
//       (An administrator's kubeconfig.) Lets the lease user write
//       ConfigMaps, creates ConfigMap S, installs the admission fence of
//       lease L on it (fencing/admission_fence.hpp) and returns once the
//       API server enforces it.
//
// Every event is one JSON line appended to F, stamped with CLOCK_MONOTONIC
// (steady_clock), which all processes on the host share (history.hpp).
//
// The store is a file (--store-kind file, the default): "<epoch> <sequence>"
// of the newest token accepted. A write is accepted only with the same
// epoch and a sequence not below the stored one, decided under flock(2),
// and stamped inside it: the stamps are the store's order.
// Or (--store-kind configmap) ConfigMap S, guarded by the admission fence:
// each write is an unconditional PUT stamped with the holder's identity and
// token (fence_annotations); the API server admits it only while the Lease
// names that holder and token. Its order is the server's (resourceVersion):
// the recorder's versions of S and of the Lease, judged by the checker. A
// write refused while the contender still holds is tried again a few times
// (the server's copy of the Lease may not have the grant yet), each
// attempt logged.
#include <leaselocker/leaselocker.hpp>

#include <boost/asio.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/json.hpp>

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstdlib>

#include <chrono>
#include <cstdio>
#include <iostream>
#include <map>
#include <random>
#include <string>

namespace asio = boost::asio;
namespace json = boost::json;
using namespace leaselocker;
using namespace std::chrono_literals;
using steady = std::chrono::steady_clock;
constexpr auto use_tuple = asio::as_tuple(asio::use_awaitable);

namespace {

std::int64_t ns(steady::time_point t) {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(t.time_since_epoch()).count();
}

std::string quoted(std::string_view s) {
    std::string out = "\"";
    for (char c : s) {
        if (c == '"' || c == '\\') out += '\\';
        if (static_cast<unsigned char>(c) >= 0x20) out += c;
    }
    return out + "\"";
}

// Appends whole lines with one write(2) each: a kill loses at most the line
// being written.
class event_log {
public:
    event_log(const std::string& path, std::string process) : fd_(::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644)), process_(std::move(process)) {
        if (fd_ < 0) throw std::runtime_error("cannot open " + path);
    }
    ~event_log() { ::close(fd_); }
    void operator()(std::string_view kind, const std::string& fields = {}, steady::time_point t = steady::now()) const {
        std::string line = "{\"t\":" + std::to_string(ns(t)) + ",\"p\":" + quoted(process_) + ",\"e\":" + quoted(kind);
        if (!fields.empty()) line += "," + fields;
        line += "}\n";
        [[maybe_unused]] auto n = ::write(fd_, line.data(), line.size());
    }

private:
    int fd_;
    std::string process_;
};

struct store_result {
    bool written = true; // false: cancelled before it was decided (a leader's stopped work)
    bool accepted = false;
    steady::time_point at;
};

asio::awaitable<void> sleep_for(steady::duration d) {
    asio::steady_timer t(co_await asio::this_coro::executor, d);
    co_await t.async_wait(use_tuple);
}

// The write is decided, and stamped, under the store's flock: the stamps
// are the store's order. The lock is tried without blocking, so that a
// process stopped while it holds it does not freeze the others' renewals.
asio::awaitable<store_result> write_store(const std::string& path, const fencing_token& token) {
    int fd = ::open(path.c_str(), O_RDWR | O_CREAT, 0644);
    if (fd < 0) throw std::runtime_error("cannot open the store " + path);
    // Asio's signal handling installs handlers without SA_RESTART: a signal
    // interrupts flock. Any other failure would make the store's order a lie.
    while (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
        if (errno == EWOULDBLOCK) {
            co_await sleep_for(std::chrono::microseconds(500));
        } else if (errno != EINTR) {
            std::perror("flock");
            std::abort();
        }
    }
    store_result r;
    // A stopped leader's work writes nothing more (a locker's turn is
    // never cancelled: its coroutine has no cancellation slot).
    if ((co_await asio::this_coro::cancellation_state).cancelled() != asio::cancellation_type::none) {
        ::flock(fd, LOCK_UN);
        ::close(fd);
        r.written = false;
        co_return r;
    }
    r.at = steady::now();
    char buf[512] = {};
    const auto n = ::pread(fd, buf, sizeof buf - 1, 0);
    std::string stored_epoch;
    long long stored_seq = -1;
    if (n > 0) {
        char epoch[256] = {};
        if (std::sscanf(buf, "%255s %lld", epoch, &stored_seq) == 2) stored_epoch = epoch;
    }
    r.accepted = stored_epoch.empty() || (stored_epoch == token.epoch && token.sequence >= stored_seq);
    if (r.accepted) {
        // One fixed-size write, no truncation: a kill cannot leave it empty.
        auto text = token.epoch + " " + std::to_string(token.sequence);
        text.resize(300, ' ');
        text += "\n";
        [[maybe_unused]] auto w = ::pwrite(fd, text.data(), text.size(), 0);
    }
    ::flock(fd, LOCK_UN);
    ::close(fd);
    co_return r;
}

std::string token_fields(const fencing_token& t) {
    return "\"seq\":" + std::to_string(t.sequence) + ",\"epoch\":" + quoted(t.epoch);
}

// The guarded ConfigMap: the label the fence selects it by.
constexpr const char* store_label = "leaselocker-chaos-store";

struct configmap_store {
    std::string ns, name, lease, identity;
    std::string path() const { return "/api/v1/namespaces/" + ns + "/configmaps/" + name; }
};

struct api_write {
    steady::time_point sent;
    error_code ec; // success: admitted; error::fenced_out: refused by the fence; else the outcome is unknown
    std::string why;
};

// One unconditional PUT of the store, stamped for `token`; `sent` (in its
// data) names the write in the recorder's versions.
asio::awaitable<api_write> write_configmap(client& api, const configmap_store& s, const fencing_token& token, std::chrono::milliseconds timeout) {
    json::object annotations;
    for (const auto& [k, v] : fence_annotations(token, s.identity)) annotations[k] = v;
    api_write w{.sent = steady::now()};
    json::object meta{{"name", s.name}, {"labels", json::object{{store_label, s.lease}}}, {"annotations", std::move(annotations)}};
    json::object data{{"writer", s.identity}, {"sent", std::to_string(ns(w.sent))}};
    json::object cm{{"apiVersion", "v1"}, {"kind", "ConfigMap"}, {"metadata", std::move(meta)}, {"data", std::move(data)}};
    http_request req{.method = http_method::put, .target = s.path(), .body = json::serialize(cm), .timeout = timeout};
    diagnostics diag;
    req.diag = &diag;
    auto [ec, response] = co_await api.request(std::move(req), use_tuple);
    w.ec = ec ? ec : fence_write_result(response, &diag);
    if (w.ec) w.why = w.ec.message() + (diag.server_message.empty() ? "" : ": " + diag.server_message);
    co_return w;
}

// Every version of the store ConfigMap: its stamp, writer and the write's
// send time. The watch is opened again where it left off; when the server
// has forgotten that version (410), from now, logged as a "store_gap".
asio::awaitable<void> record_store(client& api, std::string name, const event_log& log, const bool& stopping,
                                   asio::cancellation_signal& stop) {
    std::string rv;
    auto text = [](const json::object& o, const char* key) {
        auto* f = o.if_contains(key);
        return f && f->is_string() ? std::string(f->get_string()) : std::string();
    };
    while (!stopping) {
        std::string target = "/api/v1/namespaces/" + api.config().default_namespace +
                             "/configmaps?watch=true&allowWatchBookmarks=true&fieldSelector=metadata.name%3D" + name;
        if (!rv.empty()) target += "&resourceVersion=" + rv;
        http_request req{.target = std::move(target)};
        auto [ec, stream] = co_await api.open_stream(std::move(req), asio::bind_cancellation_slot(stop.slot(), use_tuple));
        const bool forgotten = !ec && stream.status() == 410;
        while (!ec && stream.status() == 200) {
            auto [lec, line] = co_await stream.read_line(std::chrono::seconds(30), asio::bind_cancellation_slot(stop.slot(), use_tuple));
            if (lec) break;
            boost::system::error_code jec;
            auto v = json::parse(line, jec);
            if (jec || !v.is_object()) continue;
            const auto& ev = v.get_object();
            const auto type = text(ev, "type");
            const auto* obj = ev.if_contains("object");
            if (!obj || !obj->is_object()) continue;
            if (type == "ERROR") { // 410: the version we asked from is gone; else open again from it
                const auto* code = obj->get_object().if_contains("code");
                if (code && code->is_int64() && code->get_int64() == 410) {
                    rv.clear();
                    log("store_gap");
                }
                break;
            }
            const auto& o = obj->get_object();
            const auto* meta = o.if_contains("metadata");
            if (!meta || !meta->is_object()) continue;
            if (type == "BOOKMARK") rv = text(meta->get_object(), "resourceVersion");
            if (type != "ADDED" && type != "MODIFIED") continue;
            rv = text(meta->get_object(), "resourceVersion");
            json::object none;
            const auto* ann = meta->get_object().if_contains("annotations");
            const auto* data = o.if_contains("data");
            const auto& a = ann && ann->is_object() ? ann->get_object() : none;
            const auto& d = data && data->is_object() ? data->get_object() : none;
            const auto token = text(a, fence_token_annotation);
            const bool numeric = !token.empty() && token.find_first_not_of("0123456789") == std::string::npos;
            const auto sent = text(d, "sent");
            log("store_version", "\"holder\":" + quoted(text(a, fence_holder_annotation)) + ",\"seq\":" + (numeric ? token : "-1") +
                                     ",\"epoch\":" + quoted(text(a, fence_epoch_annotation)) + ",\"writer\":" + quoted(text(d, "writer")) +
                                     ",\"sent\":" + (sent.empty() ? "0" : sent) + ",\"rv\":" + quoted(rv));
        }
        if (forgotten) {
            rv.clear();
            log("store_gap");
        }
        if (stopping) break;
        co_await sleep_for(std::chrono::milliseconds(200));
    }
}

asio::awaitable<http_response> send(client& api, http_method method, std::string target, std::string body) {
    http_request req{.method = method, .target = std::move(target), .body = std::move(body)};
    auto [ec, response] = co_await api.request(std::move(req), use_tuple);
    if (ec) throw std::runtime_error(ec.message());
    co_return response;
}

// The administrator's part: the lease user may write ConfigMaps, the store
// exists (made before the fence, unstamped), the fence guards it. Returns
// once an unstamped write is refused (the server enforces the fence).
asio::awaitable<void> install_store_fence(client& api, std::string lease, std::string store, std::string writer_user) {
    const auto ns_name = api.config().default_namespace;
    const auto rbac = "/apis/rbac.authorization.k8s.io/v1/namespaces/" + ns_name;
    json::object role{{"metadata", json::object{{"name", "chaos-store-writer"}}},
                      {"rules", json::array{json::object{{"apiGroups", json::array{""}},
                                                         {"resources", json::array{"configmaps"}},
                                                         {"verbs", json::array{"get", "list", "watch", "create", "update"}}}}}};
    json::object binding{{"metadata", json::object{{"name", "chaos-store-writer"}}},
                         {"roleRef", json::object{{"apiGroup", "rbac.authorization.k8s.io"}, {"kind", "Role"}, {"name", "chaos-store-writer"}}},
                         {"subjects", json::array{json::object{{"kind", "User"}, {"name", writer_user}, {"apiGroup", "rbac.authorization.k8s.io"}}}}};
    json::object cm{{"apiVersion", "v1"},
                    {"kind", "ConfigMap"},
                    {"metadata", json::object{{"name", store}, {"labels", json::object{{store_label, lease}}}}},
                    {"data", json::object{{"writer", "init"}}}};
    const std::vector<std::pair<std::string, std::string>> creates{{rbac + "/roles", json::serialize(role)},
                                                                    {rbac + "/rolebindings", json::serialize(binding)},
                                                                    {"/api/v1/namespaces/" + ns_name + "/configmaps", json::serialize(cm)}};
    for (const auto& [target, body] : creates) {
        auto response = co_await send(api, http_method::post, target, body);
        if (response.status != 201 && response.status != 409)
            throw std::runtime_error("POST " + target + ": " + std::to_string(response.status) + " " + response.body);
    }
    fence_config fence{.lease = {"", lease}, .resources = {{"", "configmaps"}}, .match_labels = {{store_label, lease}}};
    co_await install_fence(api, fence, asio::use_awaitable);
    for (int i = 0; i < 300; ++i) {
        cm["data"] = json::object{{"writer", "probe"}};
        auto response = co_await send(api, http_method::put, "/api/v1/namespaces/" + ns_name + "/configmaps/" + store + "?dryRun=All", json::serialize(cm));
        if (fence_write_result(response) == error::fenced_out) {
            std::cout << "the fence of lease " << lease << " guards ConfigMap " << store << " (in force after " << i * 100 << " ms)" << std::endl;
            co_return;
        }
        co_await sleep_for(std::chrono::milliseconds(100));
    }
    throw std::runtime_error("the fence was not in force 30 s after it was installed");
}

} // namespace

int main(int argc, char** argv) {
    if (argc < 2) {
        std::cerr << "usage: " << argv[0] << " contend|record --kubeconfig K --lease L --events F ...\n";
        return 2;
    }
    const std::string mode = argv[1];
    std::map<std::string, std::string> args{{"--lease-ms", "2000"}, {"--renew-ms", "1500"}, {"--retry-ms", "250"},
                                            {"--clock-rate", "1"},  {"--writes", "2"},      {"--work-ms", "20"},
                                            {"--seconds", "600"},   {"--id", "recorder"},   {"--long-hold-percent", "2"},
                                            {"--rest-ms", "20"},     {"--fair", "0"},        {"--yield-every", "0"},
                                            {"--yield-window-ms", "0"}, {"--store-kind", "file"}};
    for (int i = 2; i + 1 < argc; i += 2) args[argv[i]] = argv[i + 1];
    const std::string id = args["--id"];
    event_log log(args.at("--events"), id);
    const auto deadline = steady::now() + std::chrono::seconds(std::stoi(args["--seconds"]));

    asio::io_context io;
    client api{io.get_executor(), load_kubeconfig(args.at("--kubeconfig"), mode == "fence" ? "admin" : "lease")};
    bool stopping = false;
    asio::cancellation_signal stop, stop_store; // a slot holds one handler: the recorder's two watches get one each
    auto stop_all = [&] {
        stopping = true;
        stop.emit(asio::cancellation_type::terminal);
        stop_store.emit(asio::cancellation_type::terminal);
    };
    asio::signal_set signals(io, SIGTERM, SIGINT);
    signals.async_wait([&](error_code ec, int) {
        if (!ec) stop_all();
    });
    asio::steady_timer limit(io, deadline);
    limit.async_wait([&](error_code ec) {
        if (!ec) stop_all();
    });
    std::function<void()> on_finish;
    auto finish = [&] {
        signals.cancel();
        limit.cancel();
        api.cancel();
        if (on_finish) on_finish();
    };

    if (mode != "record" && mode != "contend" && mode != "elect" && mode != "fence") {
        std::cerr << "unknown mode " << mode << " (contend, elect, record or fence)\n";
        return 2;
    }
    if (mode == "fence") {
        int status = 0;
        asio::co_spawn(io, install_store_fence(api, args.at("--lease"), args.at("--store"), args.count("--writer-user") ? args["--writer-user"] : "lease-user"),
                       [&](std::exception_ptr e) {
                           if (e) {
                               status = 1;
                               try {
                                   std::rethrow_exception(e);
                               } catch (const std::exception& x) {
                                   std::cerr << "fence: " << x.what() << "\n";
                               }
                           }
                           finish();
                       });
        io.run();
        return status;
    }
    if (mode == "record") {
        lease_client leases{api};
        int watching = 1;
        auto watch_ended = [&] {
            if (--watching == 0) finish();
        };
        if (args.count("--store-configmap")) {
            ++watching;
            asio::co_spawn(io, record_store(api, args["--store-configmap"], log, stopping, stop_store), [&](std::exception_ptr e) {
                if (e) {
                    try {
                        std::rethrow_exception(e);
                    } catch (const std::exception& x) {
                        log("store_gap", "\"why\":" + quoted(x.what())); // the store's watch ended early
                    }
                }
                watch_ended();
            });
        }
        asio::co_spawn(io, [&]() -> asio::awaitable<void> {
            std::string rv;
            while (!stopping) {
                lease_watch watch{leases, args.at("--lease"), rv};
                for (;;) {
                    auto [ec, ev] = co_await watch.next(asio::bind_cancellation_slot(stop.slot(), use_tuple));
                    if (ec) break;
                    if (ev.relisted) log("gap");
                    rv = watch.resource_version();
                    const auto& spec = ev.object.spec;
                    log("version", "\"holder\":" + quoted(spec.holder_identity.value_or("")) +
                                       ",\"seq\":" + std::to_string(spec.lease_transitions.value_or(-1)) +
                                       ",\"epoch\":" + quoted(ev.object.metadata.uid) +
                                       ",\"rv\":" + quoted(ev.object.metadata.resource_version));
                }
                if (stopping) break;
                log("gap"); // the watch failed: re-opened from the last version, or re-listed
                co_await sleep_for(200ms);
            }
            watch_ended();
        }, asio::detached);
        io.run();
        return 0;
    }

    lock_config cfg{.lease_duration = std::chrono::milliseconds(std::stoi(args["--lease-ms"])),
                    .renew_deadline = std::chrono::milliseconds(std::stoi(args["--renew-ms"])),
                    .retry_period = std::chrono::milliseconds(std::stoi(args["--retry-ms"])),
                    .unlock_retry_period = 2s,
                    .identity = id};
    cfg.clock_rate = std::stod(args["--clock-rate"]);
    cfg.fair_turns = args["--fair"] == "1";
    cfg.yield_every = std::stoi(args["--yield-every"]);
    cfg.yield_window = std::chrono::milliseconds(std::stoi(args["--yield-window-ms"]));
    fencing_token held_token;
    cfg.on_lost = [&](error_code ec) { log("lost", "\"seq\":" + std::to_string(held_token.sequence) + ",\"why\":" + quoted(ec.message())); };
    const bool electing = mode == "elect";
    // One of the two drives the turns; `valid_until` and `held` ask it.
    std::optional<lease_locker> locker;
    std::optional<leader_elector> elector;
    std::function<steady::time_point()> valid_until;
    std::function<bool()> held;
    std::function<fencing_token()> token_now;
    if (electing) { // made below, once its hooks exist
        valid_until = [&] { return elector->valid_until(); };
        held = [&] { return elector->is_leader(); };
        token_now = [&] { return elector->current_fencing_token(); };
    } else {
        locker.emplace(api, lease_name{"", args.at("--lease")}, cfg);
        valid_until = [&] { return locker->valid_until(); };
        held = [&] { return locker->held(); };
        token_now = [&] { return locker->current_fencing_token(); };
    }
    const int writes = std::stoi(args["--writes"]);
    const auto work = std::chrono::milliseconds(std::stoi(args["--work-ms"]));
    log("start", "\"identity\":" + quoted(id) + ",\"clock_rate\":" + args["--clock-rate"] + ",\"impl\":\"leaselocker\"" +
                     (electing ? ",\"role\":\"elector\"" : ""));

    // SIGUSR1 (from the orchestrator) arms a stop between a check and its
    // write, for a while: an arm that finds no hold must not stop the
    // process later, when nobody waits to continue it.
    // SIGUSR2 asks for a long hold (for strikes that need a holder).
    steady::time_point armed_until{}, hold_asked_until{};
    auto armed = [&] { return steady::now() < armed_until; };
    asio::signal_set arm(io, SIGUSR1, SIGUSR2);
    std::function<void()> wait_arm = [&] {
        arm.async_wait([&](error_code ec, int sig) {
            if (ec) return;
            (sig == SIGUSR1 ? armed_until : hold_asked_until) = steady::now() + 6s;
            wait_arm();
        });
    };
    wait_arm();
    const int long_hold_percent = std::stoi(args["--long-hold-percent"]);

    // While holding, a renewal moves valid_until() on between checks: logged
    // as a "promise", so that a claim reaches what the library promised even
    // if the process is stopped or killed before its next check.
    steady::time_point promised{};
    asio::steady_timer promise_watch(io);
    std::function<void()> watch_promise = [&] {
        promise_watch.expires_after(5ms);
        promise_watch.async_wait([&](error_code ec) {
            if (ec || stopping) return;
            // Only for the grant the hold is about: an elector campaigning
            // again may hold a new one before its hook has run.
            if (promised != steady::time_point{} && held() && token_now() == held_token) {
                const auto now_until = valid_until();
                if (now_until > promised) {
                    promised = now_until;
                    log("promise", "\"seq\":" + std::to_string(held_token.sequence) + ",\"valid_until\":" + std::to_string(ns(now_until)));
                }
            }
            watch_promise();
        });
    };
    watch_promise();
    on_finish = [&] {
        arm.cancel();
        promise_watch.cancel();
    };

    // Writes the held token to the store and logs it; false if a leader's
    // work was stopped meanwhile (nothing more is written then).
    const bool configmap = args["--store-kind"] == "configmap";
    const configmap_store store{api.config().default_namespace, args.at("--store"), args.at("--lease"), id};
    auto store_write = [&]() -> asio::awaitable<bool> {
        if (!configmap) {
            const auto w = co_await write_store(args.at("--store"), held_token);
            if (!w.written) co_return false;
            log("write", token_fields(held_token) + ",\"accepted\":" + (w.accepted ? "true" : "false"), w.at);
            co_return true;
        }
        for (int attempt = 0; attempt < 100; ++attempt) {
            // Tried again only while the grant is ours and its work goes on
            // (a leader's loss cancels it, maybe during the pause).
            const auto cs = co_await asio::this_coro::cancellation_state;
            if (attempt > 0 && (!held() || token_now() != held_token || steady::now() >= valid_until() ||
                                cs.cancelled() != asio::cancellation_type::none))
                co_return cs.cancelled() == asio::cancellation_type::none;
            // Sent whatever the validity left (no fence_write_timeout): a
            // holder stopped between its check and its write sends it after
            // a successor's grant, and the API server must refuse it.
            const auto w = co_await write_configmap(api, store, held_token, 5s);
            const auto fields = token_fields(held_token) + ",\"sent\":" + std::to_string(ns(w.sent));
            if (!w.ec || w.ec == error::fenced_out)
                log("write", fields + ",\"accepted\":" + (w.ec ? "false" : "true"));
            else
                log("write_failed", fields + ",\"why\":" + quoted(w.why));
            if (w.ec == asio::error::operation_aborted) co_return false;
            if (w.ec != error::fenced_out) co_return true;
            // Refused though maybe still ours: the server's copy of the
            // Lease may not have this grant yet. Again, briefly.
            co_await sleep_for(5ms);
        }
        co_return true;
    };

    std::minstd_rand rng(std::random_device{}());
    // A turn as holder: fence the store in, then rounds of check, work,
    // write; "unlocking" at the end. A leader's work ends (without its
    // write) when its cancellation comes; a locker's turn has none.
    auto hold = [&](steady::time_point granted_until) -> asio::awaitable<void> {
        // Cancellation is looked at, not thrown: the hold ends as it always does.
        co_await asio::this_coro::throw_if_cancelled(false);
        log("acquire_ok", token_fields(held_token) + ",\"valid_until\":" + std::to_string(ns(granted_until)));
        promised = granted_until;
        auto cancelled = [&]() -> asio::awaitable<bool> {
            co_return (co_await asio::this_coro::cancellation_state).cancelled() != asio::cancellation_type::none;
        };
        // Fence the store in at once: from now on it refuses older
        // tokens. Only while valid: stopped between the grant and here,
        // the grant may be someone else's by now.
        if (steady::now() < granted_until) co_await store_write();
        const auto per_round = std::max<long>(work.count(), 1);
        const int rounds = static_cast<int>(rng() % 100) < long_hold_percent ? static_cast<int>((300 + rng() % 700) / per_round) : writes;
        const int armed_rounds = static_cast<int>(2 * std::stol(args["--lease-ms"]) / per_round);
        steady::time_point hold_until{};
        for (int i = 0; (i < rounds || (armed() && i < armed_rounds) || steady::now() < hold_until || steady::now() < hold_asked_until) &&
                        !stopping;
             ++i) {
            if (steady::now() < hold_asked_until) { // asked for a long hold: from now on
                hold_asked_until = {};
                hold_until = steady::now() + 2 * std::chrono::milliseconds(std::stol(args["--lease-ms"]));
                log("holding", "\"seq\":" + std::to_string(held_token.sequence));
            }
            // The pattern fencing exists for: ask, work, write. A pause
            // in between makes the write stale; the store must refuse it.
            const auto checked_at = steady::now();
            const auto until = valid_until();
            if (!held() || checked_at >= until || co_await cancelled()) break;
            log("check", "\"seq\":" + std::to_string(held_token.sequence) + ",\"valid_until\":" + std::to_string(ns(until)), checked_at);
            if (armed() && until > granted_until) { // renewed since the grant
                armed_until = {};
                log("stopping", "\"seq\":" + std::to_string(held_token.sequence));
                ::raise(SIGSTOP); // until the orchestrator continues us
            }
            co_await sleep_for(work);
            if (co_await cancelled()) break;
            if (!co_await store_write()) break; // a leader's work stopped while waiting for the store
        }
        promised = {};
        log("unlocking", "\"seq\":" + std::to_string(held_token.sequence));
    };
    auto rest = [&]() -> asio::awaitable<void> { co_await sleep_for(std::chrono::milliseconds(rng() % (std::stoi(args["--rest-ms"]) + 1))); };

    if (electing) {
        // The term's work: the hold, ended by itself (the elector then
        // steps down and releases) or by its cancellation (a loss).
        elector_config ecfg;
        ecfg.lock = cfg;
        ecfg.on_started_leading = [&](leadership l, asio::any_completion_handler<void(std::exception_ptr)> done) {
            held_token = l.token;
            asio::co_spawn(l.executor, hold(elector->valid_until()), std::move(done));
        };
        ecfg.on_stopped_leading = [&] {
            promised = {};
            log("stopped", "\"seq\":" + std::to_string(held_token.sequence));
        };
        elector.emplace(api, lease_name{"", args.at("--lease")}, std::move(ecfg));
        asio::co_spawn(io, [&]() -> asio::awaitable<void> {
            while (!stopping) {
                log("want");
                auto [ec] = co_await elector->run(asio::bind_cancellation_slot(stop.slot(), use_tuple));
                if (stopping) break;
                if (ec) {
                    log("acquire_failed", "\"why\":" + quoted(ec.message()) + ",\"permanent\":" + (ec == condition::permanent ? "true" : "false"));
                    co_await sleep_for(100ms);
                    continue;
                }
                // The work ended by itself: the elector stepped down and
                // released, with a result it does not tell (the checker
                // takes the release from the recorder's free version).
                log("release", "\"seq\":" + std::to_string(held_token.sequence) + ",\"result\":\"stepped_down\"");
                co_await rest();
            }
            finish();
        }, asio::detached);
    } else {
        asio::co_spawn(io, [&]() -> asio::awaitable<void> {
            while (!stopping) {
                log("want"); // waiting order, for the fair-turns report
                auto [ec] = co_await locker->lock(asio::bind_cancellation_slot(stop.slot(), use_tuple));
                if (ec) {
                    if (stopping) break;
                    log("acquire_failed", "\"why\":" + quoted(ec.message()) + ",\"permanent\":" + (ec == condition::permanent ? "true" : "false"));
                    co_await sleep_for(100ms);
                    continue;
                }
                held_token = locker->current_fencing_token();
                co_await hold(locker->valid_until());
                auto [uec, result] = co_await locker->unlock(use_tuple);
                log("release", "\"seq\":" + std::to_string(held_token.sequence) + ",\"result\":" +
                                   quoted(uec ? uec.message() : result == unlock_result::released ? "released" : "not_held"));
                co_await rest();
            }
            finish();
        }, asio::detached);
    }
    io.run();
    log("exit");
    return 0;
}
