#include "cli/signals.hpp"

#include <algorithm>
#include <csignal>

namespace leaselocker::cli {

namespace {
std::vector<int> ignored_at_start;
}

void note_inherited_signals() {
    for (int s = 1; s < NSIG; ++s) {
        struct sigaction a{};
        if (::sigaction(s, nullptr, &a) == 0 && a.sa_handler == SIG_IGN) ignored_at_start.push_back(s);
    }
    std::signal(SIGPIPE, SIG_IGN);
}

bool started_ignored(int signo) {
    return std::find(ignored_at_start.begin(), ignored_at_start.end(), signo) != ignored_at_start.end();
}

std::vector<int> catchable(const std::vector<int>& wanted) {
    std::vector<int> out;
    std::copy_if(wanted.begin(), wanted.end(), std::back_inserter(out), [](int s) { return !started_ignored(s); });
    return out;
}

} // namespace leaselocker::cli
