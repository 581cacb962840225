#include "history.hpp"

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <boost/json/value.hpp>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <set>
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
    e.impl = str("impl");
    e.role = str("role");
    e.lease_end = num("lease_end", 0);
    e.granted_at = num("granted_at", 0);
    e.seq = num("seq", -1);
    e.valid_until = num("valid_until", 0);
    e.sent = num("sent", 0);
    e.writer = str("writer");
    if (const auto rv = str("rv"); !rv.empty() && rv.size() < 19 && rv.find_first_not_of("0123456789") == std::string::npos)
        e.rv = std::stoll(rv);
    if (auto* a = o.if_contains("accepted"); a && a->is_bool()) e.accepted = a->get_bool();
    if (auto* a = o.if_contains("permanent"); a && a->is_bool()) e.permanent = a->get_bool();
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
    d.min_ms = ms.front();
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

// One grant and what the library promised for it.
struct grant {
    std::string process, epoch;
    std::int64_t seq = -1, start = 0, last_check = 0, promise = 0;
    std::string impl = "leaselocker";
    std::int64_t lease_end = 0; // a Go peer's: the end of the lease it last wrote
    std::int64_t decided = 0;   // when its granting write was sent: the takeover was decided before
    std::int64_t freed_at = 0;  // another process wrote the lease free under this grant's token
    std::string freed_by_impl;
    std::optional<std::int64_t> unlocking; // the holder's `unlocking`, if it got that far
    bool released = false;                 // and its unlock wrote the lease free
    bool checked = false;                  // it asked for validity at least once

    // The claim: to the later of the last check and the promise, cut at
    // the unlock.
    std::int64_t end() const {
        const auto e = std::max(last_check, promise);
        return unlocking ? std::min(e, *unlocking) : e;
    }
};

// A stop (to its cont) or a partition (to its heal) of one process.
struct strike_window {
    std::string kind; // "stop" or "partition"
    std::string target;
    std::int64_t from = 0, to = 0; // to: the end (or the end of the history)
};

std::string ms(std::int64_t ns) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.1f ms", static_cast<double>(ns) / 1e6);
    return buf;
}

// Why an overlap of `a` (the earlier claim) with `g` is one of the Go
// peers' designs rather than a violation, and from when `a` no longer
// claims anything for the comparisons after it; nullopt: a violation.
struct excuse {
    std::string impl, why;
    std::int64_t cut = 0;
};

std::optional<excuse> excused(const grant& a, const grant& g) {
    if (a.freed_at > 0 && a.freed_at <= g.decided)
        return excuse{a.freed_by_impl, "wrote free a lease it no longer held, under " + a.process + "'s token", g.start};
    if (a.impl == "leaselocker") return std::nullopt; // our promise must hold against every successor
    if (a.lease_end > 0 && g.decided >= a.lease_end) return excuse{a.impl, "acted past the end of the lease it had written", g.start};
    if (g.impl != "leaselocker") return excuse{g.impl, "took over before the lease it could see had run out", g.start};
    return std::nullopt; // a C++ locker took over early
}

// Returns the Go claims that were excused, each with the implementation at
// fault; `counted` holds the (claim, implementation) pairs already counted.
std::map<grant_key, std::string> check_claims(const std::vector<grant*>& order, report& r,
                                              std::set<std::pair<const grant*, std::string>>& counted) {
    std::map<grant_key, std::string> excused_go_claims;
    // The claims so far by the end that still counts (cut after an excuse,
    // so that an excused claim does not hide overlaps among the others).
    std::multimap<std::int64_t, const grant*> ends;
    for (const grant* g : order) {
        // A grant learned of only after its promise had passed (its process
        // was stopped with the answer on its way) claims nothing.
        if (g->end() <= g->start && !g->checked) continue;
        while (!ends.empty() && g->start < ends.rbegin()->first) {
            const grant& a = *ends.rbegin()->second;
            if (auto x = excused(a, *g)) {
                if (counted.insert({&a, x->impl}).second && r.peer_overlaps[x->impl]++ < 3)
                    r.peer_overlap_examples.push_back(x->impl + ": " + (x->impl == g->impl && x->why.starts_with("took") ? g->process : a.process) +
                                                      " " + x->why + ": " + a.process + " (" + a.impl + ", token " + std::to_string(a.seq) +
                                                      ") claimed to " + seconds(a.end()) + ", " + g->process + " (" + g->impl + ", token " +
                                                      std::to_string(g->seq) + ") took over at " + seconds(g->start));
                if (a.impl != "leaselocker") excused_go_claims.try_emplace({a.process, a.seq}, x->impl);
                ends.erase(std::prev(ends.end()));
                ends.emplace(std::min(x->cut, a.end()), &a);
                continue;
            }
            ++r.overlapping_claims;
            r.violations.push_back("claims overlap: " + a.process + " (token " + std::to_string(a.seq) + ") was promised the lease until " +
                                   seconds(a.end()) + ", " + g->process + " (token " + std::to_string(g->seq) + ") acquired it at " +
                                   seconds(g->start) + ", " + ms(a.end() - g->start) + " early");
            break;
        }
        ends.emplace(g->end(), g);
    }
    // Expiry takeovers: the predecessor never unlocked before the grant.
    std::vector<double> margins;
    for (std::size_t i = 1; i < order.size(); ++i) {
        const grant& p = *order[i - 1];
        const grant& g = *order[i];
        if ((p.released && p.unlocking && *p.unlocking <= g.start) || p.promise == 0 || p.impl != "leaselocker") continue;
        margins.push_back(static_cast<double>(g.start - p.promise) / 1e6);
    }
    r.takeover_margin = summarize(std::move(margins));
    return excused_go_claims;
}

