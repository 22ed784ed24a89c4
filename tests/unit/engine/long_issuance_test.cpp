// Issuance that may take long, driven by a ManualClock: the per-issuer concurrency limit,
// "not yet" answers, the issuer's private state across restarts, and renewal windows.
// Jobs run synchronously through run_job(); a job not completed yet is a slow issuer.
#include <gtest/gtest.h>

#include <sys/stat.h>

#include <deque>
#include <functional>

#include "engine_fixture.hpp"
#include "util/files.hpp"
#include "x509/csr.hpp"

namespace certrotd::engine {
namespace {

using namespace std::chrono_literals;

// Answers from a script, one a request; an `issue` step asks the real issuer behind it.
class ScriptedIssuer final : public issuer::Issuer {
public:
  struct Step {
    std::optional<issuer::NotYet> not_yet;  // unset: issue through the real issuer
    std::optional<std::string> state;
    std::optional<issuer::RenewalWindow> window;
    std::optional<ErrorKind> error = std::nullopt;  // set: fail with this kind
    std::function<void()> before = nullptr;         // runs as the request arrives
  };
  ScriptedIssuer(std::shared_ptr<issuer::Issuer> real, std::deque<Step> script)
      : m_real(std::move(real)), m_script(std::move(script)) {}

  std::string_view type() const override { return "scripted"; }
  Result<issuer::IssuedCredential> issue(const issuer::IssueRequest& request) override {
    return m_real->issue(request);
  }
  Result<issuer::IssueOutcome> issue_outcome(const issuer::IssueRequest& request) override {
    seen_states.push_back(request.state);
    seen_csrs.push_back(request.csr_pem.value_or(""));
    Step step = m_script.empty() ? Step{} : std::move(m_script.front());
    if (!m_script.empty()) m_script.pop_front();
    if (step.before) step.before();
    if (step.error) return fail("induced", {}, *step.error);
    if (step.not_yet) return issuer::IssueOutcome{std::move(*step.not_yet), std::move(step.state)};
    auto issued = m_real->issue(request);
    if (!issued) return tl::unexpected(issued.error());
    issued->renewal_window = step.window;
    return issuer::IssueOutcome{std::move(*issued), std::move(step.state)};
  }

  std::vector<std::optional<std::string>> seen_states;
  std::vector<std::string> seen_csrs;

private:
  std::shared_ptr<issuer::Issuer> m_real;
  std::deque<Step> m_script;
};

class LongIssuance : public EngineFixture {
protected:
  LongIssuance() : EngineFixture(42) {}

  void SetUp() override { init_ca(true); }

  std::string local_issuer(const std::string& name, const std::string& extra = "") const {
    return "  " + name +
           ":\n    type: local\n    ca_cert: " + (dir / "ca/intermediate.pem").string() +
           "\n    ca_key: " + (dir / "ca/intermediate.key").string() +
           "\n    roots: " + (dir / "ca/ca.pem").string() + "\n    lifetime: 1h\n" + extra;
  }

  std::string credential(const std::string& name, const std::string& issuer) const {
    return "  " + name + ":\n    issuer: " + issuer + "\n    subject: { common_name: " + name +
           ".example }\n    sans: [\"DNS:" + name + ".example\"]\n    usage: [clientAuth]\n" +
           "    output: { dir: " + (dir / "live" / name).string() + " }\n";
  }

  // Issuer `ca` (local) with `a`; issuer `slow` (local, max_concurrent 1) with s1, s2, s3.
  std::string two_issuers() const {
    return "state_dir: " + (dir / "state").string() +
           "\nmax_concurrent_rotations: 2\ndefaults:\n  backoff: { base: 10s, cap: 1m }\n"
           "issuers:\n" +
           local_issuer("ca") + local_issuer("slow", "    max_concurrent: 1\n") + "credentials:\n" +
           credential("a", "ca") + credential("s1", "slow") + credential("s2", "slow") +
           credential("s3", "slow");
  }

