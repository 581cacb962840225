#include "support/scripted_lease.hpp"

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <boost/json/value.hpp>

#include <mutex>

namespace leaselocker::test {

namespace json = boost::json;

struct scripted_lease::state {
    std::string ns, name;
    mutable std::mutex mutex; // the server's thread and the test's
    std::optional<json::object> stored;
    int version = 100;
    int writes = 0;
    std::function<std::optional<reply>(const recorded_request&)> fault;
    std::function<void(const recorded_request&, reply&)> shape;

    static reply status(unsigned code, const std::string& reason, const std::string& message) {
        json::object s{{"kind", "Status"}, {"apiVersion", "v1"}, {"status", "Failure"},
                       {"message", message}, {"reason", reason}, {"code", code}};
        return reply{.status = code, .body = json::serialize(s)};
    }

    std::string collection() const { return "/apis/coordination.k8s.io/v1/namespaces/" + ns + "/leases"; }

    reply store(json::object object, unsigned code) {
        auto& meta = object["metadata"].as_object();
        meta["name"] = name;
        meta["namespace"] = ns;
        meta["uid"] = "uid-" + name;
        meta["resourceVersion"] = std::to_string(++version);
        stored = object;
        ++writes;
        return reply{.status = code, .body = json::serialize(object)};
    }

    reply answer(const recorded_request& r) {
        std::lock_guard lock(mutex);
        if (fault)
            if (auto injected = fault(r)) return *injected;
        auto out = ordinary(r);
        if (shape) shape(r, out);
        return out;
    }

    reply ordinary(const recorded_request& r) {
        const auto path = r.target.substr(0, r.target.find('?'));
        if (r.target.find("watch=true") != std::string::npos) return status(403, "Forbidden", "watch is not scripted");
        if (r.method == "GET" && path == collection() + "/" + name) {
            if (!stored) return status(404, "NotFound", "leases \"" + name + "\" not found");
            return reply{.body = json::serialize(*stored)};
        }
        if (r.method == "POST" && path == collection()) {
            if (stored) return status(409, "AlreadyExists", "leases \"" + name + "\" already exists");
            return store(json::parse(r.body).as_object(), 201);
        }
        if (r.method == "PUT" && path == collection() + "/" + name) {
            auto object = json::parse(r.body).as_object();
            if (!stored) return status(404, "NotFound", "leases \"" + name + "\" not found");
            const auto* rv = object["metadata"].as_object().if_contains("resourceVersion");
            if (!rv || *rv != (*stored)["metadata"].as_object()["resourceVersion"])
                return status(409, "Conflict", "the object has been modified; please apply your changes to the latest version and try again");
            return store(std::move(object), 200);
        }
        return status(404, "NotFound", "not scripted: " + r.method + " " + r.target);
    }
};

scripted_lease::scripted_lease(std::string ns, std::string name) : state_(std::make_shared<state>()) {
    state_->ns = std::move(ns);
    state_->name = std::move(name);
}

std::function<reply(const recorded_request&)> scripted_lease::handler() {
    return [s = state_](const recorded_request& r) { return s->answer(r); };
}

void scripted_lease::inject(std::function<std::optional<reply>(const recorded_request&)> fault) {
    std::lock_guard lock(state_->mutex);
    state_->fault = std::move(fault);
}

void scripted_lease::on_answer(std::function<void(const recorded_request&, reply&)> shape) {
    std::lock_guard lock(state_->mutex);
    state_->shape = std::move(shape);
}

void scripted_lease::write_holder(const std::string& holder, int lease_duration_seconds) {
    std::lock_guard lock(state_->mutex);
    json::object object = state_->stored.value_or(json::object{{"kind", "Lease"}, {"apiVersion", "coordination.k8s.io/v1"},
                                                               {"metadata", json::object{}}, {"spec", json::object{}}});
    auto& spec = object["spec"].as_object();
    spec["holderIdentity"] = holder;
    spec["leaseDurationSeconds"] = lease_duration_seconds;
    spec["renewTime"] = "2026-11-26T10:00:00.000000Z";
    if (!spec.contains("leaseTransitions")) spec["leaseTransitions"] = 0;
    state_->store(std::move(object), 200);
}

std::string scripted_lease::holder() const {
    std::lock_guard lock(state_->mutex);
    if (!state_->stored) return {};
    const auto& spec = state_->stored->at("spec").as_object();
    auto* h = spec.if_contains("holderIdentity");
    return h && h->is_string() ? std::string(h->get_string()) : std::string();
}

int scripted_lease::writes() const {
    std::lock_guard lock(state_->mutex);
    return state_->writes;
}

} // namespace leaselocker::test
