// leaselocker: run a command under a Kubernetes Lease, and look at or free
// Leases, from shell scripts and CronJobs (docs/cli.md).
#include "cli/commands.hpp"

#include <leaselocker/error.hpp>

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
    try {
        auto line = parse_command_line(std::vector<std::string>(argv + 1, argv + argc));
        return std::visit(overloaded{
            [](const show_help& h) {
                std::cout << help_text(h.verb);
                return exit_code::ok;
            },
            [](const show_version&) {
                std::cout << "leaselocker 0.1.0\n";
                return exit_code::ok;
            },
            [](const run_options& o) { return run_command(o); },
            [](const status_options& o) { return status_command(o); },
            [](const wait_free_options& o) { return wait_free_command(o); },
            [](const release_options& o) { return release_command(o); },
        }, line);
    } catch (const usage_error& e) {
        std::cerr << "leaselocker: " << e.what() << "\n";
        return exit_code::usage;
    } catch (const leaselocker::config_error& e) {
        std::cerr << "leaselocker: " << e.what() << "\n";
        return exit_code::config;
    } catch (const std::exception& e) {
        std::cerr << "leaselocker: internal error: " << e.what() << "\n";
        return exit_code::software;
    }
}
