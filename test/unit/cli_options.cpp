// The command line's parsing: durations as Go writes them, lease names,
// labels, signals, and each verb's flags and refusals.
#include "cli/options.hpp"

#include <boost/test/unit_test.hpp>

#include <csignal>

using namespace leaselocker;
using namespace leaselocker::cli;
using namespace std::chrono_literals;

namespace {

command_line parse(std::vector<std::string> args) {
    return parse_command_line(args);
}

// The usage_error's message for `args`; fails the test if they parse.
std::string refusal(std::vector<std::string> args) {
    try {
        parse(std::move(args));
    } catch (const usage_error& e) {
        return e.what();
    }
    BOOST_FAIL("accepted");
    return {};
}

} // namespace

BOOST_AUTO_TEST_SUITE(cli_options)

BOOST_AUTO_TEST_CASE(durations_read_as_go_writes_them) {
    BOOST_TEST(parse_duration("0").count() == 0);
    BOOST_TEST(parse_duration("30s").count() == 30000);
    BOOST_TEST(parse_duration("1m30s").count() == 90000);
    BOOST_TEST(parse_duration("1.5h").count() == 5400000);
    BOOST_TEST(parse_duration("250ms").count() == 250);
    BOOST_TEST(parse_duration("1500us").count() == 2); // rounded up to whole milliseconds
    BOOST_TEST(parse_duration("2h45m0.5s").count() == 9900500);
    for (auto bad : {"", "10", "s", "5x", "1..5s", "-1s", "1s2", "."})
        BOOST_CHECK_THROW(parse_duration(bad), usage_error);
    BOOST_TEST(refusal({"run", "-w", "10", "ns/a", "--", "true"}).find("missing unit") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(lease_names) {
    auto n = parse_lease_ref("billing/nightly");
    BOOST_TEST(n.namespace_name == "billing");
    BOOST_TEST(n.name == "nightly");
    n = parse_lease_ref("Nightly");
    BOOST_TEST(n.namespace_name.empty());
    BOOST_TEST(n.name == "nightly"); // lowercased, as the library does
    for (auto bad : {"", "/x", "ns/", "ns/a_b", "Bad_NS/x", "a/b/c"})
        BOOST_CHECK_THROW(parse_lease_ref(bad), usage_error);
}

BOOST_AUTO_TEST_CASE(labels) {
    auto l = parse_labels("app=backup,app.kubernetes.io/managed-by=leaselocker,empty=");
    BOOST_TEST(l.size() == 3u);
    BOOST_TEST(l["app"] == "backup");
    BOOST_TEST(l["app.kubernetes.io/managed-by"] == "leaselocker");
    BOOST_TEST(l["empty"] == "");
    const auto long_key = std::string(64, 'k') + "=v";
    for (std::string bad : {"app", "=x", "a=b,", "a b=c", "a=-x", "/a=b", long_key.c_str()})
        BOOST_CHECK_THROW(parse_labels(bad), usage_error);
}

BOOST_AUTO_TEST_CASE(signals) {
    BOOST_TEST(parse_signal("TERM") == SIGTERM);
    BOOST_TEST(parse_signal("SIGINT") == SIGINT);
    BOOST_TEST(parse_signal("9") == SIGKILL);
    BOOST_TEST(signal_name(SIGHUP) == "SIGHUP");
    for (auto bad : {"", "TERMINATE", "0", "999", "-1"}) BOOST_CHECK_THROW(parse_signal(bad), usage_error);
}

BOOST_AUTO_TEST_CASE(run_takes_klocks_flags_and_the_command_after_dashes) {
    auto line = parse({"run", "-w", "1m", "-E", "42", "-i", "me", "--labels", "a=b", "-k", "2s", "--signal", "INT",
                       "--lease-duration=20s", "--renew-deadline", "12s", "--retry-period", "3s", "--json", "--context", "prod",
                       "--kubeconfig", "/k", "ns/lease", "--", "backup.sh", "--full", "--", "x"});
    auto& o = std::get<run_options>(line);
    BOOST_TEST(o.wait.count() == 60000);
    BOOST_TEST(o.conflict_exit_code == 42);
    BOOST_TEST(o.identity == "me");
    BOOST_TEST(o.labels.at("a") == "b");
    BOOST_TEST(o.kill_after.count() == 2000);
    BOOST_TEST(o.loss_signal == SIGINT);
    BOOST_TEST(o.lease_duration.count() == 20000);
    BOOST_TEST(o.renew_deadline.count() == 12000);
    BOOST_TEST(o.retry_period.count() == 3000);
    BOOST_TEST(o.conn.json);
    BOOST_TEST(o.conn.context == "prod");
    BOOST_TEST(o.conn.kubeconfig == "/k");
    BOOST_TEST(o.lease.namespace_name == "ns");
    BOOST_TEST(o.lease.name == "lease");
    // Everything after the first -- is the command's, flags and -- included.
    BOOST_TEST((o.command == std::vector<std::string>{"backup.sh", "--full", "--", "x"}));

    auto defaults = std::get<run_options>(parse({"run", "lease", "--", "true"}));
    BOOST_TEST(defaults.wait.count() == 0);
    BOOST_TEST(defaults.conflict_exit_code == exit_code::conflict);
    BOOST_TEST(defaults.loss_signal == SIGTERM);
    BOOST_TEST(defaults.kill_after.count() == 3000);
    BOOST_TEST(defaults.lease.namespace_name.empty()); // the context's
    BOOST_TEST(!defaults.try_once);
    BOOST_TEST(std::get<run_options>(parse({"run", "-n", "ns", "lease", "--", "true"})).lease.namespace_name == "ns");
    BOOST_TEST(std::get<run_options>(parse({"run", "--timeout", "5s", "lease", "--", "true"})).wait.count() == 5000);
    BOOST_TEST(std::get<run_options>(parse({"run", "--try", "lease", "--", "true"})).try_once);
}

BOOST_AUTO_TEST_CASE(run_refusals_say_what_is_wrong) {
    BOOST_TEST(refusal({"run", "ns/a", "true"}).find("missing --") != std::string::npos);
    BOOST_TEST(refusal({"run", "ns/a", "--"}).find("missing command") != std::string::npos);
    BOOST_TEST(refusal({"run", "--", "true"}).find("missing NAMESPACE/NAME") != std::string::npos);
    BOOST_TEST(refusal({"run", "ns/a", "extra", "--", "true"}).find("put the command after --") != std::string::npos);
    BOOST_TEST(refusal({"run", "--bogus", "ns/a", "--", "true"}).find("unknown flag --bogus") != std::string::npos);
    BOOST_TEST(refusal({"run", "ns/a", "--wait"}).find("needs a value") != std::string::npos);
    BOOST_TEST(refusal({"run", "-E", "256", "ns/a", "--", "true"}).find("0 to 255") != std::string::npos);
    BOOST_TEST(refusal({"run", "--try", "-w", "1s", "ns/a", "--", "true"}).find("exclude") != std::string::npos);
    BOOST_TEST(refusal({"run", "-n", "other", "ns/a", "--", "true"}).find("not --namespace other") != std::string::npos);
    BOOST_TEST(refusal({"run", "--json=yes", "ns/a", "--", "true"}).find("takes no value") != std::string::npos);
    BOOST_TEST(refusal({"run", "-i", "", "ns/a", "--", "true"}).find("must not be empty") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(other_verbs) {
    auto s = std::get<status_options>(parse({"status", "--json", "ns/a"}));
    BOOST_TEST(s.conn.json);
    BOOST_TEST(s.lease.name == "a");
    auto w = std::get<wait_free_options>(parse({"wait-free", "--timeout", "2s", "-E", "3", "ns/a"}));
    BOOST_TEST(w.timeout.count() == 2000);
    BOOST_TEST(w.conflict_exit_code == 3);
    auto r = std::get<release_options>(parse({"release", "--force", "ns/a"}));
    BOOST_TEST(r.force);
    r = std::get<release_options>(parse({"release", "-i", "me", "ns/a"}));
    BOOST_TEST(r.identity == "me");
    BOOST_TEST(refusal({"release", "ns/a"}).find("--force") != std::string::npos);
    BOOST_TEST(refusal({"release", "--force", "-i", "me", "ns/a"}).find("exclude") != std::string::npos);
    BOOST_TEST(refusal({"status", "ns/a", "--", "x"}).find("takes no command") != std::string::npos);
    BOOST_TEST(refusal({"frobnicate"}).find("unknown command") != std::string::npos);
    BOOST_TEST(refusal({}).find("missing command") != std::string::npos);
    BOOST_TEST(std::get<show_help>(parse({"run", "--help"})).verb == "run");
    BOOST_TEST(std::get<show_help>(parse({"--help"})).verb.empty());
    BOOST_CHECK(std::holds_alternative<show_version>(parse({"version"})));
    // --help after -- is the command's.
    BOOST_CHECK(std::holds_alternative<run_options>(parse({"run", "ns/a", "--", "cmd", "--help"})));
}

BOOST_AUTO_TEST_SUITE_END()
