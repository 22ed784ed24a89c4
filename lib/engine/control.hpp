// The D-Bus control interface of a running daemon (names and methods in notify/control.hpp),
// served from the event loop: `certrotd status`, `rotate` and `rollback` talk to it.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "engine/service.hpp"
#include "notify/action.hpp"
#include "notify/sd_bus_handles.hpp"
#include "util/clock.hpp"

namespace certrotd::engine {

// The JSON `certrotd status --json` prints: an array with one object per credential
// {name, issuer, state, serial, not_after, next_renewal, failures, last_error,
//  dependents: [{action, ok, attempts, detail}]}. Times are RFC 3339 UTC.
std::string status_json(const std::vector<CredentialStatus>& status);

class ControlServer {
public:
  // Connects to the bus, exports the object and takes the well-known name. `service` and `loop`
  // must outlive the server.
  static Result<std::unique_ptr<ControlServer>> create(sd_event* loop, notify::BusKind bus,
                                                       Service& service);
  ~ControlServer() = default;
  ControlServer(const ControlServer&) = delete;
  ControlServer& operator=(const ControlServer&) = delete;

private:
  explicit ControlServer(Service& service) : m_service(service) {}

  static int on_status(sd_bus_message* m, void* userdata, sd_bus_error* error);
  static int on_rotate(sd_bus_message* m, void* userdata, sd_bus_error* error);
  static int on_rollback(sd_bus_message* m, void* userdata, sd_bus_error* error);

  Service& m_service;
  notify::SdBusPtr m_bus;  // declared before the slot: destroyed after it
  notify::SdBusSlotPtr m_slot;
};

}  // namespace certrotd::engine
