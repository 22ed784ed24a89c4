// The engine's side of issuer upkeep (Issuer::upkeep): when it calls an issuer's housekeeping,
// what it makes of the answers and errors, what survives a restart, and how a changed CA bundle
// reaches ca.pem. The issuer is the local CA behind a fake that answers upkeep() from a script;
// jobs run synchronously through run_job() and time moves only with the ManualClock.
#include <gtest/gtest.h>

#include <deque>

#include "engine_fixture.hpp"
#include "util/files.hpp"

namespace certrotd::engine {
namespace {

using namespace std::chrono_literals;

// What the fake issuer answers, shared between the test and every issuer the engine builds.
struct Oracle {
  issuer::UpkeepMode mode = issuer::UpkeepMode::when_due;
  // By credential; none left: nothing done, next in 1 h.
  std::map<std::string, std::deque<Result<issuer::UpkeepOutcome>>> answers;
  std::optional<Millis> issue_upkeep_after;  // sent along with each certificate
  std::vector<issuer::UpkeepRequest> asked;
};

class UpkeepIssuer final : public issuer::Issuer {
public:
  UpkeepIssuer(std::shared_ptr<issuer::Issuer> real, std::shared_ptr<Oracle> oracle)
      : m_real(std::move(real)), m_oracle(std::move(oracle)) {}
  std::string_view type() const override { return "upkept"; }
  Result<issuer::IssuedCredential> issue(const issuer::IssueRequest& request) override {
    return m_real->issue(request);
  }
  Result<issuer::IssueOutcome> issue_outcome(const issuer::IssueRequest& request) override {
    auto issued = m_real->issue(request);
    if (!issued) return fail(issued.error());
    issuer::IssueOutcome outcome{std::move(*issued), "kept"};
    outcome.upkeep_after = m_oracle->issue_upkeep_after;
    return outcome;
  }
  issuer::UpkeepMode upkeep_mode() const override { return m_oracle->mode; }
  Result<issuer::UpkeepOutcome> upkeep(const issuer::UpkeepRequest& request) override {
    m_oracle->asked.push_back(request);
    auto& queue = m_oracle->answers[request.credential];
    if (queue.empty()) return issuer::UpkeepOutcome{std::nullopt, request.state, 1h};
    auto answer = std::move(queue.front());
    queue.pop_front();
    return answer;
  }

private:
  std::shared_ptr<issuer::Issuer> m_real;
  std::shared_ptr<Oracle> m_oracle;
};

class UpkeepTest : public EngineFixture {
protected:
  void SetUp() override {
    init_ca(true);
    issuer::CaInitOptions other;
    other.dir = dir / "other";
    ASSERT_TRUE(issuer::init_ca(other, clock, random).has_value());
    add_wrapped_local<UpkeepIssuer>("upkept", oracle);
  }

  std::string credential_text(const std::string& name) const {
    return "  " + name + ":\n    issuer: ca\n    subject: { common_name: " + name +
           ".example }\n    sans: [\"DNS:" + name +
           ".example\"]\n    usage: [clientAuth]\n    output: { dir: " +
           (dir / "live" / name).string() + (name == "a" ? a_copies : "") + " }\n";
  }

  std::string config_text(const std::string& type) const {
    return "state_dir: " + (dir / "state").string() +
           "\ndefaults:\n  backoff: { base: 10s, cap: 1m }\nissuers:\n  ca:\n    type: " + type +
           "\n    ca_cert: " + (dir / "ca/intermediate.pem").string() +
           "\n    ca_key: " + (dir / "ca/intermediate.key").string() +
           "\n    roots: " + (dir / "ca/ca.pem").string() + "\n    lifetime: 48h\ncredentials:\n" +
           credential_text("a") + credential_text("b");
  }

  std::unique_ptr<Engine> make_engine(const std::string& type = "upkept") {
    return create_engine(config_text(type));
  }

  // Runs the due jobs; returns their kinds by credential.
  std::map<std::string, JobKind> run_due(Engine& engine) {
    std::map<std::string, JobKind> kinds;
    for (auto& job : engine.take_due()) {
      kinds[job.name] = job.kind;
      engine.complete(run_job(std::move(job), engine.rotation_env()));
    }
    return kinds;
  }

