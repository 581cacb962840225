#include "cli/child_process.hpp"
#include "cli/signals.hpp"

#include <boost/asio/use_awaitable.hpp>

#include <algorithm>
#include <cerrno>
#include <csignal>
#include <cstring>
#include <dirent.h>
#include <fcntl.h>
#include <fstream>
#include <sstream>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

extern char** environ;

namespace leaselocker::cli {

namespace asio = boost::asio;

child_process::child_process(asio::any_io_executor ex) : sigchld_(ex, SIGCHLD) {}

child_process::~child_process() {
    reap();
}

std::error_code child_process::start(const std::vector<std::string>& argv, const std::vector<std::pair<std::string, std::string>>& env,
                                     bool own_group) {
    // Everything the child needs is made before fork: after it, only
    // async-signal-safe calls.
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
    const bool reset_sigpipe = !started_ignored(SIGPIPE); // we ignore it ourselves

    int report[2]; // the child's exec error, if any; closed by a successful exec
    if (::pipe2(report, O_CLOEXEC) != 0) return {errno, std::generic_category()};
    // No handler of ours may run in the child between fork and exec.
    sigset_t all, old;
    sigfillset(&all);
    ::sigprocmask(SIG_BLOCK, &all, &old);
    const pid_t parent = ::getpid();
    const pid_t pid = ::fork();
    if (pid == 0) {
        if (own_group) ::setpgid(0, 0);
        ::prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (::getppid() != parent) ::_exit(127); // leaselocker died already
        if (reset_sigpipe) ::signal(SIGPIPE, SIG_DFL);
        // Our sockets (the API server's) are not the command's business.
        if (::close_range(3, ~0U, CLOSE_RANGE_CLOEXEC) != 0)
            for (int fd = 3; fd < 4096; ++fd) ::fcntl(fd, F_SETFD, FD_CLOEXEC);
        sigset_t none;
        sigemptyset(&none);
        ::sigprocmask(SIG_SETMASK, &none, nullptr);
        ::execvpe(args[0], args.data(), envp.data());
        const int e = errno;
        [[maybe_unused]] auto n = ::write(report[1], &e, sizeof e);
        ::_exit(127);
    }
    const int fork_errno = errno;
    ::sigprocmask(SIG_SETMASK, &old, nullptr);
    ::close(report[1]);
    if (pid < 0) {
        ::close(report[0]);
        return {fork_errno, std::generic_category()};
    }
    if (own_group) ::setpgid(pid, pid); // also here: no signal of ours may miss the group
    int exec_errno = 0;
    ssize_t n;
    do n = ::read(report[0], &exec_errno, sizeof exec_errno);
    while (n < 0 && errno == EINTR);
    ::close(report[0]);
    pid_ = pid;
    own_group_ = own_group;
    if (n == sizeof exec_errno) { // exec failed: the child has exited
        exited_ = true;
        reap();
        return {exec_errno, std::generic_category()};
    }
    return {};
}

void child_process::signal(int signo) const {
    if (pid_ <= 0 || reaped_) return;
    if (own_group_) ::kill(-pid_, signo); // the group is pinned by the unreaped leader
    else if (!exited_) ::kill(pid_, signo);
}

bool child_process::group_alive() const {
    if (pid_ <= 0 || reaped_) return false;
    if (!exited_) return true;
    if (!own_group_) return false;
    // /proc/<pid>/stat: "pid (comm) state ppid pgrp ..."; comm may hold
    // spaces and parentheses: the fields start after the last ')'.
    DIR* proc = ::opendir("/proc");
    if (!proc) return false;
    bool alive = false;
    while (auto* entry = ::readdir(proc)) {
        const pid_t p = static_cast<pid_t>(std::atoi(entry->d_name));
        if (p <= 0 || p == pid_) continue;
        std::ifstream in("/proc/" + std::string(entry->d_name) + "/stat");
        std::string stat((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
        const auto close = stat.rfind(')');
        if (close == std::string::npos) continue;
        std::istringstream fields(stat.substr(close + 1));
        char state = 0;
        long ppid = 0, pgrp = 0;
        fields >> state >> ppid >> pgrp;
        if (pgrp == pid_ && state != 'Z') {
            alive = true;
            break;
        }
    }
    ::closedir(proc);
    return alive;
}

asio::awaitable<exit_info> child_process::wait_exit() {
    for (;;) {
        siginfo_t info{};
        // WNOWAIT: seen, not reaped (its pid and group stay ours).
        const int r = ::waitid(P_PID, static_cast<id_t>(pid_), &info, WEXITED | WNOHANG | WNOWAIT);
        if (r == 0 && info.si_pid == pid_) {
            exited_ = true;
            if (info.si_code == CLD_EXITED) co_return exit_info{info.si_status, 0};
            co_return exit_info{128 + info.si_status, info.si_status};
        }
        if (r < 0 && errno != EINTR) throw std::system_error(errno, std::generic_category(), "waiting for the command");
        // A SIGCHLD since we registered is queued: none is missed between
        // the waitid above and this wait.
        if (r == 0) co_await sigchld_.async_wait(asio::use_awaitable);
    }
}

void child_process::reap() {
    if (pid_ <= 0 || reaped_ || !exited_) return;
    int status;
    while (::waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
    }
    reaped_ = true;
}

} // namespace leaselocker::cli
