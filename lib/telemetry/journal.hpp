// Events as structured journal entries (sd_journal_sendv), so that
//   journalctl -u certrotd CERTROT_CREDENTIAL=web
//   journalctl -u certrotd CERTROT_EVENT=dependent-failed
//   journalctl MESSAGE_ID=93bb6323192b4a32b79efb0548d0fe61
//   journalctl -u certrotd -p warning
// answer questions directly. Fields: MESSAGE, PRIORITY, SYSLOG_IDENTIFIER=certrotd, MESSAGE_ID
// (one per event kind, below), CERTROT_EVENT, CERTROT_CREDENTIAL, CERTROT_ISSUER and, when known,
// CERTROT_SERIAL and CERTROT_NOT_AFTER. Like every sink it sees no key material.
#pragma once

#include <string_view>

#include "engine/events.hpp"

namespace certrotd::telemetry {

// 128-bit ids, stable across releases, for journalctl MESSAGE_ID= and catalog entries.
std::string_view message_id(engine::EventKind kind);

// Syslog priority of a severity: debug 7, info 6, warning 4, error 3.
int journal_priority(engine::Severity severity);

class JournalEventSink final : public engine::EventSink {
public:
  // Events below `min_severity` are dropped (the daemon's --log-level).
  explicit JournalEventSink(engine::Severity min_severity) : m_min(min_severity) {}
  void emit(const engine::Event& event) override;

private:
  engine::Severity m_min;
};

}  // namespace certrotd::telemetry
