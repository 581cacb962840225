/// @file
/// Metrics of lockers and electors: a hook the locker calls, and a registry
/// that renders what it was told in the Prometheus text format.
///
/// @code
///   auto metrics = std::make_shared<leaselocker::metrics_registry>();
///   lock_config cfg;  cfg.metrics = metrics;
///   ... serve metrics->prometheus_text() at /metrics ...
/// @endcode
#pragma once

#include <chrono>
#include <map>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

namespace leaselocker {

/// Why a held lock was lost (metrics_sink::lost; the `cause` label of
/// leaselocker_losses_total).
enum class loss_cause {
    taken_over,     ///< another holder seen on the lease (watch or read)
    deleted,        ///< the Lease was deleted
    renew_deadline, ///< no renewal succeeded within renew_deadline
    refused,        ///< a renewal refused for good (forbidden, invalid, ...)
    preempted,      ///< the Lease's preferredHolder names another: stepped down
};
/// The cause's name as spelled in the enum ("taken_over", ...), for labels.
const char* to_string(loss_cause c) noexcept;

/// What a locker reports, on its strand, for the lease it names by
/// "namespace/name" (lock_config::name). Implementations must be quick and
/// must not call back into the locker; the defaults ignore everything.
class metrics_sink {
public:
    virtual ~metrics_sink() = default;
    /// Holding (true) or not any more (false: unlocked or lost).
    virtual void leading(std::string_view /*lease*/, bool /*holding*/) {}
    /// A renewal that had to read the lease first (after a conflict or an
    /// unknown outcome): client-go's slow path.
    virtual void slow_path(std::string_view /*lease*/) {}
    /// A grant. `waited`: from lock() to the grant; `handoff`: from the
    /// wake-up that found the lease free or expired to the grant (zero when
    /// lock() found it free at once).
    virtual void acquired(std::string_view /*lease*/, std::chrono::nanoseconds /*waited*/, std::chrono::nanoseconds /*handoff*/) {}
    /// A renewal accepted with `slack` of the previous validity left
    /// (valid_until − now when the answer came): how close it came to a loss.
    virtual void renewed(std::string_view /*lease*/, std::chrono::nanoseconds /*slack*/) {}
    /// A held lock was lost, and why.
    virtual void lost(std::string_view /*lease*/, loss_cause /*cause*/) {}
};

/// A sink that keeps counters and histograms per lease and renders them in
/// the Prometheus text exposition format (version 0.0.4, which OpenMetrics
/// scrapers read too). Thread-safe; share one among many lockers.
///
/// @code{.unparsed}
///   leader_election_master_status{name}      gauge, 1 while holding (client-go's name)
///   leader_election_slowpath_total{name}     counter (client-go's name)
///   leaselocker_acquire_wait_seconds{name}   histogram: lock() → grant
///   leaselocker_handoff_seconds{name}        histogram: lease seen free/expired → grant
///   leaselocker_renew_slack_seconds{name}    histogram: validity left at each renewal
///   leaselocker_losses_total{name,cause}     counter
/// @endcode
class metrics_registry : public metrics_sink {
public:
    void leading(std::string_view lease, bool holding) override;
    void slow_path(std::string_view lease) override;
    void acquired(std::string_view lease, std::chrono::nanoseconds waited, std::chrono::nanoseconds handoff) override;
    void renewed(std::string_view lease, std::chrono::nanoseconds slack) override;
    void lost(std::string_view lease, loss_cause cause) override;

    /// Everything so far, one metric family after another (content type
    /// "text/plain; version=0.0.4").
    std::string prometheus_text() const;

    /// One histogram as the registry keeps it (rendered with cumulative
    /// buckets).
    struct histogram {
        std::vector<double> upper_bounds; ///< seconds, ascending; +Inf implied
        std::vector<unsigned long long> counts; ///< per bucket, not cumulative
        unsigned long long count = 0; ///< observations so far
        double sum = 0;               ///< their sum, in seconds
        /// Counts `seconds` in the first bucket whose upper bound is at
        /// least that (past the last bound: +Inf).
        void observe(double seconds);
    };

private:
    struct per_lease {
        bool holding = false;
        unsigned long long slow_paths = 0;
        histogram wait, handoff, slack;
        std::map<loss_cause, unsigned long long> losses;
    };
    per_lease& at(std::string_view lease);

    mutable std::mutex mutex_;
    std::map<std::string, per_lease, std::less<>> leases_;
};

} // namespace leaselocker
