// The log lines of events (a terminal, a pipe, `check`'s stderr) and the fan-out to several
// sinks.
#include "telemetry/log.hpp"

#include <gtest/gtest.h>
#include <spdlog/sinks/ostream_sink.h>
#include <spdlog/spdlog.h>

#include <sstream>

#include "telemetry/fan_out.hpp"

namespace certrotd::telemetry {
namespace {

std::shared_ptr<spdlog::logger> logger_into(std::ostringstream& out) {
  auto logger = std::make_shared<spdlog::logger>(
      "test", std::make_shared<spdlog::sinks::ostream_sink_mt>(out));
  logger->set_pattern("%l %v");
  return logger;
}

TEST(LogEventSink, OneLineWithTheKnownFieldsAndTheReason) {
  std::ostringstream out;
  LogEventSink sink(logger_into(out));
  engine::Event event;
  event.kind = engine::EventKind::renew_failed;
  event.severity = engine::Severity::warning;
  event.credential = "web";
  event.issuer = "ca";
  event.serial = "1a2b";
  event.not_after = SystemTime{} + std::chrono::hours(24);
  event.reason = Reason::network;
  event.message = "connection refused";
  sink.emit(event);
  EXPECT_EQ(out.str(),
            "warning renew-failed credential=web issuer=ca serial=1a2b "
            "not_after=1970-01-02T00:00:00Z reason=network: connection refused\n");
}

TEST(LogEventSink, LeavesOutWhatIsUnknown) {
  std::ostringstream out;
  LogEventSink sink(logger_into(out));
  engine::Event event;
  event.kind = engine::EventKind::reload_rejected;
  event.severity = engine::Severity::error;
  sink.emit(event);
  EXPECT_EQ(out.str(), "error reload-rejected\n");
}

TEST(SeverityOf, FollowsTheLogLevelsNames) {
  EXPECT_EQ(severity_of("trace"), engine::Severity::debug);
  EXPECT_EQ(severity_of("debug"), engine::Severity::debug);
  EXPECT_EQ(severity_of("warn"), engine::Severity::warning);
  EXPECT_EQ(severity_of("warning"), engine::Severity::warning);
  EXPECT_EQ(severity_of("err"), engine::Severity::error);
  EXPECT_EQ(severity_of("critical"), engine::Severity::error);
  EXPECT_EQ(severity_of("info"), engine::Severity::info);
  EXPECT_EQ(severity_of("off"), engine::Severity::info);
}

TEST(MakeLogger, TwoLoggersOfTheSameNameDoNotCollide) {
  auto first = make_logger("warn", false);
  auto second = make_logger("debug", false);
  EXPECT_EQ(first->level(), spdlog::level::warn);
  EXPECT_EQ(second->level(), spdlog::level::debug);
  EXPECT_EQ(spdlog::get("certrotd"), nullptr) << "kept out of spdlog's registry";
}

TEST(FanOutEventSink, HandsEveryEventToEachSinkInOrder) {
  std::ostringstream out;
  LogEventSink a(logger_into(out));
  LogEventSink b(logger_into(out));
  FanOutEventSink both({&a, &b});
  engine::Event event;
  event.kind = engine::EventKind::renewed;
  event.credential = "web";
  both.emit(event);
  EXPECT_EQ(out.str(), "info renewed credential=web\ninfo renewed credential=web\n");
}

}  // namespace
}  // namespace certrotd::telemetry
