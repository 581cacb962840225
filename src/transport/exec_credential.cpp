#include "exec_credential.hpp"

#include <leaselocker/lease/micro_time.hpp>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <boost/json/value.hpp>

#include <csignal>
#include <cstring>
#include <memory>
#include <fcntl.h>
#include <spawn.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

extern char** environ;

namespace leaselocker::detail {

namespace asio = boost::asio;
namespace json = boost::json;
constexpr auto use_tuple = asio::as_tuple(asio::use_awaitable);

exec_credential parse_exec_credential(std::string_view text, const std::string& api_version, error_code& ec,
                                      std::string& failure) {
    exec_credential out;
    auto bad = [&](const std::string& why) {
        ec = error::credential_unavailable;
        failure = "exec plugin output: " + why;
        return exec_credential{};
    };
    boost::system::error_code jec;
    auto v = json::parse(text, jec);
    if (jec || !v.is_object()) return bad("not a JSON object");
    const auto& o = v.get_object();
    auto str = [&](const json::object& obj, std::string_view key) -> std::string {
        auto* f = obj.if_contains(key);
        return f && f->is_string() ? std::string(f->get_string()) : std::string();
    };
    if (str(o, "kind") != "ExecCredential") return bad("kind is not ExecCredential");
    if (str(o, "apiVersion") != api_version) return bad("apiVersion differs from the configured " + api_version);
    auto* status = o.if_contains("status");
    if (!status || !status->is_object()) return bad("no status");
    const auto& s = status->get_object();
    out.token = secret(str(s, "token"));
    out.client_certificate_pem = str(s, "clientCertificateData");
    out.client_key_pem = secret(str(s, "clientKeyData"));
    if (out.token.empty() && out.client_certificate_pem.empty()) return bad("neither token nor clientCertificateData");
    if (out.client_certificate_pem.empty() != out.client_key_pem.empty())
        return bad("clientCertificateData and clientKeyData must come together");
    if (auto exp = str(s, "expirationTimestamp"); !exp.empty()) {
        auto t = parse_micro_time(exp);
        if (!t) return bad("expirationTimestamp is not an RFC 3339 time");
        out.expiry = std::chrono::time_point_cast<std::chrono::system_clock::duration>(*t);
    }
    return out;
}

namespace {

// KUBERNETES_EXEC_INFO: what the plugin is told about the request.
std::string exec_info(const exec_config& exec, const cluster_config& cluster) {
    json::object spec{{"interactive", false}};
    if (exec.provide_cluster_info) {
        json::object c{{"server", cluster.server}, {"insecure-skip-tls-verify", cluster.insecure_skip_tls_verify}};
        if (!cluster.tls_server_name.empty()) c["tls-server-name"] = cluster.tls_server_name;
        if (!cluster.certificate_authority_pem.empty()) {
            static constexpr char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
            const auto& in = cluster.certificate_authority_pem;
            std::string b64;
            for (std::size_t i = 0; i < in.size(); i += 3) {
                unsigned n = static_cast<unsigned char>(in[i]) << 16;
                if (i + 1 < in.size()) n |= static_cast<unsigned char>(in[i + 1]) << 8;
                if (i + 2 < in.size()) n |= static_cast<unsigned char>(in[i + 2]);
                b64 += alphabet[(n >> 18) & 63];
                b64 += alphabet[(n >> 12) & 63];
                b64 += i + 1 < in.size() ? alphabet[(n >> 6) & 63] : '=';
                b64 += i + 2 < in.size() ? alphabet[n & 63] : '=';
            }
            c["certificate-authority-data"] = b64;
        }
        spec["cluster"] = std::move(c);
    }
    return json::serialize(json::object{{"apiVersion", exec.api_version}, {"kind", "ExecCredential"}, {"spec", std::move(spec)}});
}

struct fd_guard {
    int fd = -1;
    ~fd_guard() {
        if (fd >= 0) ::close(fd);
    }
};

} // namespace

asio::awaitable<exec_credential> run_exec_plugin(const exec_config& exec, const cluster_config& cluster,
                                                 std::chrono::steady_clock::time_point deadline, error_code& ec,
                                                 std::string& failure) {
    auto ex = co_await asio::this_coro::executor;
    int out_pipe[2];
    if (::pipe2(out_pipe, O_CLOEXEC) != 0) {
        ec = error::credential_unavailable;
        failure = "exec plugin: cannot create a pipe";
        co_return exec_credential{};
    }
    fd_guard write_end{out_pipe[1]};

    // Environment: ours, the plugin's own, and KUBERNETES_EXEC_INFO.
    std::vector<std::string> env_strings;
    for (char** e = environ; *e; ++e) env_strings.emplace_back(*e);
    for (const auto& [k, v] : exec.env) env_strings.push_back(k + "=" + v);
    env_strings.push_back("KUBERNETES_EXEC_INFO=" + exec_info(exec, cluster));
    std::vector<char*> envp;
    for (auto& s : env_strings) envp.push_back(s.data());
    envp.push_back(nullptr);
    std::vector<std::string> arg_strings{exec.command};
    arg_strings.insert(arg_strings.end(), exec.args.begin(), exec.args.end());
    std::vector<char*> argv;
    for (auto& s : arg_strings) argv.push_back(s.data());
    argv.push_back(nullptr);

    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_adddup2(&actions, out_pipe[1], STDOUT_FILENO);
    posix_spawn_file_actions_addopen(&actions, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
    // Its own process group, so a timeout kills whatever it started too.
    posix_spawnattr_t attr;
    posix_spawnattr_init(&attr);
    posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP);
    posix_spawnattr_setpgroup(&attr, 0);
    pid_t pid = -1;
    int rc = ::posix_spawnp(&pid, exec.command.c_str(), &actions, &attr, argv.data(), envp.data());
    posix_spawnattr_destroy(&attr);
    posix_spawn_file_actions_destroy(&actions);
    ::close(write_end.fd);
    write_end.fd = -1;
    if (rc != 0) {
        ::close(out_pipe[0]);
        ec = error::credential_unavailable;
        failure = "exec plugin " + exec.command + ": cannot start: " + std::strerror(rc);
        co_return exec_credential{};
    }

    // Read stdout to its end, bounded by the deadline; then reap the child.
    // The timer's handler may run after this frame is gone: it shares
    // what it needs, and does nothing once the child has been reaped.
    struct child_state {
        asio::posix::stream_descriptor output;
        pid_t pid;
        bool reaped = false;
        bool timed_out = false;
    };
    auto child = std::make_shared<child_state>(child_state{asio::posix::stream_descriptor(ex, out_pipe[0]), pid});
    asio::steady_timer timer(ex, deadline);
    timer.async_wait([child](error_code tec) {
        if (!tec && !child->reaped) {
            child->timed_out = true;
            ::kill(-child->pid, SIGKILL);
            error_code ignored;
            child->output.cancel(ignored);
        }
    });
    std::string text;
    auto buffer = asio::dynamic_buffer(text, 1024 * 1024);
    auto [rec, n] = co_await asio::async_read(child->output, buffer, use_tuple);
    int status = 0;
    // The child closed stdout; it exits at once or is about to. Poll
    // waitpid briefly rather than block (no thread; SIGCHLD is the
    // application's).
    for (;;) {
        pid_t w = ::waitpid(pid, &status, WNOHANG);
        if (w == pid || w < 0) {
            child->reaped = true;
            break;
        }
        if (std::chrono::steady_clock::now() > deadline) ::kill(-pid, SIGKILL);
        asio::steady_timer pause(ex, std::chrono::milliseconds(5));
        co_await pause.async_wait(use_tuple);
    }
    timer.cancel();
    if (child->timed_out) {
        ec = error::timeout;
        failure = "exec plugin " + exec.command + ": killed at the request's deadline";
        co_return exec_credential{};
    }
    if (rec && rec != asio::error::eof) {
        ec = error::credential_unavailable;
        failure = "exec plugin " + exec.command + ": reading its output: " + rec.message();
        co_return exec_credential{};
    }
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        ec = error::credential_unavailable;
        failure = "exec plugin " + exec.command + ": exited with status " +
                  (WIFEXITED(status) ? std::to_string(WEXITSTATUS(status)) : "signal " + std::to_string(WTERMSIG(status)));
        co_return exec_credential{};
    }
    auto cred = parse_exec_credential(text, exec.api_version, ec, failure);
    if (ec) failure = exec.command + ": " + failure;
    co_return cred;
}

} // namespace leaselocker::detail
