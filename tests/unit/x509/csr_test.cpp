#include <gtest/gtest.h>

#include "unit/x509/x509_test_util.hpp"
#include "x509/csr.hpp"

namespace certrotd::x509 {
namespace {

using testing::contains;
using testing::openssl;
using testing::value_of;

CertificateRequest full_request() {
  CertificateRequest request;
  request.subject.common_name = "web.example";
  using Attribute = Subject::Attribute;
  // Given out of the conventional order on purpose: the subject keeps C, ST, L, O, OU order.
  request.subject.add(Attribute::organization, "Example Corp");
  request.subject.add(Attribute::organizational_unit, "Platform");
  request.subject.add(Attribute::organization, "Example Labs");
  request.subject.add(Attribute::locality, "Munich");
  request.subject.add(Attribute::country, "DE");
  request.subject.add(Attribute::state, "Bavaria");
  request.sans = {{SanType::dns, "web.example"},
                  {SanType::ip, "10.0.0.5"},
                  {SanType::ip, "2001:db8::5"},
                  {SanType::uri, "spiffe://td/ns/x"},
                  {SanType::email, "ops@example.com"}};
  request.usages = {ExtendedUsage::server_auth, ExtendedUsage::client_auth};
  return request;
}

class CsrTest : public ::testing::TestWithParam<KeySpec> {
protected:
  testing::TempDir m_dir;
};

TEST_P(CsrTest, CarriesTheSubjectSansAndUsagesAndVerifiesWithOpenssl) {
  const auto key = value_of(generate_key(GetParam()));
  const auto pem = build_csr(key, full_request());
  ASSERT_TRUE(pem) << pem.error().what();
  EXPECT_TRUE(pem->starts_with("-----BEGIN CERTIFICATE REQUEST-----\n"));

  const auto path = (m_dir / "req.pem").string();
  testing::write_text(path, *pem);
  const auto cli = openssl(
      {"req", "-in", path, "-noout", "-text", "-verify", "-nameopt", "RFC2253"});
  ASSERT_EQ(cli.exit_code, 0) << cli.output;
  EXPECT_TRUE(contains(cli.output, "verify OK")) << cli.output;
  EXPECT_TRUE(contains(cli.output,
                       "C=DE,ST=Bavaria,L=Munich,O=Example Corp,O=Example Labs,OU=Platform,"
                       "CN=web.example") ||
              contains(cli.output,
                       "CN=web.example,OU=Platform,O=Example Labs,O=Example Corp,L=Munich,"
                       "ST=Bavaria,C=DE"))
      << cli.output;
  EXPECT_TRUE(contains(cli.output, "DNS:web.example")) << cli.output;
  EXPECT_TRUE(contains(cli.output, "IP Address:10.0.0.5")) << cli.output;
  EXPECT_TRUE(contains(cli.output, "IP Address:2001:DB8:0:0:0:0:0:5")) << cli.output;
  EXPECT_TRUE(contains(cli.output, "URI:spiffe://td/ns/x")) << cli.output;
  EXPECT_TRUE(contains(cli.output, "email:ops@example.com")) << cli.output;
  EXPECT_TRUE(contains(cli.output, "TLS Web Server Authentication, TLS Web Client Authentication"))
      << cli.output;

  const auto parsed = parse_csr(*pem);
  ASSERT_TRUE(parsed) << parsed.error().what();
  EXPECT_EQ(parsed->request.subject, full_request().subject);
  EXPECT_EQ(parsed->request.sans, full_request().sans);
  EXPECT_EQ(parsed->request.usages, full_request().usages);
  EXPECT_EQ(EVP_PKEY_eq(parsed->public_key.get(), key.get()), 1);
}

INSTANTIATE_TEST_SUITE_P(EveryKeyType, CsrTest,
                         ::testing::Values(KeySpec{KeyType::ec, "P-256", 0},
                                           KeySpec{KeyType::rsa, "", 2048},
                                           KeySpec{KeyType::ed25519, "", 0}),
                         [](const ::testing::TestParamInfo<KeySpec>& param_info) {
                           return param_info.param.type == KeyType::ec    ? std::string("ec")
                                  : param_info.param.type == KeyType::rsa ? std::string("rsa")
                                                                          : std::string("ed25519");
                         });

TEST(Csr, WithoutSansOrUsagesHasNoExtensionRequest) {
  const auto key = value_of(generate_key(KeySpec{}));
  const auto pem = value_of(build_csr(key, testing::named("bare")));
  const auto parsed = parse_csr(pem);
  ASSERT_TRUE(parsed) << parsed.error().what();
  EXPECT_EQ(parsed->request.subject.common_name, "bare");
  EXPECT_TRUE(parsed->request.sans.empty());
  EXPECT_TRUE(parsed->request.usages.empty());
  EXPECT_EQ(X509_REQ_get_attr_count(parsed->req.get()), 0);
}

TEST(Csr, AChallengePasswordIsAnAttributeOpensslReads) {
  testing::TempDir dir;
  const auto key = value_of(generate_key(KeySpec{}));
  CsrExtras extras;
  extras.challenge_password = "dGxzLXVuaXF1ZQ==";
  const auto pem = value_of(build_csr(key, full_request(), extras));
  const auto parsed = value_of(parse_csr(pem));
  EXPECT_EQ(parsed.request.sans, full_request().sans) << "the names are still there";
  const auto path = (dir / "req.pem").string();
  testing::write_text(path, pem);
  const auto cli = openssl({"req", "-in", path, "-noout", "-text", "-verify"});
  ASSERT_EQ(cli.exit_code, 0) << cli.output;
  EXPECT_TRUE(contains(cli.output, "challengePassword")) << cli.output;
  EXPECT_TRUE(contains(cli.output, "dGxzLXVuaXF1ZQ==")) << cli.output;
  EXPECT_FALSE(contains(value_of(build_csr(key, full_request())), "dGxz"));

  extras.challenge_password = std::string(k_max_challenge_password + 1, 'x');
  const auto refused = build_csr(key, full_request(), extras);
  ASSERT_FALSE(refused);
  EXPECT_TRUE(contains(refused.error().message, "more than the 255")) << refused.error().message;
}

TEST(Csr, OneLineEscapedCsrIsAccepted) {
  const auto key = value_of(generate_key(KeySpec{}));
  std::string pem = value_of(build_csr(key, full_request()));
  std::string one_line;
  for (const char c : pem) one_line += c == '\n' ? std::string("\\n") : std::string(1, c);
  const auto parsed = parse_csr(one_line);
  ASSERT_TRUE(parsed) << parsed.error().what();
  EXPECT_EQ(parsed->request.sans, full_request().sans);
}

TEST(Csr, ABadSelfSignatureIsRejected) {
  const auto key = value_of(generate_key(KeySpec{}));
  const std::string good = value_of(build_csr(key, full_request()));
  ASSERT_TRUE(parse_csr(good));
  const auto bad = parse_csr(testing::csr_with_bad_signature(good));
  ASSERT_FALSE(bad);
  EXPECT_TRUE(contains(bad.error().message, "signature does not verify")) << bad.error().message;
}

TEST(Csr, TwoCsrsForTheSameKeyAndNamesAreTheSameRequestThoughTheirSignaturesDiffer) {
  const auto key = value_of(generate_key(KeySpec{}));
  const std::string first = value_of(build_csr(key, full_request()));
  const std::string second = value_of(build_csr(key, full_request()));
  EXPECT_NE(first, second) << "ECDSA signs with a fresh nonce";
  EXPECT_TRUE(same_request(first, second));
  const auto other_key = value_of(generate_key(KeySpec{}));
  EXPECT_FALSE(same_request(first, value_of(build_csr(other_key, full_request()))));
  auto fewer = full_request();
  fewer.sans.pop_back();
  EXPECT_FALSE(same_request(first, value_of(build_csr(key, fewer))));
  EXPECT_FALSE(same_request(first, testing::csr_with_bad_signature(second)));
  EXPECT_FALSE(same_request(first, ""));
}

TEST(Csr, SomethingElseIsNotACsr) {
  const auto key = value_of(generate_key(KeySpec{}));
  EXPECT_FALSE(parse_csr(value_of(key.to_pkcs8_pem())));
  EXPECT_FALSE(parse_csr(""));
}

TEST(Csr, AnInvalidCountryCodeIsAnError) {
  const auto key = value_of(generate_key(KeySpec{}));
  auto request = full_request();
  request.subject.set(Subject::Attribute::country, "Germany");
  EXPECT_FALSE(build_csr(key, request));
}

}  // namespace
}  // namespace certrotd::x509
