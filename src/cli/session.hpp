// What every verb of the command line shares: one io_context (run by the
// main thread only), one client, and one way to tell people what happened.
#pragma once

#include "cli/options.hpp"

#include <leaselocker/leaselocker.hpp>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/json/object.hpp>

#include <functional>
#include <memory>
#include <string>
#include <string_view>

namespace leaselocker::cli {

// Events on stderr: for people, one "leaselocker: ..." line for what they
// must know (waits, losses, failures); with --json, every event as one JSON
// object per line ({"time": RFC 3339, "event": name, ...fields}).
class reporter {
public:
    explicit reporter(bool json) : json_(json) {}
    bool json() const noexcept { return json_; }
    // `human` empty: the event is only for --json.
    void event(std::string_view name, boost::json::object fields, std::string_view human = {}) const;
    // A failure: one line (or an "error" event) and the exit code to use.
    int fail(int code, std::string_view message) const;
    // A failed request: the exit code its error calls for, and one line
    // saying what we were doing, the error and the server's message.
    int fail(std::string_view doing, error_code ec, const diagnostics& diag) const;

private:
    bool json_;
};

// Now on the wall clock, as a Lease writes time.
micro_time wall_now();

// The exit code for a failed request or lock operation (options.hpp).
int exit_code_for(error_code ec);

struct session {
    boost::asio::io_context io{1};
    reporter out;
    std::unique_ptr<client> api;

    // Loads the kubeconfig and makes the client; throws config_error.
    explicit session(const connection_options& conn);
    // The lease's namespace, the context's when the name gave none.
    std::string namespace_of(const lease_name& lease) const;
    std::string describe(const lease_name& lease) const { return namespace_of(lease) + "/" + lease.name; }
    // Runs `flow` to its end on this thread and returns its exit code (an
    // exception: "internal error", exit_code::software). `done` runs right
    // after it, to end waits of its own; whatever else still waits then
    // (the library's shared watch) ends with the io_context.
    int run(boost::asio::awaitable<int> flow, std::function<void()> done = {});
};

// Requests of the command line (a read, a release) give up after this.
inline constexpr std::chrono::seconds request_timeout{10};

} // namespace leaselocker::cli
