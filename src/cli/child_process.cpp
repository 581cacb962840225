#include "cli/child_process.hpp"
#include "cli/signals.hpp"

#include <boost/asio/use_awaitable.hpp>

#include <algorithm>
#include <cstdlib>
#include <pthread.h>
#include <cerrno>
#include <csignal>
#include <cstring>
#include <dirent.h>
#include <fcntl.h>
#include <fstream>
#include <sstream>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

extern char** environ;

namespace leaselocker::cli {

namespace asio = boost::asio;

child_process::child_process(asio::any_io_executor ex) : sigchld_(ex, SIGCHLD) {}

child_process::~child_process() {
    // Leaving while it runs (an exception): nothing of it may outlive us.
    if (pid_ > 0 && !exited_) {
        signal(SIGKILL);
        exited_ = true;
    }
    reap();
}

namespace {

// Where execve finds `file`, as execvp would search PATH (made before fork:
// nothing after it may allocate). Empty: not found (errno says why).
std::string find_in_path(const std::string& file, int& error) {
    error = ENOENT;
    if (file.empty()) return {};
    if (file.find('/') != std::string::npos) return file;
    const char* path = std::getenv("PATH");
    std::string_view dirs = path ? path : "/usr/local/bin:/usr/bin:/bin";
    for (std::size_t start = 0; start <= dirs.size();) {
        auto end = dirs.find(':', start);
        if (end == std::string_view::npos) end = dirs.size();
        std::string candidate(dirs.substr(start, end - start));
        candidate = (candidate.empty() ? "." : candidate) + "/" + file;
        struct stat st{};
        const bool file = ::stat(candidate.c_str(), &st) == 0 && S_ISREG(st.st_mode); // execvp skips directories too
        if (file && ::access(candidate.c_str(), X_OK) == 0) return candidate;
        if (file) error = EACCES;
        start = end + 1;
    }
    return {};
}

} // namespace

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
    int not_found = 0;
    const std::string program = find_in_path(argv.front(), not_found);
    if (program.empty()) return {not_found, std::generic_category()};
    // A file without "#!" runs under /bin/sh, as execvp does.
    std::vector<char*> sh_args{const_cast<char*>("/bin/sh"), const_cast<char*>(program.c_str())};
    sh_args.insert(sh_args.end(), args.begin() + 1, args.end());
    // The child gives every signal the disposition it had when we started
    // (default, or ignored) before it unblocks them: a handler of ours
    // (Asio's, writing into a pipe we share until exec) must never run in it.
    std::vector<int> to_default, to_ignore;
    for (int signo = 1; signo < NSIG; ++signo)
        if (signo != SIGKILL && signo != SIGSTOP) (started_ignored(signo) ? to_ignore : to_default).push_back(signo);
    // Our descriptors (the API server's sockets) are not the command's
    // business: marked close-on-exec here, where walking them may allocate.
    if (DIR* fds = ::opendir("/proc/self/fd")) {
        const int own = ::dirfd(fds);
        while (auto* entry = ::readdir(fds)) {
            const int fd = std::atoi(entry->d_name);
            if (fd > 2 && fd != own) ::fcntl(fd, F_SETFD, ::fcntl(fd, F_GETFD) | FD_CLOEXEC);
        }
        ::closedir(fds);
    }

    int report[2]; // the child's exec error, if any; closed by a successful exec
    if (::pipe2(report, O_CLOEXEC) != 0) return {errno, std::generic_category()};
    // No handler of ours may run in the child between fork and exec.
    sigset_t all, old;
    sigfillset(&all);
    ::pthread_sigmask(SIG_BLOCK, &all, &old);
    const pid_t parent = ::getpid();
    const pid_t pid = ::fork();
    if (pid == 0) {
        if (own_group) ::setpgid(0, 0);
        ::prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (::getppid() != parent) ::_exit(127); // leaselocker died already
        struct sigaction action{};
        action.sa_handler = SIG_DFL;
        for (int signo : to_default) ::sigaction(signo, &action, nullptr);
        action.sa_handler = SIG_IGN;
        for (int signo : to_ignore) ::sigaction(signo, &action, nullptr);
        ::close_range(3, ~0U, CLOSE_RANGE_CLOEXEC); // what was opened since the walk above, where the kernel can
        sigset_t none;
        sigemptyset(&none);
        ::sigprocmask(SIG_SETMASK, &none, nullptr);
        ::execve(program.c_str(), args.data(), envp.data());
        if (errno == ENOEXEC) ::execve(sh_args[0], sh_args.data(), envp.data());
        const int e = errno;
        [[maybe_unused]] auto n = ::write(report[1], &e, sizeof e);
        ::_exit(127);
    }
    const int fork_errno = errno;
    ::pthread_sigmask(SIG_SETMASK, &old, nullptr);
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

void child_process::signal(int signo, bool resume) const {
    if (pid_ <= 0 || reaped_) return;
    const pid_t target = own_group_ ? -pid_ : pid_; // the group is pinned by the unreaped leader
    if (!own_group_ && exited_) return;
    ::kill(target, signo);
    // A stopped process keeps signals pending: continue it, as timeout(1)
    // does, so that it acts on this one.
    if (resume) ::kill(target, SIGCONT);
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

asio::awaitable<exit_info> child_process::wait_exit(std::function<void(int)> on_stop) {
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
        siginfo_t stop{}; // a stop is told once (consumed; the process stays ours)
        if (::waitid(P_PID, static_cast<id_t>(pid_), &stop, WSTOPPED | WNOHANG) == 0 && stop.si_pid == pid_ && on_stop)
            on_stop(stop.si_status);
        // A SIGCHLD since we registered is queued: none is missed between
        // the waitid calls above and this wait.
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