// Takeovers from a Go peer's grant (the token before, neither released nor
// written free first): decided no sooner than the end of the lease it had
// written, whether or not the Go peer still acted (stopped, killed).
// freed_tokens: the tokens the recorder saw written free (its versions
// carry no uid: within one epoch).
void check_takeovers_from_go(const std::vector<grant*>& order, const std::set<std::int64_t>& freed_tokens,
                             report& r, std::set<std::pair<const grant*, std::string>>& counted) {
    std::map<std::pair<std::string, std::int64_t>, const grant*> by_token;
    for (const grant* g : order) by_token.emplace(std::pair{g->epoch, g->seq}, g);
    for (const grant* g : order) {
        auto it = by_token.find({g->epoch, g->seq - 1});
        if (it == by_token.end()) continue;
        const grant& p = *it->second;
        if (p.end() > g->start) continue; // the claims overlap: judged with the claims
        if (p.impl == "leaselocker" || p.lease_end == 0 || p.released || freed_tokens.count(p.seq) ||
            (p.freed_at > 0 && p.freed_at <= g->decided) || g->decided >= p.lease_end)
            continue;
        if (g->impl != "leaselocker") {
            if (counted.insert({&p, g->impl}).second && r.peer_overlaps[g->impl]++ < 3)
                r.peer_overlap_examples.push_back(g->impl + ": " + g->process + " took over before the lease it could see had run out: " +
                                                  p.process + " (" + p.impl + ", token " + std::to_string(p.seq) + ") had written it to " +
                                                  seconds(p.lease_end) + ", " + g->process + " decided at " + seconds(g->decided));
            continue;
        }
        ++r.overlapping_claims;
        r.violations.push_back("early takeover: " + g->process + " (token " + std::to_string(g->seq) + ") decided at " + seconds(g->decided) +
                               " to take over from " + p.process + " (" + p.impl + ", token " + std::to_string(p.seq) +
                               "), whose lease ran to " + seconds(p.lease_end) + ", " + ms(p.lease_end - g->decided) + " early");
    }
}

