#include <gtest/gtest.h>

#include <algorithm>

#include "unit/x509/x509_test_util.hpp"
#include "util/strings.hpp"
#include "x509/certificate.hpp"

namespace certrotd::x509 {
namespace {

using namespace std::chrono_literals;
using testing::contains;
using testing::openssl;
using testing::value_of;

// Everything after the first '=' of a line such as "serial=0A1B", trimmed.
std::string after_equals(const std::string& line) {
  const auto pos = line.find('=');
  return std::string(trim(pos == std::string::npos ? line : line.substr(pos + 1)));
}

std::string strip_leading_zeros(std::string hex) {
  const auto first = hex.find_first_not_of('0');
  return first == std::string::npos ? "0" : hex.substr(first);
}

std::string replace_all(std::string text, const std::string& from, const std::string& to) {
  for (auto pos = text.find(from); pos != std::string::npos;
       pos = text.find(from, pos + to.size())) {
    text.replace(pos, from.size(), to);
  }
  return text;
}

class CertificateTest : public ::testing::Test {
protected:
  CertificateTest()
      : m_root(testing::make_root(m_random, m_start, m_start + 24h * 30)),
        m_leaf(testing::issue_from(
            m_root, m_random,
            testing::named("web.example",
                           {{SanType::dns, "web.example"}, {SanType::ip, "10.0.0.5"}},
                           {ExtendedUsage::server_auth}),
            m_start, m_start + 24h)) {}

  std::string write(const std::string& name, const std::string& text) {
    const auto path = m_dir / name;
    testing::write_text(path, text);
    return path.string();
  }

