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

bool failed_with(const report& r, const std::string& text) {
    for (const auto& f : r.failures)
        if (f.find(text) != std::string::npos) return true;
    return false;
}

// a holds token 0 from 0 to its unlock at 0.3 s; b from 0.4 s; both write,
// check and are recorded: the minimal history that passes.
std::vector<event> clean() {
    return history({
        R"({"t":0,"p":"a","e":"start","identity":"a","clock_rate":1})",
        R"({"t":10,"p":"b","e":"start","identity":"b","clock_rate":1})",
        R"({"t":1000000,"p":"a","e":"acquire_ok","seq":0,"epoch":"u","valid_until":1900000000})",
        R"({"t":1000000,"p":"recorder","e":"version","holder":"a","seq":0,"rv":"10"})",
        R"({"t":2000000,"p":"a","e":"check","seq":0,"valid_until":1900000000})",
        R"({"t":3000000,"p":"a","e":"write","seq":0,"epoch":"u","accepted":true})",
        R"({"t":300000000,"p":"a","e":"unlocking","seq":0})",
        R"({"t":301000000,"p":"recorder","e":"version","holder":"","seq":0,"rv":"11"})",
        R"({"t":302000000,"p":"a","e":"release","seq":0,"result":"released"})",
        R"({"t":400000000,"p":"b","e":"acquire_ok","seq":1,"epoch":"u","valid_until":2300000000})",
        R"({"t":400000000,"p":"recorder","e":"version","holder":"b","seq":1,"rv":"12"})",
        R"({"t":400100000,"p":"b","e":"check","seq":1,"valid_until":2300000000})",
        R"({"t":400200000,"p":"b","e":"write","seq":1,"epoch":"u","accepted":true})",
        R"({"t":500000000,"p":"recorder","e":"version","holder":"b","seq":1,"rv":"13"})",
        R"({"t":460000000,"p":"a","e":"exit"})",
        R"({"t":501000000,"p":"b","e":"exit"})",
    });
}

} // namespace

BOOST_AUTO_TEST_SUITE(history_checker)

BOOST_AUTO_TEST_CASE(a_clean_handoff_passes_and_is_measured) {
    auto r = check(clean());
    BOOST_TEST(r.ok(), to_json(r));
    BOOST_TEST(r.grants == 2u);
    BOOST_TEST(r.checks == 2u);
    BOOST_TEST(r.server_versions == 4u);
    BOOST_TEST(r.accepted_writes == 2u);
    BOOST_TEST(r.grants_by_process.at("a") == 1u);
    BOOST_TEST(r.handoff.n == 1u);
    BOOST_TEST(r.handoff.p50_ms == 100.0); // let go at 300 ms ("unlocking"), next grant at 400 ms
    BOOST_TEST(r.takeover_margin.n == 0u); // a unlocked first: not an expiry takeover
}

BOOST_AUTO_TEST_CASE(a_holder_killed_after_its_release_reached_the_server_is_not_an_expiry_takeover) {
    // a is killed after its unlock's write (the recorder saw the lease free
    // with its token) but before it logged "release": b's grant is a
    // handoff, not a takeover 1.5 s before a's promise.
    auto h = clean();
    std::erase_if(h, [](const event& e) { return e.process == "a" && e.kind == "release"; });
    auto r = check(h);
    BOOST_TEST(r.ok(), to_json(r));
    BOOST_TEST(r.takeover_margin.n == 0u);
    // Without the free version, it is one (a negative margin: what the
    // checker reports for a successor that came too early).
    std::erase_if(h, [](const event& e) { return e.process == "recorder" && e.holder.empty(); });
    auto expired = check(h);
    BOOST_TEST(expired.takeover_margin.n == 1u);
    BOOST_TEST(expired.takeover_margin.min_ms < 0.0);
}

BOOST_AUTO_TEST_CASE(an_empty_or_vacuous_history_fails) {
    auto empty = check({});
    BOOST_TEST(!empty.ok());
    BOOST_TEST(failed_with(empty, "no grant"));
    BOOST_TEST(failed_with(empty, "no accepted write"));
    BOOST_TEST(failed_with(empty, "no version"));

    // Grants, but nobody ever asked whether the lock was valid.
    auto unchecked = check(history({
        R"({"t":1,"p":"a","e":"acquire_ok","seq":0,"epoch":"u","valid_until":100})",
        R"({"t":1,"p":"recorder","e":"version","holder":"a","seq":0,"rv":"1"})",
        R"({"t":2,"p":"a","e":"write","seq":0,"epoch":"u","accepted":true})",
    }));
    BOOST_TEST(!unchecked.ok());
    BOOST_TEST(failed_with(unchecked, "checked for validity"));
    // A grant with no valid_until cannot be judged.
    auto unpromised = check(history({
        R"({"t":1,"p":"a","e":"acquire_ok","seq":0,"epoch":"u"})",
        R"({"t":1,"p":"recorder","e":"version","holder":"a","seq":0,"rv":"1"})",
        R"({"t":2,"p":"a","e":"check","seq":0,"valid_until":100})",
        R"({"t":3,"p":"a","e":"write","seq":0,"epoch":"u","accepted":true})",
    }));
    BOOST_TEST(failed_with(unpromised, "without a valid_until"), to_json(unpromised));
}

// Mixed fleets: a Go peer promises nothing; its claim runs to its last
// "still leading" check. a (client-go) wrote a lease ending at 2 s and
// still acted at 3 s; b took over at `b_at`.
std::vector<event> go_peer_past_its_lease(const char* b_acquire) {
    auto h = history({
        R"({"t":0,"p":"a","e":"start","identity":"a","clock_rate":1,"impl":"client-go"})",
        R"({"t":10,"p":"b","e":"start","identity":"b","clock_rate":1})",
        R"({"t":1000000,"p":"a","e":"acquire_ok","seq":0,"epoch":"u","valid_until":1000000,"lease_end":2000000000})",
        R"({"t":1000000,"p":"recorder","e":"version","holder":"a","seq":0,"rv":"10"})",
        R"({"t":2000000,"p":"a","e":"check","seq":0,"valid_until":2000000,"lease_end":2000000000})",
        R"({"t":3000000,"p":"a","e":"write","seq":0,"epoch":"u","accepted":true})",
        R"({"t":3000000000,"p":"a","e":"check","seq":0,"valid_until":3000000000,"lease_end":2000000000})",
        R"({"t":3100000000,"p":"a","e":"write","seq":0,"epoch":"u","accepted":false})",
        R"({"t":3200000000,"p":"a","e":"unlocking","seq":0})",
        R"({"t":3300000000,"p":"a","e":"exit"})",
        R"({"t":3400000000,"p":"b","e":"exit"})",
    });
    auto rest = history({b_acquire,
                         R"({"t":2600000000,"p":"b","e":"check","seq":1,"valid_until":4000000000})",
                         R"({"t":2700000000,"p":"b","e":"write","seq":1,"epoch":"u","accepted":true})"});
    h.insert(h.end(), rest.begin(), rest.end());
    return h;
}

