#include "engine/events.hpp"

namespace certrotd::engine {

std::string_view to_string(EventKind kind) {
  switch (kind) {
    case EventKind::loaded: return "loaded";
    case EventKind::adopted: return "adopted";
    case EventKind::adopt_refused: return "adopt-refused";
    case EventKind::scheduled: return "scheduled";
    case EventKind::renewing: return "renewing";
    case EventKind::issue_pending: return "issue-pending";
    case EventKind::validated: return "validated";
    case EventKind::swapped: return "swapped";
    case EventKind::renewed: return "renewed";
    case EventKind::renew_failed: return "renew-failed";
    case EventKind::copy_failed: return "copy-failed";
    case EventKind::copies_written: return "copies-written";
    case EventKind::expiring: return "expiring";
    case EventKind::expiring_critical: return "expiring-critical";
    case EventKind::expired: return "expired";
    case EventKind::rolled_back: return "rolled-back";
    case EventKind::dependent_reloaded: return "dependent-reloaded";
    case EventKind::dependent_failed: return "dependent-failed";
    case EventKind::reload_rejected: return "reload-rejected";
    case EventKind::key_generated: return "key-generated";
    case EventKind::renewal_info: return "renewal-info";
    case EventKind::renewal_info_failed: return "renewal-info-failed";
    case EventKind::upkeep: return "upkeep";
    case EventKind::upkeep_failed: return "upkeep-failed";
    case EventKind::revoked: return "revoked";
    case EventKind::revoke_failed: return "revoke-failed";
    case EventKind::staged: return "staged";
    case EventKind::activated: return "activated";
  }
  return "unknown";
}

}  // namespace certrotd::engine
