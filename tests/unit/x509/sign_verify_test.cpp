#include <gtest/gtest.h>

#include <array>

#include "unit/x509/x509_test_util.hpp"
#include "util/encoding.hpp"
#include "util/strings.hpp"
#include "x509/sign.hpp"
#include "x509/verify.hpp"

namespace certrotd::x509 {
namespace {

using namespace std::chrono_literals;
using testing::contains;
using testing::openssl;
using testing::value_of;

const std::vector<San> k_sans = {{SanType::dns, "web.example"}, {SanType::ip, "10.0.0.5"}};

class SignVerifyTest : public ::testing::Test {
protected:
  SignVerifyTest()
      : m_root(testing::make_root(m_random, m_start - 24h, m_start + 24h * 365)),
        m_intermediate(testing::issue_from(m_root, m_random, testing::named("Test Intermediate"),
                                           m_start - 24h, m_start + 24h * 90, /*is_ca=*/true)),
        m_leaf(
            testing::issue_from(m_intermediate, m_random,
                                testing::named("web.example", k_sans, {ExtendedUsage::server_auth}),
                                m_start, m_start + 24h)) {}

  std::string write(const std::string& name, const std::vector<Certificate>& certs) {
    const auto path = m_dir / name;
    testing::write_text(path, to_pem(certs));
    return path.string();
  }

  // `openssl verify` at the injected time, with the intermediates as untrusted input.
  testing::CommandResult openssl_verify(const Certificate& leaf,
                                        const std::vector<Certificate>& intermediates,
                                        const Certificate& anchor,
                                        const std::string& purpose = {}) {
    std::vector<std::string> args = {"verify", "-attime", testing::epoch_seconds(m_start),
                                     "-CAfile", write("anchor.pem", {anchor})};
    if (!intermediates.empty()) {
      args.insert(args.end(), {"-untrusted", write("untrusted.pem", intermediates)});
    }
    if (!purpose.empty()) args.insert(args.end(), {"-purpose", purpose});
    args.push_back(write("leaf.pem", {leaf}));
    return openssl(args);
  }

  std::string text_of(const Certificate& cert) {
    const auto out = openssl({"x509", "-in", write("text.pem", {cert}), "-noout", "-text"});
    EXPECT_EQ(out.exit_code, 0) << out.output;
    return out.output;
  }

  Result<void> verify_at(SystemTime at, std::optional<ExtendedUsage> purpose = {}) {
    const std::array intermediates{m_intermediate.cert};
    const std::array anchors{m_root.cert};
    return verify_chain(m_leaf.cert, intermediates, anchors, {at, purpose});
  }

