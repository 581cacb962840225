#include "history.hpp"

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <boost/json/value.hpp>

#include <algorithm>
#include <cstdio>
#include <sstream>

namespace leaselocker::chaos {

namespace json = boost::json;

std::optional<event> parse_event(const std::string& line) {
    boost::system::error_code ec;
    auto v = json::parse(line, ec);
    if (ec || !v.is_object()) return std::nullopt;
    const auto& o = v.get_object();
    auto str = [&](const char* key) -> std::string {
        auto* f = o.if_contains(key);
        return f && f->is_string() ? std::string(f->get_string()) : std::string();
    };
    auto num = [&](const char* key, std::int64_t fallback) -> std::int64_t {
        auto* f = o.if_contains(key);
        return f && f->is_int64() ? f->get_int64() : f && f->is_uint64() ? static_cast<std::int64_t>(f->get_uint64()) : fallback;
    };
    event e;
    e.t = num("t", -1);
    e.process = str("p");
    e.kind = str("e");
    if (e.t < 0 || e.process.empty() || e.kind.empty()) return std::nullopt;
    e.identity = str("identity");
    e.epoch = str("epoch");
    e.holder = str("holder");
    e.target = str("target");
    e.result = str("result");
    e.why = str("why");
    e.seq = num("seq", -1);
    e.valid_until = num("valid_until", 0);
    if (auto* a = o.if_contains("accepted"); a && a->is_bool()) e.accepted = a->get_bool();
    if (auto* r = o.if_contains("clock_rate"); r && r->is_number()) e.clock_rate = r->to_number<double>();
    return e;
}

namespace {

distribution summarize(std::vector<double> ms) {
    distribution d;
    d.n = ms.size();
    if (ms.empty()) return d;
    std::sort(ms.begin(), ms.end());
    auto at = [&](double p) { return ms[std::min(ms.size() - 1, static_cast<std::size_t>(p / 100 * (ms.size() - 1) + 0.5))]; };
    d.p50_ms = at(50);
    d.p90_ms = at(90);
    d.p99_ms = at(99);
    d.p999_ms = at(99.9);
    d.max_ms = ms.back();
    return d;
}

// A CLOCK_MONOTONIC stamp, for messages: "12.345 s".
std::string seconds(std::int64_t ns) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.3f s", static_cast<double>(ns) / 1e9);
    return buf;
}

using grant_key = std::pair<std::string, std::int64_t>; // (process, seq)

void check_server_order(const std::vector<const event*>& recorder, report& r) {
    const event* prev = nullptr;
    bool gap = false;
    for (const event* v : recorder) {
        if (v->kind == "gap") {
            gap = true;
            continue;
        }
        ++r.server_versions;
        if (prev && v->seq >= 0 && prev->seq >= 0) {
            std::string bad;
            if (v->seq < prev->seq) {
                bad = "leaseTransitions went back";
            } else if (!gap) {
                const bool granted = !v->holder.empty() && v->holder != prev->holder;
                if (granted && v->seq != prev->seq + 1) bad = "a new holder without exactly +1";
                if (!granted && v->holder.empty() && v->seq != prev->seq) bad = "a release changed leaseTransitions";
                if (!granted && !v->holder.empty() && v->seq > prev->seq + 1) bad = "a renewal added more than one";
            }
            if (!bad.empty()) {
                ++r.server_order_violations;
                r.violations.push_back("server order: " + bad + ": " + prev->holder + "/" + std::to_string(prev->seq) + " -> " +
                                       v->holder + "/" + std::to_string(v->seq) + " at " + seconds(v->t));
            }
        }
        prev = v;
        gap = false;
    }
}

} // namespace

