// Owners for libsystemd handles (sd-event now; sd-bus joins with the D-Bus work).
#pragma once

#include <memory>

#include <systemd/sd-event.h>

namespace certrotd::service {

struct SdEventUnref {
  void operator()(sd_event* e) const { sd_event_unref(e); }
};
struct SdEventSourceUnref {
  // disable_unref: a source that is dropped must never fire again, even if a reference
  // lingers inside sd-event during dispatch.
  void operator()(sd_event_source* s) const { sd_event_source_disable_unref(s); }
};

using SdEventPtr = std::unique_ptr<sd_event, SdEventUnref>;
using SdEventSourcePtr = std::unique_ptr<sd_event_source, SdEventSourceUnref>;

}  // namespace certrotd::service
