// Leases as the real API server stored them after client-go's leader
// election, the Go reference package and leaselocker wrote them (captured by
// test/peers/capture_wire.sh into test/data/wire/): read by our codec and
// judged by our election. The other direction (client-go reading ours) is
// test/peers/wire.
#include <leaselocker/core/election.hpp>
#include <leaselocker/lease/lease.hpp>
#include <leaselocker/locker/resource_lock.hpp>

#include <boost/json.hpp>
#include <boost/test/unit_test.hpp>

#include <cstdlib>
#include <fstream>
#include <sstream>

using namespace leaselocker;
using namespace std::chrono_literals;

namespace {

std::string fixture(const std::string& name) {
    const char* dir = std::getenv("LEASELOCKER_TEST_DATA");
    BOOST_TEST_REQUIRE(dir != nullptr, "LEASELOCKER_TEST_DATA is not set");
    std::ifstream in(std::string(dir) + "/wire/" + name + ".json");
    BOOST_TEST_REQUIRE(in.good(), "cannot read " << name);
    std::ostringstream s;
    s << in.rdbuf();
    return s.str();
}

lease decoded(const std::string& name) {
    std::string why;
    auto l = decode_lease(fixture(name), &why);
    BOOST_TEST_REQUIRE(l.has_value(), name << ": " << why);
    return *l;
}

// A time field exactly as the server stored it.
std::string raw_time(const std::string& name, const char* field) {
    return std::string(boost::json::parse(fixture(name)).at("spec").at(field).as_string());
}

struct writer {
    const char* impl;
    const char* first;  // its first holder's identity
    const char* second; // the one that took over
};
constexpr writer writers[] = {{"client-go", "cg-a", "cg-b"}, {"go-reference", "ref-a", "ref-b"}, {"leaselocker", "ll-a", "ll-b"}};

core::election observer() { return core::election{"observer", core::timing{3s, 2s, 500ms}}; }

} // namespace

BOOST_AUTO_TEST_SUITE(wire_fixtures)

BOOST_AUTO_TEST_CASE(a_held_lease_from_each_implementation_is_read_whole_and_waited_out) {
    for (const auto& w : writers) {
        const std::string name = std::string(w.impl) + "-held";
        BOOST_TEST_CONTEXT(name) {
            const lease l = decoded(name);
            BOOST_TEST(l.spec.holder_identity.value_or("?") == w.first);
            BOOST_TEST(l.spec.lease_duration_seconds.value_or(0) == 3);
            BOOST_TEST(l.spec.lease_transitions.value_or(-1) == 0);
            BOOST_TEST_REQUIRE((l.spec.renew_time && l.spec.acquire_time));
            BOOST_TEST((*l.spec.acquire_time <= *l.spec.renew_time));
            // MicroTime: six digits, kept to the microsecond.
            BOOST_TEST(format_micro_time(*l.spec.renew_time) == raw_time(name, "renewTime"));
            BOOST_TEST(format_micro_time(*l.spec.acquire_time) == raw_time(name, "acquireTime"));
            BOOST_TEST(!l.metadata.uid.empty());
            // Held by someone else: wait a full lease on our clock from now.
            auto e = observer();
            const auto now = std::chrono::steady_clock::now();
            const auto d = e.observe(to_lock_record(l.spec), now, *l.spec.renew_time + 100ms);
            BOOST_TEST((d.step == core::next_step::wait));
            BOOST_TEST((d.wake_at >= now + 3s));
        }
    }
}

BOOST_AUTO_TEST_CASE(a_released_lease_from_each_implementation_is_free_at_once) {
    for (const auto& w : writers) {
        const std::string name = std::string(w.impl) + "-released";
        BOOST_TEST_CONTEXT(name) {
            const lease l = decoded(name);
            // All three write client-go's release form: holder "" (present), duration 1, transitions kept.
            BOOST_TEST((l.spec.holder_identity && l.spec.holder_identity->empty()));
            BOOST_TEST(l.spec.lease_duration_seconds.value_or(0) == 1);
            BOOST_TEST(l.spec.lease_transitions.value_or(-1) == 0);
            BOOST_TEST(!l.spec.held());
            auto e = observer();
            const auto d = e.observe(to_lock_record(l.spec), std::chrono::steady_clock::now(), *l.spec.renew_time);
            BOOST_TEST((d.step == core::next_step::replace));
            BOOST_TEST(d.record.holder_identity == "observer");
            BOOST_TEST(d.record.lease_transitions == 1); // a new holder: +1 over what was released
        }
    }
}

BOOST_AUTO_TEST_CASE(a_takeover_by_each_implementation_adds_one_transition) {
    for (const auto& w : writers) {
        const std::string name = std::string(w.impl) + "-taken-over";
        BOOST_TEST_CONTEXT(name) {
            const lease l = decoded(name);
            BOOST_TEST(l.spec.holder_identity.value_or("?") == w.second);
            BOOST_TEST(l.spec.lease_transitions.value_or(-1) == 1);
            BOOST_TEST(l.spec.lease_duration_seconds.value_or(0) == 3);
        }
    }
}

BOOST_AUTO_TEST_CASE(every_captured_lease_survives_our_encoding_unchanged) {
    for (const auto& w : writers)
        for (const char* form : {"-held", "-released", "-taken-over"}) {
            const std::string name = std::string(w.impl) + form;
            BOOST_TEST_CONTEXT(name) {
                const lease l = decoded(name);
                auto again = decode_lease(encode_lease(l));
                BOOST_TEST_REQUIRE(again.has_value());
                BOOST_TEST((again->spec.holder_identity == l.spec.holder_identity));
                BOOST_TEST((again->spec.lease_duration_seconds == l.spec.lease_duration_seconds));
                BOOST_TEST((again->spec.acquire_time == l.spec.acquire_time));
                BOOST_TEST((again->spec.renew_time == l.spec.renew_time));
                BOOST_TEST((again->spec.lease_transitions == l.spec.lease_transitions));
                BOOST_TEST(again->metadata.uid == l.metadata.uid);
                BOOST_TEST(again->metadata.resource_version == l.metadata.resource_version);
            }
        }
}

BOOST_AUTO_TEST_SUITE_END()
