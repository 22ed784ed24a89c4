// The /csrattrs reader on DER made by the openssl CLI (asn1parse -genconf), the example of
// RFC 7030 §4.5.2, and answers built to break it.
#include <gtest/gtest.h>

#include "issuer/est/est_csrattrs.hpp"
#include "unit/x509/x509_test_util.hpp"
#include "util/encoding.hpp"
#include "util/files.hpp"

namespace certrotd::issuer::est {
namespace {

using testing::TempDir;
using testing::value_of;

// The DER `openssl asn1parse -genconf` makes of `conf` (an ASN1_generate_nconf section `asn1`).
std::string generated(const std::string& conf) {
  TempDir dir;
  testing::write_text(dir / "attrs.cnf", conf);
  const auto made = testing::openssl({"asn1parse", "-genconf", (dir / "attrs.cnf").string(),
                                      "-noout", "-out", (dir / "attrs.der").string()});
  EXPECT_EQ(made.exit_code, 0) << made.output;
  return value_of(read_file(dir / "attrs.der"));
}

TEST(EstCsrAttrs, TheExampleOfRfc7030IsReadAsItIsMeant) {
  // RFC 7030 §4.5.2: challengePassword, an EC key on secp384r1, the macAddress extension,
  // ecdsa-with-SHA384.
  const auto der = value_of(
      base64_decode("MEEGCSqGSIb3DQEJBzASBgcqhkjOPQIBMQcGBSuBBAAiMBYGCSqGSIb3DQEJDjEJBgcrBgEBAQEWBg"
                    "gqhkjOPQQDAw=="));
  const auto attrs = value_of(parse_csrattrs(der));
  EXPECT_TRUE(attrs.challenge_password);
  ASSERT_TRUE(attrs.key.has_value());
  EXPECT_EQ(*attrs.key, (x509::KeySpec{x509::KeyType::ec, "P-384", 2048}));
  EXPECT_EQ(attrs.extensions, std::vector<std::string>{"1.3.6.1.1.1.1.22"});
  EXPECT_EQ(attrs.unsupported, std::vector<std::string>{"1.2.840.10045.4.3.3"})
      << "SHA-384 signatures are what certrotd does not make";
}

TEST(EstCsrAttrs, AnRsaSizeAndAnExtensionsTemplateOfRfc9908AreRead) {
  const auto der = generated(
      "asn1 = SEQUENCE:attrs\n"
      "[attrs]\n"
      "rsa = SEQUENCE:rsa\n"
      "ext = SEQUENCE:extreq\n"
      "sig = OID:sha256WithRSAEncryption\n"
      "other = OID:1.2.3.4.5\n"
      "[rsa]\n"
      "type = OID:rsaEncryption\n"
      "bits = SETWRAP,INTEGER:3072\n"
      "[extreq]\n"
      "type = OID:extReq\n"
      "values = SETWRAP,SEQUENCE:exts\n"
      "[exts]\n"
      "san = SEQUENCE:san\n"
      "eku = SEQUENCE:eku\n"
      "[san]\n"
      "id = OID:subjectAltName\n"
      "value = FORMAT:HEX,OCT:3000\n"
      "[eku]\n"
      "id = OID:extendedKeyUsage\n"
      "value = FORMAT:HEX,OCT:3000\n");
  const auto attrs = value_of(parse_csrattrs(der));
  EXPECT_FALSE(attrs.challenge_password);
  ASSERT_TRUE(attrs.key.has_value());
  EXPECT_EQ(*attrs.key, (x509::KeySpec{x509::KeyType::rsa, "P-256", 3072}));
  EXPECT_EQ(attrs.extensions, (std::vector<std::string>{"2.5.29.17", "2.5.29.37"}));
  EXPECT_EQ(attrs.unsupported, std::vector<std::string>{"1.2.3.4.5"});
}

TEST(EstCsrAttrs, KeysCertrotdDoesNotMakeAreReportedNotAsked) {
  const auto der = generated(
      "asn1 = SEQUENCE:attrs\n"
      "[attrs]\n"
      "ec = SEQUENCE:ec\n"
      "rsa = SEQUENCE:rsa\n"
      "[ec]\n"
      "type = OID:id-ecPublicKey\n"
      "curve = SETWRAP,OID:secp521r1\n"
      "[rsa]\n"
      "type = OID:rsaEncryption\n"
      "bits = SETWRAP,INTEGER:1024\n");
  const auto attrs = value_of(parse_csrattrs(der));
  EXPECT_FALSE(attrs.key.has_value());
  EXPECT_EQ(attrs.unsupported, (std::vector<std::string>{"1.2.840.10045.2.1 1.3.132.0.35",
                                                         "1.2.840.113549.1.1.1 1024 bits"}));
}

TEST(EstCsrAttrs, AnEmptyAnswerOrAnEmptySequenceAsksForNothing) {
  for (const std::string& der : {std::string(), std::string("\x30\x00", 2)}) {
    const auto attrs = value_of(parse_csrattrs(der));
    EXPECT_FALSE(attrs.key || attrs.challenge_password);
    EXPECT_TRUE(attrs.extensions.empty() && attrs.unsupported.empty());
  }
}

TEST(EstCsrAttrs, HostileAnswersAreRefusedWithoutReadingPastTheirEnd) {
  const auto good = value_of(
      base64_decode("MEEGCSqGSIb3DQEJBzASBgcqhkjOPQIBMQcGBSuBBAAiMBYGCSqGSIb3DQEJDjEJBgcrBgEBAQEWBg"
                    "gqhkjOPQQDAw=="));
  // Every cut of a good answer is an error, never a crash or a read past the cut.
  for (std::size_t n = 1; n < good.size(); ++n) {
    EXPECT_FALSE(parse_csrattrs(good.substr(0, n)).has_value()) << "cut at " << n;
  }
  const std::vector<std::string> hostile = {
      std::string("\x30\x80\x00\x00", 4),                      // BER indefinite length
      std::string("\x30\x84\xff\xff\xff\xff", 6),              // a length far past the body
      std::string("\x30\x85\x01\x00\x00\x00\x00", 7),          // a 5-byte length
      std::string("\x31\x00", 2),                              // a SET, not a SEQUENCE
      std::string("\x30\x00\x30\x00", 4),                      // something after the SEQUENCE
      std::string("\x30\x02\x04\x00", 4),                      // an OCTET STRING entry
      std::string("\x30\x03\x06\x01\x80", 5),                  // an OID whose last byte continues
      std::string("\x30\x04\x30\x02\x06\x00", 6),              // an empty OID as attribute type
      std::string("\x30\x07\x30\x05\x06\x01\x2a\x31\x00", 9),  // an empty SET of values
      std::string("\x30\x02\x1f\x00", 4),                      // a multi-byte tag
      std::string(k_max_csrattrs + 1, '\x30'),                 // longer than the bound
  };
  for (std::size_t i = 0; i < hostile.size(); ++i) {
    const auto parsed = parse_csrattrs(hostile[i]);
    ASSERT_FALSE(parsed.has_value()) << "hostile answer " << i;
    EXPECT_EQ(parsed.error().reason, Reason::invalid_answer);
  }
  // More entries than the bound: 65 lone OIDs.
  std::string many;
  for (std::size_t i = 0; i <= k_max_csrattrs_entries; ++i) many += std::string("\x06\x01\x2a", 3);
  std::string body = std::string("\x30\x81", 2) + static_cast<char>(many.size()) + many;
  EXPECT_FALSE(parse_csrattrs(body).has_value());
}

}  // namespace
}  // namespace certrotd::issuer::est