BOOST_AUTO_TEST_CASE(a_go_peer_acting_past_the_lease_it_wrote_is_its_design_and_counted_per_implementation) {
    auto h = go_peer_past_its_lease(R"({"t":2500000000,"p":"b","e":"acquire_ok","seq":1,"epoch":"u","valid_until":4000000000})");
    auto rec = history({R"({"t":2500000000,"p":"recorder","e":"version","holder":"b","seq":1,"rv":"11"})"});
    h.insert(h.end(), rec.begin(), rec.end());
    auto r = check(h);
    BOOST_TEST(r.overlapping_claims == 0u, to_json(r));
    BOOST_TEST(r.peer_overlaps["client-go"] == 1u);
    BOOST_TEST_REQUIRE(r.peer_overlap_examples.size() == 1u);
    BOOST_TEST(r.peer_overlap_examples[0].find("acted past the end of the lease it had written") != std::string::npos, r.peer_overlap_examples[0]);
    BOOST_TEST(r.grants_by_impl["client-go"] == 1u);
    BOOST_TEST(r.grants_by_impl["leaselocker"] == 1u);
    BOOST_TEST(r.safety_violations() == 0u);
}

BOOST_AUTO_TEST_CASE(taking_over_from_a_go_peer_before_its_lease_ran_out_is_a_violation) {
    auto h = go_peer_past_its_lease(R"({"t":1500000000,"p":"b","e":"acquire_ok","seq":1,"epoch":"u","valid_until":4000000000})");
    auto rec = history({R"({"t":1500000000,"p":"recorder","e":"version","holder":"b","seq":1,"rv":"11"})"});
    h.insert(h.end(), rec.begin(), rec.end());
    auto r = check(h);
    BOOST_TEST(r.overlapping_claims == 1u, to_json(r));
    BOOST_TEST(r.peer_overlaps.empty());
    BOOST_TEST(!r.ok());
}

BOOST_AUTO_TEST_CASE(a_grant_picked_up_again_after_a_failed_release_is_one_claim_resumed) {
    // a (the Go reference) failed to unlock (the lease stayed a's, token 0)
    // and its next lock renewed it: acquire_ok with the same token. Not a
    // second grant. (A C++ locker never does that: there it is a token
    // violation, checked at the end.)
    auto h = clean();
    h[0].impl = "go-reference";
    h.erase(h.begin() + 7, h.begin() + 9); // the recorder's free version and a's "released"
    auto more = history({
        R"({"t":302000000,"p":"a","e":"release","seq":0,"result":"not released"})",
        R"({"t":350000000,"p":"a","e":"acquire_ok","seq":0,"epoch":"u","valid_until":350000000})",
        R"({"t":360000000,"p":"a","e":"check","seq":0,"valid_until":360000000})",
        R"({"t":370000000,"p":"a","e":"unlocking","seq":0})",
        R"({"t":371000000,"p":"recorder","e":"version","holder":"","seq":0,"rv":"11"})",
        R"({"t":372000000,"p":"a","e":"release","seq":0,"result":"released"})",
    });
    h.insert(h.end(), more.begin(), more.end());
    auto r = check(h);
    BOOST_TEST(r.ok(), to_json(r));
    BOOST_TEST(r.grants == 2u);
    BOOST_TEST(r.resumed_grants == 1u);
    BOOST_TEST(r.token_order_violations == 0u);
    // The resumed claim runs to its unlocking at 370 ms: b at 400 ms is clear of it, at 365 ms it would not be.
    h.push_back(*parse_event(R"({"t":365000000,"p":"c","e":"acquire_ok","seq":7,"epoch":"u","valid_until":2300000000})"));
    BOOST_TEST(check(h).overlapping_claims >= 1u);
    h.pop_back();
    h[0].impl.clear(); // a C++ locker
    BOOST_TEST(check(h).token_order_violations >= 1u);
}

BOOST_AUTO_TEST_CASE(an_excused_go_claim_does_not_hide_an_overlap_among_the_others) {
    // a (client-go) acted to 3 s past its lease (ends 2 s); b took over at
    // 2.5 s and unlocked at 2.65 s, inside a's claim; c acquired at 2.62 s:
    // b and c overlap, behind a's longer (excused) claim.
    auto h = go_peer_past_its_lease(R"({"t":2500000000,"p":"b","e":"acquire_ok","seq":1,"epoch":"u","valid_until":4000000000})");
    auto more = history({
        R"({"t":2500000000,"p":"recorder","e":"version","holder":"b","seq":1,"rv":"11"})",
        R"({"t":2650000000,"p":"b","e":"unlocking","seq":1})",
        R"({"t":2620000000,"p":"c","e":"acquire_ok","seq":2,"epoch":"u","valid_until":4600000000})",
        R"({"t":2620000000,"p":"recorder","e":"version","holder":"c","seq":2,"rv":"12"})",
        R"({"t":2710000000,"p":"c","e":"check","seq":2,"valid_until":4600000000})",
    });
    h.insert(h.end(), more.begin(), more.end());
    auto r = check(h);
    BOOST_TEST(r.peer_overlaps["client-go"] == 1u, to_json(r));
    BOOST_TEST(r.overlapping_claims == 1u, to_json(r));
}

