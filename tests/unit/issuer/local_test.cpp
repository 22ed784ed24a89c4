#include <gtest/gtest.h>

#include "issuer/local/ca_init.hpp"
#include "issuer/local/local.hpp"
#include "unit/x509/x509_test_util.hpp"
#include "x509/csr.hpp"
#include "x509/verify.hpp"

namespace certrotd::issuer {
namespace {

using namespace std::chrono_literals;
using testing::contains;
using testing::openssl;
using testing::value_of;
using x509::ExtendedUsage;
using x509::San;
using x509::SanType;

class LocalIssuerTest : public ::testing::Test {
protected:
  LocalIssuerTest() {
    CaInitOptions ca;
    ca.dir = m_dir / "ca";
    ca.intermediate = true;
    m_ca = value_of(init_ca(ca, m_clock, m_random), "ca init");
    m_root = value_of(x509::parse_certificate(testing::read_text(m_ca.ca_cert)));
    m_intermediate = value_of(x509::parse_certificate(testing::read_text(m_ca.intermediate_cert)));
  }

  LocalIssuerOptions root_options() const {
    LocalIssuerOptions o;
    o.ca_cert = m_ca.ca_cert;
    o.ca_key = m_ca.ca_key;
    return o;
  }

  // A request as the engine would send it: the configured names and a CSR built from them.
  IssueRequest request_for(const x509::CertificateRequest& names,
                           std::optional<Millis> lifetime = {}) {
    IssueRequest r;
    r.credential = "web";
    r.request = names;
    r.csr_pem = value_of(x509::build_csr(m_key, names), "csr");
    r.lifetime = lifetime;
    return r;
  }

  static x509::CertificateRequest web_names() {
    return testing::named("web.example",
                          {{SanType::dns, "web.example"},
                           {SanType::ip, "10.0.0.5"},
                           {SanType::uri, "spiffe://td/ns/web"}},
                          {ExtendedUsage::server_auth, ExtendedUsage::client_auth});
  }

  std::unique_ptr<LocalIssuer> create(const LocalIssuerOptions& options) {
    return value_of(LocalIssuer::create(options, m_clock, m_random), "create");
  }

  std::string write(const std::string& name, const std::string& text) {
    testing::write_text(m_dir / name, text);
    return (m_dir / name).string();
  }

