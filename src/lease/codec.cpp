// Lease <-> JSON. The model is authoritative for the fields it knows; the
// object as last received supplies every other field unchanged.
#include "lease_json.hpp"

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <boost/json/value.hpp>

#include <algorithm>

namespace leaselocker {

namespace json = boost::json;

namespace {

void set_or_erase(json::object& o, std::string_view key, const std::optional<std::string>& v) {
    if (v) o[key] = *v; else o.erase(key);
}
void set_or_erase(json::object& o, std::string_view key, const std::optional<std::int32_t>& v) {
    if (v) o[key] = *v; else o.erase(key);
}
void set_or_erase(json::object& o, std::string_view key, const std::optional<micro_time>& v) {
    if (v) o[key] = format_micro_time(*v); else o.erase(key);
}
void set_or_erase(json::object& o, std::string_view key, const std::map<std::string, std::string>& m) {
    if (m.empty()) {
        o.erase(key);
        return;
    }
    json::object out;
    for (const auto& [k, v] : m) out[k] = v;
    o[key] = std::move(out);
}
void set_or_erase(json::object& o, std::string_view key, const std::string& v) {
    if (v.empty()) o.erase(key); else o[key] = v;
}

json::object& child(json::object& o, std::string_view key) {
    auto& v = o[key];
    if (!v.is_object()) v = json::object{};
    return v.as_object();
}

// Readers that tolerate absent and null fields and report wrong types.
struct reader {
    std::string* why;
    bool ok = true;

