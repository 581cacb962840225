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
//   leaselocker_chaos_contender record --kubeconfig K --lease L --events F [--seconds 600]
//       Watches lease L and appends every version it sees.
//
// Every event is one JSON line appended to F, stamped with CLOCK_MONOTONIC
// (steady_clock), which all processes on the host share (history.hpp).
//
// The store is a file: "<epoch> <sequence>" of the newest token accepted.
// A write is accepted only with the same epoch and a sequence not below the
// stored one, decided under flock(2), and stamped inside it: the stamps are
// the store's order.
#include <leaselocker/leaselocker.hpp>

#include <boost/asio.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>

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
                                            {"--yield-window-ms", "0"}};
    for (int i = 2; i + 1 < argc; i += 2) args[argv[i]] = argv[i + 1];
    const std::string id = args["--id"];
    event_log log(args.at("--events"), id);
    const auto deadline = steady::now() + std::chrono::seconds(std::stoi(args["--seconds"]));

    asio::io_context io;
    client api{io.get_executor(), load_kubeconfig(args.at("--kubeconfig"), "lease")};
    bool stopping = false;
    asio::cancellation_signal stop;
    asio::signal_set signals(io, SIGTERM, SIGINT);
    signals.async_wait([&](error_code ec, int) {
        if (ec) return;
        stopping = true;
        stop.emit(asio::cancellation_type::terminal);
    });
    asio::steady_timer limit(io, deadline);
    limit.async_wait([&](error_code ec) {
        if (ec) return;
        stopping = true;
        stop.emit(asio::cancellation_type::terminal);
    });
    std::function<void()> on_finish;
    auto finish = [&] {
        signals.cancel();
        limit.cancel();
        api.cancel();
        if (on_finish) on_finish();
    };

    if (mode != "record" && mode != "contend" && mode != "elect") {
        std::cerr << "unknown mode " << mode << " (contend, elect or record)\n";
        return 2;
    }
    if (mode == "record") {
        lease_client leases{api};
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
                                       ",\"rv\":" + quoted(ev.object.metadata.resource_version));
                }
                if (stopping) break;
                log("gap"); // the watch failed: re-opened from the last version, or re-listed
                co_await sleep_for(200ms);
            }
            finish();
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
        if (steady::now() < granted_until) {
            const auto fenced = co_await write_store(args.at("--store"), held_token);
            if (fenced.written)
                log("write", token_fields(held_token) + ",\"accepted\":" + (fenced.accepted ? "true" : "false"), fenced.at);
        }
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
            const auto w = co_await write_store(args.at("--store"), held_token);
            if (!w.written) break; // a leader's work stopped while waiting for the store
            log("write", token_fields(held_token) + ",\"accepted\":" + (w.accepted ? "true" : "false"), w.at);
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