  testing::TempDir m_dir;
  SeededRandom m_random{7};
  SystemTime m_start = testing::test_time();
  testing::KeyPair m_root;
  testing::KeyPair m_leaf;
};

TEST_F(CertificateTest, PemRoundTripKeepsTheSameDer) {
  const auto parsed = parse_certificate(m_leaf.cert.to_pem());
  ASSERT_TRUE(parsed) << parsed.error().what();
  EXPECT_TRUE(parsed->same_as(m_leaf.cert));
  EXPECT_EQ(parsed->to_der(), m_leaf.cert.to_der());
  EXPECT_FALSE(parsed->same_as(m_root.cert));
}

TEST_F(CertificateTest, ParseCertificatesReturnsEveryCertificateInOrder) {
  const auto parsed = parse_certificates(to_pem({m_leaf.cert, m_root.cert}));
  ASSERT_TRUE(parsed) << parsed.error().what();
  ASSERT_EQ(parsed->size(), 2u);
  EXPECT_TRUE((*parsed)[0].same_as(m_leaf.cert));
  EXPECT_TRUE((*parsed)[1].same_as(m_root.cert));
}

TEST_F(CertificateTest, ParseCertificateTakesOnlyTheFirst) {
  const auto parsed = parse_certificate(to_pem({m_root.cert, m_leaf.cert}));
  ASSERT_TRUE(parsed) << parsed.error().what();
  EXPECT_TRUE(parsed->same_as(m_root.cert));
}

TEST_F(CertificateTest, OneLinePemWithEscapedNewlinesIsAccepted) {
  const std::string one_line = replace_all(to_pem({m_leaf.cert, m_root.cert}), "\n", "\\n");
  ASSERT_EQ(one_line.find('\n'), std::string::npos);
  const auto parsed = parse_certificates(one_line);
  ASSERT_TRUE(parsed) << parsed.error().what();
  ASSERT_EQ(parsed->size(), 2u);
  EXPECT_TRUE((*parsed)[0].same_as(m_leaf.cert));
  EXPECT_TRUE((*parsed)[1].same_as(m_root.cert));
}

TEST_F(CertificateTest, CrlfLineEndsAreAccepted) {
  const auto parsed = parse_certificate(replace_all(m_leaf.cert.to_pem(), "\n", "\r\n"));
  ASSERT_TRUE(parsed) << parsed.error().what();
  EXPECT_TRUE(parsed->same_as(m_leaf.cert));
}

TEST_F(CertificateTest, IndentedPemIsAccepted) {
  const auto parsed = parse_certificate("    " + replace_all(m_leaf.cert.to_pem(), "\n", "\n    "));
  ASSERT_TRUE(parsed) << parsed.error().what();
  EXPECT_TRUE(parsed->same_as(m_leaf.cert));
}

TEST_F(CertificateTest, NormalizePemLeavesOrdinaryPemUnchangedAndUnescapesTheRest) {
  const std::string pem = m_leaf.cert.to_pem();
  EXPECT_EQ(normalize_pem(pem), pem);
  EXPECT_EQ(normalize_pem(replace_all(pem, "\n", "\\n")), pem);
  EXPECT_EQ(normalize_pem(replace_all(pem, "\n", "\r\n")), pem);
  EXPECT_EQ(normalize_pem(replace_all(pem, "\n", "\\r\\n")), pem);
}

TEST_F(CertificateTest, InputWithoutACertificateIsAnError) {
  const auto empty = parse_certificates("");
  ASSERT_FALSE(empty);
  EXPECT_TRUE(contains(empty.error().message, "no certificate"));
  const auto key_only = parse_certificates(value_of(m_leaf.key.to_pkcs8_pem()));
  ASSERT_FALSE(key_only);
  EXPECT_TRUE(contains(key_only.error().message, "no certificate"));
}

TEST_F(CertificateTest, ATruncatedCertificateIsAnError) {
  const std::string pem = m_leaf.cert.to_pem();
  const auto body_start = pem.find('\n') + 1;
  // Drop the middle of the base64 body but keep the BEGIN and END lines.
  const std::string truncated = pem.substr(0, body_start + 64) + "\n" +
                                pem.substr(pem.rfind("-----END"));
  const auto parsed = parse_certificates(m_root.cert.to_pem() + truncated);
  ASSERT_FALSE(parsed);
  EXPECT_TRUE(contains(parsed.error().message, "certificate #2"));
}

TEST_F(CertificateTest, InfoAgreesWithTheOpensslCli) {
  const auto path = write("leaf.pem", m_leaf.cert.to_pem());
  const CertInfo& info = m_leaf.cert.info();

  const auto serial = openssl({"x509", "-in", path, "-noout", "-serial"});
  ASSERT_EQ(serial.exit_code, 0) << serial.output;
  EXPECT_EQ(info.serial, strip_leading_zeros(to_lower(after_equals(serial.output))));

  const auto subject = openssl({"x509", "-in", path, "-noout", "-subject", "-nameopt", "RFC2253"});
  ASSERT_EQ(subject.exit_code, 0) << subject.output;
  EXPECT_EQ(info.subject, after_equals(subject.output));
  const auto issuer = openssl({"x509", "-in", path, "-noout", "-issuer", "-nameopt", "RFC2253"});
  EXPECT_EQ(info.issuer, after_equals(issuer.output));
  EXPECT_EQ(info.issuer, "CN=Test Root CA");

  const auto fingerprint = openssl({"x509", "-in", path, "-noout", "-fingerprint", "-sha256"});
  ASSERT_EQ(fingerprint.exit_code, 0) << fingerprint.output;
  EXPECT_EQ(info.sha256_fingerprint, to_lower(after_equals(fingerprint.output)));

  const auto ski = openssl({"x509", "-in", path, "-noout", "-ext", "subjectKeyIdentifier"});
  ASSERT_EQ(ski.exit_code, 0) << ski.output;
  std::string ski_hex = to_lower(trim(ski.output.substr(ski.output.find('\n') + 1)));
  ski_hex.erase(std::remove(ski_hex.begin(), ski_hex.end(), ':'), ski_hex.end());
  EXPECT_EQ(info.subject_key_id, ski_hex);
  EXPECT_EQ(info.authority_key_id, m_root.cert.info().subject_key_id);

  EXPECT_EQ(info.common_name, "web.example");
  EXPECT_EQ(info.sans,
            (std::vector<San>{{SanType::dns, "web.example"}, {SanType::ip, "10.0.0.5"}}));
  EXPECT_EQ(info.usages, std::vector<ExtendedUsage>{ExtendedUsage::server_auth});
  EXPECT_EQ(info.not_before, m_start);
  EXPECT_EQ(info.not_after, m_start + 24h);
  EXPECT_FALSE(info.is_ca);
  EXPECT_TRUE(m_root.cert.info().is_ca);
  EXPECT_EQ(info.public_key, KeySpec{});
}

TEST_F(CertificateTest, CopiesShareTheCertificate) {
  const Certificate copy = m_leaf.cert;
  EXPECT_EQ(copy.get(), m_leaf.cert.get());
  EXPECT_EQ(copy.info().serial, m_leaf.cert.info().serial);
  Certificate assigned = m_root.cert;
  assigned = copy;
  EXPECT_TRUE(assigned.same_as(m_leaf.cert));
}

TEST_F(CertificateTest, KeyMatchesOnlyItsOwnCertificate) {
  EXPECT_TRUE(key_matches(m_leaf.key, m_leaf.cert));
  EXPECT_TRUE(key_matches(m_root.key, m_root.cert));
  EXPECT_FALSE(key_matches(m_root.key, m_leaf.cert));
  const auto ed = value_of(generate_key(KeySpec{KeyType::ed25519, "", 0}));
  EXPECT_FALSE(key_matches(ed, m_leaf.cert));
}

TEST_F(CertificateTest, X5tS256EqualsTheOpensslDigestInBase64Url) {
  const auto path = write("leaf.pem", m_leaf.cert.to_pem());
  const auto expected = testing::shell("openssl x509 -in '" + path +
                                       "' -outform DER | openssl dgst -sha256 -binary | "
                                       "openssl base64 -A | tr '+/' '-_' | tr -d '=\\n'");
  ASSERT_EQ(expected.exit_code, 0) << expected.output;
  ASSERT_EQ(expected.output.size(), 43u) << expected.output;
  EXPECT_EQ(x5t_s256(m_leaf.cert), expected.output);
  EXPECT_NE(x5t_s256(m_root.cert), expected.output);
}

// --- keys ----------------------------------------------------------------------------------

class GeneratedKeyTest : public ::testing::TestWithParam<KeySpec> {
protected:
  testing::TempDir m_dir;
};

TEST_P(GeneratedKeyTest, HasTheRequestedSpecAndRoundTripsThroughPkcs8) {
  const auto key = value_of(generate_key(GetParam()));
  EXPECT_EQ(to_string(key.spec()), to_string(GetParam()));

  const auto pem = key.to_pkcs8_pem();
  ASSERT_TRUE(pem) << pem.error().what();
  EXPECT_TRUE(pem->starts_with("-----BEGIN PRIVATE KEY-----\n"));
  const auto parsed = parse_private_key(*pem);
  ASSERT_TRUE(parsed) << parsed.error().what();
  EXPECT_EQ(parsed->public_key_pem(), key.public_key_pem());
  EXPECT_EQ(EVP_PKEY_eq(parsed->get(), key.get()), 1);

  // The openssl CLI reads the same key and derives the same public key from it.
  const auto path = m_dir / "key.pem";
  testing::write_text(path, *pem);
  const auto pub = openssl({"pkey", "-in", path.string(), "-pubout"});
  ASSERT_EQ(pub.exit_code, 0) << pub.output;
  EXPECT_EQ(pub.output, key.public_key_pem());
}

INSTANTIATE_TEST_SUITE_P(
    EveryKeyType, GeneratedKeyTest,
    ::testing::Values(KeySpec{KeyType::ec, "P-256", 0}, KeySpec{KeyType::ec, "P-384", 0},
                      KeySpec{KeyType::rsa, "", 2048}, KeySpec{KeyType::rsa, "", 3072},
                      KeySpec{KeyType::rsa, "", 4096}, KeySpec{KeyType::ed25519, "", 0}),
    [](const ::testing::TestParamInfo<KeySpec>& param_info) {
      std::string name = to_string(param_info.param);
      std::replace_if(
          name.begin(), name.end(), [](char c) { return c == ' ' || c == '-'; }, '_');
      return name;
    });

TEST(GenerateKey, RejectsUnsupportedSpecs) {
  EXPECT_FALSE(generate_key(KeySpec{KeyType::ec, "P-521", 0}));
  EXPECT_FALSE(generate_key(KeySpec{KeyType::ec, "secp256k1", 0}));
  EXPECT_FALSE(generate_key(KeySpec{KeyType::rsa, "", 1024}));
  EXPECT_FALSE(generate_key(KeySpec{KeyType::rsa, "", 8192}));
}

class PrivateKeyInputTest : public ::testing::Test {
protected:
  std::string path(const std::string& name) const { return (m_dir / name).string(); }

