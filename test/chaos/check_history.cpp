// Reads every *.jsonl history in a folder, checks it (history.hpp), writes
// report.json and report.md there, prints the table, and exits non-zero if
// any check failed.
//
//   leaselocker_chaos_check FOLDER
#include "history.hpp"

#include <filesystem>
#include <fstream>
#include <iostream>

int main(int argc, char** argv) {
    using namespace leaselocker::chaos;
    if (argc != 2) {
        std::cerr << "usage: " << argv[0] << " FOLDER\n";
        return 2;
    }
    const std::filesystem::path dir = argv[1];
    std::vector<event> events;
    std::size_t skipped = 0;
    for (const auto& entry : std::filesystem::directory_iterator(dir)) {
        if (entry.path().extension() != ".jsonl") continue;
        std::ifstream in(entry.path());
        for (std::string line; std::getline(in, line);) {
            if (auto e = parse_event(line)) events.push_back(std::move(*e));
            else if (!line.empty()) ++skipped;
        }
    }
    const auto r = check(std::move(events));
    std::ofstream(dir / "report.json") << to_json(r) << "\n";
    std::ofstream(dir / "report.md") << to_table(r);
    std::cout << to_table(r);
    if (skipped) std::cout << "(" << skipped << " partial lines skipped: processes killed mid-write)\n";
    for (const auto& v : r.violations) std::cout << "VIOLATION " << v << "\n";
    return r.ok() ? 0 : 1;
}
