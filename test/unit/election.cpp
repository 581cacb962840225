// The election core on a manual clock: no I/O, no sleeping.
#include <leaselocker/core/election.hpp>

#include <boost/test/unit_test.hpp>

using namespace leaselocker;
using namespace leaselocker::core;
using namespace std::chrono;
using namespace std::chrono_literals;

namespace {

struct manual_clock {
    steady_time now{seconds(1000)};
    micro_time wall{sys_days{2026y / 11 / 26} + 10h};
    void advance(milliseconds d) {
        now += d;
        wall += d;
    }
};

lock_record held_by(const std::string& who, int transitions = 3, int duration = 15) {
    return {who, duration, micro_time{sys_days{2026y / 11 / 26}}, micro_time{sys_days{2026y / 11 / 26} + 1h}, transitions};
}

const timing fast{.lease_duration = 15s, .renew_deadline = 10s, .retry_period = 2s};

timing with_first_sight(milliseconds margin) {
    timing t = fast;
    t.first_sight_margin = margin;
    return t;
}

} // namespace

BOOST_AUTO_TEST_SUITE(election)

BOOST_AUTO_TEST_CASE(no_object_means_create_with_transitions_zero) {
    manual_clock c;
    core::election e{"me", fast};
    auto d = e.observe(std::nullopt, c.now, c.wall);
    BOOST_TEST((d.step == next_step::create));
    BOOST_TEST(d.record.holder_identity == "me");
    BOOST_TEST(d.record.lease_duration_seconds == 15);
    BOOST_TEST(d.record.lease_transitions == 0);
    BOOST_TEST((d.record.acquire_time == c.wall && d.record.renew_time == c.wall));
}

BOOST_AUTO_TEST_CASE(an_empty_holder_is_free_at_once_and_transitions_grow) {
    manual_clock c;
    core::election e{"me", fast};
    auto d = e.observe(held_by("", 7), c.now, c.wall);
    BOOST_TEST((d.step == next_step::replace));
    BOOST_TEST(d.record.holder_identity == "me");
    BOOST_TEST(d.record.lease_transitions == 8);
}

BOOST_AUTO_TEST_CASE(another_holder_expires_by_observed_time_only) {
    manual_clock c;
    core::election e{"me", fast};
    auto record = held_by("other"); // renewTime an hour ago by our wall clock: ignored
    auto d = e.observe(record, c.now, c.wall);
    BOOST_TEST((d.step == next_step::wait));
    BOOST_TEST((d.wake_at == c.now + 15s)); // exactly its duration from first sight
    c.advance(14999ms);
    BOOST_TEST((e.observe(record, c.now, c.wall).step == next_step::wait));
    c.advance(1ms);
    d = e.observe(record, c.now, c.wall);
    BOOST_TEST((d.step == next_step::replace));
    BOOST_TEST(d.record.lease_transitions == 4);
}

BOOST_AUTO_TEST_CASE(a_renewal_by_the_holder_restarts_the_wait) {
    manual_clock c;
    core::election e{"me", fast};
    auto record = held_by("other");
    e.observe(record, c.now, c.wall);
    c.advance(10s);
    record.renew_time += 10s; // renewed
    auto d = e.observe(record, c.now, c.wall);
    BOOST_TEST((d.step == next_step::wait));
    BOOST_TEST((d.wake_at == c.now + 15s));
    c.advance(14s);
    BOOST_TEST((e.observe(record, c.now, c.wall).step == next_step::wait));
}

BOOST_AUTO_TEST_CASE(the_records_own_duration_governs_its_expiry) {
    manual_clock c;
    core::election e{"me", fast};
    auto record = held_by("other", 3, 2); // the holder asked for 2 s
    BOOST_TEST((e.observe(record, c.now, c.wall).wake_at == c.now + 2s));
    c.advance(2s);
    BOOST_TEST((e.observe(record, c.now, c.wall).step == next_step::replace));
}