  testing::TempDir m_dir;
  SeededRandom m_random{11};
  SystemTime m_start = testing::test_time();
  testing::KeyPair m_root;
  testing::KeyPair m_intermediate;
  testing::KeyPair m_leaf;
};

TEST_F(SignVerifyTest, LeafVerifiesThroughTheIntermediateToTheRoot) {
  const auto ok = verify_at(m_start + 1h, ExtendedUsage::server_auth);
  EXPECT_TRUE(ok) << ok.error().what();
  const auto cli = openssl_verify(m_leaf.cert, {m_intermediate.cert}, m_root.cert, "sslserver");
  EXPECT_EQ(cli.exit_code, 0) << cli.output;
  EXPECT_TRUE(contains(cli.output, ": OK")) << cli.output;
}

TEST_F(SignVerifyTest, LeafCarriesTheDocumentedExtensions) {
  const std::string text = text_of(m_leaf.cert);
  EXPECT_TRUE(contains(text, "X509v3 Basic Constraints: critical")) << text;
  EXPECT_TRUE(contains(text, "CA:FALSE")) << text;
  EXPECT_TRUE(contains(text, "X509v3 Key Usage: critical")) << text;
  EXPECT_TRUE(contains(text, "Digital Signature")) << text;
  // An EC key never encrypts, so keyEncipherment must not be there.
  EXPECT_FALSE(contains(text, "Key Encipherment")) << text;
  EXPECT_TRUE(contains(text, "TLS Web Server Authentication")) << text;
  EXPECT_FALSE(contains(text, "TLS Web Client Authentication")) << text;
  EXPECT_TRUE(contains(text, "DNS:web.example, IP Address:10.0.0.5")) << text;
  EXPECT_TRUE(contains(text, "X509v3 Subject Key Identifier")) << text;
  EXPECT_TRUE(contains(text, "X509v3 Authority Key Identifier")) << text;
  EXPECT_TRUE(contains(text, "Signature Algorithm: ecdsa-with-SHA256")) << text;
  EXPECT_TRUE(contains(text, "Version: 3 (0x2)")) << text;

  const CertInfo& info = m_leaf.cert.info();
  EXPECT_EQ(info.sans, k_sans);
  EXPECT_EQ(info.usages, std::vector<ExtendedUsage>{ExtendedUsage::server_auth});
  EXPECT_EQ(info.not_before, m_start);
  EXPECT_EQ(info.not_after, m_start + 24h);
  EXPECT_EQ(info.issuer, "CN=Test Intermediate");
  EXPECT_EQ(info.authority_key_id, m_intermediate.cert.info().subject_key_id);
  EXPECT_FALSE(info.subject_key_id.empty());
}

TEST_F(SignVerifyTest, CaCertificatesCarryCaConstraints) {
  const std::string root = text_of(m_root.cert);
  EXPECT_TRUE(contains(root, "X509v3 Basic Constraints: critical")) << root;
  EXPECT_TRUE(contains(root, "CA:TRUE")) << root;
  EXPECT_TRUE(contains(root, "Certificate Sign, CRL Sign")) << root;
  EXPECT_FALSE(contains(root, "Digital Signature")) << root;
  EXPECT_EQ(m_root.cert.info().subject, m_root.cert.info().issuer);
  EXPECT_EQ(m_root.cert.info().authority_key_id, m_root.cert.info().subject_key_id);

  const std::string intermediate = text_of(m_intermediate.cert);
  EXPECT_TRUE(contains(intermediate, "CA:TRUE, pathlen:0")) << intermediate;
  EXPECT_TRUE(m_intermediate.cert.info().is_ca);
}

TEST_F(SignVerifyTest, RsaLeavesAlsoGetKeyEncipherment) {
  const auto rsa = testing::issue_from(m_root, m_random, testing::named("rsa.example"), m_start,
                                       m_start + 1h, false, KeySpec{KeyType::rsa, "", 2048});
  const std::string text = text_of(rsa.cert);
  EXPECT_TRUE(contains(text, "Digital Signature, Key Encipherment")) << text;
  EXPECT_EQ(to_string(rsa.cert.info().public_key), "rsa 2048");
}

TEST_F(SignVerifyTest, SerialIsTheNext128RandomBits) {
  SeededRandom random(99);
  SeededRandom replay(99);
  const auto leaf = testing::issue_from(m_root, random, testing::named("serial"), m_start,
                                        m_start + 1h);
  // generate_key does not draw from Random, so the serial is the first two values.
  std::array<std::uint8_t, 16> bytes{};
  for (std::size_t half = 0; half < 2; ++half) {
    const std::uint64_t v = replay.next_u64();
    for (std::size_t i = 0; i < 8; ++i) {
      bytes[half * 8 + i] = static_cast<std::uint8_t>(v >> (56 - 8 * i));
    }
  }
  std::string expected = hex_encode(bytes);
  expected.erase(0, expected.find_first_not_of('0'));
  EXPECT_EQ(leaf.cert.info().serial, expected);
  EXPECT_NE(leaf.cert.info().serial, m_leaf.cert.info().serial);

  const auto cli = openssl({"x509", "-in", write("serial.pem", {leaf.cert}), "-noout", "-text"});
  // A positive serial: OpenSSL prints negative ones with "(Negative)".
  EXPECT_FALSE(contains(cli.output, "Negative")) << cli.output;
}

TEST_F(SignVerifyTest, Ed25519CaSignsWithPureEd25519) {
  const auto root = testing::make_root(m_random, m_start - 1h, m_start + 24h, "Ed Root",
                                       KeySpec{KeyType::ed25519, "", 0});
  const auto leaf = testing::issue_from(root, m_random, testing::named("ed.example", k_sans),
                                        m_start, m_start + 1h, false,
                                        KeySpec{KeyType::ed25519, "", 0});
  const std::string text = text_of(leaf.cert);
  EXPECT_TRUE(contains(text, "Signature Algorithm: ED25519")) << text;
  const std::array anchors{root.cert};
  const auto ok = verify_chain(leaf.cert, {}, anchors, {m_start, std::nullopt});
  EXPECT_TRUE(ok) << ok.error().what();
  EXPECT_EQ(openssl_verify(leaf.cert, {}, root.cert).exit_code, 0);
}

TEST_F(SignVerifyTest, AnExpiredLeafFailsWithOpensslsReasonDepthAndSubject) {
  const auto expired = verify_at(m_start + 24h + 1s);
  ASSERT_FALSE(expired);
  EXPECT_TRUE(contains(expired.error().message, "certificate has expired"))
      << expired.error().message;
  EXPECT_TRUE(contains(expired.error().message, "depth 0")) << expired.error().message;
  EXPECT_TRUE(contains(expired.error().message, "CN=web.example")) << expired.error().message;
  EXPECT_TRUE(verify_at(m_start + 24h - 1s));
}

TEST_F(SignVerifyTest, ALeafThatIsNotYetValidFails) {
  const auto early = verify_at(m_start - 1s);
  ASSERT_FALSE(early);
  EXPECT_TRUE(contains(early.error().message, "certificate is not yet valid"))
      << early.error().message;
  EXPECT_TRUE(verify_at(m_start));
}

TEST_F(SignVerifyTest, AnExpiredIntermediateIsReportedAtDepthOne) {
  const auto intermediate = testing::issue_from(
      m_root, m_random, testing::named("Short Intermediate"), m_start - 2h, m_start - 1h, true);
  const auto leaf = testing::issue_from(intermediate, m_random, testing::named("web.example"),
                                        m_start - 2h, m_start + 1h);
  const std::array intermediates{intermediate.cert};
  const std::array anchors{m_root.cert};
  const auto r = verify_chain(leaf.cert, intermediates, anchors, {m_start, std::nullopt});
  ASSERT_FALSE(r);
  EXPECT_TRUE(contains(r.error().message, "certificate has expired")) << r.error().message;
  EXPECT_TRUE(contains(r.error().message, "depth 1")) << r.error().message;
  EXPECT_TRUE(contains(r.error().message, "CN=Short Intermediate")) << r.error().message;
}

TEST_F(SignVerifyTest, AWrongAnchorFails) {
  const auto other = testing::make_root(m_random, m_start - 1h, m_start + 24h, "Other Root");
  const std::array intermediates{m_intermediate.cert};
  const std::array anchors{other.cert};
  const auto r = verify_chain(m_leaf.cert, intermediates, anchors, {m_start, std::nullopt});
  ASSERT_FALSE(r);
  EXPECT_TRUE(contains(r.error().message, "unable to get local issuer certificate"))
      << r.error().message;
  EXPECT_NE(openssl_verify(m_leaf.cert, {m_intermediate.cert}, other.cert).exit_code, 0);
}

TEST_F(SignVerifyTest, AMissingIntermediateFails) {
  const std::array anchors{m_root.cert};
  const auto r = verify_chain(m_leaf.cert, {}, anchors, {m_start, std::nullopt});
  ASSERT_FALSE(r);
  EXPECT_TRUE(contains(r.error().message, "unable to get local issuer certificate"))
      << r.error().message;
  EXPECT_TRUE(contains(r.error().message, "depth 0")) << r.error().message;
  EXPECT_NE(openssl_verify(m_leaf.cert, {}, m_root.cert).exit_code, 0);
}

TEST_F(SignVerifyTest, AWrongPurposeFails) {
  const auto client = testing::issue_from(
      m_intermediate, m_random, testing::named("client", {}, {ExtendedUsage::client_auth}), m_start,
      m_start + 1h);
  const std::array intermediates{m_intermediate.cert};
  const std::array anchors{m_root.cert};
  const auto as_server = verify_chain(client.cert, intermediates, anchors,
                                      {m_start, ExtendedUsage::server_auth});
  ASSERT_FALSE(as_server);
  EXPECT_TRUE(contains(as_server.error().message,
                       X509_verify_cert_error_string(X509_V_ERR_INVALID_PURPOSE)))
      << as_server.error().message;
  const auto as_client = verify_chain(client.cert, intermediates, anchors,
                                      {m_start, ExtendedUsage::client_auth});
  EXPECT_TRUE(as_client) << as_client.error().what();

  EXPECT_NE(openssl_verify(client.cert, {m_intermediate.cert}, m_root.cert, "sslserver").exit_code,
            0);
  EXPECT_EQ(openssl_verify(client.cert, {m_intermediate.cert}, m_root.cert, "sslclient").exit_code,
            0);
}

TEST_F(SignVerifyTest, AnIntermediateCanBeTheTrustAnchor) {
  const std::array anchors{m_intermediate.cert};
  const auto r = verify_chain(m_leaf.cert, {}, anchors, {m_start, std::nullopt});
  EXPECT_TRUE(r) << r.error().what();
}

TEST_F(SignVerifyTest, VerifyWithoutAnchorsIsAnError) {
  EXPECT_FALSE(verify_chain(m_leaf.cert, {}, {}, {m_start, std::nullopt}));
}

TEST_F(SignVerifyTest, SigningWithAKeyThatIsNotTheIssuersFails) {
  const auto key = value_of(generate_key(KeySpec{}));
  SignOptions sign;
  sign.subject_public_key = key.get();
  sign.request = testing::named("mismatch");
  sign.not_before = m_start;
  sign.not_after = m_start + 1h;
  sign.issuer_cert = &m_root.cert;
  sign.issuer_key = &m_intermediate.key;
  const auto r = sign_certificate(sign, m_random);
  ASSERT_FALSE(r);
  EXPECT_TRUE(contains(r.error().message, "issuer key does not belong")) << r.error().message;
}

TEST_F(SignVerifyTest, SigningAnEmptyOrInvertedValidityFails) {
  const auto key = value_of(generate_key(KeySpec{}));
  SignOptions sign;
  sign.subject_public_key = key.get();
  sign.request = testing::named("backwards");
  sign.not_before = m_start;
  sign.not_after = m_start;
  sign.issuer_cert = &m_root.cert;
  sign.issuer_key = &m_root.key;
  EXPECT_FALSE(sign_certificate(sign, m_random));
  sign.not_after = m_start - 1s;
  EXPECT_FALSE(sign_certificate(sign, m_random));
}

TEST_F(SignVerifyTest, SigningWithoutAnySignerFails) {
  const auto key = value_of(generate_key(KeySpec{}));
  SignOptions sign;
  sign.subject_public_key = key.get();
  sign.not_before = m_start;
  sign.not_after = m_start + 1h;
  EXPECT_FALSE(sign_certificate(sign, m_random));
  sign.issuer_cert = &m_root.cert;  // a certificate without its key
  EXPECT_FALSE(sign_certificate(sign, m_random));
}

}  // namespace
}  // namespace certrotd::x509
