// The D-Bus control interface of a running daemon (names and methods in client.hpp),
// served from the event loop: `certrotd status`, `rotate`, `rollback` and `reload` talk to it.
#pragma once

#include <sys/types.h>

#include <functional>
#include <list>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "notify/action.hpp"
#include "notify/sd_bus_handles.hpp"
#include "service/sd_handles.hpp"
#include "service/service.hpp"
#include "util/clock.hpp"
#include "util/fd.hpp"

namespace certrotd::control {

// The JSON `certrotd status --json` prints: an array with one object per credential
// {name, issuer, state, serial, not_after, next_renewal, failures, last_error, dir,
//  dependents: [{action, ok, attempts, detail}]}. Times are RFC 3339 UTC. Compact: the CLI
// indents it for people.
std::string status_json(const std::vector<engine::CredentialStatus>& status);

// The same, one credential at a time: appends `s` as an element of an array being built in
// `out` (a comma first unless `out` is "["). Lets the daemon answer for 10,000 credentials
// without a vector of their statuses and a JSON tree of all of them alive at once.
void append_status_json(std::string& out, const engine::CredentialStatus& s);

// What the daemon tells about itself and asks of its owner.
struct ControlOptions {
  std::string config_path;  // absolute; `certrotd status` compares it with its --config
  pid_t pid = 0;
  // The daemon's reload (the same as on SIGHUP, with the service manager told).
  std::function<Result<void>()> reload;
  // Called after an answer about every credential has been sent: the daemon gives the freed
  // memory back to the system there (see daemon/main.cpp).
  std::function<void()> after_large_answer;
};

class ControlServer {
public:
  // Connects to the bus, exports the object and takes the well-known name. `service` and `loop`
  // must outlive the server.
  static Result<std::unique_ptr<ControlServer>> create(sd_event* loop, notify::BusKind kind,
                                                       service::Service& service,
                                                       ControlOptions options);
  ~ControlServer();
  ControlServer(const ControlServer&) = delete;
  ControlServer& operator=(const ControlServer&) = delete;

private:
  ControlServer(service::Service& service, ControlOptions options)
      : m_service(service), m_options(std::move(options)) {}

  // The JSON array for `names` (every credential when empty); unknown names go to `unknown`.
  std::string answer(const std::vector<std::string>& names, std::vector<std::string>& unknown);

  static int on_status(sd_bus_message* m, void* userdata, sd_bus_error* error);
  static int on_status_of(sd_bus_message* m, void* userdata, sd_bus_error* error);
  static int on_rotate(sd_bus_message* m, void* userdata, sd_bus_error* error);
  static int on_rotate_and_wait(sd_bus_message* m, void* userdata, sd_bus_error* error);
  static int on_rollback(sd_bus_message* m, void* userdata, sd_bus_error* error);
  static int on_rollback_to(sd_bus_message* m, void* userdata, sd_bus_error* error);
  static int on_activate(sd_bus_message* m, void* userdata, sd_bus_error* error);
  static int on_reload(sd_bus_message* m, void* userdata, sd_bus_error* error);
  static int on_revoke(sd_bus_message* m, void* userdata, sd_bus_error* error);
  static int on_acme_key_change(sd_bus_message* m, void* userdata, sd_bus_error* error);
  static int on_key_changed(sd_event_source* s, int fd, uint32_t revents, void* userdata);

  // A RotateAndWait call not answered yet: its message, kept until every named rotation ended.
  struct Waiter {
    notify::SdBusMessagePtr call;
    std::vector<std::string> names;  // in the order asked, without repeats
    std::map<std::string, service::RotationOutcome> done;
  };
  // The first name that is no credential of the running configuration.
  std::optional<std::string> first_unknown(const std::vector<std::string>& names) const;
  void rotated(const service::RotationOutcome& outcome);
  // Answers the Revoke call waiting for this credential's revocation.
  void revoked(const service::RotationOutcome& outcome);
  static int reply_outcomes(Waiter& waiter);

  // An AcmeKeyChange call: the request runs on a thread of its own (it is a few HTTPS requests,
  // which must not hold the loop), which writes `done` when `result` is set; the loop then
  // answers the call and joins the thread.
  struct KeyChange {
    std::string issuer;
    notify::SdBusMessagePtr call;
    Fd done;  // eventfd
    service::SdEventSourcePtr source;
    Result<std::string> result = std::string();
    std::thread thread;
  };

  service::Service& m_service;
  ControlOptions m_options;
  std::list<Waiter> m_waiters;
  // Revoke calls not answered yet, by credential (one revocation at a time per credential).
  std::map<std::string, notify::SdBusMessagePtr> m_revoke_waiters;
  std::list<KeyChange> m_key_changes;  // nodes stay put while their thread runs
  notify::SdBusPtr m_bus;              // declared before the slot: destroyed after it
  notify::SdBusSlotPtr m_slot;
};

}  // namespace certrotd::control
