#include "cli/session.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/json/serialize.hpp>

#include <cerrno>
#include <chrono>
#include <unistd.h>

namespace leaselocker::cli {

namespace {

// All of it to stderr: a signal (ours arrive without SA_RESTART) or a short
// write must not cut a line or lose the ones after it.
void write_line(std::string line) {
    line += '\n';
    for (std::size_t done = 0; done < line.size();) {
        const auto n = ::write(STDERR_FILENO, line.data() + done, line.size() - done);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return; // stderr is gone: nobody to tell
        done += static_cast<std::size_t>(n);
    }
}

} // namespace

void reporter::event(std::string_view name, boost::json::object fields, std::string_view human) const {
    if (json_) {
        boost::json::object line;
        line["time"] = format_micro_time(wall_now());
        line["event"] = name;
        for (auto& [k, v] : fields) line[k] = v;
        write_line(boost::json::serialize(line));
    } else if (!human.empty()) {
        write_line("leaselocker: " + std::string(human));
    }
}

int reporter::fail(int code, std::string_view message) const {
    event("error", {{"message", message}, {"exit_code", code}}, message);
    return code;
}

int reporter::fail(std::string_view doing, error_code ec, const diagnostics& diag) const {
    std::string line = std::string(doing) + ": " + ec.message();
    if (!diag.server_message.empty()) line += ": " + diag.server_message;
    else if (!diag.client_message.empty()) line += " (" + diag.client_message + ")";
    return fail(exit_code_for(ec), line);
}

micro_time wall_now() {
    return std::chrono::time_point_cast<std::chrono::microseconds>(std::chrono::system_clock::now());
}

int exit_code_for(error_code ec) {
    if (ec == error::forbidden || ec == error::unauthorized) return exit_code::no_permission;
    if (ec == error::config_not_found || ec == error::config_invalid || ec == error::credential_unavailable || ec == error::not_found ||
        ec == error::proxy_denied)
        return exit_code::config; // not_found: a lock operation's namespace does not exist
    if (ec == condition::transient || ec == condition::timed_out || ec == error::tls) return exit_code::unavailable;
    return exit_code::software;
}

session::session(const connection_options& conn)
    : out(conn.json),
      api(std::make_unique<client>(io.get_executor(),
                                   conn.kubeconfig.empty() ? load_default(conn.context) : load_kubeconfig(conn.kubeconfig, conn.context),
                                   client_options{.request_timeout = request_timeout, .user_agent = "leaselocker-cli/" LEASELOCKER_VERSION_STRING})) {}

int session::run(boost::asio::awaitable<int> flow, std::function<void()> done) {
    int code = exit_code::software;
    boost::asio::co_spawn(io, std::move(flow), [&](std::exception_ptr e, int result) {
        code = result;
        if (e) {
            try {
                std::rethrow_exception(e);
            } catch (const std::exception& x) {
                code = out.fail(exit_code::software, std::string("internal error: ") + x.what());
            }
        }
        if (done) done();
        io.stop();
    });
    io.run();
    return code;
}

std::string session::namespace_of(const lease_name& lease) const {
    return lease.namespace_name.empty() ? api->config().default_namespace : lease.namespace_name;
}

} // namespace leaselocker::cli
