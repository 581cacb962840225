#include "cli/options.hpp"

#include <leaselocker/error.hpp>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cmath>
#include <csignal>
#include <functional>
#include <string.h>

namespace leaselocker::cli {

using namespace std::chrono;

milliseconds parse_duration(std::string_view text) {
    const auto bad = [&](std::string_view why) {
        return usage_error("invalid duration \"" + std::string(text) + "\": " + std::string(why) + " (e.g. 30s, 1m30s, 500ms)");
    };
    if (text == "0") return milliseconds{0};
    if (text.empty()) throw bad("empty");
    static constexpr std::pair<std::string_view, double> units[] = {
        {"ns", 1e-6}, {"us", 1e-3}, {"\xc2\xb5s", 1e-3}, {"ms", 1.0}, {"s", 1e3}, {"m", 60e3}, {"h", 3600e3}};
    double total_ms = 0;
    std::size_t i = 0;
    while (i < text.size()) {
        const auto start = i;
        while (i < text.size() && (std::isdigit(static_cast<unsigned char>(text[i])) || text[i] == '.')) ++i;
        if (i == start) throw bad("expected a number");
        const auto number = text.substr(start, i - start);
        if (std::count(number.begin(), number.end(), '.') > 1 || number == ".") throw bad("not a number");
        const double value = std::stod(std::string(number));
        const auto unit_start = i;
        while (i < text.size() && !std::isdigit(static_cast<unsigned char>(text[i])) && text[i] != '.') ++i;
        const auto unit = text.substr(unit_start, i - unit_start);
        if (unit.empty()) throw bad("missing unit");
        const auto u = std::find_if(std::begin(units), std::end(units), [&](auto& p) { return p.first == unit; });
        if (u == std::end(units)) throw bad("unknown unit \"" + std::string(unit) + "\"");
        total_ms += value * u->second;
    }
    if (total_ms > 1e12) throw bad("too long");
    return milliseconds{static_cast<milliseconds::rep>(std::ceil(total_ms))};
}

lease_name parse_lease_ref(std::string_view text) {
    lease_name name;
    const auto slash = text.find('/');
    if (slash == std::string_view::npos) {
        name.name = std::string(text);
    } else {
        name.namespace_name = std::string(text.substr(0, slash));
        name.name = std::string(text.substr(slash + 1));
        if (name.namespace_name.empty()) throw usage_error("invalid lease \"" + std::string(text) + "\": empty namespace before '/'");
    }
    if (name.name.empty()) throw usage_error("missing lease name (NAMESPACE/NAME or NAME)");
    try {
        return checked_lease_name(std::move(name));
    } catch (const config_error& e) {
        throw usage_error(e.what());
    }
}

namespace {

bool label_char(char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.'; }

// A label value or a key's name part: at most 63 of [A-Za-z0-9-_.],
// alphanumeric at both ends (a value may be empty).
bool label_part(std::string_view s, bool may_be_empty) {
    if (s.empty()) return may_be_empty;
    return s.size() <= 63 && std::all_of(s.begin(), s.end(), label_char) && std::isalnum(static_cast<unsigned char>(s.front())) &&
           std::isalnum(static_cast<unsigned char>(s.back()));
}

} // namespace

std::map<std::string, std::string> parse_labels(std::string_view text) {
    std::map<std::string, std::string> labels;
    std::size_t start = 0;
    while (start <= text.size()) {
        const auto comma = text.find(',', start);
        const auto item = text.substr(start, comma == std::string_view::npos ? std::string_view::npos : comma - start);
        const auto eq = item.find('=');
        if (eq == std::string_view::npos) throw usage_error("invalid label \"" + std::string(item) + "\": expected key=value");
        const auto key = item.substr(0, eq), value = item.substr(eq + 1);
        const auto kslash = key.rfind('/');
        const auto key_name = kslash == std::string_view::npos ? key : key.substr(kslash + 1);
        const auto prefix = kslash == std::string_view::npos ? std::string_view{} : key.substr(0, kslash);
        if (!label_part(key_name, false) || (kslash != std::string_view::npos && prefix.empty()) || prefix.size() > 253)
            throw usage_error("invalid label key \"" + std::string(key) + "\"");
        if (!label_part(value, true)) throw usage_error("invalid label value \"" + std::string(value) + "\" for " + std::string(key));
        labels[std::string(key)] = std::string(value);
        if (comma == std::string_view::npos) break;
        start = comma + 1;
    }
    return labels;
}

namespace {

constexpr std::pair<std::string_view, int> signals[] = {
    {"HUP", SIGHUP},   {"INT", SIGINT},   {"QUIT", SIGQUIT}, {"ILL", SIGILL},   {"TRAP", SIGTRAP}, {"ABRT", SIGABRT},
    {"BUS", SIGBUS},   {"FPE", SIGFPE},   {"KILL", SIGKILL}, {"USR1", SIGUSR1}, {"SEGV", SIGSEGV}, {"USR2", SIGUSR2},
    {"PIPE", SIGPIPE}, {"ALRM", SIGALRM}, {"TERM", SIGTERM}, {"CHLD", SIGCHLD}, {"CONT", SIGCONT}, {"STOP", SIGSTOP},
    {"TSTP", SIGTSTP}, {"TTIN", SIGTTIN}, {"TTOU", SIGTTOU}, {"URG", SIGURG},   {"XCPU", SIGXCPU}, {"XFSZ", SIGXFSZ},
    {"VTALRM", SIGVTALRM}, {"PROF", SIGPROF}, {"WINCH", SIGWINCH}, {"IO", SIGIO}, {"PWR", SIGPWR}, {"SYS", SIGSYS}};

} // namespace

int parse_signal(std::string_view text) {
    int number = 0;
    if (auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), number); ec == std::errc{} && end == text.data() + text.size()) {
        if (number > 0 && number < NSIG) return number;
    } else {
        auto name = text.starts_with("SIG") ? text.substr(3) : text;
        for (auto& [n, s] : signals)
            if (n == name) return s;
    }
    throw usage_error("unknown signal \"" + std::string(text) + "\" (e.g. TERM, INT, HUP, 15)");
}

