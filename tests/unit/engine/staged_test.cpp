// Staged activation through the real rotation pipeline and the local CA, on the injected clock:
// a renewal is published as next/ and goes live at activate_after, activate_before_expiry or
// on demand; a stale staged version is replaced; restarts keep (or repair) what was staged.
#include <gtest/gtest.h>

#include "engine_fixture.hpp"
#include "support/test_support.hpp"
#include "util/files.hpp"
#include "x509/certificate.hpp"

namespace certrotd::engine {
namespace {

using testing::read_text;
namespace fs = std::filesystem;
using std::chrono::hours;
using std::chrono::seconds;

class StagedTest : public EngineFixture {
protected:
  void SetUp() override { init_ca(false); }

  // One credential "a" with a 30-day certificate (renewed near day 20) and `activation`.
  config::Config load(const std::string& activation, const std::string& lifetime = "30d",
                      const std::string& extra = "") const {
    const std::string text =
        "state_dir: " + (dir / "state").string() +
        "\nissuers:\n  ca:\n    type: local\n    ca_cert: " + (dir / "ca/ca.pem").string() +
        "\n    ca_key: " + (dir / "ca/ca.key").string() + "\n    lifetime: " + lifetime +
        "\ncredentials:\n  a:\n    issuer: ca\n    sans: [\"DNS:a.example\"]\n    output: { dir: " +
        (dir / "live/a").string() + " }\n    activation: " + activation + "\n" + extra;
    auto config = config::parse_config(text, "test.yaml", dir.path());
    EXPECT_TRUE(config.has_value()) << (config ? "" : config.error().what());
    return *config;
  }

  static void rotate_now(Engine& engine) {
    ASSERT_TRUE(engine.request_rotation({"a"}).has_value());
    run_due(engine);
  }

  std::string serial_of(const fs::path& file) const {
    std::error_code ec;
    if (!fs::exists(file, ec)) return {};
    auto cert = x509::parse_certificate(read_text(file));
    return cert ? cert->info().serial : std::string();
  }
  std::string live_serial() const { return serial_of(dir / "live/a/cert.pem"); }
  std::string next_serial() const { return serial_of(dir / "live/a/next/cert.pem"); }

