// `certrotd revoke` in the engine: refusals, the revoke job on a worker, what follows a
// successful and a failed revocation, and a restart in between. The issuer is the local CA
// behind a fake that can revoke; time moves only with the ManualClock.
#include <gtest/gtest.h>

#include "engine_fixture.hpp"

namespace certrotd::engine {
namespace {

using namespace std::chrono_literals;

// What the revoking issuer saw, and whether it refuses.
struct Revocations {
  std::vector<std::pair<std::string, issuer::RevocationReason>> seen;  // serial, reason
  bool refuse = false;
};

class RevokingIssuer final : public issuer::Issuer {
public:
  RevokingIssuer(std::shared_ptr<issuer::Issuer> real, std::shared_ptr<Revocations> log)
      : m_real(std::move(real)), m_log(std::move(log)) {}
  std::string_view type() const override { return "revoking"; }
  Result<issuer::IssuedCredential> issue(const issuer::IssueRequest& request) override {
    return m_real->issue(request);
  }
  bool can_revoke() const override { return true; }
  Result<void> revoke(const issuer::RevokeRequest& request) override {
    m_log->seen.emplace_back(request.chain.front().info().serial, request.reason);
    if (m_log->refuse)
      return fail(Reason::http_status, "403 unauthorized", {}, ErrorKind::permanent);
    return {};
  }

private:
  std::shared_ptr<issuer::Issuer> m_real;
  std::shared_ptr<Revocations> m_log;
};

class RevokeTest : public EngineFixture {
protected:
  RevokeTest() : EngineFixture(11) {}

  void SetUp() override {
    init_ca(true);
    add_wrapped_local<RevokingIssuer>("revoking", log);
  }

  std::unique_ptr<Engine> make_engine(const std::string& type = "revoking") {
    const std::string text =
        "state_dir: " + (dir / "state").string() + "\nissuers:\n  ca:\n    type: " + type +
        "\n    ca_cert: " + (dir / "ca/intermediate.pem").string() +
        "\n    ca_key: " + (dir / "ca/intermediate.key").string() +
        "\n    roots: " + (dir / "ca/ca.pem").string() +
        "\n    lifetime: 48h\ncredentials:\n  a:\n    issuer: ca\n"
        "    subject: { common_name: a.example }\n    sans: [\"DNS:a.example\"]\n"
        "    usage: [clientAuth]\n    output: { dir: " +
        (dir / "live/a").string() + " }\n";
    return create_engine(text);
  }

  std::optional<JobKind> run_due(Engine& engine) {
    auto jobs = engine.take_due();
    EXPECT_LE(jobs.size(), 1u);
    if (jobs.empty()) return std::nullopt;
    const JobKind kind = jobs[0].kind;
    engine.complete(run_job(std::move(jobs[0]), engine.rotation_env()));
    return kind;
  }

  std::unique_ptr<Engine> issued_engine(const std::string& type = "revoking") {
    auto engine = make_engine(type);
    engine->start();
    EXPECT_EQ(run_due(*engine), JobKind::rotate);
    return engine;
  }

  std::shared_ptr<Revocations> log = std::make_shared<Revocations>();
};

TEST_F(RevokeTest, ReasonNamesAreTheCrlReasonsOfRfc5280) {
  EXPECT_EQ(revocation_reason_named("keyCompromise"), issuer::RevocationReason::key_compromise);
  EXPECT_EQ(revocation_reason_named("cessationOfOperation"),
            issuer::RevocationReason::cessation_of_operation);
  EXPECT_EQ(revocation_reason_named("keycompromise"), std::nullopt);
  EXPECT_EQ(revocation_reason_named("certificateHold"), std::nullopt) << "not for ACME";
  EXPECT_EQ(to_string(issuer::RevocationReason::affiliation_changed), "affiliationChanged");
}

TEST_F(RevokeTest, AnIssuerThatCannotRevokeIsRefusedAndNothingRuns) {
  auto engine = issued_engine("local");
  auto refused = engine->request_revocation("a", issuer::RevocationReason::superseded);
  ASSERT_FALSE(refused.has_value());
  EXPECT_EQ(refused.error().reason, Reason::config);
  EXPECT_NE(refused.error().what().find("cannot revoke"), std::string::npos);
  EXPECT_TRUE(engine->take_due().empty());
  EXPECT_FALSE(engine->request_revocation("nope", {}).has_value());
}

TEST_F(RevokeTest, NothingLiveIsNothingToRevoke) {
  auto engine = make_engine();
  engine->start();
  EXPECT_FALSE(engine->request_revocation("a", {}).has_value());
}

TEST_F(RevokeTest, ARevocationRunsOnAWorkerAndTheCredentialIsRotatedAtOnce) {
  auto engine = issued_engine();
  const std::string serial = engine->status_of("a")->cert->serial;
  ASSERT_TRUE(engine->request_revocation("a", issuer::RevocationReason::key_compromise));
  EXPECT_FALSE(engine->request_revocation("a", {}).has_value()) << "one at a time";
  auto jobs = engine->take_due();
  ASSERT_EQ(jobs.size(), 1u);
  EXPECT_EQ(jobs[0].kind, JobKind::revoke);
  EXPECT_TRUE(log->seen.empty()) << "the issuer is asked in the job, not on the loop";
  engine->complete(run_job(std::move(jobs[0]), engine->rotation_env()));
  ASSERT_EQ(log->seen.size(), 1u);
  EXPECT_EQ(log->seen[0].first, serial);
  EXPECT_EQ(log->seen[0].second, issuer::RevocationReason::key_compromise);
  const auto revoked = sink.of(EventKind::revoked);
  ASSERT_EQ(revoked.size(), 1u);
  EXPECT_NE(revoked[0].message.find("keyCompromise"), std::string::npos);
  EXPECT_EQ(run_due(*engine), JobKind::rotate) << "the revoked certificate is replaced now";
  EXPECT_NE(engine->status_of("a")->cert->serial, serial);
  EXPECT_TRUE(engine->take_due().empty()) << "and the new one is scheduled as usual";
}

TEST_F(RevokeTest, ARestartAfterTheRevocationStillRotatesAtOnce) {
  {
    auto engine = issued_engine();
    ASSERT_TRUE(engine->request_revocation("a", {}));
    ASSERT_EQ(run_due(*engine), JobKind::revoke);
  }
  auto engine = make_engine();
  engine->start();
  EXPECT_EQ(run_due(*engine), JobKind::rotate);
}

TEST_F(RevokeTest, AFailedRevocationChangesNothingAndIsNotRetried) {
  auto engine = issued_engine();
  const auto before = engine->status_of("a");
  log->refuse = true;
  ASSERT_TRUE(engine->request_revocation("a", issuer::RevocationReason::superseded));
  ASSERT_EQ(run_due(*engine), JobKind::revoke);
  const auto failed = sink.of(EventKind::revoke_failed);
  ASSERT_EQ(failed.size(), 1u);
  EXPECT_EQ(failed[0].reason, Reason::http_status);
  EXPECT_TRUE(sink.of(EventKind::revoked).empty());
  const auto after = engine->status_of("a");
  EXPECT_EQ(after->cert->serial, before->cert->serial);
  EXPECT_EQ(after->next_attempt, before->next_attempt) << "back on its schedule";
  EXPECT_EQ(after->failures, 0);
  EXPECT_TRUE(engine->take_due().empty());
  EXPECT_EQ(log->seen.size(), 1u);
}

}  // namespace
}  // namespace certrotd::engine
