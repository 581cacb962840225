// A lease_locker in a process of its own, for tests across processes.
//
//   leaselocker_locker_child KUBECONFIG CONTEXT LEASE IDENTITY hold
//       lock, print "acquired <steady ns> <token>", keep renewing until killed
//   leaselocker_locker_child KUBECONFIG CONTEXT LEASE IDENTITY rounds N
//       N times: lock, print "acquired ...", hold 50 ms, print "released <steady ns>", unlock
//   leaselocker_locker_child KUBECONFIG CONTEXT LEASE IDENTITY fenced-write GO_FILE CONFIGMAP
//       lock, print "acquired ...", then (a holder that will be paused past
//       its lease and never checks again) wait for GO_FILE and create
//       ConfigMap CONFIGMAP stamped with the grant it had (labelled
//       fence=LEASE); print "write <status> <leaselocker error or ok>"
//
// steady_clock is CLOCK_MONOTONIC: comparable between processes on one host.
#include <leaselocker/leaselocker.hpp>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <cstdio>
#include <filesystem>
#include <iostream>

namespace asio = boost::asio;
using namespace leaselocker;
using namespace std::chrono_literals;

static long long now_ns() {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

int main(int argc, char** argv) {
    if (argc < 6) {
        std::cerr << "usage: " << argv[0] << " KUBECONFIG CONTEXT LEASE IDENTITY hold|rounds N\n";
        return 2;
    }
    const std::string mode = argv[5];
    const int rounds = mode == "rounds" && argc > 6 ? std::atoi(argv[6]) : 1;
    asio::io_context io;
    client api{io.get_executor(), load_kubeconfig(argv[1], argv[2])};
    lease_locker locker{api, {"", argv[3]},
                        {.lease_duration = 3s, .renew_deadline = 2s, .retry_period = 500ms, .identity = argv[4]}};
    int status = 0;
    asio::co_spawn(io, [&]() -> asio::awaitable<void> {
        for (int r = 0; r < rounds; ++r) {
            co_await locker.lock(asio::use_awaitable);
            std::printf("acquired %lld %lld\n", now_ns(), static_cast<long long>(locker.current_fencing_token().sequence));
            std::fflush(stdout);
            if (mode == "fenced-write" && argc > 7) {
                const auto stamp = fence_annotations(locker);
                for (int i = 0; i < 3000 && !std::filesystem::exists(argv[6]); ++i) {
                    asio::steady_timer t(io, 20ms);
                    co_await t.async_wait(asio::use_awaitable);
                }
                std::string annotations;
                for (const auto& [k, v] : stamp) annotations += (annotations.empty() ? "" : ",") + ("\"" + k + "\":\"" + v + "\"");
                http_request req{.method = http_method::post,
                                 .target = "/api/v1/namespaces/" + api.config().default_namespace + "/configmaps",
                                 .body = std::string(R"({"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":")") + argv[7] +
                                         R"(","labels":{"fence":")" + argv[3] + R"("},"annotations":{)" + annotations + "}}}"};
                auto [ec, resp] = co_await api.request(std::move(req), asio::as_tuple(asio::use_awaitable));
                auto result = ec ? ec : fence_write_result(resp);
                std::printf("write %u %s\n", resp.status, result ? result.message().c_str() : "ok");
                std::fflush(stdout);
                co_return;
            }
            if (mode == "hold") {
                auto lost = co_await locker.wait_lost(asio::as_tuple(asio::use_awaitable));
                status = 3; // only a kill should end a hold
                co_return;
            }
            asio::steady_timer t(io, 50ms);
            co_await t.async_wait(asio::use_awaitable);
            std::printf("released %lld\n", now_ns());
            std::fflush(stdout);
            auto [ec, result] = co_await locker.unlock(asio::as_tuple(asio::use_awaitable));
            if (ec || result != unlock_result::released) status = 4;
        }
    }, [&](std::exception_ptr e) {
        if (e) status = 5;
    });
    io.run();
    return status;
}
