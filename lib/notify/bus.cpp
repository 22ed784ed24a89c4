#include "notify/bus.hpp"

#include <cerrno>
#include <cstring>
#include <map>

#include "notify/sd_bus_handles.hpp"
#include "util/duration.hpp"
#include "util/errno_text.hpp"

namespace certrotd::notify {

namespace {

constexpr const char* k_destination = "org.freedesktop.systemd1";
constexpr const char* k_path = "/org/freedesktop/systemd1";
constexpr const char* k_manager = "org.freedesktop.systemd1.Manager";

const char* method_of(UnitAction action) {
  switch (action) {
    case UnitAction::reload: return "ReloadUnit";
    case UnitAction::restart: return "RestartUnit";
    case UnitAction::try_restart: return "TryRestartUnit";
    case UnitAction::reload_or_restart: return "ReloadOrRestartUnit";
    case UnitAction::kill: return "KillUnit";
  }
  return "ReloadUnit";
}

std::string bus_failure(BusError& error, int r) {
  if (error.is_set()) return std::string(error.name()) + ": " + error.message();
  return errno_text(-r);
}

class SdBusServiceManager final : public ServiceManager {
public:
  SdBusServiceManager(SdBusPtr bus, const Clock& clock) : m_bus(std::move(bus)), m_clock(clock) {}

  Result<void> subscribe() {
    sd_bus_slot* slot = nullptr;
    int r = sd_bus_match_signal(m_bus.get(), &slot, k_destination, k_path, k_manager, "JobRemoved",
                                &SdBusServiceManager::on_job_removed, this);
    if (r < 0) return fail_retryable("cannot watch systemd jobs: " + errno_text(-r));
    m_slot.reset(slot);  // owned here; unref'd (and the match removed) before the bus goes
    // systemd only sends job signals while some client is subscribed.
    BusError error;
    r = sd_bus_call_method(m_bus.get(), k_destination, k_path, k_manager, "Subscribe", error.get(),
                           nullptr, "");
    if (r < 0) return fail_retryable("cannot subscribe to systemd: " + bus_failure(error, r));
    return {};
  }

  Result<std::string> start_job(UnitAction action, const std::string& unit) override {
    BusError error;
    sd_bus_message* reply = nullptr;
    const int r = sd_bus_call_method(m_bus.get(), k_destination, k_path, k_manager,
                                     method_of(action), error.get(), &reply, "ss", unit.c_str(),
                                     "replace");
    SdBusMessagePtr owned(reply);  // we own the reply from here
    // Retryable: systemd may be reloading, or the unit's package still being installed.
    if (r < 0) return fail_retryable(bus_failure(error, r));
    const char* job = nullptr;
    if (int rr = sd_bus_message_read(reply, "o", &job); rr < 0) {
      return fail("unexpected reply from systemd: " + errno_text(-rr));
    }
    return std::string(job);
  }

  Result<std::string> wait_job(const std::string& job, Millis timeout) override {
    const MonoTime deadline = m_clock.mono_now() + timeout;
    for (;;) {
      if (auto it = m_removed.find(job); it != m_removed.end()) return it->second;
      int r = sd_bus_process(m_bus.get(), nullptr);
      if (r < 0) return fail_retryable("lost the bus connection: " + errno_text(-r));
      if (r > 0) continue;  // more may be queued
      const auto left = deadline - m_clock.mono_now();
      if (left <= decltype(left)::zero()) {
        return fail_retryable("job " + job + " did not finish within " + format_duration(timeout));
      }
      const auto usec = std::chrono::duration_cast<std::chrono::microseconds>(left).count();
      r = sd_bus_wait(m_bus.get(), static_cast<std::uint64_t>(usec));
      if (r < 0 && r != -EINTR) return fail_retryable("lost the bus connection: " + errno_text(-r));
    }
  }

  Result<void> kill_unit(const std::string& unit, int signal) override {
    BusError error;
    const int r = sd_bus_call_method(m_bus.get(), k_destination, k_path, k_manager, "KillUnit",
                                     error.get(), nullptr, "ssi", unit.c_str(), "main", signal);
    if (r < 0) return fail_retryable(bus_failure(error, r));
    return {};
  }

private:
  static int on_job_removed(sd_bus_message* m, void* userdata, sd_bus_error*) {
    auto* self = static_cast<SdBusServiceManager*>(userdata);
    std::uint32_t id = 0;
    const char* path = nullptr;
    const char* unit = nullptr;
    const char* result = nullptr;
    if (sd_bus_message_read(m, "uoss", &id, &path, &unit, &result) >= 0) {
      self->m_removed[path] = result;
    }
    return 0;
  }

  SdBusPtr m_bus;  // declared first: destroyed after the slot
  SdBusSlotPtr m_slot;
  const Clock& m_clock;
  std::map<std::string, std::string> m_removed;  // job path -> result
};

}  // namespace

Result<SdBusPtr> open_bus(BusKind kind) {
  sd_bus* raw = nullptr;
  const int r = kind == BusKind::user ? sd_bus_open_user(&raw) : sd_bus_open_system(&raw);
  if (r < 0) {
    return fail_retryable("cannot connect to the " + std::string(to_string(kind)) +
                          " bus: " + errno_text(-r));
  }
  return SdBusPtr(raw);  // owned by the caller now
}

Result<std::unique_ptr<ServiceManager>> SdBusConnector::connect(BusKind kind) {
  auto bus = open_bus(kind);
  if (!bus) return fail(bus.error());
  auto manager = std::make_unique<SdBusServiceManager>(std::move(*bus), m_clock);
  if (auto s = manager->subscribe(); !s) return fail(s.error());
  return std::unique_ptr<ServiceManager>(std::move(manager));
}

}  // namespace certrotd::notify