BOOST_AUTO_TEST_CASE(a_lease_written_free_by_another_process_ends_the_grant_for_everyone) {
    // b (C++) holds token 1 with a promise to 4 s; a (client-go, stale)
    // writes the lease free under token 1 at 2.8 s; c takes it at 2.9 s.
    auto h = history({
        R"({"t":0,"p":"a","e":"start","identity":"a","clock_rate":1,"impl":"client-go"})",
        R"({"t":10,"p":"b","e":"start","identity":"b","clock_rate":1})",
        R"({"t":20,"p":"c","e":"start","identity":"c","clock_rate":1})",
        R"({"t":2000000000,"p":"b","e":"acquire_ok","seq":1,"epoch":"u","valid_until":4000000000})",
        R"({"t":2000000000,"p":"recorder","e":"version","holder":"b","seq":1,"rv":"10"})",
        R"({"t":2010000000,"p":"b","e":"check","seq":1,"valid_until":4000000000})",
        R"({"t":2020000000,"p":"b","e":"write","seq":1,"epoch":"u","accepted":true})",
        R"({"t":2800000000,"p":"a","e":"freed","seq":1})",
        R"({"t":2800000000,"p":"recorder","e":"version","holder":"","seq":1,"rv":"11"})",
        R"({"t":2900000000,"p":"c","e":"acquire_ok","seq":2,"epoch":"u","valid_until":4800000000})",
        R"({"t":2900000000,"p":"recorder","e":"version","holder":"c","seq":2,"rv":"12"})",
        R"({"t":2910000000,"p":"c","e":"check","seq":2,"valid_until":4800000000})",
        R"({"t":2920000000,"p":"c","e":"write","seq":2,"epoch":"u","accepted":true})",
    });
    auto r = check(h);
    BOOST_TEST(r.overlapping_claims == 0u, to_json(r));
    BOOST_TEST(r.peer_overlaps["client-go"] == 1u, to_json(r));
    // Without the free write, c's takeover inside b's promise is a violation.
    h.erase(h.begin() + 7);
    BOOST_TEST(check(h).overlapping_claims == 1u);
}

BOOST_AUTO_TEST_CASE(a_go_peer_taking_over_a_go_peer_early_is_the_successors_design_and_its_stale_writes_are_counted_with_it) {
    // a (client-go) lease ends at 2 s; b (the Go reference) took over at
    // 1.5 s, its write sent at 1.4 s: b's design. a's claim past its lease
    // (to 3 s) writes once more, accepted before b fenced the store in.
    auto h = go_peer_past_its_lease(R"({"t":1500000000,"p":"b","e":"acquire_ok","seq":1,"epoch":"u","valid_until":1500000000,"granted_at":1400000000})");
    h[1].impl = "go-reference";
    auto more = history({R"({"t":1500000000,"p":"recorder","e":"version","holder":"b","seq":1,"rv":"11"})",
                         R"({"t":2550000000,"p":"a","e":"write","seq":0,"epoch":"u","accepted":true})"});
    h.insert(h.end(), more.begin(), more.end());
    auto r = check(h);
    BOOST_TEST(r.overlapping_claims == 0u, to_json(r));
    BOOST_TEST(r.peer_overlaps["go-reference"] == 1u, to_json(r));
    BOOST_TEST(r.accepted_stale_writes == 0u, to_json(r)); // counted with the implementation at fault: b's
    BOOST_TEST(r.peer_stale_writes["go-reference"] == 1u);
    // b taking over after a's lease end instead: a's design, and its stale write with it.
    auto late = go_peer_past_its_lease(R"({"t":2500000000,"p":"b","e":"acquire_ok","seq":1,"epoch":"u","valid_until":2500000000,"granted_at":2400000000})");
    late[1].impl = "go-reference";
    auto more2 = history({R"({"t":2500000000,"p":"recorder","e":"version","holder":"b","seq":1,"rv":"11"})",
                          R"({"t":2550000000,"p":"a","e":"write","seq":0,"epoch":"u","accepted":true})"});
    late.insert(late.end(), more2.begin(), more2.end());
    auto r2 = check(late);
    BOOST_TEST(r2.accepted_stale_writes == 0u, to_json(r2));
    BOOST_TEST(r2.peer_stale_writes["client-go"] == 1u);
    BOOST_TEST(r2.peer_overlaps["client-go"] == 1u);
}

// A Go holder stopped (or killed) right after its last check claims no
// more, but its lease still runs: taking it over before the lease it wrote
// ran out is judged by the token order, not by the claims.
std::vector<event> go_holder_stopped_then(const char* successor_start, const char* successor_acquire) {
    auto h = history({
        R"({"t":0,"p":"a","e":"start","identity":"a","clock_rate":1,"impl":"client-go"})",
        successor_start,
        R"({"t":500000000,"p":"a","e":"acquire_ok","seq":0,"epoch":"u","valid_until":500000000,"lease_end":2400000000})",
        R"({"t":500000000,"p":"recorder","e":"version","holder":"a","seq":0,"rv":"10"})",
        R"({"t":510000000,"p":"a","e":"write","seq":0,"epoch":"u","accepted":true})",
        R"({"t":1000000000,"p":"a","e":"check","seq":0,"valid_until":1000000000,"lease_end":2400000000})",
        R"({"t":1010000000,"p":"a","e":"lease","seq":0,"epoch":"u","lease_end":2900000000})",
        successor_acquire,
        R"({"t":2000000000,"p":"recorder","e":"version","holder":"b","seq":1,"rv":"11"})",
        R"({"t":2010000000,"p":"b","e":"check","seq":1,"valid_until":3900000000})",
        R"({"t":2020000000,"p":"b","e":"write","seq":1,"epoch":"u","accepted":true})",
    });
    return h;
}

BOOST_AUTO_TEST_CASE(a_takeover_from_a_go_holder_before_the_end_of_the_lease_it_wrote_is_judged_even_without_an_overlap) {
    // a's last answered write (after its last check) runs its lease to
    // 2.9 s; b decided at 2.0 s (valid_until 3.96 s less 1.96 s).
    auto r = check(go_holder_stopped_then(R"({"t":10,"p":"b","e":"start","identity":"b","clock_rate":1})",
                                          R"({"t":2000000000,"p":"b","e":"acquire_ok","seq":1,"epoch":"u","valid_until":3960000000})"));
    BOOST_TEST(r.overlapping_claims == 1u, to_json(r));
    BOOST_TEST(r.violations.at(0).find("early takeover") != std::string::npos, r.violations.at(0));
    // A Go successor doing the same: its design.
    auto go = check(go_holder_stopped_then(R"({"t":10,"p":"b","e":"start","identity":"b","clock_rate":1,"impl":"go-reference"})",
                                           R"({"t":2000000000,"p":"b","e":"acquire_ok","seq":1,"epoch":"u","valid_until":2000000000,"granted_at":1990000000})"));
    BOOST_TEST(go.overlapping_claims == 0u, to_json(go));
    BOOST_TEST(go.peer_overlaps["go-reference"] == 1u);
    // After the lease's end (b decided at 3.0 s): fine.
    auto late = check(go_holder_stopped_then(R"({"t":10,"p":"b","e":"start","identity":"b","clock_rate":1})",
                                             R"({"t":3000000000,"p":"b","e":"acquire_ok","seq":1,"epoch":"u","valid_until":4960000000})"));
    BOOST_TEST(late.overlapping_claims == 0u, to_json(late));
}

