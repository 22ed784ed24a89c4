// Events as plain log lines through spdlog (a terminal, a pipe, or `check`'s stderr), and the
// daemon's logger itself. The journal's structured entries are in journal.hpp.
#pragma once

#include <memory>
#include <string>

#include "engine/events.hpp"

namespace spdlog {
class logger;
}

namespace certrotd::telemetry {

// One line per event: "renewed credential=web serial=1a2b not_after=2026-11-25T10:00:00Z ...",
// with reason=<class> on failures.
class LogEventSink final : public engine::EventSink {
public:
  explicit LogEventSink(std::shared_ptr<spdlog::logger> logger) : m_logger(std::move(logger)) {}
  void emit(const engine::Event& event) override;

private:
  std::shared_ptr<spdlog::logger> m_logger;
};

// The events' severity for a --log-level: trace and debug are debug, warn(ing) is warning,
// err(or) and critical are error, anything else info.
engine::Severity severity_of(const std::string& level);

// The daemon's logger at `level` (spdlog's names): to journald when `journal`, otherwise lines
// "2026-11-25T10:00:00.000 info  ..." on stderr. Not put in spdlog's registry, so two of them
// (a test, a command) never collide on the name.
std::shared_ptr<spdlog::logger> make_logger(const std::string& level, bool journal);

}  // namespace certrotd::telemetry
