// A key type the issuer asks for (Issuer::requested_key, EST /csrattrs) through the real rotation
// pipeline and the local CA: the engine makes that key, says why, validates the certificate
// against it, reuses a live key of that type, and resumes a pending request for it.
#include <gtest/gtest.h>

#include <deque>

#include "engine_fixture.hpp"
#include "support/test_support.hpp"
#include "x509/certificate.hpp"

namespace certrotd::engine {
namespace {

using testing::read_text;

// What the fake issuer asks for and saw, shared between the test and the issuers the engine
// builds.
struct Oracle {
  std::optional<x509::KeySpec> asked;
  int questions = 0;
  std::deque<bool> not_yet;  // front true: answer "not yet" to that issue_outcome
  std::vector<std::string> csrs;
};

class AskingIssuer final : public issuer::Issuer {
public:
  AskingIssuer(std::shared_ptr<issuer::Issuer> real, std::shared_ptr<Oracle> oracle)
      : m_real(std::move(real)), m_oracle(std::move(oracle)) {}
  std::string_view type() const override { return "asking"; }
  Result<issuer::IssuedCredential> issue(const issuer::IssueRequest& request) override {
    return m_real->issue(request);
  }
  Result<issuer::IssueOutcome> issue_outcome(const issuer::IssueRequest& request) override {
    m_oracle->csrs.push_back(request.csr_pem.value_or(""));
    const bool later = !m_oracle->not_yet.empty() && m_oracle->not_yet.front();
    if (!m_oracle->not_yet.empty()) m_oracle->not_yet.pop_front();
    if (later) return issuer::IssueOutcome{issuer::NotYet{std::nullopt, "held"}, "pending"};
    auto issued = m_real->issue(request);
    if (!issued) return tl::unexpected(issued.error());
    return issuer::IssueOutcome{std::move(*issued)};
  }
  Result<std::optional<RequestedKey>> requested_key(const issuer::IssueRequest&) override {
    ++m_oracle->questions;
    if (!m_oracle->asked) return std::optional<RequestedKey>{};
    return std::optional<RequestedKey>(RequestedKey{*m_oracle->asked, "the test server"});
  }

private:
  std::shared_ptr<issuer::Issuer> m_real;
  std::shared_ptr<Oracle> m_oracle;
};

const x509::KeySpec k_p384{x509::KeyType::ec, "P-384", 2048};
const x509::KeySpec k_p256{};

class RequestedKeyTest : public EngineFixture {
protected:
  void SetUp() override {
    init_ca(false);
    add_wrapped_local<AskingIssuer>("asking", oracle);
  }

  std::unique_ptr<Engine> make_engine(const std::string& key = "") {
    const std::string text =
        "state_dir: " + (dir / "state").string() +
        "\ndefaults:\n  backoff: { base: 10s, cap: 1m }\nissuers:\n  ca:\n    type: asking"
        "\n    ca_cert: " +
        (dir / "ca/ca.pem").string() + "\n    ca_key: " + (dir / "ca/ca.key").string() +
        "\n    lifetime: 1h\ncredentials:\n  a:\n    issuer: ca\n"
        "    sans: [\"DNS:a.example\"]\n    output: { dir: " +
        (dir / "live/a").string() + " }\n" + (key.empty() ? "" : "    key: " + key + "\n");
    auto engine = create_engine(text);
    engine->start();
    return engine;
  }

  void rotate_now(Engine& engine) {
    ASSERT_TRUE(engine.request_rotation({"a"}).has_value());
    run_due(engine);
  }

  // The type of the live key and of the key its certificate certifies, as read from the files.
  x509::KeySpec live_key() const {
    auto key = x509::parse_private_key(read_text(dir / "live/a/key.pem"));
    EXPECT_TRUE(key.has_value());
    return key ? key->spec() : x509::KeySpec{x509::KeyType::ed25519};
  }
  x509::KeySpec certified_key() const {
    auto cert = x509::parse_certificate(read_text(dir / "live/a/cert.pem"));
    EXPECT_TRUE(cert.has_value());
    return cert ? cert->info().public_key : x509::KeySpec{x509::KeyType::ed25519};
  }
  std::string serial() const {
    auto cert = x509::parse_certificate(read_text(dir / "live/a/cert.pem"));
    return cert ? cert->info().serial : std::string();
  }

