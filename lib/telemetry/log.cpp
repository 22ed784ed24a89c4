#include "telemetry/log.hpp"

#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/sinks/systemd_sink.h>
#include <spdlog/spdlog.h>

namespace certrotd::telemetry {

namespace {

spdlog::level::level_enum level_of(engine::Severity s) {
  switch (s) {
    case engine::Severity::debug: return spdlog::level::debug;
    case engine::Severity::info: return spdlog::level::info;
    case engine::Severity::warning: return spdlog::level::warn;
    case engine::Severity::error: return spdlog::level::err;
  }
  return spdlog::level::info;
}

}  // namespace

void LogEventSink::emit(const engine::Event& event) {
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

engine::Severity severity_of(const std::string& level) {
  if (level == "trace" || level == "debug") return engine::Severity::debug;
  if (level == "warn" || level == "warning") return engine::Severity::warning;
  if (level == "error" || level == "err" || level == "critical") return engine::Severity::error;
  return engine::Severity::info;
}

std::shared_ptr<spdlog::logger> make_logger(const std::string& level, bool journal) {
  if (journal) {
    auto logger = std::make_shared<spdlog::logger>(
        "certrotd", std::make_shared<spdlog::sinks::systemd_sink_mt>("certrotd"));
    logger->set_level(spdlog::level::from_str(level));
    return logger;
  }
  auto logger = std::make_shared<spdlog::logger>(
      "certrotd", std::make_shared<spdlog::sinks::stderr_color_sink_mt>());
  logger->set_pattern("%Y-%m-%dT%H:%M:%S.%e %^%-5l%$ %v");
  logger->set_level(spdlog::level::from_str(level));
  return logger;
}

}  // namespace certrotd::telemetry
