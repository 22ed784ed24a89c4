// When a staged version becomes live (`activation: { mode: staged, ... }`).
//
// A renewal in staged mode publishes the new version as `next` instead of swapping it in, so
// partners can import the certificate before it is used. It becomes live at the first of
//   staged_at + activate_after
//   live notAfter - activate_before_expiry
// (or on demand, which is the engine's business). Pure functions, like policy.hpp.
#pragma once

#include <chrono>
#include <string_view>

#include "schedule/policy.hpp"
#include "util/clock.hpp"

namespace certrotd::schedule {

enum class ActivationMode { immediate, staged };

struct Activation {
  ActivationMode mode = ActivationMode::immediate;
  // Defaults: a day to import the certificate, and the last day of the live one as the latest
  // moment (SAP Cloud Integration's keystore renewal activates "one day before" expiry).
  Millis activate_after = std::chrono::hours(24);
  Millis activate_before_expiry = std::chrono::hours(24);
};

std::string_view to_string(ActivationMode mode);  // "immediate", "staged"

// Which rule sets the activation instant.
enum class ActivationCause { after_staging, before_expiry };
std::string_view to_string(ActivationCause cause);  // "activate_after", "activate_before_expiry"

struct ActivationTime {
  SystemTime at;
  ActivationCause cause = ActivationCause::after_staging;
};

// The first of staged_at + activate_after and live_not_after - activate_before_expiry; ties go
// to activate_after.
ActivationTime activation_time(const Activation& activation, SystemTime staged_at,
                               SystemTime live_not_after);

// Whether a staged certificate with `staged` validity is too close to its own expiry to wait
// until `activate_at`: it would be due for renewal (renewal_time() under `policy`) by the time it
// goes live, or it expires before then. Such a version is replaced by a fresh one.
bool staged_is_stale(const Validity& staged, const RenewPolicy& policy,
                     std::string_view credential_id, SystemTime activate_at);

}  // namespace certrotd::schedule
