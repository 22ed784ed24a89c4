// on_rotate actions run after a successful swap, in order, with the old and new serials; a
// failing dependent is reported (events and status) and never undoes the swap.
#include <gtest/gtest.h>

#include <mutex>

#include "engine/engine.hpp"
#include "issuer/local/ca_init.hpp"
#include "support/test_support.hpp"
#include "util/files.hpp"

namespace certrotd::engine {
namespace {

using namespace std::chrono_literals;

class Events final : public EventSink {
public:
  void emit(const Event& event) override {
    std::lock_guard lock(m_mutex);
    all.push_back(event);
  }
  std::vector<Event> of(EventKind kind) const {
    std::vector<Event> out;
    for (const auto& e : all) {
      if (e.kind == kind) out.push_back(e);
    }
    return out;
  }
  std::vector<Event> all;

private:
  std::mutex m_mutex;
};

// A service manager with no such unit (retryable, as the sd-bus one reports it: the unit may
// be installed meanwhile).
struct NoUnits final : notify::BusConnector {
  struct Manager final : notify::ServiceManager {
    Result<std::string> start_job(notify::UnitAction, const std::string& unit) override {
      return fail_retryable("org.freedesktop.systemd1.NoSuchUnit: Unit " + unit + " not found.");
    }
    Result<std::string> wait_job(const std::string&, Millis) override { return "done"; }
    Result<void> kill_unit(const std::string&, int) override { return {}; }
  };
  Result<std::unique_ptr<notify::ServiceManager>> connect(notify::BusKind) override {
    return std::unique_ptr<notify::ServiceManager>(std::make_unique<Manager>());
  }
};

class DependentsTest : public ::testing::Test {
protected:
  void SetUp() override {
    issuer::CaInitOptions ca;
    ca.dir = dir / "ca";
    ASSERT_TRUE(issuer::init_ca(ca, clock, random).has_value());
  }

  config::Config load(const std::string& on_rotate) const {
    const std::string text =
        "state_dir: " + (dir / "state").string() + "\n" +
        "defaults:\n  backoff: { base: 10s, cap: 1m }\n"
        "issuers:\n  ca:\n    type: local\n" +
        "    ca_cert: " + (dir / "ca/ca.pem").string() + "\n" +
        "    ca_key: " + (dir / "ca/ca.key").string() + "\n    lifetime: 1h\n" +
        "credentials:\n  web:\n    issuer: ca\n    sans: [\"DNS:web.example\"]\n" +
        "    output: { dir: " + (dir / "live/web").string() + " }\n" + "    on_rotate:\n" +
        on_rotate;
    auto config = config::parse_config(text, "test.yaml", dir.path());
    EXPECT_TRUE(config.has_value()) << (config ? "" : config.error().what());
    return *config;
  }

  int run_due(Engine& engine) {
    auto jobs = engine.take_due();
    for (auto& job : jobs) engine.complete(run_job(std::move(job), engine.rotation_env()));
    return static_cast<int>(jobs.size());
  }

  testing::TempDir dir;
  ManualClock clock;
  SeededRandom random{7};
  Events events;
  NoUnits bus;
  std::vector<Millis> slept;
  notify::ActionRunner runner{
      notify::RunnerDeps{bus, clock, [this](Millis d) { slept.push_back(d); }, nullptr}};

  // An engine whose hook appends "OLD>NEW" serials to hook_log, after the first issuance
  // (`first`) and one forced rotation (`second`).
  void issue_and_rotate_with_serial_hook() {
    auto created = Engine::create(load("      - exec: { command: [/bin/sh, -c, 'echo "
                                       "\"$CERTROT_OLD_SERIAL>$CERTROT_NEW_SERIAL\" "
                                       ">> " +
                                       hook_log.string() + "'] }\n"),
                                  {clock, random, events, &runner});
    ASSERT_TRUE(created) << created.error().what();
    hooked = std::move(*created);
    hooked->start();
    ASSERT_EQ(run_due(*hooked), 1);
    first = live_serial();
    ASSERT_TRUE(hooked->request_rotation({"web"}));
    ASSERT_EQ(run_due(*hooked), 1);
    second = live_serial();
  }
  std::string live_serial() const { return hooked->status().at(0).cert->serial; }

