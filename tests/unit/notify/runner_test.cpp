// on_rotate actions: systemd jobs through an injected service manager (every failure the bus can
// produce), signals through pidfiles, and commands with a timeout, with retries and backoff.
#include <gtest/gtest.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <thread>

#include "notify/runner.hpp"
#include "support/inherited_pipe.hpp"
#include "support/test_support.hpp"
#include "util/fd.hpp"

namespace certrotd::notify {
namespace {

using namespace std::chrono_literals;

// Scripted answers per unit; records every call.
struct FakeManager final : ServiceManager {
  std::map<std::string, Result<std::string>>* start_answers;
  std::map<std::string, Result<std::string>>* wait_answers;
  std::vector<std::string>* calls;

  Result<std::string> start_job(UnitAction action, const std::string& unit) override {
    calls->push_back(std::string(to_string(action)) + " " + unit);
    auto it = start_answers->find(unit);
    return it == start_answers->end() ? Result<std::string>("/job/" + unit) : it->second;
  }
  Result<std::string> wait_job(const std::string& job, Millis) override {
    calls->push_back("wait " + job);
    auto it = wait_answers->find(job);
    return it == wait_answers->end() ? Result<std::string>("done") : it->second;
  }
  Result<void> kill_unit(const std::string& unit, int signal) override {
    calls->push_back("kill " + unit + " " + std::to_string(signal));
    return {};
  }
};

struct FakeBus final : BusConnector {
  std::map<std::string, Result<std::string>> start_answers;
  std::map<std::string, Result<std::string>> wait_answers;
  std::vector<std::string> calls;
  std::optional<Error> connect_error;
  Result<std::unique_ptr<ServiceManager>> connect(BusKind bus) override {
    calls.push_back("connect " + std::string(to_string(bus)));
    if (connect_error) return tl::unexpected(*connect_error);
    auto m = std::make_unique<FakeManager>();
    m->start_answers = &start_answers;
    m->wait_answers = &wait_answers;
    m->calls = &calls;
    return std::unique_ptr<ServiceManager>(std::move(m));
  }
};

struct Fixture : ::testing::Test {
  FakeBus bus;
  ManualClock clock;
  std::vector<Millis> slept;
  std::vector<std::string> retries;
  ActionRunner runner{
      RunnerDeps{bus, clock, [this](Millis d) { slept.push_back(d); },
                 [this](const std::string& action, int attempt, const Error& e, Millis) {
                   retries.push_back(action + " #" + std::to_string(attempt) + ": " + e.what());
                 }}};
  RotationFacts facts{"web", "/var/lib/certrotd/live/web", "01", "02", "2026-11-25T10:00:00Z"};
  RetryPolicy retry{3, 1s, 3s};
};

Action reload(std::string unit, BusKind bus = BusKind::system) {
  SystemdAction a;
  a.unit = std::move(unit);
  a.bus = bus;
  return Action{a};
}

TEST_F(Fixture, ReloadsAUnitAndWaitsForItsJob) {
  const auto out = runner.run({reload("nginx.service", BusKind::user)}, facts, retry);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_TRUE(out[0].ok);
  EXPECT_EQ(out[0].detail, "job done");
  EXPECT_EQ(out[0].attempts, 1);
  EXPECT_EQ(bus.calls, (std::vector<std::string>{"connect user", "reload nginx.service",
                                                 "wait /job/nginx.service"}));
  EXPECT_TRUE(slept.empty());
}

TEST_F(Fixture, AMissingUnitIsRetriedWithBackoffThenReported) {
  bus.start_answers.emplace("nope.service",
                            fail_retryable("org.freedesktop.systemd1.NoSuchUnit: Unit "
                                           "nope.service not found."));
  const auto out = runner.run({reload("nope.service")}, facts, retry);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_FALSE(out[0].ok);
  EXPECT_EQ(out[0].attempts, 3);
  EXPECT_EQ(out[0].detail, "org.freedesktop.systemd1.NoSuchUnit: Unit nope.service not found.");
  EXPECT_EQ(slept, (std::vector<Millis>{1s, 2s}));
  EXPECT_EQ(retries.size(), 2u);
}

TEST_F(Fixture, APermanentErrorIsReportedWithoutRetries) {
  ExecAction missing;
  missing.command = {"/nonexistent/hook"};
  const auto out = runner.run({Action{missing}, reload("nginx.service")}, facts, retry);
  ASSERT_EQ(out.size(), 2u);
  EXPECT_FALSE(out[0].ok);
  EXPECT_EQ(out[0].attempts, 1) << "a missing program stays missing";
  EXPECT_TRUE(slept.empty());
  EXPECT_TRUE(out[1].ok) << "the next action still runs";
}

TEST_F(Fixture, AHookThatIsNotExecutableIsReportedWithoutRetries) {
  const certrotd::testing::TempDir tmp;
  const auto hook = tmp.path() / "hook.sh";
  certrotd::testing::write_text(hook, "#!/bin/sh\nexit 0\n");
  std::filesystem::permissions(
      hook, std::filesystem::perms::owner_read | std::filesystem::perms::owner_write);
  ExecAction a;
  a.command = {hook.string()};
  const auto out = runner.run({Action{a}}, facts, retry);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_FALSE(out[0].ok);
  EXPECT_EQ(out[0].attempts, 1) << out[0].detail;
  EXPECT_TRUE(slept.empty());
  EXPECT_TRUE(retries.empty());
}

TEST_F(Fixture, AFailedJobIsAFailure) {
  bus.wait_answers.emplace("/job/app.service", Result<std::string>("failed"));
  const auto out = runner.run({reload("app.service")}, facts, retry);
  EXPECT_FALSE(out[0].ok);
  EXPECT_EQ(out[0].detail, "reload job for app.service finished with result 'failed'");
}

TEST_F(Fixture, AJobThatNeverFinishesTimesOut) {
  bus.wait_answers.emplace("/job/slow.service", fail_retryable("job did not finish within 90s"));
  const auto out = runner.run({reload("slow.service")}, facts, retry);
  EXPECT_FALSE(out[0].ok);
  EXPECT_EQ(out[0].detail, "job did not finish within 90s");
}

TEST_F(Fixture, NoBusIsReportedAndTheNextActionsStillRun) {
  bus.connect_error = Error{ErrorKind::retryable, "cannot connect to the system bus", {}, {}};
  ExecAction touch;
  touch.command = {"/bin/true"};
  const auto out = runner.run({reload("a.service"), Action{touch}}, facts, retry);
  ASSERT_EQ(out.size(), 2u);
  EXPECT_FALSE(out[0].ok);
  EXPECT_TRUE(out[1].ok);
}

TEST_F(Fixture, KillSendsTheSignalThroughTheManager) {
  SystemdAction a;
  a.unit = "app.service";
  a.action = UnitAction::kill;
  a.signal = SIGUSR2;
  const auto out = runner.run({Action{a}}, facts, retry);
  EXPECT_TRUE(out[0].ok);
  EXPECT_EQ(bus.calls.back(), "kill app.service " + std::to_string(SIGUSR2));
}

TEST_F(Fixture, BackoffIsCapped) {
  bus.start_answers.emplace("x.service", fail_retryable("no"));
  retry.attempts = 5;
  runner.run({reload("x.service")}, facts, retry);
  EXPECT_EQ(slept, (std::vector<Millis>{1s, 2s, 3s, 3s}));
}

TEST(ExecAction, GetsTheCredentialInItsEnvironmentAndItsOutputIsKept) {
  const ManualClock clock;
  ExecAction a;
  a.command = {"/bin/sh", "-c",
               "echo $CERTROT_CREDENTIAL $CERTROT_OLD_SERIAL $CERTROT_NEW_SERIAL "
               "$CERTROT_KEY; echo oops >&2"};
  RotationFacts facts{"web", "/live/web", "01", "02", "2026-11-25T10:00:00Z"};
  std::string output;
  auto r = run_command(a, exec_environment(facts), clock, output);
  ASSERT_TRUE(r) << r.error().what();
  EXPECT_EQ(output, "web 01 02 /live/web/key.pem\noops\n");
}

TEST(ExecAction, ANonZeroExitIsAFailure) {
  const ManualClock clock;
  ExecAction a;
  a.command = {"/bin/sh", "-c", "exit 3"};
  std::string output;
  auto r = run_command(a, {}, clock, output);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().message, "/bin/sh exited 3");
}

using certrotd::testing::InheritedPipe;

TEST(ExecAction, ACommandPastItsTimeoutIsKilledWithEverythingItStarted) {
  // The command starts a child that ignores SIGTERM and outlives its parent's wait; it reports
  // through the pipe once it runs. Only after that does the clock pass the timeout.
  InheritedPipe pipe;
  const std::string fd = std::to_string(pipe.write_end.get());
  ExecAction a;
  a.command = {"/bin/sh", "-c",
               "trap '' TERM; (trap '' TERM; echo started >&" + fd + "; exec sleep 60) & wait"};
  a.timeout = 300ms;
  ManualClock clock;
  std::optional<Result<std::string>> result;
  std::thread runner([&] {
    std::string output;
    result = run_command(a, {}, clock, output);
  });
  EXPECT_EQ(pipe.next(), "started");
  clock.advance(1s);
  runner.join();
  ASSERT_TRUE(result.has_value());
  ASSERT_FALSE(*result);
  EXPECT_EQ(result->error().message, "/bin/sh did not finish within 300ms; killed");
  pipe.write_end.reset();
  EXPECT_EQ(pipe.next(), "") << "a process the command started survived the timeout";
}

TEST(ExecAction, IsNotKilledBeforeTheClockPassesItsTimeout) {
  // The clock stands still: however long the command takes in real time, it is not timed out.
  const ManualClock clock;
  ExecAction a;
  a.command = {"/bin/sh", "-c", "sleep 0.3; echo done"};
  a.timeout = 1ms;
  std::string output;
  auto r = run_command(a, {}, clock, output);
  ASSERT_TRUE(r) << r.error().what();
  EXPECT_EQ(output, "done\n");
}

TEST(ExecAction, ItsExitStatusCountsAlsoAfterItClosedItsOutput) {
  const ManualClock clock;
  ExecAction a;
  a.command = {"/bin/sh", "-c", "exec >&- 2>&-; sleep 0.2; exit 4"};
  std::string output;
  auto r = run_command(a, {}, clock, output);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().message, "/bin/sh exited 4");
}

