#include <leaselocker/lease/lease.hpp>

#include <boost/json/parse.hpp>
#include <boost/test/unit_test.hpp>

using namespace leaselocker;
namespace json = boost::json;
using namespace std::chrono;

namespace {

// A Lease as kube-apiserver returns it, with fields our model does not know.
const std::string from_server = R"({
  "kind": "Lease", "apiVersion": "coordination.k8s.io/v1",
  "metadata": {"name": "jobs", "namespace": "team", "uid": "u-1", "resourceVersion": "42",
               "creationTimestamp": "2026-08-20T10:00:00Z", "labels": {"app": "x"},
               "managedFields": [{"manager": "m", "operation": "Update", "time": "2026-08-20T10:29:19Z"}],
               "futureMetadataField": {"a": 1}},
  "spec": {"holderIdentity": "host_1", "leaseDurationSeconds": 15,
           "acquireTime": "2026-08-20T10:29:19.123456Z", "renewTime": "2026-08-20T10:29:21.5Z",
           "leaseTransitions": 3, "strategy": "OldestEmulationVersion", "preferredHolder": "host_2",
           "futureSpecField": [1, 2]}
})";

} // namespace

BOOST_AUTO_TEST_SUITE(lease_codec)

BOOST_AUTO_TEST_CASE(decodes_every_known_field) {
    auto l = decode_lease(from_server);
    BOOST_TEST_REQUIRE(l.has_value());
    BOOST_TEST(l->metadata.name == "jobs");
    BOOST_TEST(l->metadata.namespace_ == "team");
    BOOST_TEST(l->metadata.uid == "u-1");
    BOOST_TEST(l->metadata.resource_version == "42");
    BOOST_TEST(l->metadata.labels.at("app") == "x");
    BOOST_TEST(*l->spec.holder_identity == "host_1");
    BOOST_TEST(*l->spec.lease_duration_seconds == 15);
    BOOST_TEST(format_micro_time(*l->spec.acquire_time) == "2026-08-20T10:29:19.123456Z");
    BOOST_TEST(format_micro_time(*l->spec.renew_time) == "2026-08-20T10:29:21.500000Z");
    BOOST_TEST(*l->spec.lease_transitions == 3);
    BOOST_TEST(*l->spec.strategy == "OldestEmulationVersion");
    BOOST_TEST(*l->spec.preferred_holder == "host_2");
    BOOST_TEST(l->spec.held());
    BOOST_TEST_REQUIRE(l->metadata.last_changed.has_value());
    BOOST_TEST(format_micro_time(*l->metadata.last_changed) == "2026-08-20T10:29:19.000000Z");
}

BOOST_AUTO_TEST_CASE(last_changed_is_the_latest_managed_fields_time_if_every_entry_has_one) {
    auto with = [](std::string fields) {
        return decode_lease(R"({"kind":"Lease","metadata":{"name":"a","managedFields":)" + fields + "}}");
    };
    auto l = with(R"([{"manager":"a","time":"2026-08-20T10:29:19Z"},{"manager":"b","time":"2026-08-20T10:31:02Z"},
                      {"manager":"c","time":"2026-08-20T10:30:00Z"}])");
    BOOST_TEST_REQUIRE(l.has_value());
    BOOST_TEST(format_micro_time(*l->metadata.last_changed) == "2026-08-20T10:31:02.000000Z");
    // One entry without a time (or with a bad one) could be the latest
    // change: nothing is known. Still a Lease.
    l = with(R"([{"manager":"a","time":"2026-08-20T10:29:19Z"},{"manager":"b"}])");
    BOOST_TEST_REQUIRE(l.has_value());
    BOOST_TEST(!l->metadata.last_changed);
    l = with(R"([{"manager":"a","time":"yesterday"}])");
    BOOST_TEST_REQUIRE(l.has_value());
    BOOST_TEST(!l->metadata.last_changed);
    l = with("[]");
    BOOST_TEST(!l->metadata.last_changed);
    l = with("null");
    BOOST_TEST(!l->metadata.last_changed);
}

BOOST_AUTO_TEST_CASE(read_modify_write_keeps_unknown_fields) {
    auto l = decode_lease(from_server);
    BOOST_TEST_REQUIRE(l.has_value());
    l->spec.holder_identity = "host_9";
    l->spec.lease_transitions = 4;
    auto out = json::parse(encode_lease(*l)).as_object();
    BOOST_TEST(out.at("metadata").at("futureMetadataField").at("a").as_int64() == 1);
    BOOST_TEST(out.at("metadata").at("creationTimestamp").as_string() == "2026-08-20T10:00:00Z");
    BOOST_TEST(out.at("metadata").at("managedFields").as_array().size() == 1u);
    BOOST_TEST(out.at("spec").at("futureSpecField").as_array().size() == 2u);
    BOOST_TEST(out.at("spec").at("holderIdentity").as_string() == "host_9");
    BOOST_TEST(out.at("spec").at("leaseTransitions").as_int64() == 4);
    // strategy and preferredHolder are written back as they were.
    BOOST_TEST(out.at("spec").at("strategy").as_string() == "OldestEmulationVersion");
    BOOST_TEST(out.at("spec").at("preferredHolder").as_string() == "host_2");
    BOOST_TEST(out.at("metadata").at("resourceVersion").as_string() == "42");
    // Times go out with six digits even when they came in with fewer.
    BOOST_TEST(out.at("spec").at("renewTime").as_string() == "2026-08-20T10:29:21.500000Z");
}

