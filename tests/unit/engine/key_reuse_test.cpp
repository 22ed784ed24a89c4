// `key: { reuse: true }` through the real rotation pipeline and the local CA: the certificate is
// renewed for the live key, the state counts the renewals, a changed key type gets a new key.
#include <gtest/gtest.h>
#include <sys/stat.h>

#include "engine_fixture.hpp"
#include "support/test_support.hpp"
#include "util/files.hpp"
#include "x509/certificate.hpp"
#include "x509/csr.hpp"

namespace certrotd::engine {
namespace {

using testing::read_text;
using testing::write_text;
namespace fs = std::filesystem;

class KeyReuseTest : public EngineFixture {
protected:
  void SetUp() override { init_ca(false); }

  // One credential "a" with the `key:` and other lines given.
  config::Config load(const std::string& key, const std::string& extra = "") const {
    const std::string text =
        "state_dir: " + (dir / "state").string() +
        "\nissuers:\n  ca:\n    type: local\n    ca_cert: " + (dir / "ca/ca.pem").string() +
        "\n    ca_key: " + (dir / "ca/ca.key").string() +
        "\n    lifetime: 1h\ncredentials:\n  a:\n    issuer: ca\n"
        "    sans: [\"DNS:a.example\"]\n    output: { dir: " +
        (dir / "live/a").string() + " }\n" + (key.empty() ? "" : "    key: " + key + "\n") + extra;
    auto config = config::parse_config(text, "test.yaml", dir.path());
    EXPECT_TRUE(config.has_value()) << (config ? "" : config.error().what());
    return *config;
  }

  static void rotate_now(Engine& engine) {
    ASSERT_TRUE(engine.request_rotation({"a"}).has_value());
    auto jobs = engine.take_due();
    ASSERT_EQ(jobs.size(), 1u);
    engine.complete(run_job(std::move(jobs[0]), engine.rotation_env()));
  }

  // The public key (SPKI PEM) certified by the live cert.pem, as the openssl CLI reads it.
  std::string cert_spki() const {
    const auto r = testing::run_command(
        {"openssl", "x509", "-in", (dir / "live/a/cert.pem").string(), "-noout", "-pubkey"});
    EXPECT_EQ(r.exit_code, 0) << r.output;
    return r.exit_code == 0 ? r.output : std::string();
  }

