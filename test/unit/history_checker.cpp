// The chaos suite's history checker, fed histories with known violations
// (and clean ones), so a green chaos run means something.
#include "chaos/history.hpp"

#include <boost/test/unit_test.hpp>

#include <initializer_list>

using namespace leaselocker::chaos;

namespace {

std::vector<event> history(std::initializer_list<const char*> lines) {
    std::vector<event> out;
    for (const char* l : lines) {
        auto e = parse_event(l);
        BOOST_TEST_REQUIRE(e.has_value(), l);
        out.push_back(*e);
    }
    return out;
}

} // namespace

BOOST_AUTO_TEST_SUITE(history_checker)

BOOST_AUTO_TEST_CASE(a_clean_handoff_passes_and_is_measured) {
    auto r = check(history({
        R"({"t":1000000,"p":"recorder","e":"version","holder":"a","seq":0,"rv":"10"})",
        R"({"t":1000000,"p":"a","e":"acquire_ok","seq":0,"epoch":"u"})",
        R"({"t":2000000,"p":"a","e":"check","seq":0,"valid_until":9000000})",
        R"({"t":3000000,"p":"a","e":"write","seq":0,"epoch":"u","accepted":true})",
        R"({"t":4000000,"p":"a","e":"release","seq":0,"result":"released"})",
        R"({"t":4000000,"p":"recorder","e":"version","holder":"","seq":0,"rv":"11"})",
        R"({"t":9000000,"p":"b","e":"acquire_ok","seq":1,"epoch":"u"})",
        R"({"t":9000000,"p":"recorder","e":"version","holder":"b","seq":1,"rv":"12"})",
        R"({"t":9500000,"p":"b","e":"check","seq":1,"valid_until":19000000})",
        R"({"t":9600000,"p":"b","e":"write","seq":1,"epoch":"u","accepted":true})",
        R"({"t":9700000,"p":"recorder","e":"version","holder":"b","seq":1,"rv":"13"})",
    }));
    BOOST_TEST(r.ok(), to_json(r));
    BOOST_TEST(r.grants == 2u);
    BOOST_TEST(r.server_versions == 4u);
    BOOST_TEST(r.accepted_writes == 2u);
    BOOST_TEST(r.handoff.n == 1u);
    BOOST_TEST(r.handoff.p50_ms == 5.0); // release at 4 ms, next grant at 9 ms
}

BOOST_AUTO_TEST_CASE(overlapping_claims_are_found) {
    // a's last valid check (t=100 ms) comes after b's grant (t=50 ms).
    auto r = check(history({
        R"({"t":0,"p":"a","e":"acquire_ok","seq":3,"epoch":"u"})",
        R"({"t":50000000,"p":"b","e":"acquire_ok","seq":4,"epoch":"u"})",
        R"({"t":100000000,"p":"a","e":"check","seq":3,"valid_until":200000000})",
    }));
    BOOST_TEST(!r.ok());
    BOOST_TEST(r.overlapping_claims == 1u);
    BOOST_TEST_REQUIRE(r.violations.size() == 1u);
    BOOST_TEST(r.violations[0].find("claims overlap") != std::string::npos, r.violations[0]);
}

BOOST_AUTO_TEST_CASE(a_stale_write_accepted_after_a_newer_one_is_a_violation_a_rejected_one_is_not) {
    auto r = check(history({
        R"({"t":10,"p":"b","e":"write","seq":2,"epoch":"u","accepted":true})",
        R"({"t":20,"p":"a","e":"write","seq":1,"epoch":"u","accepted":true})",  // accepted: the store is broken
        R"({"t":30,"p":"a","e":"write","seq":1,"epoch":"u","accepted":false})", // refused: fencing works
    }));
    BOOST_TEST(r.accepted_stale_writes == 1u);
    BOOST_TEST(r.rejected_stale_writes == 1u);
    BOOST_TEST(!r.ok());
}

BOOST_AUTO_TEST_CASE(two_grants_with_one_token_are_caught_by_the_fencing_check) {
    // The store accepts equal tokens (one holder writing again); two
    // different grants must never share one.
    auto r = check(history({
        R"({"t":10,"p":"a","e":"write","seq":5,"epoch":"u","accepted":true})",
        R"({"t":20,"p":"b","e":"write","seq":5,"epoch":"u","accepted":true})",
    }));
    BOOST_TEST(r.accepted_stale_writes == 1u);
}