  std::string one_credential() const {
    return "state_dir: " + (dir / "state").string() +
           "\ndefaults:\n  backoff: { base: 10s, cap: 1m }\nissuers:\n" + local_issuer("ca") +
           "credentials:\n" + credential("a", "ca");
  }

  std::unique_ptr<Engine> make_engine(const std::string& text) {
    auto config = config::parse_config(text, "test.yaml", dir.path());
    EXPECT_TRUE(config.has_value()) << (config ? "" : config.error().what());
    return create_engine(*config);
  }

  // Runs `job` with the script in place of its issuer; returns the issuer to look at.
  std::shared_ptr<ScriptedIssuer> run_scripted(Engine& engine, Job job,
                                               std::deque<ScriptedIssuer::Step> script) {
    auto plan = std::make_shared<CredentialPlan>(*job.plan);
    auto scripted = std::make_shared<ScriptedIssuer>(plan->issuer, std::move(script));
    plan->issuer = scripted;
    job.plan = plan;
    engine.complete(run_job(std::move(job), engine.rotation_env()));
    return scripted;
  }

  std::shared_ptr<ScriptedIssuer> run_due_scripted(Engine& engine,
                                                   std::deque<ScriptedIssuer::Step> script) {
    auto jobs = engine.take_due();
    EXPECT_EQ(jobs.size(), 1u);
    if (jobs.empty()) return nullptr;
    return run_scripted(engine, std::move(jobs[0]), std::move(script));
  }