BOOST_AUTO_TEST_CASE(wall_clock_mode_trusts_renew_time) {
    manual_clock c;
    timing t = fast;
    t.use_observed_time = false;
    core::election e{"me", t};
    auto stale = held_by("other"); // renewed an hour ago by our wall clock
    stale.renew_time = c.wall - 1h;
    BOOST_TEST((e.observe(stale, c.now, c.wall).step == next_step::replace));
    auto fresh = held_by("other");
    fresh.renew_time = c.wall - 5s;
    auto d = e.observe(fresh, c.now, c.wall);
    BOOST_TEST((d.step == next_step::wait));
    BOOST_TEST((d.wake_at == c.now + 10s));
}

BOOST_AUTO_TEST_CASE(our_own_identity_at_start_up_is_not_adopted) {
    manual_clock c;
    core::election e{"me", fast};
    auto mine = held_by("me"); // left by an earlier incarnation, maybe still running
    BOOST_TEST((e.observe(mine, c.now, c.wall).step == next_step::wait));
    c.advance(15s);
    auto d = e.observe(mine, c.now, c.wall);
    BOOST_TEST((d.step == next_step::replace));
    BOOST_TEST(d.record.lease_transitions == 4); // a new grant, a new fencing token

    core::election adopter{"me", fast, true};
    d = adopter.observe(mine, c.now, c.wall);
    BOOST_TEST((d.step == next_step::replace));
    BOOST_TEST(d.record.lease_transitions == 4);
}

BOOST_AUTO_TEST_CASE(holding_renewing_and_validity) {
    manual_clock c;
    core::election e{"me", fast};
    auto d = e.observe(std::nullopt, c.now, c.wall);
    const auto sent = c.now;
    c.advance(20ms);
    e.accepted(d.record, sent, std::nullopt);
    BOOST_TEST(e.holding());
    // Trusted for L(1-ρ)/(1+ρ) from when the write was sent, not received.
    BOOST_TEST((e.valid_until() < sent + 15s));
    BOOST_TEST((e.valid_until() > sent + 14500ms));
    BOOST_TEST((e.renew_deadline() == sent + 10s));
    BOOST_TEST((e.renew_deadline() < e.valid_until()));

    c.advance(2s);
    auto r = e.renewal(e.held_record(), c.wall);
    BOOST_TEST((r.acquire_time == d.record.acquire_time));
    BOOST_TEST((r.renew_time == c.wall));
    BOOST_TEST(r.lease_transitions == d.record.lease_transitions);
    e.accepted(r, c.now, d.record);
    BOOST_TEST((e.renew_deadline() == c.now + 10s));
    BOOST_TEST((e.valid_until() > c.now + 14500ms)); // 2 s later: a new second

    // Seen again as ours: renew on the fresh version.
    auto again = e.observe(r, c.now, c.wall);
    BOOST_TEST((again.step == next_step::replace));
    BOOST_TEST(again.record.lease_transitions == r.lease_transitions);
}

// client-go's observers compare the record as its LeaderElectionRecord
// (times as metav1.Time: whole seconds) and restart their clock only when
// that changes. A renewal whose renewTime falls in the same second as the
// version it replaced is invisible to them: it must not extend our
// validity (found by the mixed chaos profile: a client-go elector took over
// 24 ms before a C++ holder's valid_until after a stop that followed such a
// renewal). The renew deadline still counts from every renewal.
BOOST_AUTO_TEST_CASE(a_renewal_in_the_same_second_as_the_version_it_replaced_does_not_extend_validity) {
    manual_clock c;
    c.wall = micro_time{sys_days{2026y / 11 / 26} + 10h} + 100ms; // x.100 s
    core::election e{"me", fast};
    auto d = e.observe(std::nullopt, c.now, c.wall);
    const auto granted = c.now;
    e.accepted(d.record, granted, std::nullopt);
    const auto first = e.valid_until();

    c.advance(600ms); // x.700 s: the same second
    auto r = e.renewal(e.held_record(), c.wall);
    e.accepted(r, c.now, d.record);
    BOOST_TEST((e.valid_until() == first)); // client-go saw no change
    BOOST_TEST((e.renew_deadline() == c.now + 10s));

    c.advance(400ms); // (x+1).100 s: a new second, a change client-go sees
    const auto sent = c.now;
    auto r2 = e.renewal(e.held_record(), c.wall);
    e.accepted(r2, sent, r);
    BOOST_TEST((e.valid_until() > first));
    BOOST_TEST((e.valid_until() == first + (sent - granted)));
}

