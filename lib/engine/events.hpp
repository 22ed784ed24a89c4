// What certrotd reports. Every noteworthy step is one `Event`; a sink turns it into a log line or
// journal fields (lib/telemetry) or a metric (lib/metrics). Sinks never see key material: events
// carry names, serials, dates and error text only.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "schedule/policy.hpp"
#include "util/clock.hpp"
#include "util/result.hpp"
#include "util/rfc3339.hpp"  // events carry times; format_rfc3339 writes them

namespace certrotd::engine {

enum class EventKind {
  loaded,              // credential read from disk at start-up or reload
  adopted,             // a certificate replaced by hand was found and scheduled from its own dates
  adopt_refused,       // a hand replacement was unusable; the previous credential was restored
  scheduled,           // next renewal time computed
  renewing,            // a rotation started
  issue_pending,       // the issuer has no certificate yet ("not yet"); asked again later
  validated,           // the issuer's answer passed every check
  swapped,             // the new version is live on disk
  renewed,             // rotation finished
  renew_failed,        // rotation failed; old credential kept; retry scheduled
  copy_failed,         // the new version is live but a copy outside the folder is missing; retried
  copies_written,      // copies that had failed were written from the live version
  expiring,            // the live certificate crossed its expiring threshold (once per serial)
  expiring_critical,   // it crossed its critical threshold (once per serial, error level)
  expired,             // it is past notAfter and still live (once per serial)
  rolled_back,         // live version re-pointed to the previous one
  dependent_reloaded,  // an on_rotate action succeeded
  dependent_failed,    // an on_rotate action failed (retried, then reported; the swap stays)
  reload_rejected,     // a new configuration was refused; the old one stays (no credential)
  key_generated,       // key.reuse is set, but a new key was made (none live, or of another type)
  renewal_info,        // the issuer reported its renewal window (ACME ARI) for the live certificate
  renewal_info_failed,  // asking the issuer for renewal information failed; asked again later
  revoked,              // `certrotd revoke`: the issuer revoked the live certificate
  revoke_failed,        // `certrotd revoke`: the issuer did not revoke it; nothing changed
  staged,               // a renewed version was published as next/ (activation: staged), not live
  activated,            // the staged version was made live (the swap; on_rotate follows)
  upkeep,               // the issuer's housekeeping ran (ca.pem refreshed, bindings retired)
  upkeep_failed,        // it failed; the credential is unchanged; tried again with backoff
};

enum class Severity { debug, info, warning, error };

std::string_view to_string(EventKind kind);  // "renewed", "renew-failed", ...

struct Event {
  EventKind kind = EventKind::loaded;
  Severity severity = Severity::info;
  std::string credential;
  std::string issuer;
  std::string serial;  // hex, empty if none
  std::optional<SystemTime> not_after;
  std::string message;                  // human text; never secret
  Reason reason = Reason::unspecified;  // for failures: what kind of thing failed
  // Filled by the engine (loop thread) for the metrics; unset in events from rotation workers.
  std::optional<SystemTime> not_before = std::nullopt;
  std::optional<SystemTime> next_renewal = std::nullopt;
  std::optional<schedule::State> state = std::nullopt;
  // The notAfter of the version staged as next/, if any (engine events only, like `state`).
  std::optional<SystemTime> staged_not_after = std::nullopt;
  // HTTPS requests the credential's issuer made so far, for issuers that count them (engine
  // events only, like `state`).
  std::optional<std::uint64_t> issuer_http_requests = std::nullopt;
};

class EventSink {
public:
  virtual ~EventSink() = default;
  // Called from the loop thread and from rotation workers; implementations are thread-safe.
  virtual void emit(const Event& event) = 0;
};

}  // namespace certrotd::engine
