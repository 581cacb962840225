#include <leaselocker/locker/metrics.hpp>

#include <algorithm>
#include <cstdio>

namespace leaselocker {

const char* to_string(loss_cause c) noexcept {
    switch (c) {
    case loss_cause::taken_over: return "taken_over";
    case loss_cause::deleted: return "deleted";
    case loss_cause::renew_deadline: return "renew_deadline";
    case loss_cause::refused: return "refused";
    case loss_cause::preempted: return "preempted";
    }
    return "unknown";
}

namespace {

using seconds_d = std::chrono::duration<double>;

// Handoffs and waits span milliseconds to a lease; slack, up to a lease.
const std::vector<double> latency_bounds{0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60};
const std::vector<double> slack_bounds{0.1, 0.25, 0.5, 1, 2, 5, 10, 15, 30, 60};

metrics_registry::histogram make_histogram(const std::vector<double>& bounds) {
    return {bounds, std::vector<unsigned long long>(bounds.size() + 1, 0), 0, 0};
}

// A label value as the text format wants it: \, " and newline escaped.
std::string escaped(std::string_view v) {
    std::string out;
    for (char c : v) {
        if (c == '\\' || c == '"') out += '\\';
        if (c == '\n') {
            out += "\\n";
            continue;
        }
        out += c;
    }
    return out;
}

std::string number(double v) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.9g", v);
    return buf;
}

} // namespace

void metrics_registry::histogram::observe(double seconds) {
    const auto bucket = std::lower_bound(upper_bounds.begin(), upper_bounds.end(), seconds) - upper_bounds.begin();
    ++counts[static_cast<std::size_t>(bucket)];
    ++count;
    sum += seconds;
}

metrics_registry::per_lease& metrics_registry::at(std::string_view lease) {
    auto it = leases_.find(lease);
    if (it == leases_.end()) {
        per_lease fresh;
        fresh.wait = make_histogram(latency_bounds);
        fresh.handoff = make_histogram(latency_bounds);
        fresh.slack = make_histogram(slack_bounds);
        it = leases_.emplace(std::string(lease), std::move(fresh)).first;
    }
    return it->second;
}

void metrics_registry::leading(std::string_view lease, bool holding) {
    std::lock_guard lock(mutex_);
    at(lease).holding = holding;
}

void metrics_registry::slow_path(std::string_view lease) {
    std::lock_guard lock(mutex_);
    ++at(lease).slow_paths;
}

void metrics_registry::acquired(std::string_view lease, std::chrono::nanoseconds waited, std::chrono::nanoseconds handoff) {
    std::lock_guard lock(mutex_);
    auto& l = at(lease);
    l.wait.observe(seconds_d(waited).count());
    if (handoff > std::chrono::nanoseconds::zero()) l.handoff.observe(seconds_d(handoff).count());
}

void metrics_registry::renewed(std::string_view lease, std::chrono::nanoseconds slack) {
    std::lock_guard lock(mutex_);
    at(lease).slack.observe(seconds_d(slack).count());
}

void metrics_registry::lost(std::string_view lease, loss_cause cause) {
    std::lock_guard lock(mutex_);
    ++at(lease).losses[cause];
}

std::string metrics_registry::prometheus_text() const {
    std::lock_guard lock(mutex_);
    std::string out;
    auto family = [&](const char* name, const char* type, const char* help, auto&& each) {
        out += std::string("# HELP ") + name + " " + help + "\n# TYPE " + name + " " + type + "\n";
        for (const auto& [lease, l] : leases_) each(name, "name=\"" + escaped(lease) + "\"", l);
    };
    auto histogram_lines = [&](const char* name, const std::string& labels, const histogram& h) {
        unsigned long long cumulative = 0;
        for (std::size_t i = 0; i < h.counts.size(); ++i) {
            cumulative += h.counts[i];
            const std::string le = i < h.upper_bounds.size() ? number(h.upper_bounds[i]) : "+Inf";
            out += std::string(name) + "_bucket{" + labels + ",le=\"" + le + "\"} " + std::to_string(cumulative) + "\n";
        }
        out += std::string(name) + "_sum{" + labels + "} " + number(h.sum) + "\n";
        out += std::string(name) + "_count{" + labels + "} " + std::to_string(h.count) + "\n";
    };
    family("leader_election_master_status", "gauge", "1 while this process holds the lease, else 0.",
           [&](const char* n, const std::string& labels, const per_lease& l) {
               out += std::string(n) + "{" + labels + "} " + (l.holding ? "1" : "0") + "\n";
           });
    family("leader_election_slowpath_total", "counter", "Renewals that had to read the lease first.",
           [&](const char* n, const std::string& labels, const per_lease& l) {
               out += std::string(n) + "{" + labels + "} " + std::to_string(l.slow_paths) + "\n";
           });
    family("leaselocker_acquire_wait_seconds", "histogram", "From lock() to the grant.",
           [&](const char* n, const std::string& labels, const per_lease& l) { histogram_lines(n, labels, l.wait); });
    family("leaselocker_handoff_seconds", "histogram", "From the lease seen free or expired to the grant.",
           [&](const char* n, const std::string& labels, const per_lease& l) { histogram_lines(n, labels, l.handoff); });
    family("leaselocker_renew_slack_seconds", "histogram", "Validity left when a renewal was accepted.",
           [&](const char* n, const std::string& labels, const per_lease& l) { histogram_lines(n, labels, l.slack); });
    family("leaselocker_losses_total", "counter", "Held leases lost, by cause.",
           [&](const char* n, const std::string& labels, const per_lease& l) {
               for (auto cause : {loss_cause::taken_over, loss_cause::deleted, loss_cause::renew_deadline, loss_cause::refused,
                                   loss_cause::preempted}) {
                   const auto it = l.losses.find(cause);
                   out += std::string(n) + "{" + labels + ",cause=\"" + to_string(cause) + "\"} " +
                          std::to_string(it == l.losses.end() ? 0 : it->second) + "\n";
               }
           });
    return out;
}

} // namespace leaselocker