// Compared with the version a write replaced, not with our last accepted
// write: a renewal whose answer was lost (a timeout) may have landed in a
// new second, and client-go's waiters saw that one.
BOOST_AUTO_TEST_CASE(a_retry_in_the_same_second_as_a_renewal_that_landed_unanswered_does_not_extend_validity) {
    manual_clock c;
    c.wall = micro_time{sys_days{2026y / 11 / 26} + 10h} + 800ms; // x.800 s
    core::election e{"me", fast};
    auto d = e.observe(std::nullopt, c.now, c.wall);
    e.accepted(d.record, c.now, std::nullopt);
    const auto first = e.valid_until();
    c.advance(300ms); // (x+1).100: renewal B sent, its answer lost; it landed
    const auto landed = e.renewal(e.held_record(), c.wall);
    c.advance(500ms); // (x+1).600: read again (B), retry C over it
    BOOST_TEST((e.observe(landed, c.now, c.wall).step == next_step::replace));
    auto retry = e.renewal(landed, c.wall);
    e.accepted(retry, c.now, landed);
    BOOST_TEST((e.valid_until() == first)); // C is no change from B to client-go
}

BOOST_AUTO_TEST_CASE(a_takeover_ends_holding) {
    manual_clock c;
    core::election e{"me", fast};
    auto d = e.observe(std::nullopt, c.now, c.wall);
    e.accepted(d.record, c.now, std::nullopt);
    auto theirs = d.record;
    theirs.holder_identity = "other";
    theirs.lease_transitions = 1;
    auto after = e.observe(theirs, c.now, c.wall);
    BOOST_TEST(!e.holding());
    BOOST_TEST((after.step == next_step::wait));
    BOOST_TEST((e.valid_until() == steady_time{}));
}

BOOST_AUTO_TEST_CASE(release_writes_what_client_go_writes) {
    manual_clock c;
    core::election e{"me", fast};
    auto d = e.observe(held_by("", 5), c.now, c.wall);
    e.accepted(d.record, c.now, held_by("", 5));
    c.advance(3s);
    auto r = core::election::release(e.held_record(), c.wall);
    BOOST_TEST(r.holder_identity.empty());
    BOOST_TEST(r.lease_duration_seconds == 1);
    BOOST_TEST((r.acquire_time == c.wall && r.renew_time == c.wall));
    BOOST_TEST(r.lease_transitions == 6); // unchanged by release
}

// --- fair turns --------------------------------------------------------

namespace {

const fairness fair{.enabled = true, .claim_grace = 1s};

lock_record queued(lock_record r, std::vector<std::string> q) {
    r.queue = std::move(q);
    return r;
}

} // namespace

BOOST_AUTO_TEST_CASE(a_fair_waiter_joins_the_queue_of_a_held_lease_once) {
    manual_clock c;
    core::election e{"b", fast, false, fair};
    const auto held = queued(held_by("a"), {"x"});
    auto d = e.observe(held, c.now, c.wall);
    BOOST_TEST((d.step == next_step::enqueue));
    BOOST_TEST((d.record == queued(held, {"x", "b"}))); // nothing else changed
    const auto first_seen = c.now;
    c.advance(5ms);
    d = e.observe(d.record, c.now, c.wall);
    BOOST_TEST((d.step == next_step::wait));
    BOOST_TEST((d.wake_at == first_seen + 15s)); // a join is no renewal: the holder's clock runs on
    // Dropped from the queue (its head's grace ran out while we slept): join again.
    BOOST_TEST((e.observe(held, c.now, c.wall).step == next_step::enqueue));
}

// Found by review: joins restarted every waiter's clock, so each new
// waiter put off a dead holder's takeover by a whole lease.
BOOST_AUTO_TEST_CASE(joins_do_not_put_off_a_dead_holders_expiry_for_anyone) {
    manual_clock c;
    core::election fair_one{"b", fast, false, fair}, plain{"x", fast};
    auto dead = held_by("a");
    BOOST_TEST((fair_one.observe(dead, c.now, c.wall).wake_at == c.now + 15s));
    BOOST_TEST((plain.observe(dead, c.now, c.wall).wake_at == c.now + 15s));
    const auto expiry = c.now + 15s;
    for (const char* who : {"n1", "n2", "n3"}) { // newcomers join at 14 s, 14.1 s, ...
        c.advance(c.now < expiry - 1s ? 14s : 100ms);
        dead.queue.emplace_back(who);
        BOOST_TEST((fair_one.observe(dead, c.now, c.wall).wake_at == expiry));
        BOOST_TEST((plain.observe(dead, c.now, c.wall).wake_at == expiry));
    }
}

