// leaselocker run: a command under a Lease. One coroutine walks through
// the phases (read, acquire, run, release); signals, the --wait timer and
// the loss watch are separate waits on the same single-threaded io_context
// that act on it by phase.
#include "cli/child_process.hpp"
#include "cli/commands.hpp"
#include "cli/session.hpp"
#include "cli/signals.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <csignal>
#include <fcntl.h>
#include <unistd.h>

namespace leaselocker::cli {

namespace asio = boost::asio;
namespace json = boost::json;
using asio::as_tuple;
using asio::use_awaitable;

namespace {

class runner {
public:
    runner(session& s, const run_options& o, lease_locker& locker, std::string lease)
        : s_(s), o_(o), locker_(locker), lease_(std::move(lease)), signals_(s.io), timer_(s.io), survivors_(s.io),
          child_(s.io.get_executor()) {
        for (int signo : catchable({SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2, SIGTSTP})) signals_.add(signo);
    }

    asio::awaitable<int> run() {
        follow_signals();
        if (o_.wait.count() > 0) { // bounds the whole acquisition, the first look included
            timer_.expires_after(o_.wait);
            timer_.async_wait([this](error_code ec) {
                if (ec || phase_ != phase::acquiring) return;
                timed_out_ = true;
                stop_acquiring_.emit(asio::cancellation_type::terminal);
            });
        }
        if (int code = co_await first_look(); code >= 0) co_return code;
        if (int code = co_await acquire(); code >= 0) co_return code;
        co_return co_await run_command();
    }

    // Whatever is still waiting (signals, timers) ends.
    void finish() {
        phase_ = phase::done;
        signals_.cancel();
        timer_.cancel();
        survivors_.cancel();
        stop_loss_watch_.emit(asio::cancellation_type::terminal);
    }

private:
    enum class phase { acquiring, running, releasing, done };

    // One read before anything else: a wrong server, a missing right or a
    // missing namespace fails at once, in one line, instead of in lock()'s
    // retries; and who holds it now is worth a line.
    asio::awaitable<int> first_look() {
        lease_client leases{*s_.api, s_.namespace_of(o_.lease)};
        diagnostics diag;
        auto [ec, current] = co_await leases.get(o_.lease.name, request_options{.timeout = request_timeout, .diag = &diag},
                                                 asio::bind_cancellation_slot(stop_acquiring_.slot(), as_tuple(use_awaitable)));
        if (int code = gave_up(); code >= 0) co_return code;
        if (ec && ec != error::not_found) co_return s_.out.fail("cannot read lease " + lease_, ec, diag);
        if (ec) co_return -1;
        if (current.spec.strategy && !current.spec.strategy->empty())
            co_return s_.out.fail(exit_code::config, "lease " + lease_ + " is assigned by coordinated leader election (strategy " +
                                                         *current.spec.strategy + "): only its candidates may hold it");
        if (current.spec.held() && *current.spec.holder_identity != locker_.identity())
            s_.out.event("waiting", {{"lease", lease_}, {"holder", *current.spec.holder_identity}},
                         o_.try_once ? "" : "waiting for " + lease_ + ": held by " + *current.spec.holder_identity);
        co_return -1;
    }

    // A signal or --wait ended the acquisition: its exit code (-1: it did not).
    int gave_up() const {
        if (interrupted_)
            return s_.out.fail(exit_code::signalled_base + interrupted_, "interrupted by " + signal_name(interrupted_) + " while waiting for " + lease_);
        if (timed_out_) {
            s_.out.event("conflict", {{"lease", lease_}}, "gave up waiting for " + lease_);
            return o_.conflict_exit_code;
        }
        return -1;
    }

    asio::awaitable<int> acquire() {
        diagnostics diag;
        error_code ec;
        bool held = false;
        auto until_stopped = asio::bind_cancellation_slot(stop_acquiring_.slot(), as_tuple(use_awaitable));
        if (o_.try_once) {
            std::tie(ec, held) = co_await locker_.try_lock(diag, until_stopped);
        } else {
            std::tie(ec) = co_await locker_.lock(diag, until_stopped);
            held = !ec;
        }
        timer_.cancel();
        if (interrupted_ || timed_out_) {
            // Told to stop as the grant landed (too late for lock() to see
            // it): the lease goes back before we say so.
            phase_ = phase::releasing;
            if (held) co_await release();
            co_return gave_up();
        }
        phase_ = phase::running;
        if (o_.try_once && !ec && !held) {
            s_.out.event("conflict", {{"lease", lease_}}, "not acquired: another holds " + lease_);
            co_return o_.conflict_exit_code;
        }
        if (ec) co_return s_.out.fail("cannot acquire " + lease_, ec, diag);
        co_return -1;
    }