  static std::vector<std::string> names_of(const std::vector<Job>& jobs) {
    std::vector<std::string> out;
    for (const auto& job : jobs) out.push_back(job.name);
    return out;
  }
};

// ---- max_concurrent ---------------------------------------------------------------------------

TEST_F(LongIssuance, ASlowIssuerWithMaxConcurrentOneDoesNotOccupyEveryWorker) {
  auto engine = make_engine(two_issuers());
  engine->start();
  // Everything is due; the slow issuer gets one rotation, the local one its own.
  auto jobs = engine->take_due();
  EXPECT_EQ(names_of(jobs), (std::vector<std::string>{"a", "s1"}));
  Job slow = std::move(jobs[1]);
  engine->complete(run_job(std::move(jobs[0]), engine->rotation_env()));
  EXPECT_EQ(engine->status_of("a")->state, schedule::State::valid)
      << "the local issuer's credential rotated while the slow one was busy";
  EXPECT_TRUE(engine->take_due().empty()) << "s2 and s3 wait for the slow issuer's slot";
  for (const char* name : {"s2", "s3"}) {
    const auto status = engine->status_of(name);
    EXPECT_EQ(status->failures, 0) << name << ": waiting is not a failure";
    EXPECT_EQ(status->state, schedule::State::missing) << name;
  }

  // The slot frees: the next waiting credential goes, and only one.
  engine->complete(run_job(std::move(slow), engine->rotation_env()));
  jobs = engine->take_due();
  EXPECT_EQ(names_of(jobs), (std::vector<std::string>{"s2"}));
  engine->complete(run_job(std::move(jobs[0]), engine->rotation_env()));
  jobs = engine->take_due();
  EXPECT_EQ(names_of(jobs), (std::vector<std::string>{"s3"}));
  engine->complete(run_job(std::move(jobs[0]), engine->rotation_env()));
  EXPECT_TRUE(engine->take_due().empty());
  EXPECT_EQ(sink.count(EventKind::renew_failed), 0);
  for (const auto& s : engine->status()) EXPECT_EQ(s.state, schedule::State::valid) << s.name;
}

TEST_F(LongIssuance, AWaitingCredentialAskedForAgainWaitsOnce) {
  auto engine = make_engine(two_issuers());
  engine->start();
  auto jobs = engine->take_due();
  ASSERT_EQ(jobs.size(), 2u);
  ASSERT_TRUE(engine->request_rotation({"s2"}).has_value());
  EXPECT_TRUE(engine->take_due().empty()) << "still waiting for the slot, not handed out twice";
  for (auto& job : jobs) engine->complete(run_job(std::move(job), engine->rotation_env()));
  EXPECT_EQ(names_of(engine->take_due()), (std::vector<std::string>{"s2"}));
}

TEST_F(LongIssuance, MaxConcurrentIsReadFromTheIssuerAndBounded) {
  auto config = config::parse_config(two_issuers(), "test.yaml", dir.path());
  ASSERT_TRUE(config.has_value()) << config.error().what();
  EXPECT_EQ(config->issuers.at("slow").max_concurrent, 1);
  EXPECT_FALSE(config->issuers.at("ca").max_concurrent.has_value());
  std::string text = two_issuers();
  text.replace(text.find("max_concurrent: 1"), 17, "max_concurrent: 0");
  EXPECT_FALSE(config::parse_config(text, "test.yaml", dir.path()).has_value());
}

// ---- not yet ----------------------------------------------------------------------------------

TEST_F(LongIssuance, NotYetIsNoFailureAndTheIssuerIsAskedAgainAtItsTime) {
  auto engine = make_engine(one_credential());
  engine->start();
  run_due_scripted(*engine, {{issuer::NotYet{5min, "order processing"}, "order-1", {}}});
  const auto status = engine->status_of("a");
  EXPECT_EQ(status->failures, 0);
  EXPECT_TRUE(status->last_error.empty());
  EXPECT_NE(status->state, schedule::State::needs_attention);
  EXPECT_TRUE(status->issuer_pending) << "status shows the request the issuer holds";
  EXPECT_EQ(sink.count(EventKind::renew_failed), 0);
  ASSERT_EQ(sink.count(EventKind::issue_pending), 1);
  for (const auto& e : sink.events) {
    if (e.kind != EventKind::issue_pending) continue;
    EXPECT_EQ(e.severity, Severity::info);
    EXPECT_NE(e.message.find("order processing"), std::string::npos) << e.message;
    EXPECT_EQ(e.message.find("order-1"), std::string::npos) << "the state is never logged";
  }
  EXPECT_EQ(wait_of(*engine), 5min);

  clock.advance(5min - 1s);
  EXPECT_TRUE(engine->take_due().empty());
  clock.advance(1s);
  auto issuer = run_due_scripted(*engine, {{std::nullopt, std::nullopt, std::nullopt}});
  ASSERT_EQ(issuer->seen_states.size(), 1u);
  EXPECT_EQ(issuer->seen_states[0], "order-1") << "the issuer gets its state back";
  EXPECT_EQ(engine->status_of("a")->state, schedule::State::valid);
  EXPECT_FALSE(engine->status_of("a")->issuer_pending);
  // Issued without new state: cleared, so the next renewal starts afresh.
  ASSERT_TRUE(engine->request_rotation({"a"}).has_value());
  issuer = run_due_scripted(*engine, {});
  EXPECT_EQ(issuer->seen_states[0], std::nullopt);
}

TEST_F(LongIssuance, NotYetWithoutATimeAsksAgainAfterTheBackoffBaseAndLongWaitsAreClamped) {
  auto engine = make_engine(one_credential());
  engine->start();
  run_due_scripted(*engine, {{issuer::NotYet{std::nullopt, ""}, std::nullopt, {}}});
  EXPECT_EQ(wait_of(*engine), 10s) << "backoff base of the test config";
  advance_to_deadline(*engine);
  run_due_scripted(*engine, {{issuer::NotYet{30h, ""}, std::nullopt, {}}});
  EXPECT_EQ(wait_of(*engine), 1h) << "no certificate yet: the one-hour ceiling";
}

TEST_F(LongIssuance, AFailureAfterNotYetKeepsTheStateAPermanentOneClearsIt) {
  auto engine = make_engine(one_credential());
  engine->start();
  run_due_scripted(*engine, {{issuer::NotYet{1min, ""}, "order-1", {}}});
  advance_to_deadline(*engine);
  // The real issuer cannot be reached through a script step; swap in one that fails.
  class Failing final : public issuer::Issuer {
  public:
    explicit Failing(ErrorKind kind) : m_kind(kind) {}
    std::string_view type() const override { return "failing"; }
    Result<issuer::IssuedCredential> issue(const issuer::IssueRequest& request) override {
      seen = request.state;
      return fail("down", {}, m_kind);
    }
    std::optional<std::string> seen;

  private:
    ErrorKind m_kind;
  };
  const auto run_failing = [&](ErrorKind kind) {
    auto jobs = engine->take_due();
    EXPECT_EQ(jobs.size(), 1u);
    auto plan = std::make_shared<CredentialPlan>(*jobs[0].plan);
    auto failing = std::make_shared<Failing>(kind);
    plan->issuer = failing;
    jobs[0].plan = plan;
    engine->complete(run_job(std::move(jobs[0]), engine->rotation_env()));
    return failing->seen;
  };
  EXPECT_EQ(run_failing(ErrorKind::retryable), "order-1");
  EXPECT_EQ(engine->status_of("a")->failures, 1);
  advance_to_deadline(*engine);
  EXPECT_EQ(run_failing(ErrorKind::permanent), "order-1") << "kept after a retryable error";
  advance_to_deadline(*engine);
  EXPECT_EQ(run_failing(ErrorKind::retryable), std::nullopt) << "cleared by the permanent one";
}

// ---- issuer state -----------------------------------------------------------------------------

TEST_F(LongIssuance, TheIssuerStateAndItsTimeSurviveARestart) {
  {
    auto engine = make_engine(one_credential());
    engine->start();
    run_due_scripted(*engine, {{issuer::NotYet{10min, ""}, std::string("ord\0er\xff", 7), {}}});
  }
  clock.advance(4min);
  auto engine = make_engine(one_credential());
  engine->start();
  EXPECT_TRUE(engine->take_due().empty()) << "asked again at its time, not at once";
  EXPECT_EQ(wait_of(*engine), 6min);
  advance_to_deadline(*engine);
  auto issuer = run_due_scripted(*engine, {});
  ASSERT_EQ(issuer->seen_states.size(), 1u);
  EXPECT_EQ(issuer->seen_states[0], std::string("ord\0er\xff", 7));
  EXPECT_EQ(engine->status_of("a")->state, schedule::State::valid);
}

TEST_F(LongIssuance, AnIssuerStateOverTheBoundIsRefusedAndNotKept) {
  auto engine = make_engine(one_credential());
  engine->start();
  const std::string huge(issuer::k_max_issuer_state + 1, 'x');
  run_due_scripted(*engine, {{issuer::NotYet{1min, ""}, huge, {}}});
  const auto status = engine->status_of("a");
  EXPECT_EQ(status->failures, 1);
  EXPECT_EQ(status->reason, "invalid-answer");
  EXPECT_EQ(status->state, schedule::State::needs_attention);
  EXPECT_EQ(status->last_error.find("xxxx"), std::string::npos) << status->last_error;
  advance_to_deadline(*engine);
  auto issuer = run_due_scripted(*engine, {});
  EXPECT_EQ(issuer->seen_states[0], std::nullopt);

  // Exactly at the bound is fine.
  ASSERT_TRUE(engine->request_rotation({"a"}).has_value());
  const std::string largest(issuer::k_max_issuer_state, 'y');
  run_due_scripted(*engine, {{std::nullopt, largest, {}}});
  EXPECT_EQ(engine->status_of("a")->failures, 0);
  ASSERT_TRUE(engine->request_rotation({"a"}).has_value());
  issuer = run_due_scripted(*engine, {});
  EXPECT_EQ(issuer->seen_states[0], largest) << "new state returned with a certificate is kept";
}

// ---- the pending request ---------------------------------------------------------------------

TEST_F(LongIssuance, TheSameKeyAndCsrGoAgainAfterNotYetAlsoAfterARestart) {
  const std::filesystem::path kept = dir / "state/pending/a.pem";
  std::string first_csr;
  {
    auto engine = make_engine(one_credential());
    engine->start();
    auto issuer = run_due_scripted(*engine, {{issuer::NotYet{1min, "approval"}, "req", {}}});
    first_csr = issuer->seen_csrs.at(0);
    struct stat st {};
    ASSERT_EQ(::stat(kept.c_str(), &st), 0) << "the pending request is kept";
    EXPECT_EQ(st.st_mode & 07777, 0600u);
    ASSERT_EQ(::stat(kept.parent_path().c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 07777, 0700u);
    advance_to_deadline(*engine);
    issuer = run_due_scripted(*engine, {{issuer::NotYet{1min, "approval"}, "req", {}}});
    EXPECT_EQ(issuer->seen_csrs.at(0), first_csr) << "the identical request, not a new key";
  }
  clock.advance(1min);
  auto engine = make_engine(one_credential());
  engine->start();
  auto issuer = run_due_scripted(*engine, {});
  EXPECT_EQ(issuer->seen_csrs.at(0), first_csr) << "the same request after a restart";
  ASSERT_EQ(engine->status_of("a")->state, schedule::State::valid);
  EXPECT_FALSE(std::filesystem::exists(kept)) << "forgotten once issued";
  // The installed key is the one of the kept request.
  auto csr = x509::parse_csr(first_csr);
  ASSERT_TRUE(csr.has_value());
  auto cert = x509::parse_certificate(*read_file(dir / "live/a/cert.pem"));
  ASSERT_TRUE(cert.has_value());
  EXPECT_EQ(EVP_PKEY_eq(csr->public_key.get(), X509_get0_pubkey(cert->get())), 1);
  for (const auto& e : sink.events) {
    EXPECT_EQ(e.message.find("PRIVATE KEY"), std::string::npos) << e.message;
  }
  // The next renewal is a new request with a new key.
  ASSERT_TRUE(engine->request_rotation({"a"}).has_value());
  issuer = run_due_scripted(*engine, {});
  EXPECT_FALSE(x509::same_request(issuer->seen_csrs.at(0), first_csr));
}

TEST_F(LongIssuance, ATransientFailureKeepsThePendingRequestAPermanentOneForgetsIt) {
  const std::filesystem::path kept = dir / "state/pending/a.pem";
  auto engine = make_engine(one_credential());
  engine->start();
  auto issuer = run_due_scripted(*engine, {{issuer::NotYet{1min, ""}, "req", {}}});
  const std::string first_csr = issuer->seen_csrs.at(0);
  advance_to_deadline(*engine);
  issuer = run_due_scripted(*engine, {{std::nullopt, std::nullopt, {}, ErrorKind::retryable}});
  EXPECT_TRUE(std::filesystem::exists(kept)) << "still pending at the issuer";
  advance_to_deadline(*engine);
  issuer = run_due_scripted(*engine, {{std::nullopt, std::nullopt, {}, ErrorKind::permanent}});
  EXPECT_EQ(issuer->seen_csrs.at(0), first_csr);
  EXPECT_FALSE(std::filesystem::exists(kept)) << "a permanent failure ends the request";
  advance_to_deadline(*engine);
  issuer = run_due_scripted(*engine, {});
  EXPECT_FALSE(x509::same_request(issuer->seen_csrs.at(0), first_csr)) << "a new request";
}

TEST_F(LongIssuance, ACertificateIsInstalledWhenThePendingRequestCannotBeRemoved) {
  const std::filesystem::path kept = dir / "state/pending/a.pem";
  auto engine = make_engine(one_credential());
  engine->start();
  const std::string first_csr =
      run_due_scripted(*engine, {{issuer::NotYet{1min, ""}, "req", {}}})->seen_csrs.at(0);
  advance_to_deadline(*engine);
  // Read already, the request cannot be removed once the issuer has answered: a folder in its
  // place.
  const auto block_removal = [&kept] {
    std::filesystem::remove(kept);
    std::filesystem::create_directories(kept / "x");
  };
  sink.events.clear();
  auto issuer = run_due_scripted(*engine,
                                 {{std::nullopt, std::nullopt, {}, std::nullopt, block_removal}});
  EXPECT_EQ(issuer->seen_csrs.at(0), first_csr);
  EXPECT_EQ(engine->status_of("a")->state, schedule::State::valid) << "the certificate is used";
  EXPECT_EQ(sink.count(EventKind::renew_failed), 0);
  EXPECT_EQ(sink.count(EventKind::renewed), 1);
  bool warned = false;
  for (const auto& e : sink.events) {
    if (e.severity == Severity::warning &&
        e.message.find("cannot remove the pending request") != std::string::npos) {
      warned = true;
    }
  }
  EXPECT_TRUE(warned) << "the failed clean-up is reported";
}

TEST_F(LongIssuance, APendingRequestForOtherNamesIsNotSentAgain) {
  const std::filesystem::path kept = dir / "state/pending/a.pem";
  std::string first_csr;
  {
    auto engine = make_engine(one_credential());
    engine->start();
    first_csr = run_due_scripted(*engine, {{issuer::NotYet{1min, ""}, "req", {}}})->seen_csrs.at(0);
  }
  // The operator changed the SANs meanwhile: what is asked now goes as a new request.
  std::string text = one_credential();
  const std::string sans = "[\"DNS:a.example\"]";
  text.replace(text.find(sans), sans.size(), "[\"DNS:a.example\", \"DNS:b.example\"]");
  clock.advance(1min);
  auto engine = make_engine(text);
  engine->start();
  auto issuer = run_due_scripted(*engine, {{issuer::NotYet{1min, ""}, "req", {}}});
  const std::string second_csr = issuer->seen_csrs.at(0);
  EXPECT_FALSE(x509::same_request(second_csr, first_csr));
  auto parsed = x509::parse_csr(second_csr);
  ASSERT_TRUE(parsed.has_value());
  EXPECT_EQ(parsed->request.sans.size(), 2u);
  EXPECT_TRUE(std::filesystem::exists(kept)) << "the new request is kept in its place";
  advance_to_deadline(*engine);
  EXPECT_EQ(run_due_scripted(*engine, {})->seen_csrs.at(0), second_csr);
}

TEST_F(LongIssuance, AnUnreadablePendingRequestIsReplacedByANewOne) {
  auto engine = make_engine(one_credential());
  engine->start();
  ASSERT_TRUE(make_dirs(dir / "state/pending", 0700).has_value());
  ASSERT_TRUE(write_file_atomic(dir / "state/pending/a.pem", "not a key\n", 0600).has_value());
  auto issuer = run_due_scripted(*engine, {});
  EXPECT_EQ(engine->status_of("a")->state, schedule::State::valid);
  EXPECT_FALSE(std::filesystem::exists(dir / "state/pending/a.pem"));
}

// ---- renewal windows --------------------------------------------------------------------------

TEST_F(LongIssuance, TheIssuersWindowPicksTheRenewalAndSurvivesARestart) {
  const SystemTime now = clock.wall_now();
  const issuer::RenewalWindow window{now + 10min, now + 12min};
  MonoTime deadline;
  {
    auto engine = make_engine(one_credential());
    engine->start();
    run_due_scripted(*engine, {{std::nullopt, std::nullopt, window}});
    // The lifetime fraction alone would say about 40 minutes.
    EXPECT_GE(wait_of(*engine), 10min);
    EXPECT_LT(wait_of(*engine), 12min);
    deadline = *engine->next_deadline();
  }
  auto engine = make_engine(one_credential());
  engine->start();
  EXPECT_EQ(*engine->next_deadline(), deadline) << "the same instant after a restart";
  // A new certificate without a window is scheduled by the policy again.
  advance_to_deadline(*engine);
  run_due_scripted(*engine, {});
  EXPECT_GT(wait_of(*engine), 30min);
}

TEST_F(LongIssuance, AWindowPastExpiryIsIgnored) {
  const SystemTime now = clock.wall_now();
  auto engine = make_engine(one_credential());
  engine->start();
  run_due_scripted(*engine,
                   {{std::nullopt, std::nullopt, issuer::RenewalWindow{now + 10min, now + 3h}}});
  EXPECT_GT(wait_of(*engine), 30min) << "the lifetime fraction, not the window";
}

}  // namespace
}  // namespace certrotd::engine