// Found by review: after a gone head's grace every waiter behind it raced.
BOOST_AUTO_TEST_CASE(the_kth_in_line_waits_k_graces) {
    manual_clock c;
    core::election second{"b", fast, false, fair}, third{"c", fast, false, fair};
    const auto freed = queued(held_by("", 4), {"gone", "b", "c"});
    BOOST_TEST((second.observe(freed, c.now, c.wall).wake_at == c.now + 1s));
    BOOST_TEST((third.observe(freed, c.now, c.wall).wake_at == c.now + 2s));
    c.advance(1s);
    auto d = second.observe(freed, c.now, c.wall);
    BOOST_TEST((d.step == next_step::replace));
    BOOST_TEST((d.record.queue == std::vector<std::string>{"c"}));
    BOOST_TEST((third.observe(freed, c.now, c.wall).step == next_step::wait)); // still b's turn
}

BOOST_AUTO_TEST_CASE(a_lease_held_by_our_own_identity_is_waited_out_without_joining) {
    manual_clock c;
    core::election e{"b", fast, false, fair};
    BOOST_TEST((e.observe(queued(held_by("b"), {"c"}), c.now, c.wall).step == next_step::wait));
}

BOOST_AUTO_TEST_CASE(the_head_takes_a_free_lease_at_once_and_leaves_the_queue) {
    manual_clock c;
    core::election e{"b", fast, false, fair};
    auto d = e.observe(queued(held_by("", 4), {"b", "c"}), c.now, c.wall);
    BOOST_TEST((d.step == next_step::replace));
    BOOST_TEST(d.record.holder_identity == "b");
    BOOST_TEST(d.record.lease_transitions == 5);
    BOOST_TEST((d.record.queue == std::vector<std::string>{"c"}));
}

BOOST_AUTO_TEST_CASE(the_next_in_line_gives_the_head_its_grace_then_takes_the_lease_and_drops_it) {
    manual_clock c;
    core::election e{"c", fast, false, fair};
    const auto freed = queued(held_by("", 4), {"b", "c", "d"});
    // (d, third, waits two graces: the_kth_in_line_waits_k_graces)
    auto d = e.observe(freed, c.now, c.wall);
    BOOST_TEST((d.step == next_step::wait));
    BOOST_TEST((d.wake_at == c.now + 1s));
    c.advance(999ms);
    BOOST_TEST((e.observe(freed, c.now, c.wall).step == next_step::wait));
    c.advance(1ms);
    d = e.observe(freed, c.now, c.wall);
    BOOST_TEST((d.step == next_step::replace));
    BOOST_TEST((d.record.queue == std::vector<std::string>{"d"})); // b (who let its turn pass) and we are out
}

BOOST_AUTO_TEST_CASE(an_expired_lease_goes_to_the_head_first) {
    manual_clock c;
    core::election head{"b", fast, false, fair}, next{"c", fast, false, fair};
    const auto stale = queued(held_by("a"), {"b", "c"});
    BOOST_TEST((head.observe(stale, c.now, c.wall).step == next_step::wait));
    auto d = next.observe(stale, c.now, c.wall);
    BOOST_TEST((d.wake_at == c.now + 15s));
    c.advance(15s);
    BOOST_TEST((head.observe(stale, c.now, c.wall).step == next_step::replace));
    d = next.observe(stale, c.now, c.wall);
    BOOST_TEST((d.step == next_step::wait));
    BOOST_TEST((d.wake_at == c.now + 1s)); // the grace counts from the expiry
}

BOOST_AUTO_TEST_CASE(a_newcomer_to_a_free_lease_with_a_queue_joins_it) {
    manual_clock c;
    core::election e{"d", fast, false, fair};
    auto d = e.observe(queued(held_by("", 4), {"b"}), c.now, c.wall);
    BOOST_TEST((d.step == next_step::enqueue));
    BOOST_TEST((d.record.queue == std::vector<std::string>{"b", "d"}));
    BOOST_TEST(d.record.holder_identity.empty());
}

