#include "schedule/activation.hpp"

namespace certrotd::schedule {

std::string_view to_string(ActivationMode mode) {
  switch (mode) {
    case ActivationMode::immediate: return "immediate";
    case ActivationMode::staged: return "staged";
  }
  return "unknown";
}

std::string_view to_string(ActivationCause cause) {
  switch (cause) {
    case ActivationCause::after_staging: return "activate_after";
    case ActivationCause::before_expiry: return "activate_before_expiry";
  }
  return "unknown";
}

ActivationTime activation_time(const Activation& activation, SystemTime staged_at,
                               SystemTime live_not_after) {
  const SystemTime after = staged_at + activation.activate_after;
  const SystemTime before_expiry = live_not_after - activation.activate_before_expiry;
  if (before_expiry < after) return {before_expiry, ActivationCause::before_expiry};
  return {after, ActivationCause::after_staging};
}

bool staged_is_stale(const Validity& staged, const RenewPolicy& policy,
                     std::string_view credential_id, SystemTime activate_at) {
  if (staged.not_after <= activate_at) return true;
  return renewal_time(staged, policy, credential_id) <= activate_at;
}

}  // namespace certrotd::schedule