void check_tokens(const std::vector<grant*>& order, const std::vector<const event*>& recorder, const options& opts, report& r) {
    // Tokens: one grant each in an epoch, and rising with every grant of a
    // process in an epoch (a recreated Lease starts again). (Across processes the order is the server's: the recorder's
    // versions, checked by the server order, and every grant must be one of
    // them. The order of acquire_ok stamps is not: a process stopped with
    // its grant's answer on the way logs it late.)
    std::map<std::pair<std::string, std::int64_t>, const grant*> owner; // (epoch, seq) → grant
    std::map<std::pair<std::string, std::string>, std::int64_t> by_process; // (process, epoch) → its last token
    for (const grant* g : order) {
        auto [it, first] = owner.try_emplace({g->epoch, g->seq}, g);
        if (!first) {
            ++r.token_order_violations;
            r.violations.push_back("tokens: " + g->process + " and " + it->second->process + " were both granted token " +
                                   std::to_string(g->seq) + " (at " + seconds(it->second->start) + " and " + seconds(g->start) + ")");
        }
        auto [last, none] = by_process.try_emplace({g->process, g->epoch}, g->seq);
        if (!none && g->seq <= last->second) {
            ++r.token_order_violations;
            r.violations.push_back("tokens: " + g->process + " was granted token " + std::to_string(g->seq) + " at " + seconds(g->start) +
                                   ", not above its earlier " + std::to_string(last->second));
        }
        last->second = g->seq;
    }
    // Every grant is a version the recorder saw, unless it had a gap near
    // then (it re-listed) or had stopped watching.
    std::map<std::pair<std::string, std::int64_t>, bool> seen;
    std::vector<std::int64_t> gaps;
    std::int64_t recorder_end = 0;
    for (const event* v : recorder) {
        recorder_end = std::max(recorder_end, v->t);
        if (v->kind == "gap")
            gaps.push_back(v->t);
        else
            seen[{v->holder, v->seq}] = true;
    }
    const std::int64_t lease_ns = opts.lease_ms * 1'000'000;
    for (const grant* g : order) {
        if (seen.count({g->process, g->seq}) || g->start > recorder_end) continue;
        auto near = std::lower_bound(gaps.begin(), gaps.end(), g->start - 2 * lease_ns);
        if (near != gaps.end() && *near <= g->start + 2 * lease_ns + 5'000'000'000) continue;
        ++r.unrecorded_grants;
        r.violations.push_back("tokens: the recorder never saw " + g->process + " holding with token " + std::to_string(g->seq) +
                               " (granted at " + seconds(g->start) + ")");
    }
}

// The guarded ConfigMap, in the server's order: each version the recorder
// saw against the Lease as of that version (the last Lease version with a
// lower resourceVersion). Admitted writes the recorder did not see are
// judged by their send time against the next grant.
void check_store_versions(std::vector<const event*> store, const std::vector<const event*>& api_writes,
                          const std::vector<const event*>& recorder, const std::map<grant_key, const event*>& grant_events,
                          const std::vector<const event*>& releases, const std::vector<strike_window>& windows, const options& opts,
                          report& r) {
    r.api_store = true;
    r.fence_window_ms = opts.fence_window_ms;
    const std::int64_t window_ns = opts.fence_window_ms * 1'000'000;
    struct lease_version {
        std::int64_t rv;
        const event* e;
        bool after_gap; // the recorder lost its watch just before it: versions before it may be missing
    };
    std::vector<lease_version> lease;
    bool gap = false;
    for (const event* v : recorder) {
        if (v->kind == "gap") gap = true;
        if (v->kind != "version" || v->rv < 0) continue;
        lease.push_back({v->rv, v, gap});
        gap = false;
    }
    const bool trailing_gap = gap;
    std::stable_sort(lease.begin(), lease.end(), [](const lease_version& a, const lease_version& b) { return a.rv < b.rv; });
    std::stable_sort(store.begin(), store.end(), [](const event* a, const event* b) { return a->rv < b->rv; });
    // The stamp names this version's holder, token (a Lease without
    // leaseTransitions: 0, as the fence reads it) and epoch (if known).
    auto stamp_of = [](const lease_version& v, const event* s) {
        return v.e->holder == s->holder && std::max<std::int64_t>(v.e->seq, 0) == s->seq &&
               (v.e->epoch.empty() || s->epoch.empty() || v.e->epoch == s->epoch);
    };
    // The stamp holder's turn ended, at the latest, when its release was answered.
    auto released_at = [&](const std::string& process, std::int64_t seq) {
        std::int64_t at = INT64_MAX;
        for (const event* rel : releases)
            if (rel->process == process && rel->seq == seq && rel->result == "released") at = std::min(at, rel->t);
        return at;
    };
    // Stopped between stamping `sent` and `until`: when the bytes left is unknown.
    auto stopped_while_sending = [&](const std::string& process, std::int64_t sent, std::int64_t until) {
        return std::any_of(windows.begin(), windows.end(),
                           [&](const strike_window& w) { return w.kind == "stop" && w.target == process && w.from < until && w.to > sent; });
    };
    std::vector<double> lags;
    auto judge = [&](const std::string& writer, std::int64_t seq, std::int64_t sent, std::int64_t known, const std::string& what) {
        const std::int64_t lag = sent - known;
        lags.push_back(static_cast<double>(lag) / 1e6);
        if (lag <= window_ns) {
            ++(lag < 0 ? r.stale_writes_in_flight : r.stale_writes_in_window);
            return;
        }
        ++r.accepted_stale_writes;
        r.violations.push_back("stale write admitted: " + writer + " with token " + std::to_string(seq) + " (sent at " + seconds(sent) + ") " +
                               what + " known at " + seconds(known) + ": " + ms(lag) + " later, outside the fence's window of " +
                               std::to_string(opts.fence_window_ms) + " ms");
    };
    std::set<std::int64_t> seen_rv;
    std::set<std::pair<std::string, std::int64_t>> seen_writes; // (writer, sent)
    for (const event* s : store) {
        if (s->rv < 0 || !seen_rv.insert(s->rv).second) continue; // a re-opened watch shows the current version again
        if (s->sent == 0) continue;                                  // made before the fence (no writer's write)
        seen_writes.insert({s->writer, s->sent});
        ++r.store_versions;
        auto next = std::upper_bound(lease.begin(), lease.end(), s->rv, [](std::int64_t rv, const lease_version& v) { return rv < v.rv; });
        if (next == lease.begin() || (next == lease.end() ? trailing_gap : next->after_gap)) {
            ++r.store_versions_unjudged;
            continue;
        }
        auto at = std::prev(next);
        if (stamp_of(*at, s)) continue; // the Lease's holder and token: admitted rightly
        // Stale: the turn of the stamp had ended at `ended`, the first of
        // the versions after its last one that all differ from it. Not
        // judged if a gap may hide where it ended, or the stamp's own
        // version was never seen.
        auto ended = at;
        bool uncertain = ended->after_gap;
        while (ended != lease.begin() && !stamp_of(*std::prev(ended), s)) {
            --ended;
            uncertain = uncertain || ended->after_gap;
        }
        if (ended == lease.begin() || uncertain || stopped_while_sending(s->writer, s->sent, s->t)) {
            ++r.store_versions_unjudged;
            continue;
        }
        // Known from the earliest of: the recorder seeing it, the grant's
        // acquire_ok, the stamp holder's release line.
        std::int64_t known = std::min(ended->e->t, released_at(s->holder, s->seq));
        if (auto g = grant_events.find({ended->e->holder, ended->e->seq}); !ended->e->holder.empty() && g != grant_events.end())
            known = std::min(known, g->second->t);
        judge(s->writer, s->seq, s->sent, known,
              "stored as version " + std::to_string(s->rv) + ", after the Lease's version " + std::to_string(ended->rv) + " (holder \"" +
                  ended->e->holder + "\", token " + std::to_string(ended->e->seq) + ") was");
    }
    // Admitted, but among no version the recorder saw (its watch of the
    // store lost some): admitted when it arrived, after it was sent; stale
    // if the turn had ended more than the window before.
    for (const event* w : api_writes) {
        if (seen_writes.count({w->process, w->sent})) continue;
        ++r.unseen_accepted_writes;
        std::int64_t ended = released_at(w->process, w->seq);
        for (const auto& [key, g] : grant_events)
            if (g->seq > w->seq && g->epoch == w->epoch) ended = std::min(ended, g->t);
        if (ended == INT64_MAX || stopped_while_sending(w->process, w->sent, w->t)) continue;
        if (w->sent - ended > window_ns) judge(w->process, w->seq, w->sent, ended, "admitted (the recorder did not see it) after its turn ended,");
    }
    r.stale_write_lag = summarize(std::move(lags));
    if (r.store_versions == 0) r.failures.push_back("the recorder saw no version of the guarded ConfigMap");
    if (static_cast<double>(r.store_versions_unjudged) > 0.1 * static_cast<double>(r.store_versions))
        r.failures.push_back(std::to_string(r.store_versions_unjudged) + " of " + std::to_string(r.store_versions) +
                             " store versions could not be judged (the recorder's watch of the Lease had gaps): more than 0.1");
    if (static_cast<double>(r.unseen_accepted_writes) > 0.05 * static_cast<double>(api_writes.size()))
        r.failures.push_back(std::to_string(r.unseen_accepted_writes) + " of " + std::to_string(api_writes.size()) +
                             " admitted writes are not among the store versions the recorder saw: more than 0.05");
}

} // namespace