  std::shared_ptr<Oracle> oracle = std::make_shared<Oracle>();
};

TEST_F(RequestedKeyTest, TheKeyTheIssuerAsksForIsMadeValidatedAndSaidOnce) {
  oracle->asked = k_p384;
  auto engine = make_engine();
  run_due(*engine);
  ASSERT_EQ(sink.count(EventKind::renew_failed), 0) << "the P-384 certificate validates";
  EXPECT_EQ(live_key(), k_p384);
  EXPECT_EQ(certified_key(), k_p384);
  EXPECT_EQ(oracle->questions, 1);
  const auto said = sink.of(EventKind::key_generated);
  ASSERT_EQ(said.size(), 1u);
  EXPECT_NE(
      said[0].message.find("the test server asks for an ec P-384 key; key: says ec P-256, so a new "
                           "ec P-384 key is made"),
      std::string::npos)
      << said[0].message;

  // Asked for nothing, the configured type comes back, and nothing is said.
  oracle->asked.reset();
  rotate_now(*engine);
  EXPECT_EQ(sink.count(EventKind::renew_failed), 0);
  EXPECT_EQ(live_key(), k_p256);
  EXPECT_EQ(sink.of(EventKind::key_generated).size(), 1u);
}

TEST_F(RequestedKeyTest, AskedForTheConfiguredTypeNothingIsSaid) {
  oracle->asked = k_p256;
  auto engine = make_engine();
  run_due(*engine);
  EXPECT_EQ(sink.count(EventKind::renew_failed), 0);
  EXPECT_EQ(live_key(), k_p256);
  EXPECT_TRUE(sink.of(EventKind::key_generated).empty());
}

TEST_F(RequestedKeyTest, WithReuseALiveKeyOfTheTypeAskedForIsKept) {
  oracle->asked = k_p384;
  auto engine = make_engine("{ reuse: true }");
  run_due(*engine);
  const std::string key_pem = read_text(dir / "live/a/key.pem");
  ASSERT_EQ(live_key(), k_p384);
  const std::string before = serial();
  rotate_now(*engine);
  EXPECT_EQ(sink.count(EventKind::renew_failed), 0);
  EXPECT_NE(serial(), before);
  EXPECT_EQ(read_text(dir / "live/a/key.pem"), key_pem) << "the live P-384 key is reused";
  EXPECT_TRUE(engine->status_of("a")->key_reuse);
  EXPECT_EQ(oracle->questions, 2);
  const auto said = sink.of(EventKind::key_generated);
  ASSERT_FALSE(said.empty());
  EXPECT_NE(said.back().message.find("so the live ec P-384 key is kept"), std::string::npos)
      << said.back().message;
}

TEST_F(RequestedKeyTest, APendingRequestForTheKeyAskedForGoesAgainAsItWas) {
  oracle->asked = k_p384;
  oracle->not_yet = {true};
  auto engine = make_engine();
  run_due(*engine);
  ASSERT_EQ(oracle->csrs.size(), 1u);
  EXPECT_EQ(oracle->questions, 1);
  advance_to_deadline(*engine);
  run_due(*engine);
  ASSERT_EQ(oracle->csrs.size(), 2u);
  EXPECT_EQ(oracle->csrs[1], oracle->csrs[0]) << "the same key and CSR go again";
  EXPECT_EQ(sink.count(EventKind::renew_failed), 0);
  EXPECT_EQ(live_key(), k_p384);
  EXPECT_EQ(sink.of(EventKind::key_generated).size(), 1u) << "said when the key was made";
}

TEST_F(RequestedKeyTest, APendingRequestForAKeyNoLongerAskedForIsReplaced) {
  oracle->asked = k_p384;
  oracle->not_yet = {true};
  auto engine = make_engine();
  run_due(*engine);
  ASSERT_EQ(oracle->csrs.size(), 1u);
  oracle->asked.reset();
  advance_to_deadline(*engine);
  run_due(*engine);
  ASSERT_EQ(oracle->csrs.size(), 2u);
  EXPECT_NE(oracle->csrs[1], oracle->csrs[0]);
  EXPECT_EQ(sink.count(EventKind::renew_failed), 0);
  EXPECT_EQ(live_key(), k_p256);
}

}  // namespace
}  // namespace certrotd::engine