TEST(ExecAction, ASignalThatEndsItIsReported) {
  const ManualClock clock;
  ExecAction a;
  a.command = {"/bin/sh", "-c", "kill -USR1 $$"};
  std::string output;
  auto r = run_command(a, {}, clock, output);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().message, "/bin/sh killed by signal " + std::to_string(SIGUSR1));
}

TEST(ExecAction, AMissingProgramIsReported) {
  const ManualClock clock;
  ExecAction a;
  a.command = {"/nonexistent/hook"};
  std::string output;
  auto r = run_command(a, {}, clock, output);
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("/nonexistent/hook"), std::string::npos);
}

TEST(SignalAction, SignalsTheProcessInThePidfile) {
  const certrotd::testing::TempDir tmp;
  const auto& dir = tmp.path();
  const pid_t child = ::fork();
  if (child == 0) {
    ::pause();
    ::_exit(0);
  }
  std::ofstream(dir / "app.pid") << child << "\n";
  auto r = signal_pidfile(SignalAction{dir / "app.pid", SIGTERM});
  ASSERT_TRUE(r) << r.error().what();
  int status = 0;
  ::waitpid(child, &status, 0);
  EXPECT_TRUE(WIFSIGNALED(status));
  EXPECT_EQ(WTERMSIG(status), SIGTERM);
}

