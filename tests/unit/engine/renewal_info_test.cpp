// The engine's side of renewal information (ACME ARI, RFC 9773): when it asks an issuer that
// reports it, what it makes of windows, Retry-After and errors, and what survives a restart.
// The issuer is the local CA behind a fake that answers renewal_info() from a script; jobs run
// synchronously through run_job() and time moves only with the ManualClock.
#include <gtest/gtest.h>

#include <deque>

#include "engine_fixture.hpp"

namespace certrotd::engine {
namespace {

using namespace std::chrono_literals;

// What the fake issuer answers, shared between the test and every issuer the engine builds.
struct Oracle {
  std::deque<Result<issuer::RenewalInfo>> answers;    // empty: "no advice"
  std::optional<issuer::RenewalWindow> issue_window;  // sent along with each certificate
  std::vector<std::string> asked_serials;
};

class AriIssuer final : public issuer::Issuer {
public:
  AriIssuer(std::shared_ptr<issuer::Issuer> real, std::shared_ptr<Oracle> oracle)
      : m_real(std::move(real)), m_oracle(std::move(oracle)) {}
  std::string_view type() const override { return "ari"; }
  Result<issuer::IssuedCredential> issue(const issuer::IssueRequest& request) override {
    auto issued = m_real->issue(request);
    if (issued) issued->renewal_window = m_oracle->issue_window;
    return issued;
  }
  bool reports_renewal_info() const override { return true; }
  Result<issuer::RenewalInfo> renewal_info(const issuer::RenewalInfoRequest& request) override {
    m_oracle->asked_serials.push_back(request.chain.front().info().serial);
    if (m_oracle->answers.empty()) return issuer::RenewalInfo{};
    auto answer = std::move(m_oracle->answers.front());
    m_oracle->answers.pop_front();
    return answer;
  }

private:
  std::shared_ptr<issuer::Issuer> m_real;
  std::shared_ptr<Oracle> m_oracle;
};

issuer::RenewalInfo advice(SystemTime start, SystemTime end, std::optional<Millis> retry_after,
                           std::optional<std::string> url = std::nullopt) {
  return issuer::RenewalInfo{issuer::RenewalWindow{start, end}, std::move(url), retry_after};
}

class RenewalInfoTest : public EngineFixture {
protected:
  void SetUp() override {
    init_ca(true);
    add_wrapped_local<AriIssuer>("ari", oracle);
  }

  std::string config_text(const std::string& type) const {
    return "state_dir: " + (dir / "state").string() +
           "\ndefaults:\n  backoff: { base: 10s, cap: 1m }\nissuers:\n  ca:\n    type: " + type +
           "\n    ca_cert: " + (dir / "ca/intermediate.pem").string() +
           "\n    ca_key: " + (dir / "ca/intermediate.key").string() +
           "\n    roots: " + (dir / "ca/ca.pem").string() +
           "\n    lifetime: 48h\ncredentials:\n  a:\n    issuer: ca\n"
           "    subject: { common_name: a.example }\n    sans: [\"DNS:a.example\"]\n"
           "    usage: [clientAuth]\n    output: { dir: " +
           (dir / "live/a").string() + " }\n";
  }

  std::unique_ptr<Engine> make_engine(const std::string& type = "ari") {
    return create_engine(config_text(type));
  }

  // Runs the one due job and returns its kind.
  std::optional<JobKind> run_due(Engine& engine) {
    auto jobs = engine.take_due();
    EXPECT_LE(jobs.size(), 1u);
    if (jobs.empty()) return std::nullopt;
    const JobKind kind = jobs[0].kind;
    engine.complete(run_job(std::move(jobs[0]), engine.rotation_env()));
    return kind;
  }

  // A started engine with a certificate issued (and the question after it not asked yet).
  std::unique_ptr<Engine> issued_engine(const std::string& type = "ari") {
    auto engine = make_engine(type);
    engine->start();
    EXPECT_EQ(run_due(*engine), JobKind::rotate);
    return engine;
  }