BOOST_AUTO_TEST_CASE(without_fair_turns_the_queue_is_kept_but_not_honoured) {
    manual_clock c;
    core::election e{"x", fast};
    auto d = e.observe(queued(held_by("", 4), {"b"}), c.now, c.wall);
    BOOST_TEST((d.step == next_step::replace)); // at once
    BOOST_TEST((d.record.queue == std::vector<std::string>{"b"}));
    BOOST_TEST((e.observe(queued(held_by("a"), {"b"}), c.now, c.wall).step == next_step::wait)); // never joins
}

BOOST_AUTO_TEST_CASE(renewal_and_release_keep_the_queue_of_the_version_they_replace) {
    manual_clock c;
    core::election e{"a", fast, false, fair};
    auto d = e.observe(std::nullopt, c.now, c.wall);
    e.accepted(d.record, c.now, std::nullopt);
    const auto joined = queued(d.record, {"b"}); // a waiter joined meanwhile
    c.advance(2s);
    auto r = e.renewal(joined, c.wall);
    BOOST_TEST((r.queue == std::vector<std::string>{"b"}));
    BOOST_TEST((r.renew_time == c.wall));
    auto again = e.observe(joined, c.now, c.wall);
    BOOST_TEST((again.step == next_step::replace));
    BOOST_TEST((again.record.queue == std::vector<std::string>{"b"}));
    BOOST_TEST((core::election::release(joined, c.wall).queue == std::vector<std::string>{"b"}));
}

BOOST_AUTO_TEST_CASE(every_nth_freed_lease_is_left_to_the_pollers_for_the_window) {
    manual_clock c;
    core::election e{"b", fast, false, fairness{.enabled = true, .claim_grace = 1s, .yield_every = 4, .yield_window = 600ms}};
    const auto after_8th = queued(held_by("", 8), {"b"});
    auto d = e.observe(after_8th, c.now, c.wall);
    BOOST_TEST((d.step == next_step::wait));
    BOOST_TEST((d.wake_at == c.now + 600ms));
    c.advance(600ms);
    BOOST_TEST((e.observe(after_8th, c.now, c.wall).step == next_step::replace));
    // Not a multiple of 4: at once.
    core::election f{"b", fast, false, fairness{.enabled = true, .claim_grace = 1s, .yield_every = 4, .yield_window = 600ms}};
    BOOST_TEST((f.observe(queued(held_by("", 9), {"b"}), c.now, c.wall).step == next_step::replace));
}

// Found by the second review: the graces counted from the release, not
// from the window's end, so after a window longer than a grace everyone
// behind the head raced.
BOOST_AUTO_TEST_CASE(after_a_yield_window_the_queues_graces_start) {
    manual_clock c;
    const fairness yielding{.enabled = true, .claim_grace = 1s, .yield_every = 4, .yield_window = 5s};
    core::election head{"a", fast, false, yielding}, second{"b", fast, false, yielding}, third{"c", fast, false, yielding};
    const auto freed = queued(held_by("", 8), {"a", "b", "c"});
    for (auto* e : {&head, &second, &third}) BOOST_TEST((e->observe(freed, c.now, c.wall).wake_at == c.now + 5s));
    c.advance(5s);
    BOOST_TEST((head.observe(freed, c.now, c.wall).step == next_step::replace));
    auto d = second.observe(freed, c.now, c.wall);
    BOOST_TEST((d.step == next_step::wait));
    BOOST_TEST((d.wake_at == c.now + 1s));
    BOOST_TEST((third.observe(freed, c.now, c.wall).wake_at == c.now + 2s));
}

// Found by the second review: a locker that had looked at the free lease
// long before (a try_lock) and joined late counted its graces from that
// look, and overtook one who had joined before it.
BOOST_AUTO_TEST_CASE(a_late_joiner_counts_its_graces_from_its_join) {
    manual_clock c;
    core::election late{"x", fast, false, fair};
    BOOST_TEST((late.observe(queued(held_by("", 4), {"dead"}), c.now, c.wall).step == next_step::enqueue)); // try_lock: not written
    c.advance(1h);
    auto d = late.observe(queued(held_by("", 4), {"dead", "y"}), c.now, c.wall); // y joined meanwhile
    BOOST_TEST((d.step == next_step::enqueue));
    const auto joined_at = c.now;
    c.advance(10ms);
    d = late.observe(queued(held_by("", 4), {"dead", "y", "x"}), c.now, c.wall);
    BOOST_TEST((d.step == next_step::wait));
    BOOST_TEST((d.wake_at == joined_at + 10ms + 2s)); // two graces from when it saw itself queued
}