TEST(SignalAction, AStalePidfileIsReported) {
  const certrotd::testing::TempDir tmp;
  const auto& dir = tmp.path();
  const pid_t child = ::fork();
  if (child == 0) ::_exit(0);
  ::waitpid(child, nullptr, 0);
  std::ofstream(dir / "app.pid") << child << "\n";
  auto r = signal_pidfile(SignalAction{dir / "app.pid", SIGHUP});
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().message, "stale pidfile: no process " + std::to_string(child));
}

TEST(SignalAction, APidfileWithoutAPidIsReported) {
  const certrotd::testing::TempDir tmp;
  const auto& dir = tmp.path();
  std::ofstream(dir / "app.pid") << "not a pid\n";
  EXPECT_FALSE(signal_pidfile(SignalAction{dir / "app.pid", SIGHUP}));
  EXPECT_FALSE(signal_pidfile(SignalAction{dir / "missing.pid", SIGHUP}));
}

TEST(Actions, AreDescribedForLogsAndWhereUsed) {
  SystemdAction k;
  k.unit = "app.service";
  k.action = UnitAction::kill;
  k.bus = BusKind::user;
  EXPECT_EQ(describe(Action{k}), "systemd kill -s HUP app.service (user bus)");
  EXPECT_EQ(describe(Action{SignalAction{"/run/app.pid", SIGUSR1}}),
            "signal USR1 to the process in /run/app.pid");
  EXPECT_EQ(parse_signal("SIGHUP"), SIGHUP);
  EXPECT_EQ(parse_signal("usr2"), SIGUSR2);
  EXPECT_EQ(parse_signal("15"), SIGTERM);
  EXPECT_EQ(parse_signal("NOPE"), std::nullopt);
  EXPECT_EQ(parse_unit_action("try-restart"), UnitAction::try_restart);
  EXPECT_EQ(parse_unit_action("stop"), std::nullopt);
}

}  // namespace
}  // namespace certrotd::notify
