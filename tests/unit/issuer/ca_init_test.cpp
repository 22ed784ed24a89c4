#include <gtest/gtest.h>
#include <sys/stat.h>

#include "issuer/local/ca_init.hpp"
#include "unit/x509/x509_test_util.hpp"
#include "x509/verify.hpp"

namespace certrotd::issuer {
namespace {

using namespace std::chrono_literals;
using testing::contains;
using testing::openssl;
using testing::value_of;

mode_t mode_of(const std::filesystem::path& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return 0;
  return st.st_mode & 07777;
}

class CaInitTest : public ::testing::Test {
protected:
  CaInitOptions options(bool intermediate = false) const {
    CaInitOptions o;
    o.dir = m_dir / "ca";
    o.intermediate = intermediate;
    return o;
  }

  testing::CommandResult openssl_verify(const std::filesystem::path& anchor,
                                        const std::filesystem::path& cert,
                                        const std::string& untrusted = {}) {
    std::vector<std::string> args = {"verify", "-attime",
                                     testing::epoch_seconds(m_clock.wall_now() + 1h), "-CAfile",
                                     anchor.string()};
    if (!untrusted.empty()) args.insert(args.end(), {"-untrusted", untrusted});
    args.push_back(cert.string());
    return openssl(args);
  }

  testing::TempDir m_dir;
  ManualClock m_clock{testing::test_time()};
  SeededRandom m_random{3};
};

TEST_F(CaInitTest, CreatesASelfSignedRootWithAPrivateKeyFile) {
  const auto result = init_ca(options(), m_clock, m_random);
  ASSERT_TRUE(result) << result.error().what();
  EXPECT_EQ(result->ca_cert, m_dir / "ca" / "ca.pem");
  EXPECT_EQ(result->ca_key, m_dir / "ca" / "ca.key");
  EXPECT_TRUE(result->intermediate_cert.empty());
  EXPECT_FALSE(std::filesystem::exists(m_dir / "ca" / "intermediate.pem"));

  EXPECT_EQ(mode_of(result->ca_key), 0600u);
  EXPECT_EQ(mode_of(result->ca_cert), 0644u);

  const auto verify = openssl_verify(result->ca_cert, result->ca_cert);
  EXPECT_EQ(verify.exit_code, 0) << verify.output;
  const auto text = openssl({"x509", "-in", result->ca_cert.string(), "-noout", "-text"});
  ASSERT_EQ(text.exit_code, 0) << text.output;
  EXPECT_TRUE(contains(text.output, "X509v3 Basic Constraints: critical")) << text.output;
  EXPECT_TRUE(contains(text.output, "CA:TRUE")) << text.output;
  EXPECT_TRUE(contains(text.output, "X509v3 Key Usage: critical")) << text.output;
  EXPECT_TRUE(contains(text.output, "Certificate Sign, CRL Sign")) << text.output;
  EXPECT_TRUE(contains(text.output, "X509v3 Subject Key Identifier")) << text.output;

  const auto cert = value_of(x509::parse_certificate(testing::read_text(result->ca_cert)));
  const auto key = value_of(x509::parse_private_key(testing::read_text(result->ca_key)));
  EXPECT_TRUE(x509::key_matches(key, cert));
  EXPECT_EQ(cert.info().common_name, "certrotd development root CA");
  EXPECT_EQ(cert.info().not_before, m_clock.wall_now());
  EXPECT_EQ(cert.info().not_after, m_clock.wall_now() + options().root_lifetime);
  EXPECT_EQ(key.spec(), x509::KeySpec{});
  EXPECT_TRUE(testing::read_text(result->ca_key).starts_with("-----BEGIN PRIVATE KEY-----"));
}

TEST_F(CaInitTest, WithIntermediateCreatesAChainThatVerifiesToTheRoot) {
  const auto result = init_ca(options(true), m_clock, m_random);
  ASSERT_TRUE(result) << result.error().what();
  EXPECT_EQ(result->intermediate_cert, m_dir / "ca" / "intermediate.pem");
  EXPECT_EQ(result->intermediate_key, m_dir / "ca" / "intermediate.key");
  EXPECT_EQ(mode_of(result->ca_key), 0600u);
  EXPECT_EQ(mode_of(result->intermediate_key), 0600u);

  const auto verify = openssl_verify(result->ca_cert, result->intermediate_cert);
  EXPECT_EQ(verify.exit_code, 0) << verify.output;
  const auto text = openssl({"x509", "-in", result->intermediate_cert.string(), "-noout", "-text"});
  EXPECT_TRUE(contains(text.output, "CA:TRUE, pathlen:0")) << text.output;

  const auto root = value_of(x509::parse_certificate(testing::read_text(result->ca_cert)));
  const auto intermediate = value_of(
      x509::parse_certificate(testing::read_text(result->intermediate_cert)));
  const auto key = value_of(x509::parse_private_key(testing::read_text(result->intermediate_key)));
  EXPECT_TRUE(x509::key_matches(key, intermediate));
  EXPECT_EQ(intermediate.info().issuer, root.info().subject);
  EXPECT_NE(intermediate.info().subject, root.info().subject);
  EXPECT_EQ(intermediate.info().not_after, m_clock.wall_now() + options().intermediate_lifetime);
  const std::array anchors{root};
  const auto ok = x509::verify_chain(intermediate, {}, anchors, {m_clock.wall_now(), std::nullopt});
  EXPECT_TRUE(ok) << ok.error().what();
}

TEST_F(CaInitTest, TheIntermediateNeverOutlivesTheRoot) {
  auto o = options(true);
  o.root_lifetime = 24h * 30;
  o.intermediate_lifetime = 24h * 365;
  const auto result = init_ca(o, m_clock, m_random);
  ASSERT_TRUE(result) << result.error().what();
  const auto root = value_of(x509::parse_certificate(testing::read_text(result->ca_cert)));
  const auto intermediate = value_of(
      x509::parse_certificate(testing::read_text(result->intermediate_cert)));
  EXPECT_EQ(intermediate.info().not_after, root.info().not_after);
}

TEST_F(CaInitTest, HonoursTheKeySpecAndCommonName) {
  auto o = options();
  o.key = x509::KeySpec{x509::KeyType::rsa, "", 3072};
  o.common_name = "Lab CA";
  const auto result = init_ca(o, m_clock, m_random);
  ASSERT_TRUE(result) << result.error().what();
  const auto root = value_of(x509::parse_certificate(testing::read_text(result->ca_cert)));
  EXPECT_EQ(root.info().common_name, "Lab CA");
  EXPECT_EQ(to_string(root.info().public_key), "rsa 3072");
}

TEST_F(CaInitTest, RefusesToReplaceAnExistingCaUnlessTold) {
  ASSERT_TRUE(init_ca(options(), m_clock, m_random));
  const std::string key_before = testing::read_text(m_dir / "ca" / "ca.key");
  const std::string cert_before = testing::read_text(m_dir / "ca" / "ca.pem");

  const auto again = init_ca(options(), m_clock, m_random);
  ASSERT_FALSE(again);
  EXPECT_TRUE(contains(again.error().what(), "ca.key")) << again.error().what();
  EXPECT_EQ(testing::read_text(m_dir / "ca" / "ca.key"), key_before);
  EXPECT_EQ(testing::read_text(m_dir / "ca" / "ca.pem"), cert_before);

  auto o = options();
  o.overwrite = true;
  const auto replaced = init_ca(o, m_clock, m_random);
  ASSERT_TRUE(replaced) << replaced.error().what();
  EXPECT_NE(testing::read_text(m_dir / "ca" / "ca.key"), key_before);
  EXPECT_NE(testing::read_text(m_dir / "ca" / "ca.pem"), cert_before);
  EXPECT_EQ(mode_of(m_dir / "ca" / "ca.key"), 0600u);
  // The atomic writer leaves no temporary files behind.
  std::size_t entries = 0;
  for ([[maybe_unused]] const auto& entry : std::filesystem::directory_iterator(m_dir / "ca")) {
    ++entries;
  }
  EXPECT_EQ(entries, 2u);
}

TEST_F(CaInitTest, AnUnsupportedKeySpecIsAnErrorAndWritesNothing) {
  auto o = options();
  o.key = x509::KeySpec{x509::KeyType::rsa, "", 1024};
  EXPECT_FALSE(init_ca(o, m_clock, m_random));
  EXPECT_FALSE(std::filesystem::exists(m_dir / "ca" / "ca.key"));
}

}  // namespace
}  // namespace certrotd::issuer