  std::string serial() const {
    auto cert = x509::parse_certificate(read_text(dir / "live/a/cert.pem"));
    return cert ? cert->info().serial : std::string();
  }
};

TEST_F(KeyReuseTest, ARotationWithReuseKeepsThePublicKeyAndCountsTheRenewals) {
  auto engine = start(load("{ reuse: true }"));
  run_due(*engine);
  const std::string spki = cert_spki();
  ASSERT_FALSE(spki.empty());
  EXPECT_EQ(engine->status().front().key_renewals, 0);
  ASSERT_EQ(sink.of(EventKind::key_generated).size(), 1u) << "the first issuance says so";
  EXPECT_NE(sink.of(EventKind::key_generated)[0].message.find("no usable live key"),
            std::string::npos);

  for (int renewal = 1; renewal <= 2; ++renewal) {
    const std::string before = serial();
    rotate_now(*engine);
    EXPECT_NE(serial(), before) << "a new certificate";
    EXPECT_EQ(cert_spki(), spki) << "for the same key";
    EXPECT_TRUE(engine->status().front().key_reuse);
    EXPECT_EQ(engine->status().front().key_renewals, renewal);
  }
  EXPECT_EQ(sink.of(EventKind::key_generated).size(), 1u);
  EXPECT_TRUE(sink.of(EventKind::renew_failed).empty());

  // Persisted: a restart (and `status` from the files) still knows.
  engine.reset();
  auto restarted = start(load("{ reuse: true }"));
  EXPECT_EQ(restarted->status().front().key_renewals, 2);
  EXPECT_EQ(Engine::inspect(load("{ reuse: true }"), clock).front().key_renewals, 2);
}

TEST_F(KeyReuseTest, WithoutReuseEveryRotationMakesANewKey) {
  auto engine = start(load(""));
  run_due(*engine);
  const std::string spki = cert_spki();
  rotate_now(*engine);
  EXPECT_NE(cert_spki(), spki);
  EXPECT_FALSE(engine->status().front().key_reuse);
  EXPECT_EQ(engine->status().front().key_renewals, 0);
  EXPECT_TRUE(sink.of(EventKind::key_generated).empty()) << "nothing to say without reuse";
}

TEST_F(KeyReuseTest, ChangingTheKeyTypeGetsANewKeyAndStartsCountingAgain) {
  auto engine = start(load("{ type: ec, curve: P-256, reuse: true }"));
  run_due(*engine);
  rotate_now(*engine);
  const std::string spki = cert_spki();
  ASSERT_EQ(engine->status().front().key_renewals, 1);
  engine.reset();

  auto changed = start(load("{ type: ec, curve: P-384, reuse: true }"));
  rotate_now(*changed);
  EXPECT_NE(cert_spki(), spki);
  auto key = x509::parse_private_key(read_text(dir / "live/a/key.pem"));
  ASSERT_TRUE(key.has_value());
  EXPECT_EQ(key->spec().curve, "P-384");
  EXPECT_EQ(changed->status().front().key_renewals, 0);
  const auto generated = sink.of(EventKind::key_generated);
  ASSERT_EQ(generated.size(), 2u);
  EXPECT_NE(generated[1].message.find("the live key is ec P-256"), std::string::npos)
      << generated[1].message;

  rotate_now(*changed);
  EXPECT_EQ(changed->status().front().key_renewals, 1) << "the new key is reused from now on";
}

TEST_F(KeyReuseTest, AnEncryptedReusedKeyStaysEncryptedWithItsPassphraseAndMode) {
  const auto pass = dir / "key.pass";
  write_text(pass, "c0rrect horse\n");
  ::chmod(pass.c_str(), 0600);
  const std::string extra = "    key_passphrase_file: " + pass.string() + "\n";
  auto engine = start(load("{ reuse: true }", extra));
  run_due(*engine);
  const auto key_path = dir / "live/a/key.pem";
  struct stat before {};
  ASSERT_EQ(::stat(key_path.c_str(), &before), 0);
  const std::string spki = cert_spki();

  rotate_now(*engine);
  EXPECT_EQ(engine->status().front().key_renewals, 1);
  const std::string text = read_text(key_path);
  EXPECT_TRUE(text.starts_with("-----BEGIN ENCRYPTED PRIVATE KEY-----")) << text.substr(0, 40);
  EXPECT_FALSE(x509::parse_private_key(text).has_value()) << "opens only with the passphrase";
  auto key = x509::parse_private_key(text, "c0rrect horse");
  ASSERT_TRUE(key.has_value()) << key.error().what();
  EXPECT_EQ(key->public_key_pem(), spki);
  struct stat after {};
  ASSERT_EQ(::stat(key_path.c_str(), &after), 0);
  EXPECT_EQ(after.st_mode & 07777, before.st_mode & 07777);
  EXPECT_NE(after.st_ino, before.st_ino) << "a new version's file, not the old one rewritten";
}

// Signs what it is asked for with a key of its own: the certificate is for another key than
// the one the CSR was signed with.
class KeySwappingIssuer final : public issuer::Issuer {
public:
  explicit KeySwappingIssuer(std::shared_ptr<issuer::Issuer> real) : m_real(std::move(real)) {}
  std::string_view type() const override { return "swapping"; }
  Result<issuer::IssuedCredential> issue(const issuer::IssueRequest& request) override {
    auto other = x509::generate_key(request.key);
    if (!other) return fail(other.error());
    auto csr = x509::build_csr(*other, request.request);
    if (!csr) return fail(csr.error());
    issuer::IssueRequest swapped = request;
    swapped.csr_pem = std::move(*csr);
    return m_real->issue(swapped);
  }

private:
  std::shared_ptr<issuer::Issuer> m_real;
};

TEST_F(KeyReuseTest, ACertificateForAnotherKeyThanTheReusedOneIsRejected) {
  auto engine = start(load("{ reuse: true }"));
  run_due(*engine);
  const std::string spki = cert_spki();
  const std::string first = serial();
  ASSERT_TRUE(engine->request_rotation({"a"}).has_value());
  auto jobs = engine->take_due();
  ASSERT_EQ(jobs.size(), 1u);
  auto plan = std::make_shared<CredentialPlan>(*jobs[0].plan);
  plan->issuer = std::make_shared<KeySwappingIssuer>(plan->issuer);
  jobs[0].plan = plan;
  engine->complete(run_job(std::move(jobs[0]), engine->rotation_env()));

  EXPECT_EQ(serial(), first) << "the old credential is kept";
  EXPECT_EQ(cert_spki(), spki);
  const auto status = engine->status().front();
  EXPECT_EQ(status.failures, 1);
  EXPECT_NE(status.last_error.find("does not match the private key"), std::string::npos)
      << status.last_error;
  EXPECT_EQ(status.key_renewals, 0);
}

TEST_F(KeyReuseTest, ARollbackRestoresTheMatchingPair) {
  // Without reuse each version has its own key: a rollback that mixed them would not load.
  auto engine = start(load(""));
  run_due(*engine);
  const std::string first_spki = cert_spki();
  const std::string first_key = read_text(dir / "live/a/key.pem");
  rotate_now(*engine);
  ASSERT_NE(cert_spki(), first_spki);
  ASSERT_TRUE(engine->rollback("a").has_value());

  EXPECT_EQ(cert_spki(), first_spki);
  EXPECT_EQ(read_text(dir / "live/a/key.pem"), first_key);
  const config::Config config = load("");
  auto live = read_live(config.credentials.front());
  ASSERT_TRUE(live.has_value()) << live.error().what();
  EXPECT_TRUE(live->has_value()) << "key.pem fits cert.pem";
}

}  // namespace
}  // namespace certrotd::engine