report check(std::vector<event> events, const options& opts) {
    std::stable_sort(events.begin(), events.end(), [](const event& a, const event& b) { return a.t < b.t; });
    report r;
    r.skipped_lines = opts.skipped_lines;
    const std::int64_t lease_ns = opts.lease_ms * 1'000'000;

    std::map<grant_key, grant> grants;
    std::map<grant_key, const event*> grant_events;
    std::vector<grant*> order; // by start
    std::vector<const event*> recorder, acquisitions;
    std::string server_holder; // as the recorder last saw it
    std::vector<std::pair<std::int64_t, std::string>> freed_by_release, freed_by_kill; // (t, process)
    std::vector<strike_window> windows;
    std::map<std::string, std::vector<std::int64_t>> seen_at; // contender → times of its events
    std::map<std::string, std::int64_t> granted_max;           // epoch → highest token granted so far
    std::set<std::string> exited, killed;                      // processes that ended by themselves, or were killed
    std::map<std::string, std::string> impl_of;                // process → implementation (from its start)
    std::map<std::string, double> clock_rate_of;               // process → its clock rate (C++)
    std::set<std::string> electors;                            // processes that are leader_electors
    std::map<grant_key, std::int64_t> stopped_at;              // an elector's term → its first `stopped`
    std::map<std::string, std::vector<std::int64_t>> kill_times; // process → when it was killed
    std::vector<const event*> stepped_down;                    // electors' "release" lines: the result unknown
    struct stale_write {
        std::string process;
        std::int64_t seq;
        std::string what;
    };
    std::vector<stale_write> stale_accepted;                   // judged once the claims are
    std::vector<const event*> frees;                           // Go peers' writes of the lease free
    std::map<grant_key, std::int64_t> lease_ends;              // Go peers' answered writes: the latest end per grant
    auto impl = [&](const std::string& process) {
        auto it = impl_of.find(process);
        return it == impl_of.end() ? std::string("leaselocker") : it->second;
    };
    std::int64_t history_end = events.empty() ? 0 : events.back().t;
    std::vector<const event*> store_versions, api_writes;     // the guarded ConfigMap's versions; writes to it that were admitted
    std::vector<const event*> releases;                      // "release" lines (when a turn was known to have ended)
    std::vector<double> early_refusal_lag;
    for (const auto& e : events) {
        if (e.process == "recorder" && (e.kind == "store_version" || e.kind == "store_gap")) {
            if (e.kind == "store_version") store_versions.push_back(&e);
            else ++r.store_gaps;
            continue;
        }
        if (e.process == "recorder") {
            recorder.push_back(&e);
            if (e.kind == "version") server_holder = e.holder;
            continue;
        }
        if (e.process == "nemesis") {
            ++r.nemeses[e.kind];
            // A failover only if the server still named it holder (not
            // killed just after its release).
            if (e.kind == "kill" && !e.target.empty() && e.target == server_holder) freed_by_kill.emplace_back(e.t, e.target);
            if (e.kind == "kill") {
                killed.insert(e.target);
                kill_times[e.target].push_back(e.t);
            }
            if (e.kind == "stop" || e.kind == "partition") windows.push_back({e.kind, e.target, e.t, history_end});
            if (e.kind == "cont" || e.kind == "heal") {
                const std::string opened = e.kind == "cont" ? "stop" : "partition";
                for (auto it = windows.rbegin(); it != windows.rend(); ++it)
                    if (it->kind == opened && it->target == e.target && it->to == history_end) {
                        it->to = e.t;
                        break;
                    }
            }
            continue;
        }
        seen_at[e.process].push_back(e.t);
        if (e.kind == "start") {
            if (!e.impl.empty()) impl_of[e.process] = e.impl;
            clock_rate_of[e.process] = e.clock_rate;
            if (e.role == "elector") electors.insert(e.process);
        }
        if (e.kind == "stopped") stopped_at.try_emplace({e.process, e.seq}, e.t);
        if (e.kind == "freed") frees.push_back(&e);
        if (e.kind == "lease") {
            auto& end = lease_ends[{e.process, e.seq}];
            end = std::max(end, e.lease_end);
        }
        if (e.kind == "acquire_ok") {
            if (auto it = grants.find({e.process, e.seq}); it != grants.end() && impl(e.process) != "leaselocker" &&
                                                            it->second.epoch == e.epoch && it->second.unlocking && !it->second.released) {
                // The same grant again: its release failed and the next
                // lock picked the lease up where it was (the Go reference
                // does: it renews a lease it still holds). No one held it
                // meanwhile (that would have raised the token): one claim,
                // resumed.
                it->second.unlocking.reset();
                it->second.last_check = std::max(it->second.last_check, e.t);
                it->second.lease_end = std::max(it->second.lease_end, e.lease_end);
                ++r.resumed_grants;
                continue;
            }
            ++r.grants;
            ++r.grants_by_process[e.process];
            ++r.grants_by_impl[impl(e.process)];
            auto& g = grants[{e.process, e.seq}];
            g = grant{e.process, e.epoch, e.seq, e.t, e.t, e.valid_until, impl(e.process), e.lease_end};
            // When the takeover was decided (its write sent): a Go peer
            // says; ours is valid_until less what a grant is trusted for,
            // on its clock.
            if (e.granted_at > 0) {
                g.decided = e.granted_at;
            } else if (e.valid_until > 0) {
                const double rho = 0.01, rate = clock_rate_of.count(e.process) ? clock_rate_of[e.process] : 1.0;
                g.decided = e.valid_until - static_cast<std::int64_t>(static_cast<double>(lease_ns) * (1 - rho) / (1 + rho) / rate);
            }
            g.decided = g.decided > 0 ? std::min(g.decided, e.t) : e.t;
            order.push_back(&g);
            acquisitions.push_back(&e);
            grant_events[{e.process, e.seq}] = &e;
            auto [it, first] = granted_max.try_emplace(e.epoch, e.seq);
            if (!first) it->second = std::max(it->second, e.seq);
        } else if (e.kind == "check") {
            ++r.checks;
            if (auto it = grants.find({e.process, e.seq}); it != grants.end()) {
                it->second.last_check = std::max(it->second.last_check, e.t);
                it->second.promise = std::max(it->second.promise, e.valid_until);
                it->second.lease_end = std::max(it->second.lease_end, e.lease_end);
                it->second.checked = true;
            }
        } else if (e.kind == "promise") { // a renewal while holding
            if (auto it = grants.find({e.process, e.seq}); it != grants.end()) it->second.promise = std::max(it->second.promise, e.valid_until);
        } else if (e.kind == "exit") {
            exited.insert(e.process);
        } else if (e.kind == "unlocking") {
            if (auto it = grants.find({e.process, e.seq}); it != grants.end() && !it->second.unlocking) it->second.unlocking = e.t;
        } else if (e.kind == "write_failed") {
            ++r.failed_writes;
        } else if (e.kind == "write" && e.sent > 0) {
            // The guarded ConfigMap: admitted writes are judged below, in
            // the server's order; a refusal is right if a higher token was
            // granted before its answer, else the cache lagged the grant.
            r.api_store = true;
            const auto gm = granted_max.find(e.epoch);
            if (e.accepted) {
                ++r.accepted_writes;
                api_writes.push_back(&e);
            } else if (auto it = grants.find({e.process, e.seq});
                       (gm != granted_max.end() && e.seq < gm->second) || (it != grants.end() && e.sent >= it->second.promise)) {
                ++r.rejected_stale_writes; // superseded, or sent past its validity (the successor's acquire_ok not logged yet)
            } else {
                ++r.early_refusals;
                if (it != grants.end()) early_refusal_lag.push_back(static_cast<double>(e.sent - it->second.start) / 1e6);
            }
        } else if (e.kind == "write") {
            // Judged against the grants before it, in the store's order.
            const auto gm = granted_max.find(e.epoch);
            const bool superseded = gm != granted_max.end() && e.seq < gm->second;
            if (e.accepted) {
                ++r.accepted_writes;
                if (superseded)
                    stale_accepted.push_back({e.process, e.seq, "stale write accepted: " + e.process + " with token " + std::to_string(e.seq) +
                                                                    " at " + seconds(e.t) + ", after token " + std::to_string(gm->second) +
                                                                    " was granted"});
            } else if (superseded) {
                ++r.rejected_stale_writes;
            } else {
                ++r.wrongly_refused_writes;
                r.violations.push_back("write refused without cause: " + e.process + " with token " + std::to_string(e.seq) + " at " +
                                       seconds(e.t) + ", and no higher token had been granted");
            }
        }
        if (e.kind == "release") releases.push_back(&e);
        if (e.kind == "release" && e.result == "released") {
            // Handed over from the moment the holder let go: its "unlocking",
            // logged before unlock() began.
            auto it = grants.find({e.process, e.seq});
            if (it != grants.end()) it->second.released = true;
            freed_by_release.emplace_back(it != grants.end() && it->second.unlocking ? *it->second.unlocking : e.t, e.process);
        } else if (e.kind == "release" && e.result == "stepped_down") {
            stepped_down.push_back(&e); // an elector's: released if the recorder saw it free
        } else if (e.kind == "acquire_failed" && e.permanent) {
            r.failures.push_back("lock() failed for good: " + e.process + " at " + seconds(e.t) + ": " + e.why);
        }
    }

    // A holder killed between its unlock's write and its "release" line
    // still let go: the recorder saw the lease free with its token.
    std::set<std::int64_t> freed_tokens;
    for (const event* v : recorder)
        if (v->kind == "version" && v->holder.empty()) freed_tokens.insert(v->seq);
    for (grant* g : order)
        if (g->unlocking && freed_tokens.count(g->seq)) g->released = true;
    // An elector that stepped down handed over from its "unlocking" if its
    // release reached the server.
    for (const event* e : stepped_down)
        if (auto it = grants.find({e->process, e->seq}); it != grants.end() && it->second.released)
            freed_by_release.emplace_back(it->second.unlocking ? *it->second.unlocking : e->t, e->process);

    // A Go peer that wrote the lease free under another process's token
    // (client-go's release checks leadership on its stale record) ended
    // that grant for everyone else.
    for (const event* f : frees)
        for (grant* g : order)
            if (g->seq == f->seq && (f->epoch.empty() || f->epoch == g->epoch) && g->process != f->process && f->t >= g->decided &&
                (g->freed_at == 0 || f->t < g->freed_at)) {
                g->freed_at = f->t;
                g->freed_by_impl = impl(f->process);
            }

    for (grant* g : order)
        if (auto it = lease_ends.find({g->process, g->seq}); it != lease_ends.end()) g->lease_end = std::max(g->lease_end, it->second);
    check_server_order(recorder, r);
    std::set<std::pair<const grant*, std::string>> counted;
    const auto excused_go_claims = check_claims(order, r, counted);
    check_takeovers_from_go(order, freed_tokens, r, counted);
    for (const auto& w : stale_accepted) {
        if (auto it = excused_go_claims.find({w.process, w.seq}); it != excused_go_claims.end()) {
            ++r.peer_stale_writes[it->second];
            continue;
        }
        ++r.accepted_stale_writes;
        r.violations.push_back(w.what);
    }
    check_tokens(order, recorder, opts, r);
    if (!store_versions.empty() || r.api_store)
        check_store_versions(store_versions, api_writes, recorder, grant_events, releases, windows, opts, r);
    r.early_refusal_lag = summarize(std::move(early_refusal_lag));

    // Electors: the leader says it stopped before the next one starts.
    // Grants learned of only after their promise had passed claim nothing
    // (as for the claims): neither judged nor judging.
    std::vector<const grant*> terms;
    for (const grant* g : order)
        if (!(g->end() <= g->start && !g->checked)) terms.push_back(g);
    for (std::size_t i = 0; i + 1 < terms.size(); ++i) {
        const grant& g = *terms[i];
        if (!electors.count(g.process)) continue;
        const grant& next = *terms[i + 1];
        ++r.elector_terms;
        if (!g.released) ++r.elector_terms_after_loss; // taken over (or released unseen): the loss path
        const auto stop = stopped_at.find({g.process, g.seq});
        if (stop != stopped_at.end() && stop->second < next.start) continue;
        const auto& kills = kill_times[g.process];
        const bool killed_then = std::any_of(kills.begin(), kills.end(), [&](std::int64_t t) { return t >= g.start && t <= next.start; });
        // Stopped into the last quarter lease before the next start (resumed,
        // its overdue timers need a moment): it could not have said so.
        const bool stopped_then = std::any_of(windows.begin(), windows.end(), [&](const strike_window& w) {
            return w.kind == "stop" && w.target == g.process && w.from <= next.start && w.to + lease_ns / 4 >= next.start && w.to >= g.start;
        });
        if (killed_then || stopped_then) {
            ++r.elector_terms_excused;
            continue;
        }
        ++r.stopped_after_started;
        r.violations.push_back("elector order: " + g.process + " (token " + std::to_string(g.seq) + ") " +
                               (stop == stopped_at.end() ? std::string("never said it stopped") : "said it stopped at " + seconds(stop->second)) +
                               ", after " + next.process + " started at " + seconds(next.start));
    }

    // Strikes that worked: someone else took the lease during the stop or
    // partition, and the target then learned it had lost it (a loss, or a
    // refused write) before it held again.
    for (const auto& w : windows) {
        auto [struck, effective] = w.kind == "stop" ? std::tie(r.stops, r.effective_stops) : std::tie(r.partitions, r.effective_partitions);
        ++struck;
        const bool taken = std::any_of(acquisitions.begin(), acquisitions.end(),
                                       [&](const event* a) { return a->process != w.target && a->t > w.from && a->t < w.to; });
        if (!taken) continue;
        for (const auto& e : events) {
            if (e.t <= w.from || e.process != w.target) continue;
            if (e.kind == "acquire_ok") break;
            if (e.kind == "lost" || (e.kind == "write" && !e.accepted)) {
                ++effective;
                break;
            }
        }
    }

    // Liveness: from a release or a killed holder to the next acquisition.
    auto next_acquire_after = [&](std::int64_t t) -> const event* {
        auto it = std::upper_bound(acquisitions.begin(), acquisitions.end(), t, [](std::int64_t v, const event* a) { return v < a->t; });
        return it == acquisitions.end() ? nullptr : *it;
    };
    // All of them, and per pair of implementations ("client-go → leaselocker").
    auto gaps = [&](const auto& freed, distribution& all, std::map<std::string, distribution>& by_pair) {
        std::vector<double> out;
        std::map<std::string, std::vector<double>> pairs;
        for (auto& [t, p] : freed)
            if (const event* next = next_acquire_after(t)) {
                const double d = static_cast<double>(next->t - t) / 1e6;
                out.push_back(d);
                pairs[impl(p) + " → " + impl(next->process)].push_back(d);
            }
        all = summarize(std::move(out));
        for (auto& [pair, v] : pairs) by_pair[pair] = summarize(std::move(v));
    };
    gaps(freed_by_release, r.handoff, r.handoff_by_pair);
    gaps(freed_by_kill, r.failover, r.failover_by_pair);

    // Minimums: a run that saw nothing proves nothing.
    if (r.grants == 0) r.failures.push_back("no grant at all");
    const auto checked = std::count_if(order.begin(), order.end(), [](const grant* g) { return g->checked; });
    if (static_cast<double>(checked) < 0.9 * static_cast<double>(r.grants))
        r.failures.push_back(std::to_string(checked) + " of " + std::to_string(r.grants) + " grants were checked for validity (fewer than 0.9)");
    const auto unpromised = std::count_if(order.begin(), order.end(), [&](const grant* g) {
        return grant_events.at({g->process, g->seq})->valid_until == 0; // acquire_ok said nothing
    });
    if (unpromised > 0) r.failures.push_back(std::to_string(unpromised) + " grants without a valid_until: their claims cannot be judged");
    if (!order.empty() && !recorder.empty() && order.back()->start > recorder.back()->t + 3 * lease_ns)
        r.failures.push_back("the recorder stopped at " + seconds(recorder.back()->t) + ", before the grants did");
    if (r.accepted_writes == 0) r.failures.push_back("no accepted write");
    if (r.server_versions == 0) r.failures.push_back("the recorder saw no version");
    const auto kills = r.nemeses.count("kill") ? r.nemeses.at("kill") : 0;
    if (r.skipped_lines > kills)
        r.failures.push_back(std::to_string(r.skipped_lines) + " unreadable lines, more than the " + std::to_string(kills) + " kills explain");
    if (r.failover.n > 0 && r.failover.p99_ms > static_cast<double>(opts.lease_ms + opts.failover_margin_ms))
        r.failures.push_back("holder killed → next acquire p99 " + ms(static_cast<std::int64_t>(r.failover.p99_ms * 1e6)) +
                             ", more than the lease + " + std::to_string(opts.failover_margin_ms) + " ms");
    // Liveness: a contender quiet for many leases (not while stopped) is stuck.
    // (A gap counts without the time the process was stopped; the last gap
    // runs to the end of the history unless it exited or was killed.)
    const std::int64_t silence = opts.silence_leases * lease_ns;
    for (auto& [process, times] : seen_at) {
        if (!exited.count(process) && !killed.count(process)) times.push_back(history_end);
        for (std::size_t i = 1; i < times.size(); ++i) {
            const auto from = times[i - 1], to = times[i];
            std::int64_t stopped = 0;
            for (const auto& w : windows)
                if (w.kind == "stop" && w.target == process) stopped += std::max<std::int64_t>(0, std::min(to, w.to) - std::max(from, w.from));
            if (to - from - stopped > silence)
                r.failures.push_back(process + " silent for " + ms(to - from - stopped) + " from " + seconds(from) + " (more than " +
                                     std::to_string(opts.silence_leases) + " leases)");
        }
    }
    for (const auto& v : r.failures) r.violations.push_back("failed: " + v);
    return r;
}

