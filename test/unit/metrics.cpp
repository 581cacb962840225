// metrics_registry: what a locker reports, rendered in the Prometheus text
// format exactly (cumulative buckets, escaped labels, every family present).
#include <leaselocker/locker/metrics.hpp>

#include <boost/test/unit_test.hpp>

using namespace leaselocker;
using namespace std::chrono_literals;

namespace {
bool has_line(const std::string& text, const std::string& line) {
    return text.find(line + "\n") != std::string::npos;
}
} // namespace

BOOST_AUTO_TEST_SUITE(metrics)

BOOST_AUTO_TEST_CASE(an_empty_registry_declares_the_families_and_nothing_else) {
    metrics_registry m;
    const auto text = m.prometheus_text();
    BOOST_TEST(has_line(text, "# TYPE leader_election_master_status gauge"));
    BOOST_TEST(has_line(text, "# TYPE leader_election_slowpath_total counter"));
    BOOST_TEST(has_line(text, "# TYPE leaselocker_handoff_seconds histogram"));
    BOOST_TEST(text.find("{") == std::string::npos, text);
}

BOOST_AUTO_TEST_CASE(events_become_gauges_counters_and_cumulative_histograms) {
    metrics_registry m;
    const std::string lease = "ns/jobs";
    m.leading(lease, true);
    m.slow_path(lease);
    m.slow_path(lease);
    m.acquired(lease, 30ms, 4ms);   // waited, then a handoff of 4 ms
    m.acquired(lease, 2ms, 0ms);    // free at once: no handoff observed
    m.renewed(lease, 1200ms);
    m.renewed(lease, 300ms);
    m.lost(lease, loss_cause::renew_deadline);
    const auto text = m.prometheus_text();
    const std::string l = "name=\"ns/jobs\"";
    BOOST_TEST(has_line(text, "leader_election_master_status{" + l + "} 1"), text);
    BOOST_TEST(has_line(text, "leader_election_slowpath_total{" + l + "} 2"), text);
    BOOST_TEST(has_line(text, "leaselocker_acquire_wait_seconds_bucket{" + l + ",le=\"0.0025\"} 1"), text);
    BOOST_TEST(has_line(text, "leaselocker_acquire_wait_seconds_bucket{" + l + ",le=\"0.05\"} 2"), text);
    BOOST_TEST(has_line(text, "leaselocker_acquire_wait_seconds_bucket{" + l + ",le=\"+Inf\"} 2"), text);
    BOOST_TEST(has_line(text, "leaselocker_acquire_wait_seconds_count{" + l + "} 2"), text);
    BOOST_TEST(has_line(text, "leaselocker_handoff_seconds_bucket{" + l + ",le=\"0.0025\"} 0"), text);
    BOOST_TEST(has_line(text, "leaselocker_handoff_seconds_bucket{" + l + ",le=\"0.005\"} 1"), text);
    BOOST_TEST(has_line(text, "leaselocker_handoff_seconds_count{" + l + "} 1"), text);
    BOOST_TEST(has_line(text, "leaselocker_handoff_seconds_sum{" + l + "} 0.004"), text);
    BOOST_TEST(has_line(text, "leaselocker_renew_slack_seconds_bucket{" + l + ",le=\"0.25\"} 0"), text);
    BOOST_TEST(has_line(text, "leaselocker_renew_slack_seconds_bucket{" + l + ",le=\"0.5\"} 1"), text);
    BOOST_TEST(has_line(text, "leaselocker_renew_slack_seconds_bucket{" + l + ",le=\"2\"} 2"), text);
    BOOST_TEST(has_line(text, "leaselocker_losses_total{" + l + ",cause=\"renew_deadline\"} 1"), text);
    BOOST_TEST(has_line(text, "leaselocker_losses_total{" + l + ",cause=\"taken_over\"} 0"), text);
    m.leading(lease, false);
    BOOST_TEST(has_line(m.prometheus_text(), "leader_election_master_status{" + l + "} 0"));
}

BOOST_AUTO_TEST_CASE(label_values_are_escaped) {
    metrics_registry m;
    m.leading("a\"b\\c\nd", true);
    BOOST_TEST(has_line(m.prometheus_text(), "leader_election_master_status{name=\"a\\\"b\\\\c\\nd\"} 1"));
}

BOOST_AUTO_TEST_CASE(a_value_on_a_bucket_bound_counts_in_that_bucket) {
    metrics_registry m;
    m.renewed("x", 500ms); // le="0.5" includes 0.5
    BOOST_TEST(has_line(m.prometheus_text(), "leaselocker_renew_slack_seconds_bucket{name=\"x\",le=\"0.5\"} 1"));
}

BOOST_AUTO_TEST_SUITE_END()