BOOST_AUTO_TEST_CASE(handoffs_are_measured_per_pair_of_implementations) {
    auto h = clean();
    h[0].impl = "go-reference"; // a's start
    auto r = check(h);
    BOOST_TEST(r.ok(), to_json(r));
    BOOST_TEST_REQUIRE(r.handoff_by_pair.count("go-reference → leaselocker") == 1u, to_json(r));
    BOOST_TEST(r.handoff_by_pair["go-reference → leaselocker"].n == 1u);
    BOOST_TEST(r.handoff_by_pair["go-reference → leaselocker"].p50_ms == r.handoff.p50_ms);
    // a promised nothing as a Go peer: its end is not an expiry takeover's measure
    BOOST_TEST(r.grants_by_impl["go-reference"] == 1u);
}

BOOST_AUTO_TEST_CASE(a_killed_holders_claim_lasts_until_its_promise) {
    // a is promised the lease until 1.9 s and killed at 0.5 s without
    // unlocking; b takes it at 1.8 s: an overlap, although a did nothing
    // after 0.5 s (it could have: it was promised 1.9 s).
    auto early = check(history({
        R"({"t":0,"p":"a","e":"acquire_ok","seq":3,"epoch":"u","valid_until":1900000000})",
        R"({"t":100000000,"p":"a","e":"check","seq":3,"valid_until":1900000000})",
        R"({"t":500000000,"p":"nemesis","e":"kill","target":"a"})",
        R"({"t":1800000000,"p":"b","e":"acquire_ok","seq":4,"epoch":"u","valid_until":3700000000})",
    }));
    BOOST_TEST(early.overlapping_claims == 1u, to_json(early));
    BOOST_TEST(early.takeover_margin.n == 1u);
    BOOST_TEST(early.takeover_margin.min_ms == -100.0);
    BOOST_TEST_REQUIRE(!early.violations.empty());
    BOOST_TEST(early.violations[0].find("100.0 ms early") != std::string::npos, early.violations[0]);

    // The same at 2.1 s: no overlap, a takeover 200 ms after the promise.
    auto late = check(history({
        R"({"t":0,"p":"a","e":"acquire_ok","seq":3,"epoch":"u","valid_until":1900000000})",
        R"({"t":100000000,"p":"a","e":"check","seq":3,"valid_until":1900000000})",
        R"({"t":500000000,"p":"nemesis","e":"kill","target":"a"})",
        R"({"t":2100000000,"p":"b","e":"acquire_ok","seq":4,"epoch":"u","valid_until":4000000000})",
    }));
    BOOST_TEST(late.overlapping_claims == 0u, to_json(late));
    BOOST_TEST(late.takeover_margin.min_ms == 200.0);
}

BOOST_AUTO_TEST_CASE(a_check_after_the_promise_extends_the_claim_and_an_unlock_ends_it) {
    // a checks at 2.5 s (the library said valid until 3 s) and unlocks at
    // 2.6 s; b at 2.55 s overlaps, c at 2.7 s does not.
    auto r = check(history({
        R"({"t":0,"p":"a","e":"acquire_ok","seq":1,"epoch":"u","valid_until":1900000000})",
        R"({"t":2500000000,"p":"a","e":"check","seq":1,"valid_until":3000000000})",
        R"({"t":2550000000,"p":"b","e":"acquire_ok","seq":2,"epoch":"u","valid_until":4000000000})",
        R"({"t":2600000000,"p":"a","e":"unlocking","seq":1})",
    }));
    BOOST_TEST(r.overlapping_claims == 1u, to_json(r));
    auto ok = check(history({
        R"({"t":0,"p":"a","e":"acquire_ok","seq":1,"epoch":"u","valid_until":1900000000})",
        R"({"t":2500000000,"p":"a","e":"check","seq":1,"valid_until":3000000000})",
        R"({"t":2600000000,"p":"a","e":"unlocking","seq":1})",
        R"({"t":2700000000,"p":"c","e":"acquire_ok","seq":2,"epoch":"u","valid_until":4000000000})",
    }));
    BOOST_TEST(ok.overlapping_claims == 0u, to_json(ok));
}

BOOST_AUTO_TEST_CASE(claims_of_one_process_count_too) {
    // A process that takes the lease again must have let go of its first
    // grant (unlocked, or its promise ended) first.
    auto r = check(history({
        R"({"t":0,"p":"a","e":"acquire_ok","seq":1,"epoch":"u","valid_until":2000000000})",
        R"({"t":1000000000,"p":"a","e":"acquire_ok","seq":2,"epoch":"u","valid_until":3000000000})",
    }));
    BOOST_TEST(r.overlapping_claims == 1u);
}

BOOST_AUTO_TEST_CASE(writes_are_judged_against_the_grants_before_them) {
    auto r = check(history({
        R"({"t":10,"p":"a","e":"acquire_ok","seq":1,"epoch":"u","valid_until":15})",
        R"({"t":20,"p":"b","e":"acquire_ok","seq":2,"epoch":"u","valid_until":25})",
        R"({"t":30,"p":"a","e":"write","seq":1,"epoch":"u","accepted":true})",  // token 2 was granted: stale, accepted
        R"({"t":40,"p":"a","e":"write","seq":1,"epoch":"u","accepted":false})", // stale, refused: right
        R"({"t":50,"p":"b","e":"write","seq":2,"epoch":"u","accepted":false})", // the newest, refused: wrong
        R"({"t":60,"p":"b","e":"write","seq":2,"epoch":"u","accepted":true})",
    }));
    BOOST_TEST(r.accepted_stale_writes == 1u, to_json(r));
    BOOST_TEST(r.rejected_stale_writes == 1u);
    BOOST_TEST(r.wrongly_refused_writes == 1u);
    BOOST_TEST(r.accepted_writes == 2u);
    BOOST_TEST(r.safety_violations() >= 2u);
    // Another epoch (the Lease recreated) is judged on its own.
    auto epochs = check(history({
        R"({"t":10,"p":"a","e":"acquire_ok","seq":7,"epoch":"u","valid_until":15})",
        R"({"t":20,"p":"b","e":"acquire_ok","seq":0,"epoch":"v","valid_until":25})",
        R"({"t":30,"p":"b","e":"write","seq":0,"epoch":"v","accepted":true})",
    }));
    BOOST_TEST(epochs.accepted_stale_writes == 0u);
    BOOST_TEST(epochs.token_order_violations == 0u);
}

