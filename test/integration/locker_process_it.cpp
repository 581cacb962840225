// lease_locker across processes: contention, and failover after SIGKILL.
#include "support/cluster_env.hpp"
#include "support/printing.hpp"
#include "support/run.hpp"

#include <leaselocker/leaselocker.hpp>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/test/unit_test.hpp>

#include <algorithm>
#include <csignal>
#include <cstdio>
#include <sstream>
#include <sys/wait.h>
#include <unistd.h>

namespace asio = boost::asio;
using namespace leaselocker;
using namespace std::chrono_literals;
using test::cluster;

namespace {

// A child locker process whose stdout we read line by line.
struct child {
    pid_t pid = -1;
    FILE* out = nullptr;

    child(const std::string& lease, const std::string& identity, const std::vector<std::string>& mode) {
        int fds[2];
        BOOST_TEST_REQUIRE(::pipe(fds) == 0);
        pid = ::fork();
        if (pid == 0) {
            ::dup2(fds[1], STDOUT_FILENO);
            ::close(fds[0]);
            ::close(fds[1]);
            std::vector<std::string> args{LEASELOCKER_CHILD_EXE, cluster().kubeconfig, "lease", lease, identity};
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

long long now_ns() {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

} // namespace

BOOST_AUTO_TEST_SUITE(locker_process_it)

BOOST_AUTO_TEST_CASE(processes_take_turns_without_overlap) {
    const auto lease = test::unique_name("procs");
    constexpr int processes = 3, rounds = 4;
    std::vector<std::unique_ptr<child>> children;
    for (int i = 0; i < processes; ++i)
        children.push_back(std::make_unique<child>(lease, "proc-" + std::to_string(i), std::vector<std::string>{"rounds", std::to_string(rounds)}));
    struct interval {
        long long from, to, token;
    };
    std::vector<interval> all;
    for (auto& c : children) {
        for (int r = 0; r < rounds; ++r) {
            std::istringstream acquired(c->line()), released(c->line());
            std::string word;
            interval iv{};
            acquired >> word >> iv.from >> iv.token;
            BOOST_TEST_REQUIRE(word == "acquired");
            released >> word >> iv.to;
            BOOST_TEST_REQUIRE(word == "released");
            all.push_back(iv);
        }
        BOOST_TEST(c->wait() == 0);
    }
    std::sort(all.begin(), all.end(), [](auto& a, auto& b) { return a.from < b.from; });
    for (std::size_t i = 1; i < all.size(); ++i) {
        BOOST_TEST(all[i].from >= all[i - 1].to, "overlapping holders at " << i);
        BOOST_TEST(all[i].token > all[i - 1].token);
    }
}

BOOST_AUTO_TEST_CASE(a_killed_holder_is_replaced_after_the_lease_duration_not_before) {
    const auto lease = test::unique_name("failover");
    child holder(lease, "doomed", {"hold"});
    BOOST_TEST_REQUIRE(holder.line().starts_with("acquired"));

    asio::io_context io;
    client api{io.get_executor(), test::cluster_config_for("lease")};
    lease_locker waiter{api, {"", lease}, {.lease_duration = 3s, .renew_deadline = 2s, .retry_period = 500ms, .identity = "heir"}};
    long long killed_at = 0, acquired_at = 0;
    test::run(io, [&]() -> asio::awaitable<void> {
        // The waiter watches the holder renew for a while, then the holder dies.
        asio::steady_timer kill_timer(io, 1500ms);
        kill_timer.async_wait([&](boost::system::error_code) {
            killed_at = now_ns();
            ::kill(holder.pid, SIGKILL);
        });
        auto [ec] = co_await waiter.lock(asio::as_tuple(asio::use_awaitable));
        acquired_at = now_ns();
        BOOST_TEST_REQUIRE(!ec, ec.message());
    }());
    const double after = (acquired_at - killed_at) / 1e9;
    BOOST_TEST_MESSAGE("failover " << after << " s after SIGKILL (lease 3 s, renewals every 0.5 s)");
    // Its last renewal was at most one retry period before the kill; the
    // waiter takes over one lease duration after seeing it, not before.
    BOOST_TEST(after >= 3.0 - 0.5 - 0.05);
    BOOST_TEST(after <= 3.0 + 1.0);
    BOOST_TEST(waiter.current_fencing_token().sequence == 1);
    test::run(io, waiter.unlock(asio::use_awaitable));
}

BOOST_AUTO_TEST_SUITE_END()
