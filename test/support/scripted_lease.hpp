// One Lease kept as the API server keeps it, served by a scripted_server:
// for locker tests that need what the real server will not do on demand
// (a write held in flight, a conflict between a read and a write, a 403
// after a restart) around otherwise ordinary answers.
#pragma once

#include "support/scripted_server.hpp"

#include <functional>
#include <memory>
#include <optional>
#include <string>

namespace leaselocker::test {

class scripted_lease {
public:
    // Serves namespace `ns`, Lease `name`; nothing stored at first.
    explicit scripted_lease(std::string ns = "ns", std::string name = "t");

    // For scripted_server::on_request. GET reads it (404 if none), POST
    // creates it (409 AlreadyExists if it exists), PUT replaces it guarded
    // by resourceVersion (409 Conflict if stale); each write gets a new
    // resourceVersion. A watch is refused (403), so lockers poll.
    std::function<reply(const recorded_request&)> handler();

    // Asked first for every request: a reply replaces the ordinary one
    // (the request then changes nothing).
    void inject(std::function<std::optional<reply>(const recorded_request&)> fault);
    // Sees every ordinary reply after the request took effect, and may
    // change when it is sent (delay, hold). Neither hook may call back into
    // this object.
    void on_answer(std::function<void(const recorded_request&, reply&)> shape);

    // Writes as another client would: holder (empty: free), lease duration,
    // transitions unchanged.
    void write_holder(const std::string& holder, int lease_duration_seconds = 15);
    // The stored holder ("" if free or none), and how many writes were
    // accepted.
    std::string holder() const;
    int writes() const;

private:
    struct state;
    std::shared_ptr<state> state_;
};

} // namespace leaselocker::test