namespace {

boost::json::object to_json_object(const distribution& d) {
    return boost::json::object{{"n", d.n},           {"min_ms", d.min_ms}, {"p50_ms", d.p50_ms}, {"p90_ms", d.p90_ms},
                               {"p99_ms", d.p99_ms}, {"p99.9_ms", d.p999_ms}, {"max_ms", d.max_ms}};
}

boost::json::object counts(const std::map<std::string, std::size_t>& m) {
    boost::json::object o;
    for (auto& [k, n] : m) o[k] = n;
    return o;
}

} // namespace

std::string to_json(const report& r) {
    json::object o;
    o["ok"] = r.ok();
    o["grants"] = r.grants;
    o["checks"] = r.checks;
    o["server_versions"] = r.server_versions;
    o["accepted_writes"] = r.accepted_writes;
    o["rejected_stale_writes"] = r.rejected_stale_writes;
    o["skipped_lines"] = r.skipped_lines;
    o["stops"] = r.stops;
    o["effective_stops"] = r.effective_stops;
    o["partitions"] = r.partitions;
    o["effective_partitions"] = r.effective_partitions;
    o["elector_terms"] = r.elector_terms;
    o["elector_terms_excused"] = r.elector_terms_excused;
    o["elector_terms_after_loss"] = r.elector_terms_after_loss;
    o["stopped_after_started"] = r.stopped_after_started;
    o["server_order_violations"] = r.server_order_violations;
    o["overlapping_claims"] = r.overlapping_claims;
    o["token_order_violations"] = r.token_order_violations;
    o["unrecorded_grants"] = r.unrecorded_grants;
    o["accepted_stale_writes"] = r.accepted_stale_writes;
    o["wrongly_refused_writes"] = r.wrongly_refused_writes;
    o["nemeses"] = counts(r.nemeses);
    o["grants_by_process"] = counts(r.grants_by_process);
    o["grants_by_impl"] = counts(r.grants_by_impl);
    o["peer_overlaps"] = counts(r.peer_overlaps);
    o["resumed_grants"] = r.resumed_grants;
    o["peer_stale_writes"] = counts(r.peer_stale_writes);
    json::array examples;
    for (auto& s : r.peer_overlap_examples) examples.emplace_back(s);
    o["peer_overlap_examples"] = std::move(examples);
    for (auto [key, pairs] : {std::pair{"handoff_by_pair", &r.handoff_by_pair}, std::pair{"failover_by_pair", &r.failover_by_pair}}) {
        json::object by;
        for (auto& [pair, d] : *pairs) by[pair] = to_json_object(d);
        o[key] = std::move(by);
    }
    if (r.api_store) {
        o["store"] = "configmap";
        o["store_versions"] = r.store_versions;
        o["store_versions_unjudged"] = r.store_versions_unjudged;
        o["store_gaps"] = r.store_gaps;
        o["failed_writes"] = r.failed_writes;
        o["unseen_accepted_writes"] = r.unseen_accepted_writes;
        o["early_refusals"] = r.early_refusals;
        o["stale_writes_in_window"] = r.stale_writes_in_window;
        o["stale_writes_in_flight"] = r.stale_writes_in_flight;
        o["fence_window_ms"] = r.fence_window_ms;
        o["early_refusal_lag"] = to_json_object(r.early_refusal_lag);
        o["stale_write_lag"] = to_json_object(r.stale_write_lag);
    }
    o["takeover_margin"] = to_json_object(r.takeover_margin);
    o["handoff"] = to_json_object(r.handoff);
    o["failover"] = to_json_object(r.failover);
    json::array f;
    for (auto& s : r.failures) f.emplace_back(s);
    o["failures"] = std::move(f);
    json::array v;
    for (auto& s : r.violations) v.emplace_back(s);
    o["violations"] = std::move(v);
    return json::serialize(o);
}