  // A started engine with both certificates issued, each naming its next upkeep in 2 h.
  std::unique_ptr<Engine> issued_engine() {
    oracle->issue_upkeep_after = 2h;
    auto engine = make_engine();
    engine->start();
    const auto kinds = run_due(*engine);
    EXPECT_EQ(kinds.size(), 2u);
    EXPECT_EQ(kinds.at("a"), JobKind::rotate) << "a missing certificate first";
    return engine;
  }

  void advance(Millis by) { clock.advance(by); }

  std::string ca_text(const std::string& name) const {
    return read_file(dir / "live" / name / "ca.pem").value_or("?");
  }

  std::shared_ptr<Oracle> oracle = std::make_shared<Oracle>();
  std::string a_copies;  // ", copies: [...]" in the output of credential a
};

TEST_F(UpkeepTest, AnIssuerWithoutUpkeepIsNeverCalledAndAddsNoWakeUps) {
  oracle->mode = issuer::UpkeepMode::none;
  oracle->issue_upkeep_after = 1min;
  auto engine = make_engine();
  engine->start();
  run_due(*engine);
  const auto status = engine->status_of("a");
  EXPECT_EQ(wait_of(*engine),
            std::chrono::duration_cast<Millis>(*status->next_attempt - clock.wall_now()))
      << "the only deadline is the renewal";
  advance(2min);
  EXPECT_TRUE(engine->take_due().empty());
  EXPECT_TRUE(oracle->asked.empty());
}

TEST_F(UpkeepTest, TheTimeAnIssuanceNamesIsTheNextWakeUpAndTheAnswerNamesTheOneAfter) {
  auto engine = issued_engine();
  EXPECT_TRUE(oracle->asked.empty()) << "the issuance named its upkeep time: not called at once";
  EXPECT_EQ(wait_of(*engine), Millis(2h)) << "no wake-up before the upkeep is due";
  advance(2h - 1s);
  EXPECT_TRUE(engine->take_due().empty());
  advance(1s);
  oracle->answers["a"].push_back(issuer::UpkeepOutcome{std::nullopt, "kept-2", 30min, "tidied"});
  oracle->answers["b"].push_back(issuer::UpkeepOutcome{std::nullopt, "kept-b", 30min, ""});
  auto jobs = engine->take_due();
  ASSERT_EQ(jobs.size(), 2u);
  EXPECT_EQ(jobs[0].kind, JobKind::upkeep);
  EXPECT_TRUE(oracle->asked.empty()) << "the upkeep runs in the job, not in take_due()";
  EXPECT_EQ(engine->status_of("a")->state, schedule::State::valid) << "upkeep is not renewing";
  for (auto& job : jobs) engine->complete(run_job(std::move(job), engine->rotation_env()));
  ASSERT_EQ(oracle->asked.size(), 2u);
  EXPECT_EQ(oracle->asked[0].state, "kept") << "the issuer's kept state is handed over";
  ASSERT_TRUE(oracle->asked[0].current.has_value()) << "with the live credential";
  EXPECT_EQ(oracle->asked[0].ca.size(), 1u) << "and the roots of its ca.pem";
  ASSERT_EQ(sink.of(EventKind::upkeep).size(), 2u) << "one upkeep event per credential";
  for (const auto& event : sink.of(EventKind::upkeep)) {
    // An upkeep that did nothing is no news.
    EXPECT_EQ(event.severity, event.credential == "a" ? Severity::info : Severity::debug);
  }
  EXPECT_EQ(wait_of(*engine), Millis(30min));
  // The state the upkeep returned is what the next rotation is handed.
  EXPECT_TRUE(engine->request_rotation({"a"}).has_value());
  auto rotation = engine->take_due();
  ASSERT_EQ(rotation.size(), 1u);
  EXPECT_EQ(rotation[0].issuer_state, "kept-2");
}

TEST_F(UpkeepTest, WithoutATimeNamedNothingIsDueAndAtStartItIsDueAtOnce) {
  oracle->issue_upkeep_after = std::nullopt;
  auto engine = make_engine();
  engine->start();
  // Due at once at the first start, but the missing certificates come first.
  auto kinds = run_due(*engine);
  EXPECT_EQ(kinds.at("a"), JobKind::rotate);
  oracle->answers["a"].push_back(issuer::UpkeepOutcome{std::nullopt, "kept", std::nullopt});
  oracle->answers["b"].push_back(issuer::UpkeepOutcome{std::nullopt, "kept", std::nullopt});
  kinds = run_due(*engine);
  EXPECT_EQ(kinds.at("a"), JobKind::upkeep) << "then the upkeep that was due since start-up";
  EXPECT_EQ(oracle->asked.size(), 2u);
  // No time named: not again until an issuance names one.
  advance(12h);
  EXPECT_TRUE(engine->take_due().empty());
  EXPECT_EQ(oracle->asked.size(), 2u);
  // The next issuance that names a time brings it back.
  oracle->issue_upkeep_after = 5min;
  ASSERT_TRUE(engine->request_rotation({"a"}).has_value());
  EXPECT_EQ(run_due(*engine).at("a"), JobKind::rotate);
  EXPECT_EQ(wait_of(*engine), Millis(5min));
  advance(5min);
  EXPECT_EQ(run_due(*engine).at("a"), JobKind::upkeep);
}

TEST_F(UpkeepTest, ErrorsBackOffForTheOneCredentialAndNeverTouchItsRenewal) {
  auto engine = issued_engine();
  const auto renewal = engine->status_of("a")->next_attempt;
  advance(2h);
  oracle->answers["a"].push_back(fail_retryable("server busy"));
  oracle->answers["b"].push_back(issuer::UpkeepOutcome{std::nullopt, "kept", 1h, "fine"});
  EXPECT_EQ(run_due(*engine).size(), 2u);
  const auto failed = sink.of(EventKind::upkeep_failed);
  ASSERT_EQ(failed.size(), 1u);
  EXPECT_EQ(failed[0].severity, Severity::warning);
  EXPECT_NE(failed[0].message.find("server busy"), std::string::npos);
  EXPECT_NE(failed[0].message.find("attempt 1"), std::string::npos);
  const auto a = engine->status_of("a");
  EXPECT_EQ(a->next_attempt, renewal) << "upkeep trouble moves no renewal";
  EXPECT_EQ(a->failures, 0) << "and counts as no rotation failure";
  EXPECT_EQ(a->state, schedule::State::valid);
  EXPECT_EQ(sink.of(EventKind::upkeep).size(), 1u) << "the other credential went on";
  // Retried with the credential's backoff (base 10 s), well before the hour b waits.
  EXPECT_LE(wait_of(*engine), Millis(10s));
  advance(wait_of(*engine));
  oracle->answers["a"].push_back(fail_retryable("still busy"));
  EXPECT_EQ(run_due(*engine).at("a"), JobKind::upkeep);
  EXPECT_NE(sink.of(EventKind::upkeep_failed).back().message.find("attempt 2"), std::string::npos);
  EXPECT_EQ(engine->status_of("a")->next_attempt, renewal);
}

TEST_F(UpkeepTest, TheNextTimeAndTheFailuresSurviveARestart) {
  {
    auto engine = issued_engine();
    advance(2h);
    oracle->answers["a"].push_back(fail_retryable("down"));
    oracle->answers["b"].push_back(issuer::UpkeepOutcome{std::nullopt, "kept", 3h, "done"});
    run_due(*engine);
  }
  auto state = store::StateFiles(dir / "state").load("b");
  ASSERT_TRUE(state.has_value());
  ASSERT_TRUE(state->upkeep_next.has_value());
  EXPECT_LT(std::chrono::abs(*state->upkeep_next - (clock.wall_now() + 3h)), 1s);
  auto failed = store::StateFiles(dir / "state").load("a");
  EXPECT_EQ(failed->upkeep_failures, 1);
  auto engine = make_engine();
  engine->start();
  EXPECT_GT(wait_of(*engine), Millis(0)) << "a restart calls nothing that is not due";
  advance(wait_of(*engine));
  oracle->answers["a"].push_back(fail_retryable("down again"));
  EXPECT_EQ(run_due(*engine).at("a"), JobKind::upkeep);
  EXPECT_NE(sink.of(EventKind::upkeep_failed).back().message.find("attempt 2"), std::string::npos)
      << "the count went on from the state file";
}

TEST_F(UpkeepTest, AnIssuerThatAsksForItIsCalledAtEveryStart) {
  { auto engine = issued_engine(); }
  oracle->mode = issuer::UpkeepMode::also_at_start;
  auto engine = make_engine();
  engine->start();
  const auto kinds = run_due(*engine);
  ASSERT_EQ(kinds.size(), 2u) << "although the next upkeep was persisted for 2 h from now";
  EXPECT_EQ(kinds.at("a"), JobKind::upkeep);
}

TEST_F(UpkeepTest, NewRootsGoIntoTheLiveCaPemAndTheVersionStaysTheSame) {
  auto engine = issued_engine();
  const std::string before = ca_text("a");
  const auto serial = engine->status_of("a")->cert->serial;
  auto roots = x509::parse_certificates(before + *read_file(dir / "other/ca.pem"));
  ASSERT_TRUE(roots.has_value());
  advance(2h);
  oracle->answers["a"].push_back(issuer::UpkeepOutcome{*roots, "kept", 1h, "added a root"});
  oracle->answers["b"].push_back(issuer::UpkeepOutcome{std::nullopt, "kept", 1h, ""});
  run_due(*engine);
  EXPECT_EQ(ca_text("a"), x509::to_pem(*roots)) << "ca.pem holds both roots now";
  EXPECT_EQ(ca_text("b"), before) << "the other credential's is untouched";
  EXPECT_EQ(engine->status_of("a")->cert->serial, serial) << "no new certificate";
  auto cert = read_file(dir / "live/a/cert.pem");
  EXPECT_EQ(engine->on_disk_changed("a"), DiskCheck::settled);
  EXPECT_TRUE(engine->take_due().empty()) << "the rewrite is no replacement to adopt";
  EXPECT_EQ(*read_file(dir / "live/a/cert.pem"), *cert);
}

TEST_F(UpkeepTest, ACopyOfNewRootsThatFailsIsRetriedFromTheLiveVersion) {
  const auto copy = dir / "copies/a-ca.pem";
  a_copies = ", copies: [{ path: " + copy.string() + ", content: ca }]";
  ASSERT_TRUE(make_dirs(dir / "copies", 0755).has_value());
  auto engine = issued_engine();
  const auto count_a = [this](EventKind kind) {
    int n = 0;
    for (const auto& e : sink.of(kind)) n += e.credential == "a" ? 1 : 0;
    return n;
  };
  const std::string before = ca_text("a");
  ASSERT_EQ(read_file(copy).value_or("?"), before);
  auto roots = x509::parse_certificates(before + *read_file(dir / "other/ca.pem"));
  ASSERT_TRUE(roots.has_value());
  // A file where the copy's folder should be.
  std::filesystem::remove_all(dir / "copies");
  ASSERT_TRUE(write_file_atomic(dir / "copies", "not a folder", 0644).has_value());
  advance(2h);
  oracle->answers["a"].push_back(issuer::UpkeepOutcome{*roots, "kept", 1h, "added a root"});
  run_due(*engine);
  EXPECT_EQ(ca_text("a"), x509::to_pem(*roots)) << "the live ca.pem is updated";
  EXPECT_EQ(count_a(EventKind::upkeep), 1) << "the upkeep itself succeeded";
  EXPECT_EQ(count_a(EventKind::upkeep_failed), 0);
  EXPECT_EQ(count_a(EventKind::copy_failed), 1);
  auto status = engine->status_of("a");
  EXPECT_EQ(status->failures, 1);
  EXPECT_NE(status->last_error.find("a copy is missing"), std::string::npos) << status->last_error;

  std::filesystem::remove(dir / "copies");
  ASSERT_TRUE(make_dirs(dir / "copies", 0755).has_value());
  advance_to_deadline(*engine);
  const auto kinds = run_due(*engine);
  ASSERT_EQ(kinds.count("a"), 1u);
  EXPECT_EQ(kinds.at("a"), JobKind::copies) << "the copy is retried, not the upkeep";
  EXPECT_EQ(read_file(copy).value_or("?"), x509::to_pem(*roots));
  EXPECT_EQ(count_a(EventKind::copies_written), 1);
  EXPECT_EQ(engine->status_of("a")->failures, 0);
}

}  // namespace
}  // namespace certrotd::engine