BOOST_AUTO_TEST_CASE(tokens_are_unique_rise_per_process_and_are_seen_by_the_recorder) {
    auto r = check(history({
        R"({"t":1,"p":"recorder","e":"version","holder":"a","seq":5,"rv":"1"})",
        R"({"t":1,"p":"a","e":"acquire_ok","seq":5,"epoch":"u","valid_until":2})",
        R"({"t":10,"p":"b","e":"acquire_ok","seq":5,"epoch":"u","valid_until":11})",  // one token, two grants
        R"({"t":20,"p":"a","e":"acquire_ok","seq":4,"epoch":"u","valid_until":21})",  // a's tokens go back
        R"({"t":30,"p":"recorder","e":"version","holder":"d","seq":9,"rv":"2"})",
    }));
    BOOST_TEST(r.token_order_violations == 2u, to_json(r));
    BOOST_TEST(r.unrecorded_grants == 2u); // b's 5 and a's 4: the recorder never saw them

    // Logged out of the server's order (a process stopped with its grant's
    // answer on the way logs it late): not a violation by itself.
    auto late = check(history({
        R"({"t":1,"p":"recorder","e":"version","holder":"a","seq":5,"rv":"1"})",
        R"({"t":2,"p":"recorder","e":"version","holder":"b","seq":6,"rv":"2"})",
        R"({"t":3,"p":"b","e":"acquire_ok","seq":6,"epoch":"u","valid_until":100})",
        R"({"t":200,"p":"a","e":"acquire_ok","seq":5,"epoch":"u","valid_until":50})", // its promise had passed
    }));
    BOOST_TEST(late.token_order_violations == 0u, to_json(late));
    BOOST_TEST(late.overlapping_claims == 0u); // a's claim is empty

    // Near a recorder gap a missing version is not held against anyone.
    auto gap = check(history({
        R"({"t":1,"p":"recorder","e":"version","holder":"a","seq":5,"rv":"1"})",
        R"({"t":1,"p":"a","e":"acquire_ok","seq":5,"epoch":"u","valid_until":2})",
        R"({"t":10,"p":"b","e":"acquire_ok","seq":6,"epoch":"u","valid_until":11})",
        R"({"t":20,"p":"recorder","e":"gap"})",
        R"({"t":30,"p":"recorder","e":"version","holder":"b","seq":6,"rv":"3"})",
    }));
    BOOST_TEST(gap.unrecorded_grants == 0u, to_json(gap));
}

BOOST_AUTO_TEST_CASE(server_order_violations_fail_the_run_and_gaps_relax_the_rule) {
    auto bad = check(history({
        R"({"t":1,"p":"recorder","e":"version","holder":"a","seq":4,"rv":"1"})",
        R"({"t":2,"p":"recorder","e":"version","holder":"b","seq":6,"rv":"2"})", // +2 on one grant
        R"({"t":3,"p":"recorder","e":"version","holder":"","seq":7,"rv":"3"})",  // a release that adds
        R"({"t":4,"p":"recorder","e":"version","holder":"c","seq":5,"rv":"4"})", // back
    }));
    BOOST_TEST(bad.server_order_violations == 3u, to_json(bad));
    BOOST_TEST(!bad.ok());
    // Only the order is wrong: the rest of a clean history does not mask it.
    auto history_with_it = clean();
    history_with_it.push_back(*parse_event(R"({"t":600000000,"p":"recorder","e":"version","holder":"b","seq":0,"rv":"14"})"));
    auto r = check(history_with_it);
    BOOST_TEST(r.server_order_violations == 1u, to_json(r));
    BOOST_TEST(!r.ok());

    auto gap = check(history({
        R"({"t":1,"p":"recorder","e":"version","holder":"a","seq":4,"rv":"1"})",
        R"({"t":2,"p":"recorder","e":"gap"})",
        R"({"t":3,"p":"recorder","e":"version","holder":"d","seq":9,"rv":"7"})", // grants in between were not seen
        R"({"t":4,"p":"recorder","e":"version","holder":"d","seq":9,"rv":"8"})",
        R"({"t":5,"p":"recorder","e":"version","holder":"d","seq":10,"rv":"9"})", // d lost it and took it back
    }));
    BOOST_TEST(gap.server_order_violations == 0u, to_json(gap));
}

BOOST_AUTO_TEST_CASE(failover_is_measured_from_killing_the_holder_and_bounded) {
    auto events = clean();
    for (auto* l : {R"({"t":1000000000,"p":"nemesis","e":"kill","target":"b"})",
                    R"({"t":1500000000,"p":"nemesis","e":"kill","target":"c"})", // not the holder: not a failover
                    R"({"t":3900000000,"p":"c","e":"acquire_ok","seq":2,"epoch":"u","valid_until":5800000000})",
                    R"({"t":3900000000,"p":"recorder","e":"version","holder":"c","seq":2,"rv":"20"})",
                    R"({"t":3900100000,"p":"c","e":"check","seq":2,"valid_until":5800000000})"})
        events.push_back(*parse_event(l));
    auto r = check(events);
    BOOST_TEST(r.nemeses.at("kill") == 2u);
    BOOST_TEST(r.failover.n == 1u);
    BOOST_TEST(r.failover.p50_ms == 2900.0);
    BOOST_TEST(r.ok(), to_json(r)); // 2.9 s ≤ lease 2 s + 1 s
    auto strict = check(events, options{.failover_margin_ms = 500});
    BOOST_TEST(failed_with(strict, "holder killed"), to_json(strict));
}