BOOST_AUTO_TEST_CASE(server_order_violations_are_found_and_gaps_relax_the_rule) {
    auto bad = check(history({
        R"({"t":1,"p":"recorder","e":"version","holder":"a","seq":4,"rv":"1"})",
        R"({"t":2,"p":"recorder","e":"version","holder":"b","seq":6,"rv":"2"})", // +2 on one grant
        R"({"t":3,"p":"recorder","e":"version","holder":"","seq":7,"rv":"3"})",  // a release that adds
        R"({"t":4,"p":"recorder","e":"version","holder":"c","seq":5,"rv":"4"})", // back
    }));
    BOOST_TEST(bad.server_order_violations == 3u, to_json(bad));

    auto gap = check(history({
        R"({"t":1,"p":"recorder","e":"version","holder":"a","seq":4,"rv":"1"})",
        R"({"t":2,"p":"recorder","e":"gap"})",
        R"({"t":3,"p":"recorder","e":"version","holder":"d","seq":9,"rv":"7"})", // grants in between were not seen
        R"({"t":4,"p":"recorder","e":"version","holder":"d","seq":9,"rv":"8"})",
        R"({"t":5,"p":"recorder","e":"version","holder":"d","seq":10,"rv":"9"})", // d lost it and took it back
    }));
    BOOST_TEST(gap.server_order_violations == 0u, to_json(gap));
}

BOOST_AUTO_TEST_CASE(failover_is_measured_from_killing_the_holder) {
    auto r = check(history({
        R"({"t":0,"p":"a","e":"acquire_ok","seq":1,"epoch":"u"})",
        R"({"t":1000,"p":"recorder","e":"version","holder":"a","seq":1,"rv":"5"})",
        R"({"t":1000000000,"p":"nemesis","e":"kill","target":"a"})",
        R"({"t":1500000000,"p":"nemesis","e":"kill","target":"c"})", // not the holder: not a failover
        R"({"t":3900000000,"p":"b","e":"acquire_ok","seq":2,"epoch":"u"})",
    }));
    BOOST_TEST(r.ok());
    BOOST_TEST(r.nemeses.at("kill") == 2u);
    BOOST_TEST(r.failover.n == 1u);
    BOOST_TEST(r.failover.p50_ms == 2900.0);
}

BOOST_AUTO_TEST_CASE(the_liveness_distribution_has_its_tail_percentiles) {
    // 1,000 handoffs; the i-th waits i ms from release to the next grant.
    std::vector<event> events;
    std::int64_t t = 0;
    for (int i = 1; i <= 1000; ++i) {
        const auto p = "c" + std::to_string(i % 2);
        events.push_back(event{.t = t, .process = p, .kind = "acquire_ok", .seq = i});
        t += 1'000'000;
        events.push_back(event{.t = t, .process = p, .kind = "release", .result = "released", .seq = i});
        t += i * std::int64_t{1'000'000};
    }
    events.push_back(event{.t = t, .process = "c9", .kind = "acquire_ok", .seq = 1001});
    auto r = check(events);
    BOOST_TEST(r.ok(), to_json(r));
    BOOST_TEST(r.handoff.n == 1000u);
    BOOST_TEST(r.handoff.p50_ms == 501.0); // nearest rank on 1..1000
    BOOST_TEST(r.handoff.p90_ms == 900.0);
    BOOST_TEST(r.handoff.p99_ms == 990.0);
    BOOST_TEST(r.handoff.p999_ms == 999.0);
    BOOST_TEST(r.handoff.max_ms == 1000.0);
}

BOOST_AUTO_TEST_CASE(partial_and_foreign_lines_are_skipped) {
    BOOST_TEST(!parse_event(R"({"t":12,"p":"a","e":"acq)").has_value()); // killed mid-line
    BOOST_TEST(!parse_event(R"({"p":"a","e":"acquire_ok"})").has_value()); // no time
    BOOST_TEST(!parse_event("llcluster: ready").has_value());
}

BOOST_AUTO_TEST_SUITE_END()