std::string to_table(const report& r) {
    std::ostringstream out;
    out << "| check | result |\n|---|---|\n";
    out << "| verdict | " << (r.ok() ? "PASS" : "FAIL") << " |\n";
    out << "| grants (handoffs) / validity checks | " << r.grants << " / " << r.checks << " |\n";
    if (r.resumed_grants) out << "| grants resumed after a failed release (the same token again) | " << r.resumed_grants << " |\n";
    out << "| server versions recorded | " << r.server_versions << " |\n";
    out << "| leaseTransitions order violations | " << r.server_order_violations << " |\n";
    out << "| overlapping claims (claim = to the promised valid_until, cut at unlock) | " << r.overlapping_claims << " |\n";
    out << "| token violations (order / not recorded) | " << r.token_order_violations << " / " << r.unrecorded_grants << " |\n";
    if (r.api_store) // a refusal without cause is an early refusal there (below)
        out << "| fenced writes accepted / stale accepted (violations) / stale refused | " << r.accepted_writes << " / "
            << r.accepted_stale_writes << " / " << r.rejected_stale_writes << " |\n";
    else
        out << "| fenced writes accepted / stale accepted / stale refused / refused without cause | " << r.accepted_writes << " / "
            << r.accepted_stale_writes << " / " << r.rejected_stale_writes << " / " << r.wrongly_refused_writes << " |\n";
    if (r.api_store) {
        out << "| the store: a ConfigMap guarded by the admission fence; versions judged in the server's order / unjudged (recorder gap) / "
               "lost by the store watch | "
            << r.store_versions << " / " << r.store_versions_unjudged << " / " << r.store_gaps << " |\n";
        out << "| stale writes stored: sent later than " << r.fence_window_ms << " ms after the takeover was known (violations) / within "
            << r.fence_window_ms << " ms (the server's cache lag) / sent before it (held up on the way: a fault, an etcd restart) | "
            << r.accepted_stale_writes << " / " << r.stale_writes_in_window << " / " << r.stale_writes_in_flight << " |\n";
        out << "| writes refused early (the server's copy of the Lease lacked the writer's grant) / without answer / admitted but unseen | "
            << r.early_refusals << " / " << r.failed_writes << " / " << r.unseen_accepted_writes << " |\n";
    }
    out << "| stops / effective (takeover during the stop, then loss or refused write) | " << r.stops << " / " << r.effective_stops
        << " |\n";
    out << "| holder partitions / effective | " << r.partitions << " / " << r.effective_partitions << " |\n";
    if (r.elector_terms)
        out << "| elector terms judged / of them after a loss / excused (leader killed or stopped) / stopped after the next started | "
            << r.elector_terms << " / " << r.elector_terms_after_loss << " / " << r.elector_terms_excused << " / " << r.stopped_after_started
            << " |\n";
    auto dist = [&](const char* what, const distribution& d) {
        char buf[400];
        std::snprintf(buf, sizeof buf, "| %s min / p50 / p90 / p99 / p99.9 / max (n) | %.1f / %.1f / %.1f / %.1f / %.1f / %.1f ms (%zu) |\n",
                      what, d.min_ms, d.p50_ms, d.p90_ms, d.p99_ms, d.p999_ms, d.max_ms, d.n);
        out << buf;
    };
    dist("expiry takeover margin (successor acquire − predecessor valid_until)", r.takeover_margin);
    dist("release → next acquire", r.handoff);
    dist("holder killed → next acquire", r.failover);
    if (r.api_store) {
        dist("stale writes admitted: sent − takeover known", r.stale_write_lag);
        dist("early refusals: sent − the writer's own grant", r.early_refusal_lag);
    }
    out << "| nemeses injected |";
    for (auto& [k, n] : r.nemeses) out << " " << k << " " << n << ";";
    out << " |\n| grants per contender |";
    for (auto& [k, n] : r.grants_by_process) out << " " << k << " " << n << ";";
    out << " |\n";
    if (r.grants_by_impl.size() > 1 || !r.peer_overlaps.empty()) {
        out << "| turns per implementation |";
        for (auto& [k, n] : r.grants_by_impl) out << " " << k << " " << n << ";";
        out << " |\n| overlaps that are a Go peer's design, by the implementation at fault (not counted above) |";
        for (auto& [k, n] : r.peer_overlaps) out << " " << k << " " << n << ";";
        out << " |\n| stale writes accepted from those claims, before the successor fenced the store in |";
        for (auto& [k, n] : r.peer_stale_writes) out << " " << k << " " << n << ";";
        out << " |\n";
        for (auto& x : r.peer_overlap_examples) out << "| example | " << x << " |\n";
        for (auto& [pair, d] : r.handoff_by_pair) dist(("release → next acquire, " + pair).c_str(), d);
        for (auto& [pair, d] : r.failover_by_pair) dist(("holder killed → next acquire, " + pair).c_str(), d);
    }
    if (!r.failures.empty()) {
        out << "| minimums and liveness not met |";
        for (auto& f : r.failures) out << " " << f << ";";
        out << " |\n";
    }
    return out.str();
}

} // namespace leaselocker::chaos
