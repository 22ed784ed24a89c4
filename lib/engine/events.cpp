#include "engine/events.hpp"

#include <spdlog/spdlog.h>

namespace certrotd::engine {

std::string_view to_string(EventKind kind) {
  switch (kind) {
    case EventKind::loaded: return "loaded";
    case EventKind::adopted: return "adopted";
    case EventKind::adopt_refused: return "adopt-refused";
    case EventKind::scheduled: return "scheduled";
    case EventKind::renewing: return "renewing";
    case EventKind::validated: return "validated";
    case EventKind::swapped: return "swapped";
    case EventKind::renewed: return "renewed";
    case EventKind::renew_failed: return "renew-failed";
    case EventKind::copy_failed: return "copy-failed";
    case EventKind::copies_written: return "copies-written";
    case EventKind::expiring: return "expiring";
    case EventKind::expired: return "expired";
    case EventKind::rolled_back: return "rolled-back";
    case EventKind::dependent_reloaded: return "dependent-reloaded";
    case EventKind::dependent_failed: return "dependent-failed";
    case EventKind::reload_rejected: return "reload-rejected";
  }
  return "unknown";
}

namespace {

spdlog::level::level_enum level_of(Severity s) {
  switch (s) {
    case Severity::debug: return spdlog::level::debug;
    case Severity::info: return spdlog::level::info;
    case Severity::warning: return spdlog::level::warn;
    case Severity::error: return spdlog::level::err;
  }
  return spdlog::level::info;
}

}  // namespace

void LogEventSink::emit(const Event& event) {
  std::string line(to_string(event.kind));
  if (!event.credential.empty()) line += " credential=" + event.credential;
  if (!event.issuer.empty()) line += " issuer=" + event.issuer;
  if (!event.serial.empty()) line += " serial=" + event.serial;
  if (event.not_after) line += " not_after=" + format_rfc3339(*event.not_after);
  if (event.reason != Reason::unspecified) {
    line += " reason=" + std::string(to_string(event.reason));
  }
  if (!event.message.empty()) line += ": " + event.message;
  m_logger->log(level_of(event.severity), line);
}

}  // namespace certrotd::engine
