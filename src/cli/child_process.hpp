// The command `leaselocker run` guards, started with fork and exec: in a
// process group of its own (a loss signal then reaches everything it
// started) unless asked to share ours (--foreground); killed by the kernel if
// leaselocker dies (PR_SET_PDEATHSIG); given no descriptor of ours but
// stdin, stdout and stderr. Its end is awaited on the io_context through
// SIGCHLD, without reaping it, so that its process group cannot be reused
// while we may still signal it. No thread.
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/signal_set.hpp>

#include <functional>
#include <string>
#include <system_error>
#include <utility>
#include <vector>

#include <sys/types.h>

namespace leaselocker::cli {

// How the command ended.
struct exit_info {
    int code = 0;   // the shell's status: the exit code, or 128 + signal
    int signal = 0; // the signal that ended it, if one did
};

class child_process {
public:
    // Follows SIGCHLD from now on: construct before start().
    explicit child_process(boost::asio::any_io_executor ex);
    // Kills the command's group if it still runs (leaving by an exception),
    // and reaps it.
    ~child_process();
    child_process(const child_process&) = delete;
    child_process& operator=(const child_process&) = delete;

    // Starts argv[0] (searched in PATH) with our environment plus `env`
    // (replacing variables of those names), an empty signal mask and
    // SIGPIPE at its default (signals ignored when we started stay ignored).
    // own_group false: it stays in our process group (--foreground: it can
    // read our terminal, Ctrl-C and Ctrl-Z reach it directly). An error
    // (ENOENT: not found, EACCES: not executable, ...) if it could not be
    // started.
    std::error_code start(const std::vector<std::string>& argv, const std::vector<std::pair<std::string, std::string>>& env,
                          bool own_group);

    pid_t pid() const noexcept { return pid_; }
    bool running() const noexcept { return pid_ > 0 && !exited_; }
    bool own_group() const noexcept { return own_group_; }
    // To the command's process group (to the command alone if it shares
    // ours, and only while it runs); never after it was reaped. `resume`:
    // followed by SIGCONT, so that a stopped command acts on it (it would
    // stay pending).
    void signal(int signo, bool resume = false) const;
    // Whether a process of the command's own group is still alive (the
    // command, or what it left running after it exited). Linux: /proc.
    bool group_alive() const;
    // Until the command exits (it is not reaped: see reap()). `on_stop` is
    // told the signal whenever the command is stopped (SIGTTIN: it tried to
    // read a terminal it does not own).
    boost::asio::awaitable<exit_info> wait_exit(std::function<void(int)> on_stop = {});
    // Lets the command's process id and group go; no signal after this.
    void reap();

private:
    boost::asio::signal_set sigchld_;
    pid_t pid_ = -1;
    bool own_group_ = true;
    bool exited_ = false;
    bool reaped_ = false;
};

} // namespace leaselocker::cli