    asio::awaitable<int> run_command() {
        if (!locker_.held()) { // lost between the grant and now: the command never starts
            s_.out.event("lost", {{"lease", lease_}, {"error", "lost before the command started"}, {"message", ""}, {"signal", nullptr}},
                         "lost " + lease_ + " before the command started");
            co_return exit_code::lost;
        }
        const auto token = locker_.current_fencing_token();
        s_.out.event("acquired", {{"lease", lease_}, {"identity", locker_.identity()}, {"fencing_token", token.sequence}, {"epoch", token.epoch}});
        const auto spawn_error = child_.start(o_.command,
                                              {{"LEASELOCKER_FENCING_TOKEN", std::to_string(token.sequence)},
                                               {"LEASELOCKER_FENCING_EPOCH", token.epoch},
                                               {"LEASELOCKER_IDENTITY", locker_.identity()},
                                               {"LEASELOCKER_LEASE", lease_}},
                                              !o_.foreground);
        if (spawn_error) {
            phase_ = phase::releasing;
            co_await release();
            const bool missing = spawn_error == std::errc::no_such_file_or_directory;
            co_return s_.out.fail(missing ? exit_code::command_not_found : exit_code::cannot_execute,
                                  (missing ? "command not found: " : "cannot run ") + o_.command.front() +
                                      (missing ? std::string() : ": " + spawn_error.message()));
        }
        json::array argv;
        for (auto& a : o_.command) argv.emplace_back(a);
        s_.out.event("started", {{"pid", child_.pid()}, {"command", std::move(argv)}});
        watch_for_loss();
        const auto end = co_await child_.wait_exit([this](int signo) {
            if ((signo == SIGTTIN || signo == SIGTTOU) && child_.own_group())
                s_.out.event("stopped", {{"signal", signal_name(signo)}},
                             "the command was stopped by " + signal_name(signo) + ": it wants the terminal (run it with --foreground)");
        });
        json::object exited{{"status", end.code}};
        if (end.signal) exited["signal"] = signal_name(end.signal);
        s_.out.event("exited", std::move(exited));
        // Lost as it exited (the loss watch may not have run yet): still a
        // loss, and what the command left running gets the loss signal.
        if (!lost_ && !locker_.held()) on_lost(make_error_code(error::lock_lost), "lost as the command exited");
        if (lost_) {
            co_await kill_survivors();
            co_return exit_code::lost;
        }
        phase_ = phase::releasing;
        timer_.cancel();
        stop_loss_watch_.emit(asio::cancellation_type::terminal);
        co_await release();
        co_return end.code;
    }

    // After a loss, what the command left running in its group gets SIGKILL
    // at --kill-after too (unless that is 0), and we exit once it is gone
    // (looked at every 50 ms; at most a second after the SIGKILL).
    asio::awaitable<void> kill_survivors() {
        if (o_.kill_after.count() == 0) co_return;
        const auto give_up = kill_at_ + std::chrono::seconds(1);
        while (child_.group_alive() && std::chrono::steady_clock::now() < give_up) {
            if (std::chrono::steady_clock::now() >= kill_at_) kill_group();
            survivors_.expires_after(std::chrono::milliseconds(50));
            co_await survivors_.async_wait(as_tuple(use_awaitable));
        }
    }

    void kill_group() {
        if (killed_ || !child_.group_alive()) return;
        killed_ = true;
        child_.signal(SIGKILL);
        s_.out.event("killed", {{"signal", "SIGKILL"}}, "the command outlived --kill-after: sent SIGKILL");
    }

    // The lease is released after the command, whatever its status.
    asio::awaitable<void> release() {
        diagnostics diag;
        auto [ec, result] = co_await locker_.unlock_with_retry(diag, as_tuple(use_awaitable));
        if (ec) {
            s_.out.event("release_failed", {{"lease", lease_}, {"error", ec.message()}, {"message", diag.to_string()}},
                         "could not release " + lease_ + " (it expires by itself): " + ec.message() +
                             (diag.server_message.empty() ? "" : ": " + diag.server_message));
        } else {
            s_.out.event("released", {{"lease", lease_}, {"held", result == unlock_result::released}});
        }
    }

    // The moment the lock is lost, the command's process group gets the
    // loss signal, then SIGKILL after --kill-after.
    void watch_for_loss() {
        asio::co_spawn(s_.io, [this]() -> asio::awaitable<void> {
            diagnostics diag;
            auto [ec] = co_await locker_.wait_lost(diag, asio::bind_cancellation_slot(stop_loss_watch_.slot(), as_tuple(use_awaitable)));
            if (phase_ != phase::running || lost_) co_return;
            // operation_aborted while running: the lock was no longer held
            // when we asked (lost in between), or we are stopping.
            if (ec == asio::error::operation_aborted && locker_.held()) co_return;
            on_lost(ec, diag.to_string());
            if (o_.kill_after.count() == 0) co_return;
            timer_.expires_at(kill_at_);
            auto [timer_ec] = co_await timer_.async_wait(as_tuple(use_awaitable));
            if (!timer_ec && child_.running()) kill_group();
        }, asio::detached);
    }

