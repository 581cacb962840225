// Reads every *.jsonl history in a folder, checks it (history.hpp), writes
// report.json and report.md there, prints the table, and exits 0 if the
// run passed, 1 if any check failed (a violation, or a minimum or liveness
// bound not met: an empty folder fails), 2 on bad usage.
//
//   leaselocker_chaos_check FOLDER [--lease-ms 2000] [--silence-leases 15] [--failover-margin-ms 1000] [--fence-window-ms 50]
#include "history.hpp"

#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>

int main(int argc, char** argv) {
    using namespace leaselocker::chaos;
    auto usage = [&] {
        std::cerr << "usage: " << argv[0] << " FOLDER [--lease-ms N] [--silence-leases N] [--failover-margin-ms N] [--fence-window-ms N]\n";
        return 2;
    };
    if (argc < 2 || argc % 2 != 0) return usage();
    const std::filesystem::path dir = argv[1];
    options opts;
    for (int i = 2; i + 1 < argc; i += 2) {
        const std::string flag = argv[i];
        long long value = 0;
        try {
            value = std::stoll(argv[i + 1]);
        } catch (const std::exception&) {
            return usage();
        }
        if (flag == "--lease-ms") opts.lease_ms = value;
        else if (flag == "--silence-leases") opts.silence_leases = static_cast<int>(value);
        else if (flag == "--failover-margin-ms") opts.failover_margin_ms = value;
        else if (flag == "--fence-window-ms") opts.fence_window_ms = value;
        else return usage();
    }
    if (!std::filesystem::is_directory(dir)) {
        std::cerr << argv[0] << ": " << dir << " is not a folder\n";
        return 2;
    }
    std::vector<event> events;
    for (const auto& entry : std::filesystem::directory_iterator(dir)) {
        if (entry.path().extension() != ".jsonl") continue;
        std::ifstream in(entry.path());
        for (std::string line; std::getline(in, line);) {
            if (auto e = parse_event(line)) events.push_back(std::move(*e));
            else if (!line.empty()) ++opts.skipped_lines;
        }
    }
    const auto r = check(std::move(events), opts);
    std::ofstream(dir / "report.json") << to_json(r) << "\n";
    std::ofstream(dir / "report.md") << to_table(r);
    std::cout << to_table(r);
    if (opts.skipped_lines) std::cout << "(" << opts.skipped_lines << " unreadable lines skipped)\n";
    for (const auto& v : r.violations) std::cout << "VIOLATION " << v << "\n";
    return r.ok() ? 0 : 1;
}