std::string signal_name(int signo) {
    for (auto& [n, s] : signals)
        if (s == signo) return "SIG" + std::string(n);
    return "signal " + std::to_string(signo);
}

namespace {

// One verb's flags: each takes a value unless it is a switch.
struct flag {
    std::vector<std::string_view> names; // "--wait", "-w"
    bool takes_value;
    std::function<void(const std::string&)> set;
};

int parse_exit_code(const std::string& v) {
    int n = -1;
    auto [end, ec] = std::from_chars(v.data(), v.data() + v.size(), n);
    if (ec != std::errc{} || end != v.data() + v.size() || n < 0 || n > 255) throw usage_error("invalid exit code \"" + v + "\": 0 to 255");
    return n;
}

std::vector<flag> connection_flags(connection_options& c) {
    return {
        {{"--kubeconfig"}, true, [&](const std::string& v) { c.kubeconfig = v; }},
        {{"--context"}, true, [&](const std::string& v) { c.context = v; }},
        {{"--namespace", "-n"}, true, [&](const std::string& v) { c.namespace_name = v; }},
        {{"--json"}, false, [&](const std::string&) { c.json = true; }},
    };
}

// Parses flags and positionals up to a `--` (kept out of `positionals`;
// what follows it goes to `rest`, if allowed).
void parse_flags(std::string_view verb, const std::vector<std::string>& args, std::size_t from, std::vector<flag> flags,
                 std::vector<std::string>& positionals, std::vector<std::string>* rest) {
    for (auto i = from; i < args.size(); ++i) {
        const auto& a = args[i];
        if (a == "--") {
            if (!rest) throw usage_error(std::string(verb) + " takes no command after --");
            rest->assign(args.begin() + static_cast<std::ptrdiff_t>(i) + 1, args.end());
            return;
        }
        if (a.size() < 2 || a[0] != '-') {
            positionals.push_back(a);
            continue;
        }
        const auto eq = a.find('=');
        const auto name = std::string_view(a).substr(0, eq);
        const auto f = std::find_if(flags.begin(), flags.end(), [&](const flag& f) {
            return std::find(f.names.begin(), f.names.end(), name) != f.names.end();
        });
        if (f == flags.end()) throw usage_error("unknown flag " + std::string(name) + " for " + std::string(verb) + " (see leaselocker " + std::string(verb) + " --help)");
        if (!f->takes_value) {
            if (eq != std::string::npos) throw usage_error("flag " + std::string(name) + " takes no value");
            f->set({});
            continue;
        }
        if (eq != std::string::npos) {
            f->set(a.substr(eq + 1));
        } else if (i + 1 < args.size()) {
            f->set(args[++i]);
        } else {
            throw usage_error("flag " + std::string(name) + " needs a value");
        }
    }
}

lease_name one_lease(std::string_view verb, const std::vector<std::string>& positionals, const connection_options& conn) {
    if (positionals.empty()) throw usage_error(std::string(verb) + ": missing NAMESPACE/NAME of the lease");
    if (positionals.size() > 1) throw usage_error(std::string(verb) + ": unexpected argument \"" + positionals[1] + "\"" +
                                                  (verb == "run" ? " (put the command after --)" : ""));
    auto name = parse_lease_ref(positionals.front());
    if (!conn.namespace_name.empty()) {
        if (!name.namespace_name.empty() && name.namespace_name != conn.namespace_name)
            throw usage_error("lease " + positionals.front() + " is in namespace " + name.namespace_name + ", not --namespace " + conn.namespace_name);
        name.namespace_name = conn.namespace_name;
        name = parse_lease_ref(name.namespace_name + "/" + name.name);
    }
    return name;
}

bool wants_help(const std::vector<std::string>& args) {
    for (auto& a : args) {
        if (a == "--") return false;
        if (a == "--help" || a == "-h") return true;
    }
    return false;
}

} // namespace

