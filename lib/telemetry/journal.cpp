#include "telemetry/journal.hpp"

#include <sys/uio.h>
#include <systemd/sd-journal.h>

#include <string>
#include <vector>

namespace certrotd::telemetry {

using engine::Event;
using engine::EventKind;
using engine::Severity;

std::string_view message_id(EventKind kind) {
  switch (kind) {
    case EventKind::loaded: return "6ed3d25d4d42443fac9c21db1dd82c9f";
    case EventKind::adopted: return "29f607fd4fa548ca9848017d50bd9e92";
    case EventKind::adopt_refused: return "b8f3d0c2a6e44f1f8a0d5c9e7b21a64d";
    case EventKind::scheduled: return "e685b6ba2b354d90bc59b65701c2eefb";
    case EventKind::renewing: return "96a456b21e9d4b0eaa5e7a8f0bf664b1";
    case EventKind::issue_pending: return "c0b9e4a3d58f4e7c9a61f2d7b3e85a10";
    case EventKind::validated: return "983010abcb13456295ac5dd56f4b8f1c";
    case EventKind::swapped: return "3a98a9854bce4c1f9d15760d848717c8";
    case EventKind::renewed: return "515a7010335e44f2a90a407a0c01a3ad";
    case EventKind::renew_failed: return "84777e7d6a97493ca1dc515b6c6f5c98";
    case EventKind::copy_failed: return "6c1909146f85407f919a254ecc2d59a1";
    case EventKind::copies_written: return "33cc7662a1124a319a2a27982481dff7";
    case EventKind::expiring: return "3dfcc1b8c542481d8e0a96cc193122c1";
    case EventKind::expiring_critical: return "c3a5f0e27d1b4c6e9b84d2f61a07e5b9";
    case EventKind::expired: return "90ad86c21c93406186b2688bbf3e290c";
    case EventKind::rolled_back: return "431073a561e0430583dd3bb3fffbfc1f";
    case EventKind::dependent_reloaded: return "e5fb016bf9f3463388c4c4afb397a96f";
    case EventKind::dependent_failed: return "93bb6323192b4a32b79efb0548d0fe61";
    case EventKind::reload_rejected: return "3d6b013362594cf5a423a7d21e768039";
    case EventKind::key_generated: return "542c215bc64e475094c7b7d7b6af142c";
    case EventKind::renewal_info: return "acafc6356b744840b3070f77a23537d8";
    case EventKind::renewal_info_failed: return "94bcffa26d9c4e829979199622edb9a7";
    case EventKind::revoked: return "408b6b49f1d04e81ba512956c9475fa2";
    case EventKind::revoke_failed: return "5f757cd6271d49d999a8594fe3b24292";
    case EventKind::staged: return "7d2e9c41b5a84f0e8c3b6a1f92d4e570";
    case EventKind::activated: return "a1f84c6e2b9d47538e0c5f7a3b12d9e6";
    case EventKind::upkeep: return "fb21f1de92c040649ceafcd18ff122a5";
    case EventKind::upkeep_failed: return "39def6ee04544ad0b23811e2e70d6862";
  }
  return "";
}

int journal_priority(Severity severity) {
  switch (severity) {
    case Severity::debug: return 7;
    case Severity::info: return 6;
    case Severity::warning: return 4;
    case Severity::error: return 3;
  }
  return 6;
}

void JournalEventSink::emit(const Event& event) {
  if (static_cast<int>(event.severity) < static_cast<int>(m_min)) return;
  std::string message(to_string(event.kind));
  if (!event.credential.empty()) message += " " + event.credential;
  if (!event.serial.empty()) message += " serial=" + event.serial;
  if (!event.message.empty()) message += ": " + event.message;

  std::vector<std::string> fields;
  fields.push_back("MESSAGE=" + message);
  fields.push_back("PRIORITY=" + std::to_string(journal_priority(event.severity)));
  fields.push_back("SYSLOG_IDENTIFIER=certrotd");
  fields.push_back("MESSAGE_ID=" + std::string(message_id(event.kind)));
  fields.push_back("CERTROT_EVENT=" + std::string(to_string(event.kind)));
  if (!event.credential.empty()) fields.push_back("CERTROT_CREDENTIAL=" + event.credential);
  if (!event.issuer.empty()) fields.push_back("CERTROT_ISSUER=" + event.issuer);
  if (!event.serial.empty()) fields.push_back("CERTROT_SERIAL=" + event.serial);
  if (event.not_after) fields.push_back("CERTROT_NOT_AFTER=" + format_rfc3339(*event.not_after));
  if (event.reason != Reason::unspecified) {
    fields.push_back("CERTROT_REASON=" + std::string(to_string(event.reason)));
  }

  std::vector<iovec> iov;
  iov.reserve(fields.size());
  for (auto& f : fields) iov.push_back(iovec{f.data(), f.size()});
  // Best effort: a journal that is gone must not stop rotations.
  (void)sd_journal_sendv(iov.data(), static_cast<int>(iov.size()));
}

}  // namespace certrotd::telemetry
