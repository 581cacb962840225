// The leaselocker command line: what each verb was asked to do, parsed and
// checked before anything is sent (docs/cli.md has the user's view).
#pragma once

#include <leaselocker/locker/lease_locker.hpp>

#include <chrono>
#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace leaselocker::cli {

// Exit codes of our own (docs/cli.md). A command that ran with the lease
// held to its end exits with its own status (128 + N if killed by signal N).
namespace exit_code {
inline constexpr int ok = 0;
inline constexpr int conflict = 1;       // default of --conflict-exit-code: held by another (--try, --wait ran out)
inline constexpr int usage = 64;         // bad flag, missing `--`, invalid name (EX_USAGE)
inline constexpr int unavailable = 69;   // the API server cannot be reached or keeps failing (EX_UNAVAILABLE)
inline constexpr int software = 70;      // an answer we cannot use (EX_SOFTWARE)
inline constexpr int lost = 75;          // the lease was lost while the command ran: it was signalled (EX_TEMPFAIL)
inline constexpr int no_permission = 77; // 401 or 403 (EX_NOPERM)
inline constexpr int config = 78;        // no usable kubeconfig (EX_CONFIG)
inline constexpr int cannot_execute = 126;
inline constexpr int command_not_found = 127;
inline constexpr int signalled_base = 128; // + N: interrupted by signal N before the command started
} // namespace exit_code

// A command line we refuse; what() is the one line to print.
class usage_error : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

// Go's time.ParseDuration syntax ("1m30s", "500ms", "1.5h", "0"), as klock
// takes them; rounded up to whole milliseconds. Throws usage_error.
std::chrono::milliseconds parse_duration(std::string_view text);
// "NAMESPACE/NAME" or "NAME" (namespace empty: --namespace or the
// kubeconfig context's), checked as Kubernetes checks them. Throws usage_error.
lease_name parse_lease_ref(std::string_view text);
// "key=value,key=value" with Kubernetes' label syntax. Throws usage_error.
std::map<std::string, std::string> parse_labels(std::string_view text);
// "TERM", "SIGTERM" or "15". Throws usage_error.
int parse_signal(std::string_view text);
std::string signal_name(int signo);

struct connection_options {
    std::string kubeconfig; // empty: $KUBECONFIG, ~/.kube/config, in-cluster
    std::string context;
    std::string namespace_name; // for a lease given without one
    bool json = false;          // events as JSON lines on stderr
};

struct run_options {
    connection_options conn;
    lease_name lease;
    std::string identity; // empty: <hostname>_<random>
    std::map<std::string, std::string> labels;
    std::chrono::milliseconds wait{0}; // 0: as long as it takes
    bool try_once = false;
    bool foreground = false; // the command stays in our process group (it may read our terminal)
    int conflict_exit_code = exit_code::conflict;
    int loss_signal = 15; // SIGTERM
    std::chrono::milliseconds kill_after{std::chrono::seconds(3)}; // loss signal -> SIGKILL (0: never)
    std::chrono::milliseconds lease_duration{std::chrono::seconds(15)};
    std::chrono::milliseconds renew_deadline{std::chrono::seconds(10)};
    std::chrono::milliseconds retry_period{std::chrono::seconds(2)};
    std::vector<std::string> command;
};

struct status_options {
    connection_options conn;
    lease_name lease;
};

struct wait_free_options {
    connection_options conn;
    lease_name lease;
    std::chrono::milliseconds timeout{0}; // 0: as long as it takes
    int conflict_exit_code = exit_code::conflict;
};

struct release_options {
    connection_options conn;
    lease_name lease;
    bool force = false;   // whoever holds it
    std::string identity; // only if this identity holds it
};

// leaselocker fence install|remove|status: the admission fence of a Lease.
struct fence_options {
    connection_options conn;
    std::string action; // install, remove, status
    lease_name lease;
    std::vector<std::string> resources; // "configmaps", "deployments.apps" (resource[.group], as kubectl)
    std::map<std::string, std::string> selector;
    bool permissive = false;
    std::string name;   // empty: the default name
    bool print = false; // install: print the policy and binding, send nothing
};
struct show_help {
    std::string verb; // empty: the overview
};
struct show_version {};

using command_line = std::variant<show_help, show_version, run_options, status_options, wait_free_options, release_options, fence_options>;

// argv without the program name. Throws usage_error.
command_line parse_command_line(const std::vector<std::string>& args);

// The help text of a verb (empty: the overview).
std::string help_text(std::string_view verb);

} // namespace leaselocker::cli