  std::filesystem::path hook_log = dir / "hook.out";
  std::unique_ptr<Engine> hooked;
  std::string first;
  std::string second;
};

TEST_F(DependentsTest, HooksRunAfterTheSwapWithTheOldAndNewSerial) {
  ASSERT_NO_FATAL_FAILURE(issue_and_rotate_with_serial_hook());
  EXPECT_EQ(*read_file(hook_log), ">" + first + "\n" + first + ">" + second + "\n");
  EXPECT_EQ(events.of(EventKind::dependent_reloaded).size(), 2u);
}

TEST_F(DependentsTest, AFailingDependentIsRetriedReportedAndKeepsTheSwap) {
  auto engine = Engine::create(load("      - systemd: { unit: gone.service, action: reload }\n"
                                    "      - exec: { command: [/bin/true] }\n"),
                               {clock, random, events, &runner});
  ASSERT_TRUE(engine) << engine.error().what();
  (*engine)->start();
  ASSERT_EQ(run_due(**engine), 1);

  const auto status = (*engine)->status().at(0);
  EXPECT_EQ(status.state, schedule::State::valid);  // the swap stands
  EXPECT_EQ(status.failures, 0);
  ASSERT_EQ(status.dependents.size(), 2u);
  EXPECT_FALSE(status.dependents[0].ok);
  EXPECT_EQ(status.dependents[0].attempts, 3);
  EXPECT_TRUE(status.dependents[1].ok);
  EXPECT_EQ(slept, (std::vector<Millis>{10s, 20s}));  // the credential's own backoff

  const auto failed = events.of(EventKind::dependent_failed);
  ASSERT_EQ(failed.size(), 1u);
  EXPECT_EQ(failed[0].severity, Severity::error);
  EXPECT_EQ(failed[0].serial, status.cert->serial);
  EXPECT_NE(failed[0].message.find("Unit gone.service not found."), std::string::npos);
  EXPECT_EQ(events.of(EventKind::renewed).size(), 1u);
}

TEST_F(DependentsTest, ARollbackTellsTheDependentsAboutTheRestoredCertificate) {
  ASSERT_NO_FATAL_FAILURE(issue_and_rotate_with_serial_hook());
  ASSERT_TRUE(hooked->rollback("web").has_value());
  EXPECT_EQ(live_serial(), first);
  ASSERT_EQ(run_due(*hooked), 1) << "the dependents are told at once";
  EXPECT_EQ(*read_file(hook_log),
            ">" + first + "\n" + first + ">" + second + "\n" + second + ">" + first + "\n");
  EXPECT_EQ(events.of(EventKind::dependent_reloaded).size(), 3u);
  EXPECT_EQ(events.of(EventKind::renewed).size(), 2u) << "a rollback renews nothing";
  EXPECT_EQ(live_serial(), first);
  EXPECT_EQ(run_due(*hooked), 0) << "and then waits for the restored certificate's renewal";
}

TEST_F(DependentsTest, ARollbackToASerialTellsTheDependentsAndRefusesAnExpiredOneUnlessAllowed) {
  ASSERT_NO_FATAL_FAILURE(issue_and_rotate_with_serial_hook());
  ASSERT_TRUE(hooked->request_rotation({"web"}));
  ASSERT_EQ(run_due(*hooked), 1);
  const std::string third = live_serial();
  // Upper case with a leading zero names the first certificate still.
  auto rolled = hooked->rollback_to("web", "0" + display_serial(first), Expired::refuse);
  ASSERT_TRUE(rolled) << rolled.error().what();
  EXPECT_EQ(live_serial(), first);
  ASSERT_EQ(run_due(*hooked), 1) << "the dependents are told at once";
  EXPECT_EQ(events.of(EventKind::dependent_reloaded).size(), 4u);
  const std::string log = *read_file(hook_log);
  EXPECT_EQ(log.substr(log.rfind('\n', log.size() - 2) + 1), third + ">" + first + "\n");

  EXPECT_FALSE(hooked->rollback_to("web", "ffff", Expired::refuse)) << "no such serial";
  clock.advance(std::chrono::hours(24 * 800));  // every kept certificate has expired
  auto refused = hooked->rollback_to("web", second, Expired::refuse);
  ASSERT_FALSE(refused);
  EXPECT_NE(refused.error().what().find("--force restores it anyway"), std::string::npos)
      << refused.error().what();
  EXPECT_EQ(live_serial(), first);
  ASSERT_TRUE(hooked->rollback_to("web", second, Expired::allow));
  EXPECT_EQ(live_serial(), second);
}

TEST_F(DependentsTest, WithoutARunnerNoActionRuns) {
  auto engine = Engine::create(load("      - exec: { command: [/bin/false] }\n"),
                               {clock, random, events});
  ASSERT_TRUE(engine);
  (*engine)->start();
  ASSERT_EQ(run_due(**engine), 1);
  EXPECT_TRUE((*engine)->status().at(0).dependents.empty());
}

}  // namespace
}  // namespace certrotd::engine