BOOST_AUTO_TEST_CASE(cleared_fields_are_removed) {
    auto l = decode_lease(from_server);
    BOOST_TEST_REQUIRE(l.has_value());
    l->spec.holder_identity.reset();
    l->spec.preferred_holder.reset();
    l->metadata.labels.clear();
    auto out = json::parse(encode_lease(*l)).as_object();
    BOOST_TEST(!out.at("spec").as_object().contains("holderIdentity"));
    BOOST_TEST(!out.at("spec").as_object().contains("preferredHolder"));
    BOOST_TEST(!out.at("metadata").as_object().contains("labels"));
}

BOOST_AUTO_TEST_CASE(a_new_lease_encodes_from_scratch) {
    lease l;
    l.metadata.name = "fresh";
    l.spec.holder_identity = "me";
    l.spec.lease_duration_seconds = 10;
    l.spec.lease_transitions = 0;
    auto out = json::parse(encode_lease(l)).as_object();
    BOOST_TEST(out.at("apiVersion").as_string() == "coordination.k8s.io/v1");
    BOOST_TEST(out.at("kind").as_string() == "Lease");
    BOOST_TEST(out.at("metadata").at("name").as_string() == "fresh");
    BOOST_TEST(!out.at("metadata").as_object().contains("resourceVersion"));
    BOOST_TEST(out.at("spec").at("leaseTransitions").as_int64() == 0);
}

BOOST_AUTO_TEST_CASE(empty_and_null_holders_are_both_free) {
    auto null_holder = decode_lease(R"({"metadata":{"name":"a"},"spec":{"holderIdentity":null}})");
    auto empty_holder = decode_lease(R"({"metadata":{"name":"a"},"spec":{"holderIdentity":""}})");
    auto no_spec = decode_lease(R"({"metadata":{"name":"a"}})");
    BOOST_TEST_REQUIRE((null_holder && empty_holder && no_spec));
    BOOST_TEST(!null_holder->spec.held());
    BOOST_TEST(!empty_holder->spec.held());
    BOOST_TEST(!no_spec->spec.held());
}

BOOST_AUTO_TEST_CASE(malformed_bodies_are_refused_with_a_reason) {
    std::string why;
    BOOST_TEST(!decode_lease("{not json", &why));
    BOOST_TEST(why.find("not JSON") != std::string::npos, why);
    BOOST_TEST(!decode_lease("[1,2]", &why));
    BOOST_TEST(!decode_lease(R"({"kind":"Status","metadata":{}})", &why));
    BOOST_TEST(why.find("kind") != std::string::npos, why);
    BOOST_TEST(!decode_lease(R"({"metadata":{"name":"a"},"spec":{"leaseDurationSeconds":"15"}})", &why));
    BOOST_TEST(why.find("leaseDurationSeconds") != std::string::npos, why);
    BOOST_TEST(!decode_lease(R"({"metadata":{"name":"a"},"spec":{"leaseTransitions":4294967296}})", &why));
    BOOST_TEST(!decode_lease(R"({"metadata":{"name":"a"},"spec":{"renewTime":"yesterday"}})", &why));
    BOOST_TEST(why.find("renewTime") != std::string::npos, why);
}

BOOST_AUTO_TEST_CASE(resource_versions_compare_as_integers_of_any_length) {
    BOOST_TEST(*compare_resource_versions("9", "10") < 0); // not as strings
    BOOST_TEST(*compare_resource_versions("10", "9") > 0);
    BOOST_TEST(*compare_resource_versions("123", "123") == 0);
    // Longer than 64 bits still compares (KEP-5504 sets no length limit).
    BOOST_TEST(*compare_resource_versions("184467440737095516160", "18446744073709551615") > 0);
    for (const char* bad : {"", "0", "012", "12a", "-1", " 1"}) {
        BOOST_TEST(!compare_resource_versions(bad, "5").has_value(), bad);
        BOOST_TEST(newer_resource_version(bad, "5"), bad); // not comparable: take it
    }
    BOOST_TEST(newer_resource_version("5", ""));
    BOOST_TEST(!newer_resource_version("5", "5"));
    BOOST_TEST(!newer_resource_version("4", "5"));
}

BOOST_AUTO_TEST_SUITE_END()