BOOST_AUTO_TEST_CASE(a_waiter_dropped_and_queued_again_counts_from_its_new_join) {
    manual_clock c;
    core::election e{"b", fast, false, fair};
    e.observe(queued(held_by("", 4), {"a", "b"}), c.now, c.wall); // queued, second
    c.advance(10s);
    BOOST_TEST((e.observe(queued(held_by("", 4), {"a"}), c.now, c.wall).step == next_step::enqueue)); // dropped meanwhile
    c.advance(5ms);
    const auto rejoined = c.now;
    auto d = e.observe(queued(held_by("", 4), {"a", "b"}), c.now, c.wall);
    BOOST_TEST((d.step == next_step::wait));
    BOOST_TEST((d.wake_at == rejoined + 1s));
}

BOOST_AUTO_TEST_CASE(a_join_during_a_yield_window_does_not_stretch_it) {
    manual_clock c;
    core::election e{"b", fast, false, fairness{.enabled = true, .claim_grace = 1s, .yield_every = 4, .yield_window = 700ms}};
    const auto start = c.now;
    BOOST_TEST((e.observe(queued(held_by("", 8), {"b"}), c.now, c.wall).wake_at == start + 700ms));
    c.advance(400ms);
    BOOST_TEST((e.observe(queued(held_by("", 8), {"b", "z"}), c.now, c.wall).wake_at == start + 700ms));
}

BOOST_AUTO_TEST_CASE(a_full_queue_is_not_joined_and_its_head_is_dropped_after_its_grace) {
    manual_clock c;
    core::election e{"z", fast, false, fairness{.enabled = true, .claim_grace = 1s, .max_queue = 2}};
    BOOST_TEST((e.observe(queued(held_by("a"), {"x", "y"}), c.now, c.wall).step == next_step::wait));
    const auto freed = queued(held_by("", 4), {"x", "y"});
    BOOST_TEST((e.observe(freed, c.now, c.wall).step == next_step::wait));
    c.advance(1s);
    BOOST_TEST((e.observe(freed, c.now, c.wall).step == next_step::wait)); // after the whole queue: 2 graces
    c.advance(1s);
    auto d = e.observe(freed, c.now, c.wall);
    BOOST_TEST((d.step == next_step::replace));
    BOOST_TEST((d.record.queue == std::vector<std::string>{"y"}));
}

// First sight (lock_config::first_sight_margin): a record the server says
// changed long ago counts as observed since then.
BOOST_AUTO_TEST_CASE(first_sight_takes_a_lease_dead_past_its_duration_at_once) {
    manual_clock c;
    core::election e{"me", with_first_sight(1s)};
    // 15 s lease, changed ≥ 17 s ago on the server's clock: 16 s after the
    // margin, 15.68 s after ρ = 0.01. Expired.
    auto d = e.observe(held_by("dead"), c.now, c.wall, 17s);
    BOOST_TEST((d.step == next_step::replace));
    BOOST_TEST(d.record.holder_identity == "me");
    BOOST_TEST(d.record.lease_transitions == 4);
}

BOOST_AUTO_TEST_CASE(first_sight_shortens_the_wait_by_the_age_less_margin_and_rate_bound) {
    manual_clock c;
    core::election e{"me", with_first_sight(1s)};
    // Changed ≥ 11 s ago: 10 s after the margin, 10 × 0.99/1.01 on our clock.
    auto d = e.observe(held_by("live"), c.now, c.wall, 11s);
    BOOST_TEST((d.step == next_step::wait));
    const auto counted = duration_cast<steady_clock::duration>(10s * (0.99 / 1.01));
    BOOST_TEST((d.wake_at == c.now - counted + 15s));
    // Nearly as old as the duration plus margin: still not taken.
    core::election e2{"me", with_first_sight(1s)};
    BOOST_TEST((e2.observe(held_by("live"), c.now, c.wall, 16s).step == next_step::wait));
}

