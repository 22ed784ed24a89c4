// Expiry thresholds (expiring_at, critical_at, notAfter) on the engine's own deadlines, driven by
// a ManualClock: each is reported once per certificate, whether or not a renewal was attempted,
// across restarts, and the `notify:` actions run once for it.
#include <gtest/gtest.h>

#include <mutex>
#include <sstream>

#include "engine/engine.hpp"
#include "issuer/local/ca_init.hpp"
#include "support/test_support.hpp"
#include "util/files.hpp"
#include "x509/certificate.hpp"

namespace certrotd::engine {
namespace {

using namespace std::chrono_literals;
using testing::TempDir;

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

class Refusing final : public issuer::Issuer {
public:
  std::string_view type() const override { return "refusing"; }
  Result<issuer::IssuedCredential> issue(const issuer::IssueRequest&) override {
    return fail_retryable("HTTP 503 Service Unavailable");
  }
};

struct NoBus final : notify::BusConnector {
  Result<std::unique_ptr<notify::ServiceManager>> connect(notify::BusKind) override {
    return fail("no bus in this test");
  }
};

class ExpiryAlertsTest : public ::testing::Test {
protected:
  void SetUp() override {
    issuer::CaInitOptions ca;
    ca.dir = dir / "ca";
    ASSERT_TRUE(issuer::init_ca(ca, clock, random).has_value());
  }

  // One credential `web` from a local CA issuing 100-hour certificates.
  config::Config load(const std::string& own) const {
    const std::string text =
        "state_dir: " + (dir / "state").string() + "\n" +
        "defaults:\n  backoff: { base: 10m, cap: 1h }\n"
        "issuers:\n  ca:\n    type: local\n" +
        "    ca_cert: " + (dir / "ca/ca.pem").string() + "\n" +
        "    ca_key: " + (dir / "ca/ca.key").string() + "\n    lifetime: 100h\n" +
        "credentials:\n  web:\n    issuer: ca\n    sans: [\"DNS:web.example\"]\n" +
        "    output: { dir: " + (dir / "live/web").string() + " }\n" + own;
    auto config = config::parse_config(text, "test.yaml", dir.path());
    EXPECT_TRUE(config.has_value()) << (config ? "" : config.error().what());
    return *config;
  }

  std::unique_ptr<Engine> make_engine(const config::Config& config) {
    auto engine = Engine::create(config, {clock, random, events, &runner});
    EXPECT_TRUE(engine.has_value()) << (engine ? "" : engine.error().what());
    return std::move(*engine);
  }

  // Runs the due jobs as the worker pool would; rotations ask `refusing` instead of the CA
  // while `issuer_down` is set.
  int run_due(Engine& engine) {
    auto jobs = engine.take_due();
    for (auto& job : jobs) {
      if (issuer_down && job.kind == JobKind::rotate) {
        auto plan = std::make_shared<CredentialPlan>(*job.plan);
        plan->issuer = std::make_shared<Refusing>();
        job.plan = plan;
      }
      engine.complete(run_job(std::move(job), engine.rotation_env()));
    }
    return static_cast<int>(jobs.size());
  }

  // Moves the clock from deadline to deadline up to `until`, running what comes due.
  void run_until(Engine& engine, SystemTime until) {
    for (;;) {
      const auto deadline = engine.next_deadline();
      const auto left = until - clock.wall_now();
      if (!deadline || *deadline - clock.mono_now() > left) {
        if (left > SystemTime::duration::zero()) clock.advance(left);
        run_due(engine);
        return;
      }
      if (*deadline > clock.mono_now()) clock.advance(*deadline - clock.mono_now());
      run_due(engine);
    }
  }

  x509::CertInfo live() const {
    auto cert = x509::parse_certificate(read_file(dir / "live/web/cert.pem").value());
    EXPECT_TRUE(cert.has_value());
    return cert->info();
  }

