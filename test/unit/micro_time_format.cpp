#include <leaselocker/lease/micro_time.hpp>

#include <boost/test/unit_test.hpp>

using namespace leaselocker;
using namespace std::chrono;

BOOST_AUTO_TEST_SUITE(micro_time_format)

BOOST_AUTO_TEST_CASE(writes_utc_with_exactly_six_digits) {
    BOOST_TEST(format_micro_time(micro_time{}) == "1970-01-01T00:00:00.000000Z");
    BOOST_TEST(format_micro_time(micro_time{microseconds(1'790'000'000'123'456)}) == "2026-09-21T14:13:20.123456Z");
    BOOST_TEST(format_micro_time(micro_time{microseconds(951'782'400'000'001)}) == "2000-02-29T00:00:00.000001Z");
}

BOOST_AUTO_TEST_CASE(parses_leniently) {
    auto t = [](std::string_view s) { return parse_micro_time(s); };
    const auto base = sys_days{2026y / 8 / 20} + 10h + 29min + 19s;
    BOOST_TEST((*t("2026-08-20T10:29:19Z") == base));
    BOOST_TEST((*t("2026-08-20T10:29:19.1Z") == base + 100ms));
    BOOST_TEST((*t("2026-08-20T10:29:19.123456Z") == base + 123456us));
    BOOST_TEST((*t("2026-08-20T10:29:19.123456789Z") == base + 123456us)); // nanoseconds truncated
    BOOST_TEST((*t("2026-08-20t10:29:19z") == base));
    BOOST_TEST((*t("2026-08-20T12:29:19.5+02:00") == base + 500ms));
    BOOST_TEST((*t("2026-08-20T05:59:19-04:30") == base));
}

BOOST_AUTO_TEST_CASE(refuses_what_is_not_rfc3339) {
    for (auto bad : {"", "2026-08-20", "2026-08-20T10:29:19", "2026-02-30T00:00:00Z", "2026-08-20T24:00:00Z",
                     "2026-08-20T10:29:19.Z", "2026-08-20T10:29:19Zjunk", "2026-08-20T10:29:19+0200", "20260820T102919Z"})
        BOOST_TEST(!parse_micro_time(bad), bad);
}

BOOST_AUTO_TEST_CASE(round_trips_every_microsecond_pattern) {
    for (long long us : {0LL, 1LL, 999'999LL, 1'000'000LL, 1'790'000'000'000'000LL, 4'102'444'799'999'999LL}) {
        micro_time t{microseconds(us)};
        BOOST_TEST((*parse_micro_time(format_micro_time(t)) == t), us);
    }
}

BOOST_AUTO_TEST_CASE(parses_the_http_date_header) {
    using namespace std::chrono;
    auto t = parse_http_date("Fri, 04 Dec 2026 19:36:07 GMT");
    BOOST_REQUIRE(t);
    BOOST_TEST(format_micro_time(*t) == "2026-12-04T19:36:07.000000Z");
    BOOST_TEST(!parse_http_date("Thu, 04 Dec 2026 19:36:07 GMT")); // wrong weekday
    BOOST_TEST(!parse_http_date("Fri, 04 Dec 2026 19:36:07 UTC"));
    BOOST_TEST(!parse_http_date("Friday, 04-Dec-26 19:36:07 GMT")); // RFC 850
    BOOST_TEST(!parse_http_date("Fri Dec  4 19:36:07 2026"));       // asctime
    BOOST_TEST(!parse_http_date("Fri, 31 Nov 2026 19:36:07 GMT"));
    BOOST_TEST(!parse_http_date("Fri, 04 Dec 2026 24:00:00 GMT"));
    BOOST_TEST(!parse_http_date(""));
}

BOOST_AUTO_TEST_SUITE_END()
