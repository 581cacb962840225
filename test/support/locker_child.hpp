// A child locker process (test/integration/locker_child.cpp) whose stdout
// the test reads line by line; killed when it goes out of scope.
#pragma once

#include "support/cluster_env.hpp"

#include <boost/test/unit_test.hpp>

#include <csignal>
#include <cstdio>
#include <string>
#include <vector>

#include <sys/wait.h>
#include <unistd.h>

namespace leaselocker::test {

// A child locker process whose stdout we read line by line.
struct child {
    pid_t pid = -1;
    FILE* out = nullptr;

    child(const std::string& lease, const std::string& identity, const std::vector<std::string>& mode,
          const std::string& context = "lease") {
        int fds[2];
        BOOST_TEST_REQUIRE(::pipe(fds) == 0);
        pid = ::fork();
        if (pid == 0) {
            ::dup2(fds[1], STDOUT_FILENO);
            ::close(fds[0]);
            ::close(fds[1]);
            std::vector<std::string> args{LEASELOCKER_CHILD_EXE, cluster().kubeconfig, context, lease, identity};
            args.insert(args.end(), mode.begin(), mode.end());
            std::vector<char*> argv;
            for (auto& a : args) argv.push_back(a.data());
            argv.push_back(nullptr);
            ::execv(argv[0], argv.data());
            ::_exit(127);
        }
        ::close(fds[1]);
        out = ::fdopen(fds[0], "r");
    }
    ~child() {
        if (pid > 0) {
            ::kill(pid, SIGKILL);
            ::waitpid(pid, nullptr, 0);
        }
        if (out) ::fclose(out);
    }
    std::string line() {
        char buf[256];
        return std::fgets(buf, sizeof buf, out) ? std::string(buf) : std::string();
    }
    int wait() {
        int status = 0;
        ::waitpid(pid, &status, 0);
        pid = -1;
        return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    }
};

} // namespace leaselocker::test