BOOST_AUTO_TEST_CASE(without_a_margin_the_servers_age_is_ignored) {
    manual_clock c;
    core::election e{"me", fast};
    auto d = e.observe(held_by("dead"), c.now, c.wall, 1h);
    BOOST_TEST((d.step == next_step::wait));
    BOOST_TEST((d.wake_at == c.now + 15s));
}

BOOST_AUTO_TEST_CASE(a_younger_age_later_never_moves_the_first_sight_forward) {
    manual_clock c;
    core::election e{"me", with_first_sight(0s)};
    const auto first = c.now;
    BOOST_TEST((e.observe(held_by("h"), c.now, c.wall, 5s).step == next_step::wait));
    c.advance(2s);
    // The same record again, read with no age known (from the watch) and
    // then with a smaller one than it had: the earliest sight stands.
    const auto counted = duration_cast<steady_clock::duration>(5s * (0.99 / 1.01));
    BOOST_TEST((e.observe(held_by("h"), c.now, c.wall).wake_at == first - counted + 15s));
    BOOST_TEST((e.observe(held_by("h"), c.now, c.wall, 1s).wake_at == first - counted + 15s));
    // A change (a renewal) restarts the clock from the new record's age.
    auto renewed = held_by("h");
    renewed.renew_time += 2s;
    BOOST_TEST((e.observe(renewed, c.now, c.wall, 0s).wake_at == c.now + 15s));
    auto again = renewed;
    again.renew_time += 2s;
    const auto counted3 = duration_cast<steady_clock::duration>(3s * (0.99 / 1.01));
    BOOST_TEST((e.observe(again, c.now, c.wall, 3s).wake_at == c.now - counted3 + 15s));
}

// Coordinated leader election (KEP-4355).
namespace {
lock_record coordinated(lock_record r, std::string preferred = {}) {
    r.strategy = "OldestEmulationVersion";
    r.preferred_holder = std::move(preferred);
    return r;
}
} // namespace

BOOST_AUTO_TEST_CASE(a_lease_with_a_strategy_is_never_taken_by_a_locker_that_is_not_a_candidate) {
    manual_clock c;
    core::election e{"me", fast};
    auto d = e.observe(coordinated(held_by("")), c.now, c.wall); // free
    BOOST_TEST((d.step == next_step::wait));
    BOOST_TEST((d.wake_at == steady_time::max())); // until it changes
    d = e.observe(coordinated(held_by("other")), c.now, c.wall);
    c.advance(60s); // long expired
    d = e.observe(coordinated(held_by("other")), c.now, c.wall);
    BOOST_TEST((d.step == next_step::wait));
    core::election adopting{"me", fast, true};
    BOOST_TEST((adopting.observe(coordinated(held_by("me")), c.now, c.wall).step == next_step::wait));
    // Without the strategy it is an ordinary lease again.
    BOOST_TEST((e.observe(held_by(""), c.now, c.wall).step == next_step::replace));
}

BOOST_AUTO_TEST_CASE(a_candidate_never_creates_nor_takes_a_free_or_expired_lease) {
    manual_clock c;
    core::election e{"me", fast, false, {}, true};
    BOOST_TEST((e.observe(std::nullopt, c.now, c.wall).step == next_step::wait));
    BOOST_TEST((e.observe(coordinated(held_by("")), c.now, c.wall).step == next_step::wait));
    BOOST_TEST((e.observe(held_by(""), c.now, c.wall).step == next_step::wait)); // not even without a strategy
    e.observe(coordinated(held_by("other")), c.now, c.wall);
    c.advance(60s);
    auto d = e.observe(coordinated(held_by("other")), c.now, c.wall);
    BOOST_TEST((d.step == next_step::wait));
    BOOST_TEST((d.wake_at == steady_time::max()));
}