  std::shared_ptr<Oracle> oracle = std::make_shared<Oracle>();
};

TEST_F(RenewalInfoTest, AnIssuerWithoutRenewalInfoAddsNoWakeUps) {
  auto engine = issued_engine("local");
  const auto status = engine->status_of("a");
  EXPECT_FALSE(status->renewal_info_next.has_value());
  EXPECT_FALSE(status->renewal_window.has_value());
  // The only deadline is the renewal itself, two thirds into the 48 h give or take the jitter.
  EXPECT_EQ(wait_of(*engine),
            std::chrono::duration_cast<Millis>(*status->next_attempt - clock.wall_now()));
  EXPECT_TRUE(engine->take_due().empty());
  EXPECT_TRUE(oracle->asked_serials.empty());
}

TEST_F(RenewalInfoTest, AfterAnIssuanceTheIssuerIsAskedOnAWorkerAndItsWindowDecides) {
  auto engine = issued_engine();
  const SystemTime now = clock.wall_now();
  const std::string serial = engine->status_of("a")->cert->serial;
  oracle->answers.push_back(advice(now + 2h, now + 3h, 5h, "https://ca.example/why"));
  auto jobs = engine->take_due();
  ASSERT_EQ(jobs.size(), 1u) << "asked at once, not at the renewal time";
  EXPECT_EQ(jobs[0].kind, JobKind::renewal_info);
  EXPECT_TRUE(oracle->asked_serials.empty()) << "the question runs in the job, not in take_due()";
  EXPECT_EQ(engine->status_of("a")->state, schedule::State::valid) << "asking is not renewing";
  engine->complete(run_job(std::move(jobs[0]), engine->rotation_env()));
  EXPECT_EQ(oracle->asked_serials, std::vector<std::string>{serial});

  const auto status = engine->status_of("a");
  ASSERT_TRUE(status->renewal_window.has_value());
  EXPECT_EQ(status->renewal_window->start, now + 2h);
  EXPECT_EQ(status->renewal_window->end, now + 3h);
  EXPECT_EQ(status->explanation_url, "https://ca.example/why");
  EXPECT_EQ(status->renewal_info_next, now + 5h);
  ASSERT_TRUE(status->renewal_instant.has_value());
  EXPECT_GE(*status->renewal_instant, now + 2h);
  EXPECT_LT(*status->renewal_instant, now + 3h);
  EXPECT_EQ(status->next_attempt, status->renewal_instant) << "the window wins over renew_at";
  EXPECT_EQ(wait_of(*engine), std::chrono::duration_cast<Millis>(*status->renewal_instant - now));
  EXPECT_EQ(sink.of(EventKind::renewal_info).size(), 1u);

  advance_to_deadline(*engine);
  EXPECT_EQ(run_due(*engine), JobKind::rotate) << "renewed inside the window";
  EXPECT_FALSE(engine->status_of("a")->renewal_window.has_value()) << "for the old certificate";
  EXPECT_EQ(run_due(*engine), JobKind::renewal_info) << "the new certificate is asked about";
  EXPECT_EQ(oracle->asked_serials.size(), 2u);
  EXPECT_NE(oracle->asked_serials[1], serial);
}

TEST_F(RenewalInfoTest, AnIssuanceThatCameWithAWindowIsAskedAboutLater) {
  const SystemTime now = clock.wall_now();
  oracle->issue_window = issuer::RenewalWindow{now + 30h, now + 31h, "https://ca.example/w"};
  auto engine = issued_engine();
  EXPECT_TRUE(engine->take_due().empty()) << "no question right after it";
  const auto status = engine->status_of("a");
  EXPECT_EQ(status->renewal_info_next, now + schedule::k_renewal_info_default);
  EXPECT_EQ(status->explanation_url, "https://ca.example/w");
  EXPECT_EQ(wait_of(*engine), schedule::k_renewal_info_default);
  clock.advance(schedule::k_renewal_info_default);
  EXPECT_EQ(run_due(*engine), JobKind::renewal_info);
}

TEST_F(RenewalInfoTest, RetryAfterIsClampedToAMinuteAndADay) {
  auto engine = issued_engine();
  const SystemTime now = clock.wall_now();
  oracle->answers.push_back(advice(now + 40h, now + 41h, 1s));
  ASSERT_EQ(run_due(*engine), JobKind::renewal_info);
  EXPECT_EQ(engine->status_of("a")->renewal_info_next, now + 1min);
  EXPECT_EQ(wait_of(*engine), 1min);
  clock.advance(59s);
  EXPECT_TRUE(engine->take_due().empty());
  clock.advance(1s);
  oracle->answers.push_back(advice(now + 40h, now + 41h, 24h * 30));
  ASSERT_EQ(run_due(*engine), JobKind::renewal_info) << "asked again after the Retry-After";
  EXPECT_EQ(engine->status_of("a")->renewal_info_next, clock.wall_now() + 24h);
  EXPECT_EQ(sink.of(EventKind::renewal_info).size(), 1u) << "an unchanged window is no news";
  // No Retry-After: the long-term default.
  clock.advance(24h);
  ASSERT_EQ(run_due(*engine), JobKind::renewal_info);
  EXPECT_EQ(engine->status_of("a")->renewal_info_next,
            clock.wall_now() + schedule::k_renewal_info_default);
}

TEST_F(RenewalInfoTest, AWindowAlreadyOverMeansRenewNow) {
  auto engine = issued_engine();
  const SystemTime now = clock.wall_now();
  oracle->answers.push_back(advice(now - 2h, now - 1h, 6h));
  ASSERT_EQ(run_due(*engine), JobKind::renewal_info);
  EXPECT_EQ(run_due(*engine), JobKind::rotate) << "due at once";
}

TEST_F(RenewalInfoTest, AnInvalidWindowIsIgnoredAndLoggedOnce) {
  auto engine = issued_engine();
  const SystemTime now = clock.wall_now();
  const SystemTime policy_time = *engine->status_of("a")->next_attempt;
  oracle->answers.push_back(advice(now + 3h, now + 2h, 1min));  // ends before it starts
  oracle->answers.push_back(advice(now + 3h, now + 2h, 1min));
  oracle->answers.push_back(advice(now + 1h, now + 100h, 1min));  // ends after notAfter
  for (int i = 0; i < 3; ++i) {
    ASSERT_EQ(run_due(*engine), JobKind::renewal_info) << i;
    EXPECT_EQ(engine->status_of("a")->next_attempt, policy_time) << "the policy decides";
    EXPECT_FALSE(engine->status_of("a")->renewal_window.has_value());
    advance_to_deadline(*engine);
  }
  const auto warnings = sink.of(EventKind::renewal_info);
  ASSERT_EQ(warnings.size(), 1u);
  EXPECT_EQ(warnings[0].severity, Severity::warning);
  EXPECT_EQ(warnings[0].reason, Reason::invalid_answer);
}

TEST_F(RenewalInfoTest, ErrorsBackOffAndNeverDelayTheRenewal) {
  auto engine = issued_engine();
  const SystemTime policy_time = *engine->status_of("a")->next_attempt;
  for (int i = 0; i < 5; ++i)
    oracle->answers.push_back(fail(Reason::http_status, "503", {}, ErrorKind::retryable));
  std::vector<Millis> waits;
  for (int i = 0; i < 5; ++i) {
    ASSERT_EQ(run_due(*engine), JobKind::renewal_info) << i;
    const auto status = engine->status_of("a");
    EXPECT_EQ(status->failures, 0) << "not a renewal failure";
    EXPECT_EQ(status->next_attempt, policy_time);
    waits.push_back(
        std::chrono::duration_cast<Millis>(*status->renewal_info_next - clock.wall_now()));
    advance_to_deadline(*engine);
  }
  // A 10 s backoff base, raised to the 1-minute floor, for the first three; then 6 h.
  EXPECT_EQ(waits, (std::vector<Millis>{1min, 1min, 1min, 6h, 6h}));
  const auto failed = sink.of(EventKind::renewal_info_failed);
  ASSERT_EQ(failed.size(), 5u);
  EXPECT_EQ(failed[0].reason, Reason::http_status);
  // The renewal comes at the policy's time, whatever the questions did.
  clock.advance(policy_time - clock.wall_now());
  EXPECT_EQ(run_due(*engine), JobKind::rotate);
}

TEST_F(RenewalInfoTest, APermanentErrorWaitsTheLongTermDefault) {
  auto engine = issued_engine();
  oracle->answers.push_back(fail(Reason::invalid_answer, "not JSON"));
  ASSERT_EQ(run_due(*engine), JobKind::renewal_info);
  EXPECT_EQ(engine->status_of("a")->renewal_info_next, clock.wall_now() + 6h);
}

TEST_F(RenewalInfoTest, TheWindowAndTheNextAskSurviveARestart) {
  const SystemTime now = clock.wall_now();
  MonoTime deadline;
  {
    auto engine = issued_engine();
    oracle->answers.push_back(advice(now + 20h, now + 22h, 2h, "https://ca.example/x"));
    ASSERT_EQ(run_due(*engine), JobKind::renewal_info);
    deadline = *engine->next_deadline();
  }
  clock.advance(1h);
  {
    auto engine = make_engine();
    engine->start();
    EXPECT_TRUE(engine->take_due().empty()) << "the next ask is not due yet";
    EXPECT_EQ(*engine->next_deadline(), deadline);
    const auto status = engine->status_of("a");
    EXPECT_EQ(status->explanation_url, "https://ca.example/x");
    EXPECT_EQ(status->renewal_info_next, now + 2h);
    EXPECT_GE(*status->next_attempt, now + 20h);
  }
  clock.advance(2h);
  auto engine = make_engine();
  engine->start();
  EXPECT_EQ(run_due(*engine), JobKind::renewal_info) << "a due ask is asked at start";
  EXPECT_EQ(oracle->asked_serials.size(), 2u);
}

TEST_F(RenewalInfoTest, AStateWithoutAnAskTimeIsAskedAtStart) {
  // Issued while the issuer reported nothing (an older version, or another issuer type).
  { issued_engine("local"); }
  auto engine = make_engine("ari");
  engine->start();
  EXPECT_EQ(run_due(*engine), JobKind::renewal_info);
  EXPECT_EQ(oracle->asked_serials.size(), 1u);
}

TEST_F(RenewalInfoTest, ARotateRequestedWhileAskingRunsAfterTheAnswer) {
  auto engine = issued_engine();
  // A window that would put the renewal far off must not swallow the request.
  oracle->answers.push_back(advice(clock.wall_now() + 40h, clock.wall_now() + 41h, 6h));
  auto jobs = engine->take_due();
  ASSERT_EQ(jobs.size(), 1u);
  ASSERT_TRUE(engine->request_rotation({"a"}).has_value());
  engine->complete(run_job(std::move(jobs[0]), engine->rotation_env()));
  EXPECT_EQ(run_due(*engine), JobKind::rotate);
}

TEST_F(RenewalInfoTest, ARollbackAsksAboutTheCertificateMadeLive) {
  auto engine = issued_engine();
  ASSERT_EQ(run_due(*engine), JobKind::renewal_info);
  const std::string first = oracle->asked_serials.back();
  ASSERT_TRUE(engine->request_rotation({"a"}).has_value());
  ASSERT_EQ(run_due(*engine), JobKind::rotate);
  ASSERT_EQ(run_due(*engine), JobKind::renewal_info);
  oracle->answers.push_back(advice(clock.wall_now() + 30h, clock.wall_now() + 31h, 6h));
  clock.advance(1min);
  auto version = engine->rollback("a");
  ASSERT_TRUE(version.has_value()) << version.error().what();
  EXPECT_FALSE(engine->status_of("a")->renewal_window.has_value());
  EXPECT_EQ(run_due(*engine), JobKind::renewal_info) << "asked at once";
  EXPECT_EQ(oracle->asked_serials.back(), first);
  EXPECT_TRUE(engine->status_of("a")->renewal_window.has_value());
}

TEST_F(RenewalInfoTest, AnExpiredCertificateIsNotAskedAbout) {
  auto engine = issued_engine();
  oracle->answers.push_back(advice(clock.wall_now() + 40h, clock.wall_now() + 47h, 24h));
  ASSERT_EQ(run_due(*engine), JobKind::renewal_info);
  clock.advance(49h);
  EXPECT_FALSE(engine->status_of("a")->renewal_info_next.has_value());
  EXPECT_EQ(engine->take_due().front().kind, JobKind::rotate);
}

}  // namespace
}  // namespace certrotd::engine