  TempDir dir;
  ManualClock clock;
  SeededRandom random{11};
  Events events;
  NoBus bus;
  notify::ActionRunner runner{notify::RunnerDeps{bus, clock, [](Millis) {}, nullptr}};
  bool issuer_down = false;
};

TEST_F(ExpiryAlertsTest, CrossingExpiringAtWarnsOnceEvenWithoutARenewalAttempt) {
  // Halfway through the lifetime: before the renewal at two thirds, so nothing was attempted.
  auto engine = make_engine(load("    expiring_at: 50%\n"));
  engine->start();
  ASSERT_EQ(run_due(*engine), 1);
  const x509::CertInfo first = live();
  run_until(*engine, first.not_after - 51h);
  EXPECT_TRUE(events.of(EventKind::expiring).empty());
  run_until(*engine, first.not_after - 49h);
  const auto warned = events.of(EventKind::expiring);
  ASSERT_EQ(warned.size(), 1u);
  EXPECT_EQ(warned[0].severity, Severity::warning);
  EXPECT_EQ(warned[0].serial, first.serial);
  EXPECT_EQ(events.of(EventKind::renewing).size(), 1u) << "only the first issuance";
  EXPECT_EQ(live().serial, first.serial);
  run_until(*engine, first.not_after - 40h);
  EXPECT_EQ(events.of(EventKind::expiring).size(), 1u) << "once, not at every wake-up";
}

TEST_F(ExpiryAlertsTest, WithAFailingIssuerExpiringCriticalAndExpiredAreEachReportedOnce) {
  auto engine = make_engine(load("    expiring_at: 20h\n    critical_at: 5h\n"));
  engine->start();
  ASSERT_EQ(run_due(*engine), 1);
  const x509::CertInfo first = live();
  issuer_down = true;
  run_until(*engine, first.not_after - 20h - 1min);
  EXPECT_TRUE(events.of(EventKind::expiring).empty());
  EXPECT_GT(events.of(EventKind::renew_failed).size(), 1u);
  run_until(*engine, first.not_after - 5h - 1min);
  ASSERT_EQ(events.of(EventKind::expiring).size(), 1u);
  EXPECT_TRUE(events.of(EventKind::expiring_critical).empty());
  run_until(*engine, first.not_after - 1min);
  EXPECT_EQ(events.of(EventKind::expiring).size(), 1u) << "failures do not repeat it";
  const auto critical = events.of(EventKind::expiring_critical);
  ASSERT_EQ(critical.size(), 1u);
  EXPECT_EQ(critical[0].severity, Severity::error);
  EXPECT_EQ(critical[0].serial, first.serial);
  EXPECT_NE(critical[0].message.find("503"), std::string::npos) << critical[0].message;
  EXPECT_TRUE(events.of(EventKind::expired).empty());
  run_until(*engine, first.not_after + 3h);
  const auto expired = events.of(EventKind::expired);
  ASSERT_EQ(expired.size(), 1u);
  EXPECT_EQ(expired[0].severity, Severity::error);
  EXPECT_EQ(live().serial, first.serial) << "the failing issuer never replaced it";
}

TEST_F(ExpiryAlertsTest, ARestartDoesNotReportAThresholdAgain) {
  const auto config = load("    expiring_at: 20h\n    critical_at: 5h\n");
  x509::CertInfo first;
  {
    auto engine = make_engine(config);
    engine->start();
    ASSERT_EQ(run_due(*engine), 1);
    first = live();
    issuer_down = true;
    run_until(*engine, first.not_after - 19h);
    ASSERT_EQ(events.of(EventKind::expiring).size(), 1u);
  }
  {
    auto engine = make_engine(config);
    engine->start();
    run_until(*engine, first.not_after - 6h);
    EXPECT_EQ(events.of(EventKind::expiring).size(), 1u) << "not again after a restart";
    run_until(*engine, first.not_after - 4h);
    EXPECT_EQ(events.of(EventKind::expiring_critical).size(), 1u);
  }
  auto engine = make_engine(config);
  engine->start();
  run_until(*engine, first.not_after - 1h);
  EXPECT_EQ(events.of(EventKind::expiring).size(), 1u);
  EXPECT_EQ(events.of(EventKind::expiring_critical).size(), 1u) << "not again either";
}

TEST_F(ExpiryAlertsTest, ThresholdsCrossedWhileStoppedAreOneReportAtStart) {
  const auto config = load("    expiring_at: 20h\n    critical_at: 5h\n");
  x509::CertInfo first;
  {
    auto engine = make_engine(config);
    engine->start();
    ASSERT_EQ(run_due(*engine), 1);
    first = live();
  }
  clock.advance(first.not_after - clock.wall_now() - 2h);
  issuer_down = true;
  auto engine = make_engine(config);
  engine->start();
  run_due(*engine);
  EXPECT_TRUE(events.of(EventKind::expiring).empty()) << "the higher threshold says it";
  EXPECT_EQ(events.of(EventKind::expiring_critical).size(), 1u);
}

TEST_F(ExpiryAlertsTest, TheNextCertificateIsWarnedAfreshAndARenewalInTimeIsNotWarned) {
  auto engine = make_engine(load("    expiring_at: 50%\n"));
  engine->start();
  ASSERT_EQ(run_due(*engine), 1);
  const x509::CertInfo first = live();
  // Warned at 50%, renewed at about two thirds: the new certificate is warned at its own 50%.
  run_until(*engine, first.not_after - 10h);
  ASSERT_NE(live().serial, first.serial);
  const x509::CertInfo second = live();
  EXPECT_EQ(events.of(EventKind::expiring).size(), 1u);
  run_until(*engine, second.not_after - 49h);
  const auto warned = events.of(EventKind::expiring);
  ASSERT_EQ(warned.size(), 2u);
  EXPECT_EQ(warned[1].serial, second.serial);

  // With the default thresholds (10%, 3%) renewal always comes first: no warning at all.
  events.all.clear();
  ASSERT_TRUE(engine->reload(load("")).has_value());
  run_until(*engine, clock.wall_now() + 400h);
  EXPECT_GE(events.of(EventKind::renewed).size(), 5u);
  EXPECT_TRUE(events.of(EventKind::expiring).empty());
  EXPECT_TRUE(events.of(EventKind::expiring_critical).empty());
}

TEST_F(ExpiryAlertsTest, AThresholdCostsNoExtraDeadline) {
  auto engine = make_engine(load("    expiring_at: 50%\n"));
  engine->start();
  ASSERT_EQ(run_due(*engine), 1);
  const x509::CertInfo first = live();
  // One heap entry per credential: the next deadline is the threshold, not a second timer.
  ASSERT_TRUE(engine->next_deadline().has_value());
  const auto wait = *engine->next_deadline() - clock.mono_now();
  const auto to_threshold = first.not_after - 50h - clock.wall_now();
  EXPECT_EQ(std::chrono::duration_cast<Millis>(wait),
            std::chrono::duration_cast<Millis>(to_threshold));
  clock.advance(wait);
  EXPECT_EQ(run_due(*engine), 0) << "a threshold is no job without notify actions";
  EXPECT_EQ(events.of(EventKind::expiring).size(), 1u);
  EXPECT_GT(*engine->next_deadline(), clock.mono_now()) << "back to the renewal";
}

TEST_F(ExpiryAlertsTest, NotifyActionsRunOncePerThresholdWithItsFacts) {
  const fs::path log = dir / "notify.log";
  auto engine = make_engine(
      load("    expiring_at: 20h\n    critical_at: 5h\n    notify:\n"
           "      - exec: { command: [/bin/sh, -c, 'echo \"$CERTROT_THRESHOLD $CERTROT_CREDENTIAL "
           "$CERTROT_SERIAL $CERTROT_NOT_AFTER\" >> " +
           log.string() + "'] }\n"));
  engine->start();
  ASSERT_EQ(run_due(*engine), 1);
  const x509::CertInfo first = live();
  issuer_down = true;
  run_until(*engine, first.not_after - 10h);
  const std::string facts = " web " + first.serial + " " + format_rfc3339(first.not_after) + "\n";
  EXPECT_EQ(read_file(log).value_or(""), "expiring" + facts);
  run_until(*engine, first.not_after - 1h);
  EXPECT_EQ(read_file(log).value_or(""), "expiring" + facts + "critical" + facts);
  EXPECT_EQ(events.of(EventKind::dependent_failed).size(), 0u);
  EXPECT_EQ(events.of(EventKind::dependent_reloaded).size(), 2u);
  // A restart runs them no more.
  engine.reset();
  engine = make_engine(
      load("    expiring_at: 20h\n    critical_at: 5h\n    notify:\n"
           "      - exec: { command: [/bin/sh, -c, 'echo again >> " +
           log.string() + "'] }\n"));
  engine->start();
  run_until(*engine, first.not_after - 30min);
  EXPECT_EQ(read_file(log).value_or(""), "expiring" + facts + "critical" + facts);
}

}  // namespace
}  // namespace certrotd::engine