  // Issues the first certificate (always live at once) and stages its renewal.
  std::unique_ptr<Engine> staged_engine(const config::Config& config) {
    auto engine = start(config);
    run_due(*engine);
    EXPECT_FALSE(live_serial().empty());
    rotate_now(*engine);
    EXPECT_FALSE(next_serial().empty());
    return engine;
  }
};

TEST_F(StagedTest, ARenewalIsStagedAsNextAndGoesLiveActivateAfterLater) {
  const auto config = load("{ mode: staged, activate_after: 2d, activate_before_expiry: 1d }");
  auto engine = start(config);
  run_due(*engine);
  const std::string first = live_serial();
  ASSERT_FALSE(first.empty());
  EXPECT_TRUE(sink.of(EventKind::staged).empty()) << "the first issuance goes live at once";

  rotate_now(*engine);
  const std::string staged = next_serial();
  ASSERT_FALSE(staged.empty());
  EXPECT_NE(staged, first);
  EXPECT_EQ(live_serial(), first) << "staging leaves the live version alone";
  for (const char* name : {"chain.pem", "fullchain.pem", "key.pem", "bundle.pem", "ca.pem"}) {
    EXPECT_TRUE(fs::exists(dir / "live/a/next" / name)) << name;
  }
  ASSERT_EQ(sink.of(EventKind::staged).size(), 1u);
  EXPECT_EQ(sink.of(EventKind::staged)[0].serial, staged);
  EXPECT_TRUE(sink.of(EventKind::staged)[0].staged_not_after.has_value());

  const auto status = engine->status_of("a");
  ASSERT_TRUE(status && status->staged);
  EXPECT_EQ(status->staged->serial, staged);
  EXPECT_EQ(status->staged->activate_why, "activate_after");
  EXPECT_EQ(status->staged->activate_at, clock.wall_now() + hours(48));
  EXPECT_FALSE(status->staged->replace_at);
  EXPECT_EQ(status->next_attempt, clock.wall_now() + hours(48)) << "no second renewal meanwhile";

  clock.advance(hours(48) - seconds(1));
  EXPECT_TRUE(engine->take_due().empty());
  EXPECT_EQ(live_serial(), first);

  clock.advance(seconds(1));
  EXPECT_TRUE(engine->take_due().empty()) << "no on_rotate: nothing to hand out";
  EXPECT_EQ(live_serial(), staged);
  EXPECT_FALSE(fs::exists(dir / "live/a/next"));
  ASSERT_EQ(sink.of(EventKind::activated).size(), 1u);
  EXPECT_NE(sink.of(EventKind::activated)[0].message.find("activate_after"), std::string::npos);
  EXPECT_FALSE(engine->status_of("a")->staged);
  EXPECT_TRUE(engine->status_of("a")->next_attempt > clock.wall_now() + hours(24 * 10))
      << "scheduled from the new live certificate";
}

TEST_F(StagedTest, ActivateBeforeExpiryWinsWhenItComesFirst) {
  auto engine = start(load("{ mode: staged, activate_after: 30d, activate_before_expiry: 1d }"));
  run_due(*engine);
  const std::string first = live_serial();
  const SystemTime first_not_after = engine->status_of("a")->cert->not_after;
  advance_to_deadline(*engine);  // its renewal time, near day 20
  run_due(*engine);
  const std::string staged = next_serial();
  ASSERT_FALSE(staged.empty());
  const auto status = engine->status_of("a");
  ASSERT_TRUE(status->staged);
  EXPECT_EQ(status->staged->activate_why, "activate_before_expiry");
  EXPECT_EQ(status->staged->activate_at, first_not_after - hours(24));

  // The live certificate's expiry warning (3 days before notAfter) wakes the engine first.
  for (int wakeup = 0; wakeup < 3 && clock.wall_now() < first_not_after - hours(24); ++wakeup) {
    advance_to_deadline(*engine);
    EXPECT_LE(clock.wall_now(), first_not_after - hours(24));
    if (clock.wall_now() < first_not_after - hours(24)) {
      run_due(*engine);
      EXPECT_EQ(live_serial(), first) << "still waiting";
    }
  }
  EXPECT_EQ(clock.wall_now(), first_not_after - hours(24));
  ASSERT_EQ(sink.of(EventKind::expiring).size(), 1u);
  EXPECT_NE(sink.of(EventKind::expiring)[0].message.find("is staged, activating"),
            std::string::npos)
      << sink.of(EventKind::expiring)[0].message;
  run_due(*engine);
  EXPECT_EQ(live_serial(), staged);
  EXPECT_NE(live_serial(), first);
}

TEST_F(StagedTest, AStaleStagedVersionIsReplacedAtItsOwnRenewalTimeInsteadOfGoingLive) {
  const std::string activation =
      "{ mode: staged, activate_after: 20d, activate_before_expiry: 6h }";
  auto engine = start(load(activation));
  run_due(*engine);
  const std::string first = live_serial();
  // The issuer now grants two days: a version staged now would need renewing long before day 20.
  ASSERT_TRUE(engine->reload(load(activation, "2d")).has_value());
  rotate_now(*engine);
  const std::string stale = next_serial();
  ASSERT_FALSE(stale.empty());
  const auto status = engine->status_of("a");
  ASSERT_TRUE(status->staged && status->staged->replace_at);
  EXPECT_LT(*status->staged->replace_at, status->staged->activate_at);
  EXPECT_EQ(status->next_attempt, *status->staged->replace_at);

  advance_to_deadline(*engine);
  auto jobs = engine->take_due();
  ASSERT_EQ(jobs.size(), 1u) << "a rotation, not an activation";
  EXPECT_EQ(jobs[0].kind, JobKind::rotate);
  engine->complete(run_job(std::move(jobs[0]), engine->rotation_env()));
  EXPECT_EQ(live_serial(), first) << "the stale version never went live";
  EXPECT_FALSE(next_serial().empty());
  EXPECT_NE(next_serial(), stale) << "replaced by a fresh one";
  EXPECT_TRUE(sink.of(EventKind::activated).empty());
  EXPECT_EQ(sink.of(EventKind::staged).size(), 2u);
}

TEST_F(StagedTest, AStagedVersionSurvivesARestartAndActivatesOnTime) {
  const auto config = load("{ mode: staged, activate_after: 2d, activate_before_expiry: 1d }");
  auto engine = staged_engine(config);
  const std::string staged = next_serial();
  const SystemTime at = engine->status_of("a")->staged->activate_at;
  engine.reset();

  clock.advance(hours(24));
  auto restarted = start(config);
  const auto status = restarted->status_of("a");
  ASSERT_TRUE(status->staged);
  EXPECT_EQ(status->staged->serial, staged);
  EXPECT_EQ(status->staged->activate_at, at) << "counted from when it was staged";
  EXPECT_EQ(Engine::inspect(config, clock).front().staged->serial, staged);
  clock.advance(hours(24) - seconds(1));
  run_due(*restarted);
  EXPECT_NE(live_serial(), staged);
  clock.advance(seconds(1));
  run_due(*restarted);
  EXPECT_EQ(live_serial(), staged);
}

TEST_F(StagedTest, ActivateMakesTheStagedVersionLiveOnDemand) {
  auto engine = staged_engine(
      load("{ mode: staged, activate_after: 2d, activate_before_expiry: 1d }"));
  const std::string staged = next_serial();
  auto version = engine->activate("a");
  ASSERT_TRUE(version.has_value()) << version.error().what();
  EXPECT_EQ(live_serial(), staged);
  EXPECT_FALSE(fs::exists(dir / "live/a/next"));
  ASSERT_EQ(sink.of(EventKind::activated).size(), 1u);
  EXPECT_NE(sink.of(EventKind::activated)[0].message.find("on demand"), std::string::npos);

  auto again = engine->activate("a");
  ASSERT_FALSE(again.has_value());
  EXPECT_FALSE(again.error().retryable());
  EXPECT_NE(again.error().what().find("nothing is staged"), std::string::npos);
  EXPECT_FALSE(engine->activate("nope").has_value());
}

TEST_F(StagedTest, AReusedKeyCountsItsRenewalWhenTheStagedVersionGoesLive) {
  auto engine = staged_engine(
      load("{ mode: staged, activate_after: 2d, activate_before_expiry: 1d }", "30d",
           "    key: { reuse: true }\n"));
  EXPECT_EQ(engine->status_of("a")->key_renewals, 0) << "staged, not live yet";
  ASSERT_TRUE(engine->activate("a").has_value());
  EXPECT_EQ(engine->status_of("a")->key_renewals, 1);
}

TEST_F(StagedTest, RotateWhileStagedStagesAFreshVersionAndKeepsTheLiveOne) {
  auto engine = staged_engine(
      load("{ mode: staged, activate_after: 2d, activate_before_expiry: 1d }"));
  const std::string live = live_serial();
  const std::string staged = next_serial();
  clock.advance(hours(1));
  rotate_now(*engine);
  EXPECT_EQ(live_serial(), live);
  EXPECT_NE(next_serial(), staged);
  EXPECT_EQ(engine->status_of("a")->staged->staged_at, clock.wall_now());
}

TEST_F(StagedTest, AStartRemovesANextThatTheStateFileNeverRecorded) {
  const auto config = load("{ mode: staged, activate_after: 2d, activate_before_expiry: 1d }");
  auto engine = start(config);
  run_due(*engine);
  const std::string live = live_serial();
  engine.reset();
  // As a kill between making next/ and saving the state leaves it.
  auto store = store::CredentialStore::open(config.credentials.front().output);
  ASSERT_TRUE(store.has_value());
  auto files = store->load_current();
  ASSERT_TRUE(files && *files);
  ASSERT_TRUE(store->stage(**files, "unrecorded").has_value());
  ASSERT_TRUE(fs::exists(dir / "live/a/next/cert.pem"));

  auto restarted = start(config);
  EXPECT_FALSE(fs::exists(dir / "live/a/next"));
  EXPECT_FALSE(restarted->status_of("a")->staged);
  EXPECT_EQ(live_serial(), live);
  bool said_so = false;
  for (const auto& e : sink.of(EventKind::loaded)) {
    said_so = said_so || e.message.find("staging was interrupted") != std::string::npos;
  }
  EXPECT_TRUE(said_so);
}

TEST_F(StagedTest, AStartFinishesAnActivationThatACrashInterruptedAfterTheSwap) {
  const auto config = load("{ mode: staged, activate_after: 2d, activate_before_expiry: 1d }");
  auto engine = staged_engine(config);
  const std::string staged = next_serial();
  engine.reset();
  // The swap happened, the state file was not written: what a kill right after it leaves.
  auto store = store::CredentialStore::open(config.credentials.front().output);
  ASSERT_TRUE(store.has_value());
  ASSERT_TRUE(store->activate().has_value());

  auto restarted = start(config);
  EXPECT_EQ(live_serial(), staged);
  EXPECT_FALSE(restarted->status_of("a")->staged);
  ASSERT_EQ(sink.of(EventKind::activated).size(), 1u);
  EXPECT_NE(sink.of(EventKind::activated)[0].message.find("interrupted"), std::string::npos);
  EXPECT_TRUE(restarted->status_of("a")->next_attempt > clock.wall_now() + hours(24 * 10));
}

TEST_F(StagedTest, AStagedVersionGoneFromDiskIsStagedAfresh) {
  const auto config = load("{ mode: staged, activate_after: 2d, activate_before_expiry: 1d }");
  auto engine = staged_engine(config);
  engine.reset();
  auto store = store::CredentialStore::open(config.credentials.front().output);
  ASSERT_TRUE(store && store->unstage().has_value());

  auto restarted = start(config);
  EXPECT_FALSE(restarted->status_of("a")->staged);
  EXPECT_TRUE(next_serial().empty());
  // Due at the live certificate's own renewal time again (long past, when staging was due).
  advance_to_deadline(*restarted);
  run_due(*restarted);
  EXPECT_FALSE(next_serial().empty());
  EXPECT_TRUE(restarted->status_of("a")->staged);
}

}  // namespace
}  // namespace certrotd::engine
