// The command `leaselocker run` guards: started in a process group of its
// own (a loss signal reaches everything it started), its end awaited on the
// io_context through SIGCHLD. No thread.
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/signal_set.hpp>

#include <string>
#include <system_error>
#include <utility>
#include <vector>

#include <sys/types.h>

namespace leaselocker::cli {

class child_process {
public:
    // Follows SIGCHLD from now on: construct before start().
    explicit child_process(boost::asio::any_io_executor ex);

    // Starts argv[0] (searched in PATH) with our environment plus `env`
    // (replacing variables of those names), default signal dispositions
    // and an empty signal mask. An error (ENOENT: not found, EACCES: not
    // executable, ...) if it could not be started.
    std::error_code start(const std::vector<std::string>& argv, const std::vector<std::pair<std::string, std::string>>& env);

    pid_t pid() const noexcept { return pid_; }
    bool running() const noexcept { return pid_ > 0 && !exited_; }
    // To the whole process group; nothing once it has been reaped.
    void signal(int signo) const;
    // Until the process exits; its wait status (waitpid's).
    boost::asio::awaitable<int> wait_exit();

    // The shell's exit status for a wait status: the code, or 128 + signal.
    static int exit_status(int wait_status);

private:
    boost::asio::signal_set sigchld_;
    pid_t pid_ = -1;
    bool exited_ = false;
};

} // namespace leaselocker::cli
