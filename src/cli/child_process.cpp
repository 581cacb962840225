#include "cli/child_process.hpp"

#include <boost/asio/use_awaitable.hpp>

#include <algorithm>
#include <cerrno>
#include <csignal>
#include <cstring>
#include <spawn.h>
#include <sys/wait.h>

extern char** environ;

namespace leaselocker::cli {

namespace asio = boost::asio;

child_process::child_process(asio::any_io_executor ex) : sigchld_(ex, SIGCHLD) {}

std::error_code child_process::start(const std::vector<std::string>& argv, const std::vector<std::pair<std::string, std::string>>& env) {
    std::vector<std::string> environment;
    for (char** e = environ; *e; ++e) {
        std::string_view var(*e);
        const bool replaced = std::any_of(env.begin(), env.end(), [&](auto& kv) {
            return var.size() > kv.first.size() && var.starts_with(kv.first) && var[kv.first.size()] == '=';
        });
        if (!replaced) environment.emplace_back(var);
    }
    for (auto& [k, v] : env) environment.push_back(k + "=" + v);

    std::vector<char*> args, envp;
    for (auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    for (auto& e : environment) envp.push_back(e.data());
    envp.push_back(nullptr);

    posix_spawnattr_t attr;
    posix_spawnattr_init(&attr);
    sigset_t none, defaults;
    sigemptyset(&none);
    sigemptyset(&defaults);
    for (int s : {SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGCHLD, SIGPIPE, SIGUSR1, SIGUSR2}) sigaddset(&defaults, s);
    posix_spawnattr_setsigmask(&attr, &none);
    posix_spawnattr_setsigdefault(&attr, &defaults);
    posix_spawnattr_setpgroup(&attr, 0);
    posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETPGROUP);
    pid_t pid = -1;
    // glibc reports a failed exec (ENOENT, EACCES, ...) as the result.
    const int rc = ::posix_spawnp(&pid, args[0], nullptr, &attr, args.data(), envp.data());
    posix_spawnattr_destroy(&attr);
    if (rc != 0) return {rc, std::generic_category()};
    pid_ = pid;
    return {};
}

void child_process::signal(int signo) const {
    if (running()) ::kill(-pid_, signo);
}

asio::awaitable<int> child_process::wait_exit() {
    for (;;) {
        int status = 0;
        const pid_t r = ::waitpid(pid_, &status, WNOHANG);
        if (r == pid_ || (r < 0 && errno == ECHILD)) {
            exited_ = true;
            co_return status;
        }
        // A SIGCHLD since we registered is queued: none is missed between
        // the waitpid above and this wait.
        co_await sigchld_.async_wait(asio::use_awaitable);
    }
}

int child_process::exit_status(int wait_status) {
    if (WIFEXITED(wait_status)) return WEXITSTATUS(wait_status);
    if (WIFSIGNALED(wait_status)) return 128 + WTERMSIG(wait_status);
    return 255;
}

} // namespace leaselocker::cli