    void on_lost(error_code ec, const std::string& how) {
        lost_ = true;
        kill_at_ = std::chrono::steady_clock::now() + o_.kill_after;
        const bool anyone = child_.running() || child_.group_alive();
        child_.signal(o_.loss_signal, true);
        s_.out.event("lost", {{"lease", lease_}, {"error", ec.message()}, {"message", how},
                              {"signal", anyone ? json::value(signal_name(o_.loss_signal)) : json::value(nullptr)}},
                     "lost " + lease_ + " (" + how + ")" + (anyone ? ": sent " + signal_name(o_.loss_signal) + " to the command" : ""));
    }

    // Ctrl-Z (SIGTSTP) from the terminal we are the foreground job of: the
    // command stops with us, so that nothing acts while we do not renew; on
    // resume it continues too, unless we were stopped past what the lease
    // promised (a successor may run by now): then it is killed at once.
    // Without job control (a CronJob, an orphaned group) SIGTSTP is
    // ignored, as the kernel ignores it there: nobody would continue us.
    void suspend() {
        if (!job_controlled()) {
            s_.out.event("warning", {{"message", "SIGTSTP ignored: no job control here"}}, "SIGTSTP ignored: no job control here");
            return;
        }
        const bool command = phase_ == phase::running && child_.own_group();
        if (command) child_.signal(SIGSTOP);
        ::raise(SIGSTOP);
        if (!command) return;
        if (!lost_ && std::chrono::steady_clock::now() >= locker_.valid_until()) {
            lost_ = true;
            kill_at_ = std::chrono::steady_clock::now();
            kill_group();
            s_.out.event("lost", {{"lease", lease_}, {"error", "stopped past the lease"}, {"message", "stopped (SIGTSTP) past what the lease promised"},
                                  {"signal", "SIGKILL"}},
                         "stopped past what " + lease_ + " promised: the command was killed");
        }
        child_.signal(SIGCONT);
    }

    static bool job_controlled() {
        const int tty = ::open("/dev/tty", O_RDONLY | O_CLOEXEC);
        if (tty < 0) return false;
        const bool foreground = ::tcgetpgrp(tty) == ::getpgrp();
        ::close(tty);
        return foreground;
    }

    // While waiting: any of them ends the wait (a lease granted meanwhile
    // is released). While the command runs: passed on to it (with
    // --foreground, not those a terminal sends the whole group itself: a
    // supervisor's kill -INT then reaches only us).
    void follow_signals() {
        signals_.async_wait([this](error_code ec, int signo) {
            if (ec) return;
            if (signo == SIGTSTP) {
                suspend();
            } else if (phase_ == phase::acquiring) {
                if (!interrupted_) interrupted_ = signo;
                stop_acquiring_.emit(asio::cancellation_type::terminal);
            } else if (phase_ == phase::running && child_.running()) {
                const bool from_terminal = signo == SIGINT || signo == SIGQUIT || signo == SIGHUP;
                if (child_.own_group() || !from_terminal) {
                    const bool ends_it = signo != SIGUSR1 && signo != SIGUSR2; // default action: terminate
                    child_.signal(signo, ends_it);
                    s_.out.event("signal", {{"signal", signal_name(signo)}}, "passed " + signal_name(signo) + " on to the command");
                }
            }
            if (phase_ != phase::done) follow_signals();
        });
    }

    session& s_;
    const run_options& o_;
    lease_locker& locker_;
    std::string lease_;
    asio::signal_set signals_;
    asio::steady_timer timer_;     // --wait, then --kill-after
    asio::steady_timer survivors_; // --kill-after for what the command left running
    child_process child_;
    asio::cancellation_signal stop_acquiring_, stop_loss_watch_;
    phase phase_ = phase::acquiring;
    int interrupted_ = 0;
    bool timed_out_ = false;
    bool lost_ = false;
    bool killed_ = false;
    std::chrono::steady_clock::time_point kill_at_{};
};

} // namespace

int run_command(const run_options& o) {
    session s{o.conn};
    lock_config cfg{.lease_duration = o.lease_duration, .renew_deadline = o.renew_deadline, .retry_period = o.retry_period,
                    .identity = o.identity, .labels = o.labels};
    // The library's warnings (retries while waiting, a refused watch) as
    // they come; its word on a loss only in JSON: our "lost" line says it
    // with what was done about it.
    cfg.log = logger{.level = log_level::warning, .sink = [&s](log_level, std::string_view message) {
                         const bool loss = message.find("): lost: ") != std::string_view::npos;
                         s.out.event("warning", {{"message", message}}, loss ? std::string_view{} : message);
                     }};
    std::unique_ptr<lease_locker> locker;
    try {
        locker = std::make_unique<lease_locker>(*s.api, lease_name{s.namespace_of(o.lease), o.lease.name}, std::move(cfg));
    } catch (const config_error& e) { // the timing flags
        throw usage_error(e.what());
    }
    runner r{s, o, *locker, s.describe(o.lease)};
    return s.run(r.run(), [&] { r.finish(); });
}

} // namespace leaselocker::cli