BOOST_AUTO_TEST_CASE(stuck_or_failing_contenders_and_lost_lines_fail_the_run) {
    auto events = clean();
    // b is heard of again only 40 s later (15 leases of 2 s is 30 s).
    events.push_back(*parse_event(R"({"t":40400000000,"p":"b","e":"unlocking","seq":1})"));
    auto silent = check(events);
    BOOST_TEST(failed_with(silent, "b silent for"), to_json(silent));
    // ... unless it was stopped meanwhile.
    events.push_back(*parse_event(R"({"t":1000000000,"p":"nemesis","e":"stop","target":"b"})"));
    events.push_back(*parse_event(R"({"t":40000000000,"p":"nemesis","e":"cont","target":"b"})"));
    BOOST_TEST(!failed_with(check(events), "silent"), to_json(check(events)));
    // A contender that goes quiet and never exits is stuck to the end.
    auto trailing = clean();
    std::erase_if(trailing, [](const event& e) { return e.process == "b" && e.kind == "exit"; });
    trailing.push_back(*parse_event(R"({"t":40000000000,"p":"nemesis","e":"latency"})"));
    BOOST_TEST(failed_with(check(trailing), "b silent for"), to_json(check(trailing)));

    auto failing = clean();
    failing.push_back(*parse_event(R"x({"t":700000000,"p":"a","e":"acquire_failed","why":"forbidden (403)","permanent":true})x"));
    failing.push_back(*parse_event(R"({"t":800000000,"p":"a","e":"acquire_failed","why":"timeout","permanent":false})"));
    auto f = check(failing);
    BOOST_TEST(f.failures.size() == 1u, to_json(f));
    BOOST_TEST(failed_with(f, "forbidden (403)"));

    BOOST_TEST(check(clean(), options{.skipped_lines = 0}).ok());
    BOOST_TEST(failed_with(check(clean(), options{.skipped_lines = 1}), "unreadable lines")); // no kill explains it
}

