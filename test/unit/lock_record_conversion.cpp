// LockRecord <-> Lease spec, as the seed's LeaseLockRecordToLeaseSpec /
// LeaseSpecToLeaseLockRecord.
#include <leaselocker/locker/resource_lock.hpp>

#include <boost/test/unit_test.hpp>

using namespace leaselocker;
using namespace std::chrono;

BOOST_AUTO_TEST_SUITE(lock_record_conversion)

BOOST_AUTO_TEST_CASE(round_trips_every_field) {
    lock_record r{"host_1", 15, micro_time{sys_days{2026y / 11 / 26} + 10h}, micro_time{sys_days{2026y / 11 / 26} + 10h + 2s}, 7};
    auto spec = to_lease_spec(r);
    BOOST_TEST(*spec.holder_identity == "host_1");
    BOOST_TEST(*spec.lease_duration_seconds == 15);
    BOOST_TEST((*spec.acquire_time == r.acquire_time));
    BOOST_TEST((*spec.renew_time == r.renew_time));
    BOOST_TEST(*spec.lease_transitions == 7);
    BOOST_TEST(!spec.strategy.has_value()); // empty: absent
    BOOST_TEST(!spec.preferred_holder.has_value());
    BOOST_TEST((to_lock_record(spec) == r));
    r.strategy = "OldestEmulationVersion";
    r.preferred_holder = "host_2";
    spec = to_lease_spec(r);
    BOOST_TEST(*spec.strategy == "OldestEmulationVersion");
    BOOST_TEST(*spec.preferred_holder == "host_2");
    BOOST_TEST((to_lock_record(spec) == r));
}

BOOST_AUTO_TEST_CASE(absent_fields_read_as_free_and_zero) {
    lease_spec empty;
    auto r = to_lock_record(empty);
    BOOST_TEST(r.holder_identity.empty());
    BOOST_TEST(r.lease_duration_seconds == 0);
    BOOST_TEST(r.lease_transitions == 0);
    BOOST_TEST((r.renew_time == micro_time{}));
}

BOOST_AUTO_TEST_CASE(the_queue_of_fair_turns_lives_in_an_annotation) {
    lease l;
    l.spec = to_lease_spec(lock_record{"a", 15, {}, {}, 2});
    l.metadata.annotations["other"] = "kept";
    set_queue(l.metadata, {"b", "c,d"});
    BOOST_TEST(l.metadata.annotations.at(queue_annotation) == R"(["b","c,d"])");
    BOOST_TEST((to_lock_record(l).queue == std::vector<std::string>{"b", "c,d"}));
    set_queue(l.metadata, {});
    BOOST_TEST(l.metadata.annotations.count(queue_annotation) == 0u);
    BOOST_TEST(l.metadata.annotations.at("other") == "kept");
}

BOOST_AUTO_TEST_CASE(a_malformed_queue_reads_as_empty) {
    lease l;
    for (const char* bad : {"", "b,c", "{\"b\":1}", "[1, null]", "[\"\"]"}) {
        l.metadata.annotations[queue_annotation] = bad;
        BOOST_TEST(to_lock_record(l).queue.empty(), bad);
    }
    l.metadata.annotations[queue_annotation] = R"([1, "b"])"; // what can be read is kept
    BOOST_TEST((to_lock_record(l).queue == std::vector<std::string>{"b"}));
}

BOOST_AUTO_TEST_SUITE_END()
