// The process's signal dispositions: what we were started with (a signal
// ignored by nohup or a shell's `cmd &` stays ignored, for us and for the
// command), and SIGPIPE ignored while we run (a reader of our stderr that
// went away must not kill us while we hold a lease).
#pragma once

#include <vector>

namespace leaselocker::cli {

// Called first thing in main.
void note_inherited_signals();
bool started_ignored(int signo);
// Of `wanted`, those not ignored at start: the ones to catch and pass on.
std::vector<int> catchable(const std::vector<int>& wanted);

} // namespace leaselocker::cli
