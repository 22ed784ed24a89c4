// systemd's service manager over D-Bus (org.freedesktop.systemd1.Manager), behind a thin
// interface that mirrors the calls certrotd makes, so tests can inject every failure (no bus,
// no such unit, a job that fails or never finishes) while integration tests use the real bus.
#pragma once

#include <memory>
#include <string>

#include "notify/action.hpp"
#include "notify/sd_bus_handles.hpp"
#include "util/result.hpp"

namespace certrotd::notify {

// A new connection to the system bus (sd_bus_open_system, which honours
// DBUS_SYSTEM_BUS_ADDRESS) or to the user bus (sd_bus_open_user, $XDG_RUNTIME_DIR/bus; root's
// `--user` bus only exists with a user manager). The one place certrotd connects to D-Bus: the
// unit runner, the control client and the control server all open their bus here. No bus is a
// retryable error ("cannot connect to the system bus: ...").
Result<SdBusPtr> open_bus(BusKind kind);

// One connection to one bus. Not thread-safe: a rotation worker opens its own.
class ServiceManager {
public:
  virtual ~ServiceManager() = default;

  // ReloadUnit / RestartUnit / TryRestartUnit / ReloadOrRestartUnit(unit, "replace"); returns
  // the job's object path. `action` must not be `kill`. Errors carry the bus error name and text,
  // e.g. "org.freedesktop.systemd1.NoSuchUnit: Unit nope.service not found."
  virtual Result<std::string> start_job(UnitAction action, const std::string& unit) = 0;

  // Waits for the JobRemoved signal of `job` and returns its result: "done", "failed",
  // "canceled", "timeout", "dependency", "skipped". A retryable error when `timeout` passes first.
  virtual Result<std::string> wait_job(const std::string& job, Millis timeout) = 0;

  // KillUnit(unit, "main", signal).
  virtual Result<void> kill_unit(const std::string& unit, int signal) = 0;
};

class BusConnector {
public:
  virtual ~BusConnector() = default;
  virtual Result<std::unique_ptr<ServiceManager>> connect(BusKind bus) = 0;
};

// The real thing: sd_bus_open_system() (which honours DBUS_SYSTEM_BUS_ADDRESS) or
// sd_bus_open_user() ($XDG_RUNTIME_DIR/bus). Subscribes to JobRemoved before any job starts, so
// a job that finishes at once is not missed.
class SdBusConnector final : public BusConnector {
public:
  // `clock` times the wait for a job; it outlives the connector.
  explicit SdBusConnector(const Clock& clock) : m_clock(clock) {}
  Result<std::unique_ptr<ServiceManager>> connect(BusKind kind) override;

private:
  const Clock& m_clock;
};

}  // namespace certrotd::notify