    bool bad(std::string_view field, std::string_view want) {
        if (ok && why) *why = std::string(field) + ": expected " + std::string(want);
        return ok = false;
    }
    void get(const json::object& o, std::string_view key, std::string& out) {
        auto* v = o.if_contains(key);
        if (!v || v->is_null()) return;
        if (!v->is_string()) { bad(key, "a string"); return; }
        out = std::string(v->get_string());
    }
    void get(const json::object& o, std::string_view key, std::optional<std::string>& out) {
        auto* v = o.if_contains(key);
        if (!v || v->is_null()) return;
        if (!v->is_string()) { bad(key, "a string"); return; }
        out = std::string(v->get_string());
    }
    void get(const json::object& o, std::string_view key, std::optional<std::int32_t>& out) {
        auto* v = o.if_contains(key);
        if (!v || v->is_null()) return;
        if (v->is_int64() && v->get_int64() >= INT32_MIN && v->get_int64() <= INT32_MAX)
            out = static_cast<std::int32_t>(v->get_int64());
        else if (v->is_uint64() && v->get_uint64() <= INT32_MAX)
            out = static_cast<std::int32_t>(v->get_uint64());
        else
            bad(key, "a 32-bit integer");
    }
    void get(const json::object& o, std::string_view key, std::optional<micro_time>& out) {
        auto* v = o.if_contains(key);
        if (!v || v->is_null()) return;
        if (!v->is_string()) { bad(key, "a time string"); return; }
        out = parse_micro_time(v->get_string());
        if (!out) bad(key, "an RFC 3339 time");
    }
    void get(const json::object& o, std::string_view key, std::map<std::string, std::string>& out) {
        auto* v = o.if_contains(key);
        if (!v || v->is_null()) return;
        if (!v->is_object()) { bad(key, "an object"); return; }
        for (const auto& [k, val] : v->get_object()) {
            if (!val.is_string()) { bad(key, "string values"); return; }
            out.emplace(std::string(k), std::string(val.get_string()));
        }
    }
};

// The latest metadata.managedFields[].time; nullopt unless every entry
// has one (an entry without a time could be the latest change). Lenient:
// managed fields are the server's bookkeeping, not the Lease's content.
std::optional<micro_time> last_changed(const json::object& meta) {
    auto* fields = meta.if_contains("managedFields");
    if (!fields || !fields->is_array() || fields->get_array().empty()) return std::nullopt;
    std::optional<micro_time> latest;
    for (const auto& entry : fields->get_array()) {
        auto* time = entry.is_object() ? entry.get_object().if_contains("time") : nullptr;
        if (!time || !time->is_string()) return std::nullopt;
        auto t = parse_micro_time(time->get_string());
        if (!t) return std::nullopt;
        if (!latest || *t > *latest) latest = t;
    }
    return latest;
}

} // namespace

std::string encode_lease(const lease& l) {
    json::object o;
    if (!l.raw.empty()) {
        boost::system::error_code ec;
        auto v = json::parse(l.raw, ec);
        if (!ec && v.is_object()) o = std::move(v.as_object());
    }
    o["apiVersion"] = "coordination.k8s.io/v1";
    o["kind"] = "Lease";
    auto& meta = child(o, "metadata");
    set_or_erase(meta, "name", l.metadata.name);
    set_or_erase(meta, "namespace", l.metadata.namespace_);
    set_or_erase(meta, "uid", l.metadata.uid);
    set_or_erase(meta, "resourceVersion", l.metadata.resource_version);
    set_or_erase(meta, "labels", l.metadata.labels);
    set_or_erase(meta, "annotations", l.metadata.annotations);
    auto& spec = child(o, "spec");
    set_or_erase(spec, "holderIdentity", l.spec.holder_identity);
    set_or_erase(spec, "leaseDurationSeconds", l.spec.lease_duration_seconds);
    set_or_erase(spec, "acquireTime", l.spec.acquire_time);
    set_or_erase(spec, "renewTime", l.spec.renew_time);
    set_or_erase(spec, "leaseTransitions", l.spec.lease_transitions);
    set_or_erase(spec, "strategy", l.spec.strategy);
    set_or_erase(spec, "preferredHolder", l.spec.preferred_holder);
    return json::serialize(o);
}

std::optional<lease> decode_lease(std::string_view text, std::string* why) {
    boost::system::error_code ec;
    auto v = json::parse(text, ec);
    if (ec || !v.is_object()) {
        if (why) *why = ec ? "not JSON: " + ec.message() : "not a JSON object";
        return std::nullopt;
    }
    return detail::decode_lease_object(v.as_object(), std::string(text), why);
}

namespace detail {

std::optional<lease> decode_lease_object(const json::object& o, std::string raw, std::string* why) {
    if (auto* kind = o.if_contains("kind"); kind && !(kind->is_string() && kind->get_string() == "Lease")) {
        if (why) *why = "kind: expected Lease";
        return std::nullopt;
    }
    reader r{why};
    lease l;
    if (auto* meta = o.if_contains("metadata"); meta && meta->is_object()) {
        const auto& m = meta->get_object();
        r.get(m, "name", l.metadata.name);
        r.get(m, "namespace", l.metadata.namespace_);
        r.get(m, "uid", l.metadata.uid);
        r.get(m, "resourceVersion", l.metadata.resource_version);
        r.get(m, "labels", l.metadata.labels);
        r.get(m, "annotations", l.metadata.annotations);
        l.metadata.last_changed = last_changed(m);
    } else {
        if (why) *why = "metadata: expected an object";
        return std::nullopt;
    }
    if (auto* spec = o.if_contains("spec"); spec && spec->is_object()) {
        const auto& s = spec->get_object();
        r.get(s, "holderIdentity", l.spec.holder_identity);
        r.get(s, "leaseDurationSeconds", l.spec.lease_duration_seconds);
        r.get(s, "acquireTime", l.spec.acquire_time);
        r.get(s, "renewTime", l.spec.renew_time);
        r.get(s, "leaseTransitions", l.spec.lease_transitions);
        r.get(s, "strategy", l.spec.strategy);
        r.get(s, "preferredHolder", l.spec.preferred_holder);
    } else if (spec && !spec->is_null()) {
        r.bad("spec", "an object");
    }
    if (!r.ok) return std::nullopt;
    l.raw = std::move(raw);
    return l;
}

} // namespace detail
std::optional<int> compare_resource_versions(std::string_view a, std::string_view b) {
    auto valid = [](std::string_view rv) {
        return !rv.empty() && rv[0] != '0' && std::all_of(rv.begin(), rv.end(), [](char c) { return c >= '0' && c <= '9'; });
    };
    if (!valid(a) || !valid(b)) return std::nullopt;
    if (a.size() != b.size()) return a.size() < b.size() ? -1 : 1;
    return a.compare(b) < 0 ? -1 : a.compare(b) > 0 ? 1 : 0;
}

bool newer_resource_version(std::string_view a, std::string_view b) {
    auto c = compare_resource_versions(a, b);
    return !c || *c > 0;
}

} // namespace leaselocker