BOOST_AUTO_TEST_CASE(a_stop_counts_as_effective_when_it_was_taken_over_and_the_target_learned_it) {
    auto r = check(history({
        R"({"t":0,"p":"a","e":"acquire_ok","seq":1,"epoch":"u","valid_until":1900000000})",
        R"({"t":1000000,"p":"a","e":"check","seq":1,"valid_until":1900000000})",
        R"({"t":2000000,"p":"nemesis","e":"stop","target":"a"})",
        R"({"t":2100000000,"p":"b","e":"acquire_ok","seq":2,"epoch":"u","valid_until":4000000000})",
        R"({"t":2100100000,"p":"b","e":"write","seq":2,"epoch":"u","accepted":true})",
        R"({"t":3000000000,"p":"nemesis","e":"cont","target":"a"})",
        R"({"t":3000100000,"p":"a","e":"write","seq":1,"epoch":"u","accepted":false})",
        R"({"t":3100000000,"p":"nemesis","e":"stop","target":"b"})", // nobody took over: not effective
        R"({"t":3200000000,"p":"nemesis","e":"cont","target":"b"})",
    }));
    BOOST_TEST(r.stops == 2u);
    BOOST_TEST(r.effective_stops == 1u, to_json(r));
    BOOST_TEST(r.rejected_stale_writes == 1u);
    BOOST_TEST(r.overlapping_claims == 0u);
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
    BOOST_TEST(r.overlapping_claims == 0u, to_json(r));
    BOOST_TEST(r.handoff.n == 1000u);
    BOOST_TEST(r.handoff.min_ms == 1.0);
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

// Electors: the clean history with a and b as leader_electors, a saying it
// stopped (on_stopped_leading) at `stopped_ns`.
namespace {
std::vector<event> electors(std::int64_t stopped_ns) {
    auto h = clean();
    for (auto& e : h)
        if (e.kind == "start") e.role = "elector";
    if (stopped_ns >= 0) h.push_back(*parse_event(R"({"t":)" + std::to_string(stopped_ns) + R"(,"p":"a","e":"stopped","seq":0})"));
    return h;
}
} // namespace

BOOST_AUTO_TEST_CASE(an_elector_that_stopped_before_the_next_started_passes) {
    auto r = check(electors(299000000));
    BOOST_TEST(r.ok(), to_json(r));
    BOOST_TEST(r.elector_terms == 1u);
    BOOST_TEST(r.stopped_after_started == 0u);
}

BOOST_AUTO_TEST_CASE(an_elector_that_stopped_after_the_next_started_is_a_violation) {
    auto r = check(electors(400000001)); // b's acquire_ok is at 400 ms
    BOOST_TEST(!r.ok());
    BOOST_TEST(r.stopped_after_started == 1u);
    BOOST_TEST(r.safety_violations() == 1u);
    r = check(electors(-1)); // never said it
    BOOST_TEST(r.stopped_after_started == 1u);
    // Lockers are not judged by it.
    auto plain = clean();
    BOOST_TEST(check(plain).elector_terms == 0u);
}

BOOST_AUTO_TEST_CASE(an_elector_that_stepped_down_hands_over_if_the_recorder_saw_the_release) {
    // An elector does not say whether its release reached the server: its
    // "release" is "stepped_down", and the recorder's free version decides.
    auto h = electors(299000000);
    for (auto& e : h)
        if (e.kind == "release") e.result = "stepped_down";
    auto r = check(h);
    BOOST_TEST(r.ok(), to_json(r));
    BOOST_TEST(r.handoff.n == 1u);
    BOOST_TEST(r.elector_terms_after_loss == 0u);
    // Not seen free: taken over after a loss, no handoff.
    std::erase_if(h, [](const event& e) { return e.process == "recorder" && e.holder.empty(); });
    r = check(h);
    BOOST_TEST(r.handoff.n == 0u);
    BOOST_TEST(r.elector_terms_after_loss == 1u);
}

BOOST_AUTO_TEST_CASE(an_elector_killed_or_stopped_during_its_term_is_excused) {
    auto h = electors(-1);
    h.push_back(*parse_event(R"({"t":200000000,"p":"nemesis","e":"kill","target":"a"})"));
    auto r = check(h);
    BOOST_TEST(r.stopped_after_started == 0u, to_json(r));
    BOOST_TEST(r.elector_terms_excused == 1u);
    h = electors(450000000);
    h.push_back(*parse_event(R"({"t":100000000,"p":"nemesis","e":"stop","target":"a"})"));
    h.push_back(*parse_event(R"({"t":440000000,"p":"nemesis","e":"cont","target":"a"})"));
    r = check(h);
    BOOST_TEST(r.stopped_after_started == 0u, to_json(r));
    BOOST_TEST(r.elector_terms_excused == 1u);
    // A stop of another process excuses nothing.
    h = electors(450000000);
    h.push_back(*parse_event(R"({"t":100000000,"p":"nemesis","e":"stop","target":"b"})"));
    h.push_back(*parse_event(R"({"t":140000000,"p":"nemesis","e":"cont","target":"b"})"));
    BOOST_TEST(check(h).stopped_after_started == 1u);
}

// The store a ConfigMap guarded by the admission fence: a and b take turns
// as in clean(); their admitted writes are among the store's versions, whose
// resourceVersions interleave with the Lease's (10, 20, 30, 40). b's first
// write is refused: the server's copy of the Lease lacked its grant.
namespace {
std::vector<event> guarded(std::initializer_list<const char*> extra = {}) {
    auto h = history({
        R"({"t":0,"p":"a","e":"start","identity":"a","clock_rate":1})",
        R"({"t":10,"p":"b","e":"start","identity":"b","clock_rate":1})",
        R"({"t":1000000,"p":"a","e":"acquire_ok","seq":0,"epoch":"u","valid_until":1900000000})",
        R"({"t":1000000,"p":"recorder","e":"version","holder":"a","seq":0,"epoch":"u","rv":"10"})",
        R"({"t":2000000,"p":"a","e":"check","seq":0,"valid_until":1900000000})",
        R"({"t":3000000,"p":"a","e":"write","seq":0,"epoch":"u","accepted":true,"sent":2500000})",
        R"({"t":3100000,"p":"recorder","e":"store_version","holder":"a","seq":0,"epoch":"u","writer":"a","sent":2500000,"rv":"15"})",
        R"({"t":300000000,"p":"a","e":"unlocking","seq":0})",
        R"({"t":301000000,"p":"recorder","e":"version","holder":"","seq":0,"epoch":"u","rv":"20"})",
        R"({"t":302000000,"p":"a","e":"release","seq":0,"result":"released"})",
        R"({"t":400000000,"p":"b","e":"acquire_ok","seq":1,"epoch":"u","valid_until":2300000000})",
        R"({"t":400500000,"p":"recorder","e":"version","holder":"b","seq":1,"epoch":"u","rv":"30"})",
        R"({"t":400100000,"p":"b","e":"check","seq":1,"valid_until":2300000000})",
        R"({"t":400300000,"p":"b","e":"write","seq":1,"epoch":"u","accepted":false,"sent":400200000})",
        R"({"t":402600000,"p":"b","e":"write","seq":1,"epoch":"u","accepted":true,"sent":402500000})",
        R"({"t":402700000,"p":"recorder","e":"store_version","holder":"b","seq":1,"epoch":"u","writer":"b","sent":402500000,"rv":"35"})",
        R"({"t":403000000,"p":"recorder","e":"store_version","holder":"b","seq":1,"epoch":"u","writer":"b","sent":402500000,"rv":"35"})",
        R"({"t":500000000,"p":"recorder","e":"version","holder":"b","seq":1,"epoch":"u","rv":"40"})",
        R"({"t":460000000,"p":"a","e":"exit"})",
        R"({"t":501000000,"p":"b","e":"exit"})",
    });
    for (const char* l : extra) h.push_back(*parse_event(l));
    return h;
}
} // namespace

BOOST_AUTO_TEST_CASE(a_guarded_configmap_is_judged_in_the_servers_order) {
    auto r = check(guarded());
    BOOST_TEST(r.ok(), to_json(r));
    BOOST_TEST(r.api_store);
    BOOST_TEST(r.store_versions == 2u); // the same version seen twice counts once
    BOOST_TEST(r.accepted_writes == 2u);
    BOOST_TEST(r.early_refusals == 1u);
    BOOST_TEST(r.early_refusal_lag.max_ms == 0.2); // sent 0.2 ms after b's acquire_ok
    BOOST_TEST(r.wrongly_refused_writes == 0u);
    BOOST_TEST(r.accepted_stale_writes == 0u);
    BOOST_TEST(r.stale_writes_in_window == 0u);
}

BOOST_AUTO_TEST_CASE(a_stale_write_stored_after_the_turn_ended_is_judged_by_how_late_it_was_sent) {
    auto r = check(guarded({
        // a's token stored after a's release (rv 20, known when the recorder saw it, 301 ms):
        // sent 59 ms later: outside the 50 ms window, a violation;
        R"({"t":461000000,"p":"recorder","e":"store_version","holder":"a","seq":0,"epoch":"u","writer":"a","sent":360000000,"rv":"37"})",
        // sent 1 ms later: the cache's lag, counted;
        R"({"t":402000000,"p":"recorder","e":"store_version","holder":"a","seq":0,"epoch":"u","writer":"a","sent":302000000,"rv":"33"})",
        // sent before it (stored late): in flight across the release.
        R"({"t":301500000,"p":"recorder","e":"store_version","holder":"a","seq":0,"epoch":"u","writer":"a","sent":299000000,"rv":"25"})",
    }));
    BOOST_TEST(r.accepted_stale_writes == 1u, to_json(r));
    BOOST_TEST(r.stale_writes_in_window == 1u);
    BOOST_TEST(r.stale_writes_in_flight == 1u);
    BOOST_TEST(r.stale_write_lag.min_ms == -2.0);
    BOOST_TEST(r.stale_write_lag.max_ms == 59.0); // every stale write's lag, the violation's too
    BOOST_TEST(!r.ok());
    bool named = false;
    for (const auto& v : r.violations)
        named = named || (v.find("stale write admitted: a with token 0") != std::string::npos && v.find("59.0 ms later") != std::string::npos);
    BOOST_TEST(named, to_json(r));
    // A wider window excuses it.
    options wide;
    wide.fence_window_ms = 100;
    auto late = guarded({R"({"t":461000000,"p":"recorder","e":"store_version","holder":"a","seq":0,"epoch":"u","writer":"a","sent":360000000,"rv":"37"})"});
    BOOST_TEST(check(late, wide).ok());
    BOOST_TEST(!check(late).ok());
}

BOOST_AUTO_TEST_CASE(a_takeover_is_known_from_the_successors_acquire_ok_if_the_recorder_saw_it_later) {
    // a never lets go (its claim overlaps b's: not what this judges); its
    // token stored after b's grant, sent 0.2 ms after b's acquire_ok (the
    // recorder saw the grant 0.5 ms after it).
    auto h = guarded({R"({"t":401000000,"p":"recorder","e":"store_version","holder":"a","seq":0,"epoch":"u","writer":"a","sent":400200000,"rv":"33"})"});
    std::erase_if(h, [](const event& e) { return e.kind == "unlocking" || e.kind == "release" || (e.kind == "version" && e.rv == 20); });
    auto r = check(h);
    BOOST_TEST(r.stale_writes_in_window == 1u, to_json(r));
    BOOST_TEST(r.stale_write_lag.max_ms == 0.2);
}

BOOST_AUTO_TEST_CASE(store_versions_the_recorder_cannot_place_or_did_not_see_fail_the_run) {
    // A gap in the Lease's watch before rv 30: the store's rv 25 cannot be placed.
    auto gap = check(guarded({
        R"({"t":350000000,"p":"recorder","e":"gap"})",
        R"({"t":351000000,"p":"recorder","e":"store_version","holder":"a","seq":0,"epoch":"u","writer":"a","sent":299000000,"rv":"25"})",
    }));
    BOOST_TEST(gap.store_versions_unjudged == 1u, to_json(gap));
    BOOST_TEST(gap.accepted_stale_writes == 0u);
    BOOST_TEST(failed_with(gap, "could not be judged"));
    // An admitted write the recorder never saw.
    auto unseen = check(guarded({R"({"t":3500000,"p":"a","e":"write","seq":0,"epoch":"u","accepted":true,"sent":3200000})"}));
    BOOST_TEST(unseen.unseen_accepted_writes == 1u, to_json(unseen));
    BOOST_TEST(failed_with(unseen, "not among the store versions"));
    // No store version at all.
    auto none = guarded();
    std::erase_if(none, [](const event& e) { return e.kind == "store_version"; });
    BOOST_TEST(failed_with(check(none), "no version of the guarded ConfigMap"));
}

BOOST_AUTO_TEST_CASE(store_versions_are_placed_by_resource_version_not_by_when_the_recorder_saw_them) {
    auto r = check(guarded({
        // b's stamp seen before the recorder saw b's grant, but stored after it (rv 36 > 30): right.
        R"({"t":350000000,"p":"recorder","e":"store_version","holder":"b","seq":1,"epoch":"u","writer":"b","sent":402550000,"rv":"36"})",
        // a's stamp seen late, but stored while a held (rv 16 < 20): right.
        R"({"t":600000000,"p":"recorder","e":"store_version","holder":"a","seq":0,"epoch":"u","writer":"a","sent":2600000,"rv":"16"})",
    }));
    BOOST_TEST(r.ok(), to_json(r));
    BOOST_TEST(r.store_versions == 4u);
    BOOST_TEST(r.accepted_stale_writes + r.stale_writes_in_window + r.stale_writes_in_flight == 0u);
}

BOOST_AUTO_TEST_CASE(a_stale_store_version_whose_turn_cannot_be_placed_is_not_judged) {
    // A stamp whose grant the recorder never saw: where its turn ended is unknown.
    auto unseen_grant = check(guarded({R"({"t":470000000,"p":"recorder","e":"store_version","holder":"z","seq":9,"epoch":"u","writer":"z","sent":460000000,"rv":"37"})"}));
    BOOST_TEST(unseen_grant.store_versions_unjudged == 1u, to_json(unseen_grant));
    BOOST_TEST(unseen_grant.accepted_stale_writes == 0u);
    // A gap between the stamp's last version (rv 10) and the store's: the end may be hidden.
    auto gap = check(guarded({
        R"({"t":350000000,"p":"recorder","e":"gap"})",
        R"({"t":470000000,"p":"recorder","e":"store_version","holder":"a","seq":0,"epoch":"u","writer":"a","sent":460000000,"rv":"37"})",
    }));
    BOOST_TEST(gap.store_versions_unjudged == 1u, to_json(gap));
    BOOST_TEST(gap.accepted_stale_writes == 0u);
    // The writer stopped between stamping `sent` and its write reaching the store: when it was sent is unknown.
    auto stopped = check(guarded({
        R"({"t":350000000,"p":"nemesis","e":"stop","target":"a"})",
        R"({"t":459000000,"p":"nemesis","e":"cont","target":"a"})",
        R"({"t":470000000,"p":"recorder","e":"store_version","holder":"a","seq":0,"epoch":"u","writer":"a","sent":340000000,"rv":"37"})",
    }));
    BOOST_TEST(stopped.store_versions_unjudged == 1u, to_json(stopped));
    BOOST_TEST(stopped.accepted_stale_writes == 0u);
    // Another epoch's stamp is not the Lease's.
    auto epoch = check(guarded({R"({"t":403000000,"p":"recorder","e":"store_version","holder":"b","seq":1,"epoch":"v","writer":"b","sent":402900000,"rv":"36"})"}));
    BOOST_TEST(epoch.store_versions_unjudged == 1u, to_json(epoch)); // its own version (epoch v) never seen
}

BOOST_AUTO_TEST_CASE(refusals_and_unseen_admissions_are_judged_by_their_send_time) {
    auto r = check(guarded({
        // b's write refused after b's validity (2.3 s) ran out: stale, rightly refused.
        R"({"t":2400100000,"p":"b","e":"write","seq":1,"epoch":"u","accepted":false,"sent":2400000000})",
        // a's write admitted, never seen by the recorder, sent 600 ms after b's grant (400 ms): a violation.
        R"({"t":1000100000,"p":"a","e":"write","seq":0,"epoch":"u","accepted":true,"sent":1000000000})",
    }));
    BOOST_TEST(r.rejected_stale_writes == 1u, to_json(r));
    BOOST_TEST(r.early_refusals == 1u); // only b's first, in guarded()
    BOOST_TEST(r.unseen_accepted_writes == 1u);
    BOOST_TEST(r.accepted_stale_writes == 1u);
    BOOST_TEST(!r.ok());
}

BOOST_AUTO_TEST_SUITE_END()