  testing::TempDir m_dir;
  PrivateKey m_key = value_of(generate_key(KeySpec{}));
};

TEST_F(PrivateKeyInputTest, EncryptedPkcs8UsesAes256CbcAndNeedsTheRightPassphrase) {
  const auto pem = m_key.to_pkcs8_pem("s3cret");
  ASSERT_TRUE(pem) << pem.error().what();
  EXPECT_TRUE(pem->starts_with("-----BEGIN ENCRYPTED PRIVATE KEY-----\n"));

  testing::write_text(path("enc.pem"), *pem);
  const auto asn1 = openssl({"asn1parse", "-in", path("enc.pem")});
  ASSERT_EQ(asn1.exit_code, 0) << asn1.output;
  EXPECT_TRUE(contains(asn1.output, "PBES2"));
  EXPECT_TRUE(contains(asn1.output, "PBKDF2"));
  EXPECT_TRUE(contains(asn1.output, "aes-256-cbc"));
  const auto cli = openssl({"pkey", "-in", path("enc.pem"), "-passin", "pass:s3cret", "-pubout"});
  ASSERT_EQ(cli.exit_code, 0) << cli.output;
  EXPECT_EQ(cli.output, m_key.public_key_pem());

  const auto right = parse_private_key(*pem, "s3cret");
  ASSERT_TRUE(right) << right.error().what();
  EXPECT_EQ(right->public_key_pem(), m_key.public_key_pem());

  const auto wrong = parse_private_key(*pem, "guess");
  ASSERT_FALSE(wrong);
  EXPECT_TRUE(contains(wrong.error().message, "wrong passphrase")) << wrong.error().message;

  const auto missing = parse_private_key(*pem);
  ASSERT_FALSE(missing);
  EXPECT_TRUE(contains(missing.error().message, "no passphrase")) << missing.error().message;
}

TEST_F(PrivateKeyInputTest, AnEmptyPassphraseIsRefusedForEncryption) {
  EXPECT_FALSE(m_key.to_pkcs8_pem(""));
}

TEST_F(PrivateKeyInputTest, OneLineEscapedAndCrlfKeysAreAccepted) {
  const std::string pem = value_of(m_key.to_pkcs8_pem());
  const auto one_line = parse_private_key(replace_all(pem, "\n", "\\n"));
  ASSERT_TRUE(one_line) << one_line.error().what();
  EXPECT_EQ(one_line->public_key_pem(), m_key.public_key_pem());
  const auto crlf = parse_private_key(replace_all(pem, "\n", "\r\n"));
  ASSERT_TRUE(crlf) << crlf.error().what();
  EXPECT_EQ(crlf->public_key_pem(), m_key.public_key_pem());
}

TEST_F(PrivateKeyInputTest, LegacyPkcs1RsaKeyIsAccepted) {
  const auto gen = openssl({"genrsa", "-traditional", "-out", path("rsa.pem"), "2048"});
  ASSERT_EQ(gen.exit_code, 0) << gen.output;
  const std::string pem = testing::read_text(path("rsa.pem"));
  ASSERT_TRUE(pem.starts_with("-----BEGIN RSA PRIVATE KEY-----")) << pem.substr(0, 40);

  const auto key = parse_private_key(pem);
  ASSERT_TRUE(key) << key.error().what();
  EXPECT_EQ(to_string(key->spec()), "rsa 2048");
  const auto pub = openssl({"pkey", "-in", path("rsa.pem"), "-pubout"});
  EXPECT_EQ(key->public_key_pem(), pub.output);
}

TEST_F(PrivateKeyInputTest, EncryptedLegacyPkcs1KeyNeedsItsPassphrase) {
  const auto gen = openssl({"genrsa", "-traditional", "-aes256", "-passout", "pass:s3cret", "-out",
                            path("rsa.pem"), "2048"});
  ASSERT_EQ(gen.exit_code, 0) << gen.output;
  const std::string pem = testing::read_text(path("rsa.pem"));
  ASSERT_TRUE(contains(pem, "Proc-Type: 4,ENCRYPTED")) << pem.substr(0, 80);

  const auto key = parse_private_key(pem, "s3cret");
  ASSERT_TRUE(key) << key.error().what();
  EXPECT_EQ(to_string(key->spec()), "rsa 2048");
  const auto missing = parse_private_key(pem);
  ASSERT_FALSE(missing);
  EXPECT_TRUE(contains(missing.error().message, "no passphrase")) << missing.error().message;
  EXPECT_FALSE(parse_private_key(pem, "guess"));
}

TEST_F(PrivateKeyInputTest, LegacySec1EcKeyWithParametersIsAccepted) {
  const auto gen = openssl({"ecparam", "-name", "secp384r1", "-genkey", "-out", path("ec.pem")});
  ASSERT_EQ(gen.exit_code, 0) << gen.output;
  const std::string pem = testing::read_text(path("ec.pem"));
  ASSERT_TRUE(contains(pem, "-----BEGIN EC PARAMETERS-----"));
  ASSERT_TRUE(contains(pem, "-----BEGIN EC PRIVATE KEY-----"));

  const auto key = parse_private_key(pem);
  ASSERT_TRUE(key) << key.error().what();
  EXPECT_EQ(to_string(key->spec()), "ec P-384");
  const auto pub = openssl({"pkey", "-in", path("ec.pem"), "-pubout"});
  EXPECT_EQ(key->public_key_pem(), pub.output);
}

TEST_F(PrivateKeyInputTest, Pkcs8KeyFromTheOpensslCliIsAccepted) {
  const auto gen = openssl({"genpkey", "-algorithm", "ED25519", "-out", path("ed.pem")});
  ASSERT_EQ(gen.exit_code, 0) << gen.output;
  const auto key = parse_private_key(testing::read_text(path("ed.pem")));
  ASSERT_TRUE(key) << key.error().what();
  EXPECT_EQ(key->spec().type, KeyType::ed25519);
}

TEST_F(PrivateKeyInputTest, InputWithoutAKeyIsAnError) {
  const auto none = parse_private_key("not a key");
  ASSERT_FALSE(none);
  EXPECT_TRUE(contains(none.error().message, "no private key")) << none.error().message;
  const auto public_only = parse_private_key(m_key.public_key_pem());
  EXPECT_FALSE(public_only);
}

}  // namespace
}  // namespace certrotd::x509