  testing::TempDir m_dir;
  ManualClock m_clock{testing::test_time()};
  SeededRandom m_random{5};
  CaInitResult m_ca;
  std::optional<x509::Certificate> m_root;
  std::optional<x509::Certificate> m_intermediate;
  x509::PrivateKey m_key = value_of(x509::generate_key(x509::KeySpec{}));
};

TEST_F(LocalIssuerTest, IssuesACertificateWhoseNamesAndUsagesMatchTheCsr) {
  m_clock.advance(1h);
  auto issuer = create(root_options());
  EXPECT_EQ(issuer->type(), "local");
  EXPECT_FALSE(issuer->generates_keys());

  const auto issued = issuer->issue(request_for(web_names()));
  ASSERT_TRUE(issued) << issued.error().what();
  ASSERT_EQ(issued->chain.size(), 1u);
  EXPECT_FALSE(issued->key);
  ASSERT_EQ(issued->ca.size(), 1u);
  EXPECT_TRUE(issued->ca[0].same_as(*m_root));

  const auto& leaf = issued->chain[0];
  EXPECT_TRUE(x509::key_matches(m_key, leaf));
  EXPECT_EQ(leaf.info().common_name, "web.example");
  EXPECT_EQ(leaf.info().sans, web_names().sans);
  EXPECT_EQ(leaf.info().usages, web_names().usages);
  EXPECT_FALSE(leaf.info().is_ca);
  EXPECT_EQ(leaf.info().issuer, m_root->info().subject);

  const auto ok = x509::verify_chain(leaf, {}, issued->ca,
                                     {m_clock.wall_now(), ExtendedUsage::server_auth});
  EXPECT_TRUE(ok) << ok.error().what();

  testing::write_text(m_dir / "leaf.pem", x509::to_pem(issued->chain));
  const auto cli = openssl({"verify", "-attime", testing::epoch_seconds(m_clock.wall_now()),
                            "-purpose", "sslserver", "-CAfile", m_ca.ca_cert.string(),
                            (m_dir / "leaf.pem").string()});
  EXPECT_EQ(cli.exit_code, 0) << cli.output;
  const auto text = openssl({"x509", "-in", (m_dir / "leaf.pem").string(), "-noout", "-text"});
  EXPECT_TRUE(contains(text.output, "DNS:web.example, IP Address:10.0.0.5, URI:spiffe://td/ns/web"))
      << text.output;
  EXPECT_TRUE(contains(text.output, "TLS Web Server Authentication, TLS Web Client Authentication"))
      << text.output;
}

TEST_F(LocalIssuerTest, ARequestThatNamesNothingGetsWhatItsCsrAsks) {
  auto issuer = create(root_options());
  IssueRequest r;
  r.credential = "bare";
  r.csr_pem = value_of(x509::build_csr(m_key, web_names()));
  const auto issued = issuer->issue(r);
  ASSERT_TRUE(issued) << issued.error().what();
  EXPECT_EQ(issued->chain[0].info().sans, web_names().sans);
  EXPECT_EQ(issued->chain[0].info().usages, web_names().usages);
}

TEST_F(LocalIssuerTest, LifetimeIsTheWishCappedAtTheConfiguredLimit) {
  auto options = root_options();
  options.lifetime = 24h;
  auto issuer = create(options);

  const auto longer = issuer->issue(request_for(web_names(), 48h));
  ASSERT_TRUE(longer) << longer.error().what();
  const auto& capped = longer->chain[0].info();
  EXPECT_EQ(capped.not_after - capped.not_before, 24h);

  const auto shorter = issuer->issue(request_for(web_names(), 1h));
  ASSERT_TRUE(shorter) << shorter.error().what();
  const auto& wished = shorter->chain[0].info();
  EXPECT_EQ(wished.not_after - wished.not_before, 1h);

  const auto unset = issuer->issue(request_for(web_names()));
  ASSERT_TRUE(unset) << unset.error().what();
  EXPECT_EQ(unset->chain[0].info().not_after - unset->chain[0].info().not_before, 24h);
}

TEST_F(LocalIssuerTest, NotBeforeIsBackdatedByTheConfiguredAmount) {
  auto options = root_options();
  options.lifetime = 24h;
  options.backdate = 5min;
  auto issuer = create(options);
  const auto issued = issuer->issue(request_for(web_names()));
  ASSERT_TRUE(issued) << issued.error().what();
  EXPECT_EQ(issued->chain[0].info().not_before, m_clock.wall_now() - 5min);
}

TEST_F(LocalIssuerTest, BackdateIsCappedAtATenthOfTheLifetime) {
  auto options = root_options();
  options.lifetime = 24h;
  options.backdate = 1h;
  auto issuer = create(options);
  const auto issued = issuer->issue(request_for(web_names(), 10min));
  ASSERT_TRUE(issued) << issued.error().what();
  EXPECT_EQ(issued->chain[0].info().not_before, m_clock.wall_now() - 1min);
  EXPECT_EQ(issued->chain[0].info().not_after, m_clock.wall_now() + 9min);
}

TEST_F(LocalIssuerTest, ACertificateNeverOutlivesItsCa) {
  auto options = root_options();
  options.lifetime = 24h * 365 * 20;
  auto issuer = create(options);
  const auto issued = issuer->issue(request_for(web_names()));
  ASSERT_TRUE(issued) << issued.error().what();
  EXPECT_EQ(issued->chain[0].info().not_after, m_root->info().not_after);
}

TEST_F(LocalIssuerTest, ACsrWithABadSignatureIsAPermanentError) {
  auto issuer = create(root_options());
  auto request = request_for(web_names());
  request.csr_pem = testing::csr_with_bad_signature(*request.csr_pem);
  const auto issued = issuer->issue(request);
  ASSERT_FALSE(issued);
  EXPECT_FALSE(issued.error().retryable());
  EXPECT_TRUE(contains(issued.error().message, "signature does not verify"))
      << issued.error().what();
  EXPECT_EQ(issued.error().context, "web");
}

TEST_F(LocalIssuerTest, ARequestWithoutACsrIsAPermanentError) {
  auto issuer = create(root_options());
  auto request = request_for(web_names());
  request.csr_pem.reset();
  const auto issued = issuer->issue(request);
  ASSERT_FALSE(issued);
  EXPECT_FALSE(issued.error().retryable());
}

TEST_F(LocalIssuerTest, WorksWithAnEncryptedCaKeyAndAPassphraseFile) {
  const auto key = value_of(x509::parse_private_key(testing::read_text(m_ca.ca_key)));
  auto options = root_options();
  options.ca_key = write("ca-encrypted.key", value_of(key.to_pkcs8_pem("correct horse")));
  options.ca_key_passphrase_file = write("passphrase", "correct horse\n");

  auto issuer = create(options);
  const auto issued = issuer->issue(request_for(web_names()));
  ASSERT_TRUE(issued) << issued.error().what();
  const auto ok = x509::verify_chain(issued->chain[0], {}, issued->ca,
                                     {m_clock.wall_now(), std::nullopt});
  EXPECT_TRUE(ok) << ok.error().what();
}

TEST_F(LocalIssuerTest, AWrongOrMissingPassphraseIsReportedWithoutRevealingIt) {
  const auto key = value_of(x509::parse_private_key(testing::read_text(m_ca.ca_key)));
  auto options = root_options();
  options.ca_key = write("ca-encrypted.key", value_of(key.to_pkcs8_pem("correct horse")));

  const auto missing = LocalIssuer::create(options, m_clock, m_random);
  ASSERT_FALSE(missing);
  EXPECT_TRUE(contains(missing.error().message, "no passphrase")) << missing.error().what();

  options.ca_key_passphrase_file = write("passphrase", "battery staple\n");
  const auto wrong = LocalIssuer::create(options, m_clock, m_random);
  ASSERT_FALSE(wrong);
  EXPECT_TRUE(contains(wrong.error().message, "wrong passphrase")) << wrong.error().what();
  EXPECT_FALSE(contains(wrong.error().what(), "battery")) << wrong.error().what();
  EXPECT_EQ(wrong.error().context, options.ca_key.string());

  options.ca_key_passphrase_file = write("empty", "\n");
  EXPECT_FALSE(LocalIssuer::create(options, m_clock, m_random));
}

TEST_F(LocalIssuerTest, WithTheIntermediateTheChainIsLeafThenIntermediateAndVerifiesToTheRoot) {
  LocalIssuerOptions options;
  options.ca_cert = m_ca.intermediate_cert;
  options.ca_key = m_ca.intermediate_key;
  options.roots = m_ca.ca_cert;
  auto issuer = create(options);

  const auto issued = issuer->issue(request_for(web_names()));
  ASSERT_TRUE(issued) << issued.error().what();
  ASSERT_EQ(issued->chain.size(), 2u);
  EXPECT_EQ(issued->chain[0].info().issuer, m_intermediate->info().subject);
  EXPECT_TRUE(issued->chain[1].same_as(*m_intermediate));
  ASSERT_EQ(issued->ca.size(), 1u);
  EXPECT_TRUE(issued->ca[0].same_as(*m_root));

  const std::span<const x509::Certificate> rest(issued->chain.begin() + 1, issued->chain.end());
  const auto ok = x509::verify_chain(issued->chain[0], rest, issued->ca,
                                     {m_clock.wall_now(), ExtendedUsage::server_auth});
  EXPECT_TRUE(ok) << ok.error().what();

  testing::write_text(m_dir / "leaf.pem", issued->chain[0].to_pem());
  testing::write_text(m_dir / "untrusted.pem", issued->chain[1].to_pem());
  const auto cli = openssl({"verify", "-attime", testing::epoch_seconds(m_clock.wall_now()),
                            "-CAfile", m_ca.ca_cert.string(), "-untrusted",
                            (m_dir / "untrusted.pem").string(), (m_dir / "leaf.pem").string()});
  EXPECT_EQ(cli.exit_code, 0) << cli.output;
}

TEST_F(LocalIssuerTest, TheIntermediateListedAsChainIsNotSentTwice) {
  LocalIssuerOptions options;
  options.ca_cert = m_ca.intermediate_cert;
  options.ca_key = m_ca.intermediate_key;
  options.chain = m_ca.intermediate_cert;
  options.roots = m_ca.ca_cert;
  auto issuer = create(options);
  const auto issued = issuer->issue(request_for(web_names()));
  ASSERT_TRUE(issued) << issued.error().what();
  EXPECT_EQ(issued->chain.size(), 2u);
}

TEST_F(LocalIssuerTest, AnIntermediateWithoutRootsIsRejected) {
  LocalIssuerOptions options;
  options.ca_cert = m_ca.intermediate_cert;
  options.ca_key = m_ca.intermediate_key;
  const auto created = LocalIssuer::create(options, m_clock, m_random);
  ASSERT_FALSE(created);
  EXPECT_TRUE(contains(created.error().message, "roots")) << created.error().what();
}

TEST_F(LocalIssuerTest, RootsThatDoNotMatchTheCaAreRejected) {
  SeededRandom other_random(77);
  const auto other = testing::make_root(other_random, m_clock.wall_now() - 1h,
                                        m_clock.wall_now() + 24h, "Other Root");
  LocalIssuerOptions options;
  options.ca_cert = m_ca.intermediate_cert;
  options.ca_key = m_ca.intermediate_key;
  options.roots = write("other-root.pem", other.cert.to_pem());
  const auto created = LocalIssuer::create(options, m_clock, m_random);
  ASSERT_FALSE(created);
  EXPECT_TRUE(contains(created.error().message, "unable to get local issuer certificate"))
      << created.error().what();
}

TEST_F(LocalIssuerTest, AKeyThatDoesNotBelongToTheCaIsRejected) {
  auto options = root_options();
  options.ca_key = m_ca.intermediate_key;
  const auto created = LocalIssuer::create(options, m_clock, m_random);
  ASSERT_FALSE(created);
  EXPECT_TRUE(contains(created.error().message, "does not belong")) << created.error().what();
}

TEST_F(LocalIssuerTest, ALeafCertificateCannotBeTheCa) {
  auto issuer = create(root_options());
  const auto issued = issuer->issue(request_for(web_names()));
  ASSERT_TRUE(issued) << issued.error().what();
  LocalIssuerOptions options;
  options.ca_cert = write("leaf.pem", issued->chain[0].to_pem());
  options.ca_key = write("leaf.key", value_of(m_key.to_pkcs8_pem()));
  options.roots = m_ca.ca_cert;
  const auto created = LocalIssuer::create(options, m_clock, m_random);
  ASSERT_FALSE(created);
  EXPECT_TRUE(contains(created.error().message, "not a CA")) << created.error().what();
}

TEST_F(LocalIssuerTest, MissingCaFilesAreReportedWithTheirPath) {
  auto options = root_options();
  options.ca_cert = m_dir / "nope.pem";
  const auto created = LocalIssuer::create(options, m_clock, m_random);
  ASSERT_FALSE(created);
  EXPECT_TRUE(contains(created.error().what(), "nope.pem")) << created.error().what();
}

}  // namespace
}  // namespace certrotd::issuer
