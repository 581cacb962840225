// The demonstration `tools/demo.sh` runs against the local control plane:
// processes contending for one Lease, each printing when it waits,
// acquires, holds, hands over or loses the lock, on one shared timeline.
//
//   leaselocker_demo                         the three acts below
//   leaselocker_demo contender NAME LEASE T0 ROUNDS HOLD_MS
//
// Needs LEASELOCKER_TEST_KUBECONFIG (set by `llcluster run`) or KUBECONFIG,
// with contexts "lease" (contenders) and "admin" (the intruder of act 3).
#include <leaselocker/leaselocker.hpp>

#include <boost/asio.hpp>

#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <sys/wait.h>
#include <unistd.h>

namespace asio = boost::asio;
using namespace leaselocker;
using namespace std::chrono_literals;

namespace {

std::string kubeconfig() {
    for (const char* var : {"LEASELOCKER_TEST_KUBECONFIG", "KUBECONFIG"})
        if (const char* v = std::getenv(var); v && *v) return v;
    std::fprintf(stderr, "set KUBECONFIG (tools/demo.sh does it for you)\n");
    std::exit(2);
}

long long now_ns() {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

long long t0 = now_ns(); // the shared timeline's origin (CLOCK_MONOTONIC)

void say(const std::string& who, const std::string& what) {
    std::printf("[%7.3f s] %-8s %s\n", (now_ns() - t0) / 1e9, who.c_str(), what.c_str());
    std::fflush(stdout);
}

const lock_config demo_timing{.lease_duration = 3s, .renew_deadline = 2s, .retry_period = 500ms};

// One contender process: ROUNDS times lock, hold, unlock; or hold until
// lost or killed (ROUNDS = 0).
int contender(const std::string& name, const std::string& lease, int rounds, std::chrono::milliseconds hold) {
    asio::io_context io;
    client api{io.get_executor(), load_kubeconfig(kubeconfig(), "lease")};
    auto cfg = demo_timing;
    cfg.identity = name;
    lease_locker locker{api, {"", lease}, cfg};
    asio::co_spawn(io, [&]() -> asio::awaitable<void> {
        for (int r = 0; r < std::max(rounds, 1); ++r) {
            say(name, "waiting for the lock");
            const auto asked = now_ns();
            co_await locker.lock(asio::use_awaitable);
            char line[160];
            std::snprintf(line, sizeof line, "ACQUIRED after %.3f s (fencing token %lld)", (now_ns() - asked) / 1e9,
                          static_cast<long long>(locker.current_fencing_token().sequence));
            say(name, line);
            if (rounds == 0) { // hold until something happens to us
                auto [ec] = co_await locker.wait_lost(asio::as_tuple(asio::use_awaitable));
                say(name, "LOST the lock (" + ec.message() + "): guarded work stopped at once");
                co_return;
            }
            asio::steady_timer work(io, hold);
            co_await work.async_wait(asio::use_awaitable);
            say(name, "done working, handing over");
            co_await locker.unlock(asio::use_awaitable);
            say(name, "released");
            if (r + 1 < rounds) { // give the others a turn before asking again
                asio::steady_timer pause(io, 1500ms);
                co_await pause.async_wait(asio::use_awaitable);
            }
        }
    }, [](std::exception_ptr e) { if (e) std::rethrow_exception(e); });
    io.run();
    return 0;
}

pid_t spawn(const char* self, const std::string& name, const std::string& lease, int rounds, int hold_ms, int* out_fd = nullptr) {
    int fds[2] = {-1, -1};
    if (out_fd && ::pipe(fds) != 0) std::exit(1);
    pid_t pid = ::fork();
    if (pid == 0) {
        if (out_fd) {
            ::dup2(fds[1], STDOUT_FILENO);
            ::close(fds[0]);
            ::close(fds[1]);
        }
        std::string r = std::to_string(rounds), h = std::to_string(hold_ms), t = std::to_string(t0);
        ::execl(self, self, "contender", name.c_str(), lease.c_str(), t.c_str(), r.c_str(), h.c_str(), nullptr);
        ::_exit(127);
    }
    if (out_fd) {
        ::close(fds[1]);
        *out_fd = fds[0];
    }
    return pid;
}

// Relays a child's lines until one contains `marker`.
void relay_until(int fd, const std::string& marker) {
    FILE* in = ::fdopen(::dup(fd), "r");
    char buf[256];
    while (std::fgets(buf, sizeof buf, in)) {
        std::fputs(buf, stdout);
        std::fflush(stdout);
        if (std::string(buf).find(marker) != std::string::npos) break;
    }
    std::fclose(in);
}

void relay_rest(int fd) {
    FILE* in = ::fdopen(fd, "r");
    char buf[256];
    while (std::fgets(buf, sizeof buf, in)) std::fputs(buf, stdout);
    std::fclose(in);
    std::fflush(stdout);
}

void wait_all(std::initializer_list<pid_t> pids) {
    for (pid_t p : pids) ::waitpid(p, nullptr, 0);
}

} // namespace

int main(int argc, char** argv) {
    if (argc == 7 && std::string(argv[1]) == "contender") {
        t0 = std::atoll(argv[4]);
        return contender(argv[2], argv[3], std::atoi(argv[5]), std::chrono::milliseconds(std::atoi(argv[6])));
    }
    std::setvbuf(stdout, nullptr, _IOLBF, 0); // one timeline with the children's lines
    const std::string run = std::to_string(::getpid());
    std::printf("leaselocker demo: Lease timings 3 s lease, 2 s renew deadline, 0.5 s retry period\n"
                "contenders run as separate processes with the least-privilege identity\n\n");

    std::printf("== Act 1: three processes take turns on lease demo-turns-%s (graceful handover)\n", run.c_str());
    const std::string turns = "demo-turns-" + run;
    wait_all({spawn(argv[0], "alice", turns, 2, 800), spawn(argv[0], "bob", turns, 2, 800), spawn(argv[0], "carol", turns, 2, 800)});

    std::printf("\n== Act 2: the holder is killed with SIGKILL; the waiter takes over after the lease duration\n");
    const std::string crash = "demo-crash-" + run;
    int dave_out = -1;
    pid_t dave = spawn(argv[0], "dave", crash, 0, 0, &dave_out);
    relay_until(dave_out, "ACQUIRED");
    pid_t erin = spawn(argv[0], "erin", crash, 1, 500);
    ::usleep(1500 * 1000);
    say("demo", "SIGKILL dave (no release: the lease must expire)");
    ::kill(dave, SIGKILL);
    wait_all({dave, erin});
    ::close(dave_out);

    std::printf("\n== Act 3: someone overwrites the lease; the holder reports the loss at once\n");
    const std::string takeover = "demo-takeover-" + run;
    int frank_out = -1;
    pid_t frank = spawn(argv[0], "frank", takeover, 0, 0, &frank_out);
    relay_until(frank_out, "ACQUIRED");
    {
        asio::io_context io;
        client admin{io.get_executor(), load_kubeconfig(kubeconfig(), "admin")};
        lease_client leases{admin};
        asio::co_spawn(io, [&]() -> asio::awaitable<void> {
            lease l = co_await leases.get(takeover, asio::use_awaitable);
            l.spec.holder_identity = "intruder";
            l.spec.lease_transitions = l.spec.lease_transitions.value_or(0) + 1;
            say("demo", "an admin writes holder \"intruder\" over frank's lease");
            co_await leases.replace(l, asio::use_awaitable);
        }, [](std::exception_ptr e) { if (e) std::rethrow_exception(e); });
        io.run();
    }
    relay_rest(frank_out);
    wait_all({frank});
    std::printf("\ndemo finished\n");
    return 0;
}