report check(std::vector<event> events) {
    std::stable_sort(events.begin(), events.end(), [](const event& a, const event& b) { return a.t < b.t; });
    report r;

    // Grants, their claims, and who held when.
    struct claim {
        std::int64_t start = 0, end = 0;
    };
    std::map<grant_key, claim> claims;
    std::vector<const event*> recorder, acquisitions;
    std::string server_holder; // as the recorder last saw it
    std::vector<std::pair<std::int64_t, std::string>> freed_by_release, freed_by_kill; // (t, process)
    for (const auto& e : events) {
        if (e.process == "recorder") {
            recorder.push_back(&e);
            if (e.kind == "version") server_holder = e.holder;
        } else if (e.process == "nemesis") {
            ++r.nemeses[e.kind];
            // A failover only if the server still named it holder (not
            // killed just after its release).
            if (e.kind == "kill" && !e.target.empty() && e.target == server_holder) freed_by_kill.emplace_back(e.t, e.target);
        } else if (e.kind == "acquire_ok") {
            ++r.grants;
            claims[{e.process, e.seq}] = claim{e.t, e.t};
            acquisitions.push_back(&e);
        } else if (e.kind == "check") {
            auto it = claims.find({e.process, e.seq});
            if (it != claims.end()) it->second.end = std::max(it->second.end, e.t);
        } else if (e.kind == "release" && e.result == "released") {
            freed_by_release.emplace_back(e.t, e.process);
        }
    }

    check_server_order(recorder, r);

    // Claims: sorted by start, none may begin before an earlier one ended.
    std::vector<std::pair<grant_key, claim>> sorted(claims.begin(), claims.end());
    std::sort(sorted.begin(), sorted.end(), [](auto& a, auto& b) { return a.second.start < b.second.start; });
    const std::pair<grant_key, claim>* latest_end = nullptr;
    for (const auto& g : sorted) {
        if (latest_end && g.second.start < latest_end->second.end && latest_end->first.first != g.first.first) {
            ++r.overlapping_claims;
            r.violations.push_back("claims overlap: " + latest_end->first.first + " (token " + std::to_string(latest_end->first.second) +
                                   ") still valid until " + seconds(latest_end->second.end) + ", " + g.first.first + " (token " +
                                   std::to_string(g.first.second) + ") acquired at " + seconds(g.second.start));
        }
        if (!latest_end || g.second.end > latest_end->second.end) latest_end = &g;
    }

    // Fencing: in the store's order, no accepted write of an older grant
    // (lower token, or the same token of another grant) after a newer one.
    std::optional<grant_key> newest;
    for (const auto& e : events) {
        if (e.kind != "write") continue;
        if (!e.accepted) {
            ++r.rejected_stale_writes;
            continue;
        }
        ++r.accepted_writes;
        const grant_key g{e.process, e.seq};
        if (newest && (e.seq < newest->second || (e.seq == newest->second && g != *newest))) {
            ++r.accepted_stale_writes;
            r.violations.push_back("stale write accepted: " + e.process + " with token " + std::to_string(e.seq) + " after " +
                                   newest->first + " wrote with token " + std::to_string(newest->second) + " at " + seconds(e.t));
            continue;
        }
        newest = g;
    }

    // Liveness: from a release or a killed holder to the next acquisition.
    auto next_acquire_after = [&](std::int64_t t) -> std::optional<std::int64_t> {
        auto it = std::upper_bound(acquisitions.begin(), acquisitions.end(), t, [](std::int64_t v, const event* a) { return v < a->t; });
        if (it == acquisitions.end()) return std::nullopt;
        return (*it)->t - t;
    };
    auto gaps = [&](const auto& freed) {
        std::vector<double> out;
        for (auto& [t, p] : freed)
            if (auto d = next_acquire_after(t)) out.push_back(static_cast<double>(*d) / 1e6);
        return summarize(std::move(out));
    };
    r.handoff = gaps(freed_by_release);
    r.failover = gaps(freed_by_kill);
    return r;
}

std::string to_json(const report& r) {
    json::object o;
    o["ok"] = r.ok();
    o["grants"] = r.grants;
    o["server_versions"] = r.server_versions;
    o["accepted_writes"] = r.accepted_writes;
    o["rejected_stale_writes"] = r.rejected_stale_writes;
    o["server_order_violations"] = r.server_order_violations;
    o["overlapping_claims"] = r.overlapping_claims;
    o["accepted_stale_writes"] = r.accepted_stale_writes;
    json::object nemeses;
    for (auto& [k, n] : r.nemeses) nemeses[k] = n;
    o["nemeses"] = std::move(nemeses);
    auto dist = [](const distribution& d) { return json::object{{"n", d.n}, {"p50_ms", d.p50_ms}, {"p90_ms", d.p90_ms}, {"p99_ms", d.p99_ms},
                             {"p99.9_ms", d.p999_ms}, {"max_ms", d.max_ms}}; };
    o["handoff"] = dist(r.handoff);
    o["failover"] = dist(r.failover);
    json::array v;
    for (auto& s : r.violations) v.emplace_back(s);
    o["violations"] = std::move(v);
    return json::serialize(o);
}

std::string to_table(const report& r) {
    std::ostringstream out;
    out << "| check | result |\n|---|---|\n";
    out << "| grants (handoffs) | " << r.grants << " |\n";
    out << "| server versions recorded | " << r.server_versions << " |\n";
    out << "| leaseTransitions order violations | " << r.server_order_violations << " |\n";
    out << "| overlapping claims | " << r.overlapping_claims << " |\n";
    out << "| fenced writes accepted / stale accepted / stale rejected | " << r.accepted_writes << " / " << r.accepted_stale_writes
        << " / " << r.rejected_stale_writes << " |\n";
    auto dist = [&](const char* what, const distribution& d) {
        char buf[200];
        std::snprintf(buf, sizeof buf, "| %s p50 / p90 / p99 / p99.9 / max (n) | %.1f / %.1f / %.1f / %.1f / %.1f ms (%zu) |\n", what,
                      d.p50_ms, d.p90_ms, d.p99_ms, d.p999_ms, d.max_ms, d.n);
        out << buf;
    };
    dist("release → next acquire", r.handoff);
    dist("holder killed → next acquire", r.failover);
    out << "| nemeses injected |";
    for (auto& [k, n] : r.nemeses) out << " " << k << " " << n << ";";
    out << " |\n";
    return out.str();
}

} // namespace leaselocker::chaos
