// leaselocker: run a command under a Kubernetes Lease, and look at or free
// Leases, from shell scripts and CronJobs (docs/cli.md).
#include "cli/commands.hpp"
#include "cli/session.hpp"
#include "cli/signals.hpp"

#include <leaselocker/error.hpp>
#include <leaselocker/version.hpp>

#include <algorithm>
#include <iostream>
#include <variant>

namespace {

template <class... F>
struct overloaded : F... {
    using F::operator()...;
};

} // namespace

int main(int argc, char** argv) {
    using namespace leaselocker::cli;
    note_inherited_signals();
    const std::vector<std::string> args(argv + 1, argv + argc);
    // A failure before a verb has its reporter still speaks JSON if asked.
    const auto dashes = std::find(args.begin(), args.end(), "--");
    const reporter out{std::find(args.begin(), dashes, "--json") != dashes};
    try {
        auto line = parse_command_line(args);
        return std::visit(overloaded{
            [](const show_help& h) {
                std::cout << help_text(h.verb);
                return exit_code::ok;
            },
            [](const show_version&) {
                std::cout << "leaselocker " LEASELOCKER_VERSION_STRING "\n";
                return exit_code::ok;
            },
            [](const run_options& o) { return run_command(o); },
            [](const status_options& o) { return status_command(o); },
            [](const wait_free_options& o) { return wait_free_command(o); },
            [](const release_options& o) { return release_command(o); },
            [](const fence_options& o) { return fence_command(o); },
        }, line);
    } catch (const usage_error& e) {
        return out.fail(exit_code::usage, e.what());
    } catch (const leaselocker::config_error& e) {
        return out.fail(exit_code::config, e.what());
    } catch (const std::exception& e) {
        return out.fail(exit_code::software, std::string("internal error: ") + e.what());
    }
}
