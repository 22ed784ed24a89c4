// Owners for sd-bus handles. Each deleter drops our reference; sd-bus frees the object when the
// last one goes.
#pragma once

#include <memory>

#include <systemd/sd-bus.h>

namespace certrotd::notify {

struct SdBusUnref {
  // flush_close_unref: queued messages are sent before the connection closes.
  void operator()(sd_bus* b) const { sd_bus_flush_close_unref(b); }
};
struct SdBusMessageUnref {
  void operator()(sd_bus_message* m) const { sd_bus_message_unref(m); }
};
struct SdBusSlotUnref {
  void operator()(sd_bus_slot* s) const { sd_bus_slot_unref(s); }
};

using SdBusPtr = std::unique_ptr<sd_bus, SdBusUnref>;
using SdBusMessagePtr = std::unique_ptr<sd_bus_message, SdBusMessageUnref>;
using SdBusSlotPtr = std::unique_ptr<sd_bus_slot, SdBusSlotUnref>;

// sd_bus_error on the stack, freed on scope exit.
class BusError {
public:
  BusError() = default;
  BusError(const BusError&) = delete;
  BusError& operator=(const BusError&) = delete;
  ~BusError() { sd_bus_error_free(&m_error); }
  sd_bus_error* get() { return &m_error; }
  bool is_set() const { return sd_bus_error_is_set(&m_error) != 0; }
  const char* name() const { return m_error.name ? m_error.name : ""; }
  const char* message() const { return m_error.message ? m_error.message : ""; }

private:
  sd_bus_error m_error = SD_BUS_ERROR_NULL;
};

}  // namespace certrotd::notify