BOOST_AUTO_TEST_CASE(a_candidate_named_by_the_controller_takes_the_lease_with_a_new_token) {
    manual_clock c;
    core::election e{"me", fast, false, {}, true};
    e.observe(coordinated(held_by("")), c.now, c.wall);
    auto named = coordinated(held_by("me", 6, 5)); // as the controller writes it: 5 s, transitions untouched
    auto d = e.observe(named, c.now, c.wall);
    BOOST_TEST((d.step == next_step::replace));
    BOOST_TEST(d.record.holder_identity == "me");
    BOOST_TEST(d.record.lease_transitions == 7);
    BOOST_TEST(d.record.lease_duration_seconds == 15);
    BOOST_TEST(d.record.strategy == "OldestEmulationVersion");
}

BOOST_AUTO_TEST_CASE(a_candidate_named_early_waits_for_the_previous_lease_as_it_saw_it) {
    manual_clock c;
    core::election e{"me", fast, false, {}, true};
    e.observe(coordinated(held_by("old")), c.now, c.wall);
    const auto old_runs_out = c.now + 15s;
    c.advance(5s); // the controller, by wall clocks, names us after 5 s
    auto d = e.observe(coordinated(held_by("me", 3, 5)), c.now, c.wall);
    BOOST_TEST((d.step == next_step::wait));
    BOOST_TEST((d.wake_at == old_runs_out));
    c.advance(10s);
    BOOST_TEST((e.observe(coordinated(held_by("me", 3, 5)), c.now, c.wall).step == next_step::replace));
}

BOOST_AUTO_TEST_CASE(a_candidate_named_on_its_first_look_waits_a_lease_duration) {
    // Nothing seen before: whoever held it before the controller named us
    // may still act for a lease duration.
    manual_clock c;
    core::election e{"me", fast, false, {}, true};
    auto d = e.observe(coordinated(held_by("me", 3, 5)), c.now, c.wall);
    BOOST_TEST((d.step == next_step::wait));
    BOOST_TEST((d.wake_at == c.now + 15s));
    c.advance(15s);
    BOOST_TEST((e.observe(coordinated(held_by("me", 3, 5)), c.now, c.wall).step == next_step::replace));
    // A Lease that did not exist at the first look had no holder to wait for.
    core::election fresh{"me", fast, false, {}, true};
    fresh.observe(std::nullopt, c.now, c.wall);
    BOOST_TEST((fresh.observe(coordinated(held_by("me", 0, 5)), c.now, c.wall).step == next_step::replace));
}

BOOST_AUTO_TEST_CASE(a_candidate_waits_for_the_longest_lease_seen_since_it_was_free) {
    manual_clock c;
    core::election e{"me", fast, false, {}, true};
    e.observe(coordinated(held_by("a", 3, 60)), c.now, c.wall); // a 60 s lease
    const auto a_runs_out = c.now + 60s;
    c.advance(1s);
    e.observe(coordinated(held_by("y", 3, 5)), c.now, c.wall); // named early, never wrote
    c.advance(1s);
    auto d = e.observe(coordinated(held_by("me", 3, 5)), c.now, c.wall);
    BOOST_TEST((d.step == next_step::wait));
    BOOST_TEST((d.wake_at == a_runs_out)); // not y's 5 s
}

BOOST_AUTO_TEST_CASE(a_holder_is_asked_to_step_down_only_for_another_preferred_holder) {
    manual_clock c;
    core::election e{"me", fast, false, {}, true};
    e.observe(coordinated(held_by("")), c.now, c.wall);
    auto d = e.observe(coordinated(held_by("me")), c.now, c.wall);
    BOOST_TEST_REQUIRE((d.step == next_step::replace));
    e.accepted(d.record, c.now, coordinated(held_by("me")));
    BOOST_TEST(!e.asked_to_step_down(d.record));
    BOOST_TEST(!e.asked_to_step_down(coordinated(d.record, "me")));
    BOOST_TEST(e.asked_to_step_down(coordinated(d.record, "better")));
    // A renewal keeps what the controller wrote.
    auto r = e.renewal(coordinated(d.record, "me"), c.wall);
    BOOST_TEST(r.strategy == "OldestEmulationVersion");
    BOOST_TEST(r.preferred_holder == "me");
    // Stepped down, the lease still naming us: not taken again while
    // another is preferred.
    e.relinquish();
    BOOST_TEST(!e.asked_to_step_down(coordinated(d.record, "better")));
    BOOST_TEST((e.observe(coordinated(d.record, "better"), c.now, c.wall).step == next_step::wait));
}

BOOST_AUTO_TEST_SUITE_END()