command_line parse_command_line(const std::vector<std::string>& args) {
    if (args.empty()) throw usage_error("missing command: run, status, wait-free, release or fence (see leaselocker --help)");
    const auto& verb = args.front();
    if (verb == "--help" || verb == "-h" || verb == "help") return show_help{args.size() > 1 && verb == "help" ? args[1] : ""};
    if (verb == "--version" || verb == "version") return show_version{};
    if (verb != "run" && verb != "status" && verb != "wait-free" && verb != "release" && verb != "fence")
        throw usage_error("unknown command \"" + verb + "\": run, status, wait-free, release or fence (see leaselocker --help)");
    if (wants_help(args)) return show_help{verb};

    std::vector<std::string> positionals;
    if (verb == "run") {
        run_options o;
        auto flags = connection_flags(o.conn);
        const auto duration = [](milliseconds& to) { return [&to](const std::string& v) { to = parse_duration(v); }; };
        flags.insert(flags.end(), {
            {{"--wait", "-w", "--timeout"}, true, duration(o.wait)},
            {{"--try"}, false, [&](const std::string&) { o.try_once = true; }},
            {{"--foreground"}, false, [&](const std::string&) { o.foreground = true; }},
            {{"--conflict-exit-code", "-E"}, true, [&](const std::string& v) { o.conflict_exit_code = parse_exit_code(v); }},
            {{"--identity", "-i"}, true, [&](const std::string& v) {
                 if (v.empty()) throw usage_error("--identity must not be empty");
                 o.identity = v;
             }},
            {{"--labels"}, true, [&](const std::string& v) { o.labels = parse_labels(v); }},
            {{"--signal", "-s"}, true, [&](const std::string& v) { o.loss_signal = parse_signal(v); }},
            {{"--kill-after", "-k"}, true, duration(o.kill_after)},
            {{"--lease-duration"}, true, duration(o.lease_duration)},
            {{"--renew-deadline"}, true, duration(o.renew_deadline)},
            {{"--retry-period"}, true, duration(o.retry_period)},
        });
        std::vector<std::string> command;
        bool dashes = std::find(args.begin(), args.end(), "--") != args.end();
        parse_flags(verb, args, 1, std::move(flags), positionals, &command);
        if (!dashes) throw usage_error("run: missing -- before the command (leaselocker run NAMESPACE/NAME -- CMD [ARGS...])");
        if (command.empty()) throw usage_error("run: missing command after --");
        o.lease = one_lease(verb, positionals, o.conn);
        o.command = std::move(command);
        if (o.try_once && o.wait.count() > 0) throw usage_error("run: --try and --wait exclude each other");
        return o;
    }
    if (verb == "status") {
        status_options o;
        parse_flags(verb, args, 1, connection_flags(o.conn), positionals, nullptr);
        o.lease = one_lease(verb, positionals, o.conn);
        return o;
    }
    if (verb == "wait-free") {
        wait_free_options o;
        auto flags = connection_flags(o.conn);
        flags.insert(flags.end(), {
            {{"--timeout", "--wait", "-w"}, true, [&](const std::string& v) { o.timeout = parse_duration(v); }},
            {{"--conflict-exit-code", "-E"}, true, [&](const std::string& v) { o.conflict_exit_code = parse_exit_code(v); }},
        });
        parse_flags(verb, args, 1, std::move(flags), positionals, nullptr);
        o.lease = one_lease(verb, positionals, o.conn);
        return o;
    }
    if (verb == "fence") {
        fence_options o;
        if (args.size() < 2 || (args[1] != "install" && args[1] != "remove" && args[1] != "status"))
            throw usage_error("fence: say install, remove or status (leaselocker fence install NAMESPACE/NAME --resource configmaps)");
        o.action = args[1];
        auto flags = connection_flags(o.conn);
        if (o.action == "install")
            flags.insert(flags.end(), {
                {{"--resource", "-r"}, true, [&](const std::string& v) {
                     if (v.empty() || v.find_first_of("/ ") != std::string::npos)
                         throw usage_error("--resource: \"" + v + "\" is not RESOURCE or RESOURCE.GROUP (e.g. configmaps, deployments.apps)");
                     o.resources.push_back(v);
                 }},
                {{"--selector", "-l"}, true, [&](const std::string& v) { o.selector = parse_labels(v); }},
                {{"--permissive"}, false, [&](const std::string&) { o.permissive = true; }},
                {{"--print"}, false, [&](const std::string&) { o.print = true; }},
            });
        flags.push_back({{"--name"}, true, [&](const std::string& v) { o.name = v; }});
        parse_flags(verb, args, 2, std::move(flags), positionals, nullptr);
        o.lease = one_lease(verb, positionals, o.conn);
        if (o.action == "install" && o.resources.empty())
            throw usage_error("fence install: say which objects it guards: --resource configmaps (repeatable)");
        return o;
    }
    release_options o;
    auto flags = connection_flags(o.conn);
    flags.insert(flags.end(), {
        {{"--force"}, false, [&](const std::string&) { o.force = true; }},
        {{"--identity", "-i"}, true, [&](const std::string& v) { o.identity = v; }},
    });
    parse_flags(verb, args, 1, std::move(flags), positionals, nullptr);
    o.lease = one_lease(verb, positionals, o.conn);
    if (o.force == !o.identity.empty())
        throw usage_error(o.force ? "release: --force and --identity exclude each other"
                                  : "release: say --force (write the lease free, whoever holds it) or --identity ID (only if ID holds it)");
    return o;
}

