// The verbs of the command line; each returns the process's exit code
// (options.hpp) and throws config_error or usage_error before it has sent
// anything.
#pragma once

#include "cli/options.hpp"

namespace leaselocker::cli {

int run_command(const run_options& o);
int status_command(const status_options& o);
int wait_free_command(const wait_free_options& o);
int release_command(const release_options& o);
int fence_command(const fence_options& o);

} // namespace leaselocker::cli