std::string help_text(std::string_view verb) {
    static const std::string connection =
        "Connection:\n"
        "  --kubeconfig FILE     kubeconfig to use (default: $KUBECONFIG, ~/.kube/config, in-cluster)\n"
        "  --context NAME        kubeconfig context (default: its current-context)\n"
        "  -n, --namespace NS    namespace of a lease given as NAME (default: the context's)\n"
        "  --json                events as JSON lines on stderr\n";
    if (verb == "run")
        return "usage: leaselocker run [flags] NAMESPACE/NAME -- CMD [ARGS...]\n\n"
               "Runs CMD once the lease is held, renews it while CMD runs and releases it when CMD exits\n"
               "(exit status: CMD's). If the lease is lost, CMD's process group gets --signal at once and\n"
               "SIGKILL after --kill-after; leaselocker then exits 75. CMD's environment has\n"
               "LEASELOCKER_FENCING_TOKEN, LEASELOCKER_FENCING_EPOCH, LEASELOCKER_IDENTITY and LEASELOCKER_LEASE.\n"
               "SIGINT, SIGTERM and SIGHUP are passed on to CMD; the lease is released once it exits.\n\n"
               "  -w, --wait, --timeout D    give up after D if another holds it (exit --conflict-exit-code); 0: wait (default)\n"
               "  --try                      one attempt: held by another -> exit --conflict-exit-code\n"
               "  -E, --conflict-exit-code N exit status when --wait runs out or --try finds it held (default 1)\n"
               "  -i, --identity ID          holder identity (default: <hostname>_<random>); never give two runs the same one\n"
               "  --labels k=v,...           labels of the Lease if this run creates it\n"
               "  -s, --signal SIG           signal for CMD when the lease is lost (default TERM)\n"
               "  -k, --kill-after D         then SIGKILL after D (default 3s; 0: never)\n"
               "  --foreground               CMD stays in leaselocker's process group: it can read the terminal\n"
               "                             (a loss then signals CMD alone, not what it started)\n"
               "  --lease-duration D         default 15s\n"
               "  --renew-deadline D         default 10s\n"
               "  --retry-period D           default 2s\n\n" +
               connection;
    if (verb == "fence")
        return "usage: leaselocker fence install [flags] NAMESPACE/NAME --resource RES [--resource RES...]\n"
               "       leaselocker fence remove [flags] NAMESPACE/NAME\n"
               "       leaselocker fence status [flags] NAMESPACE/NAME\n\n"
               "install: a ValidatingAdmissionPolicy with the Lease as its parameter, and its binding: the API\n"
               "server then admits a create or update of a guarded object in the Lease's namespace only if it\n"
               "carries the Lease's current holder, fencing token and epoch in its annotations\n"
               "leaselocker.io/holder, leaselocker.io/token and leaselocker.io/epoch (`leaselocker run` gives\n"
               "them to its command as LEASELOCKER_IDENTITY, LEASELOCKER_FENCING_TOKEN, LEASELOCKER_FENCING_EPOCH).\n"
               "It takes effect about a second after it is written. Needs rights on\n"
               "validatingadmissionpolicies and validatingadmissionpolicybindings (administrators).\n\n"
               "  -r, --resource RES   objects guarded: RESOURCE or RESOURCE.GROUP (configmaps, deployments.apps)\n"
               "  -l, --selector k=v   only objects with these labels (default: all of those kinds)\n"
               "  --permissive         admit writes without any stamp (a stale stamp is still refused)\n"
               "  --print              print the policy and binding as JSON, send nothing\n"
               "  --name N             name of the policy and binding (default leaselocker-fence.NS.NAME)\n\n"
               "remove: deletes both (writes are judged as before). status: says whether both exist\n"
               "(exit 0 if installed, 1 if not).\n\n" +
               connection;
    if (verb == "status")
        return "usage: leaselocker status [flags] NAMESPACE/NAME\n\n"
               "Prints who holds the lease, since when, its last renewal, how much longer it is valid by this\n"
               "machine's clock, its transitions and any preferred holder. Exit 0 when it could be read\n"
               "(also when there is no such Lease).\n\n" +
               connection;
    if (verb == "wait-free")
        return "usage: leaselocker wait-free [flags] NAMESPACE/NAME\n\n"
               "Blocks until nobody holds the lease: released, deleted, or expired as a waiting locker\n"
               "would judge it on this machine's clock. Follows the Lease by watch.\n\n"
               "  -w, --timeout D            give up after D (exit --conflict-exit-code); 0: wait (default)\n"
               "  -E, --conflict-exit-code N default 1\n\n" +
               connection;
    if (verb == "release")
        return "usage: leaselocker release [flags] NAMESPACE/NAME (--force | --identity ID)\n\n"
               "Writes the lease free (as a holder releasing it does; leaseTransitions unchanged).\n"
               "  --force          whoever holds it (an administrator's repair: its holder is NOT stopped)\n"
               "  -i, --identity ID only if ID holds it\n\n" +
               connection;
    return "usage: leaselocker COMMAND [flags] ...\n\n"
           "Distributed locks on Kubernetes Leases for shell scripts and CronJobs.\n\n"
           "Commands:\n"
           "  run NAMESPACE/NAME -- CMD [ARGS...]  run CMD while holding the lease\n"
           "  status NAMESPACE/NAME                who holds the lease\n"
           "  wait-free NAMESPACE/NAME             wait until nobody holds it\n"
           "  release NAMESPACE/NAME --force       write it free (administrators)\n"
           "  fence install NAMESPACE/NAME -r RES  have the API server refuse writes of a deposed holder\n"
           "  version                              print the version\n\n"
           "Exit codes: CMD's own status; 1 held by another (--conflict-exit-code); 64 usage;\n"
           "69 API server unreachable; 70 unexpected answer; 75 lease lost while CMD ran;\n"
           "77 permission denied; 78 configuration; 126 CMD not executable; 127 CMD not found;\n"
           "128+N interrupted by signal N before CMD started.\n\n"
           "leaselocker COMMAND --help for a command's flags.\n";
}

} // namespace leaselocker::cli
