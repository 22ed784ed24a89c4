// The built-in issuer types and what their entries read, through the generic YAML reader.
#include <gtest/gtest.h>

#include "issuer/acme/acme.hpp"
#include "issuer/acme/http01.hpp"
#include "issuer/http/http_issuer.hpp"
#include "issuer/local/local.hpp"
#include "issuer/registry.hpp"
#include "yaml/reader.hpp"
#include "yaml/tree.hpp"

namespace certrotd::issuer {
namespace {

// Reads the one `name: { ... }` of `text` with the entry of `type`; problems into `problems`.
std::shared_ptr<const IssuerOptions> read_section(const std::string& type, const std::string& text,
                                                  yaml::Problems& problems) {
  const auto documents = yaml::parse_yaml_documents(text);
  const yaml::YamlNode& root = documents.at(0);
  const yaml::Reader reader("test.yaml", "/etc/certrotd", problems);
  const yaml::YamlNode& key = root.key_at(0);
  const yaml::Mark key_mark{"test.yaml", key.line(), key.column()};
  const yaml::Field entry{key.scalar(), key_mark, &root.value_at(0),
                          reader.mark(root.value_at(0), key_mark)};
  return builtin_issuers().find(type)->read(entry, reader);
}

TEST(IssuerRegistry, ListsTheBuiltInTypesInOrderWithTheirNetworkNeed) {
  const IssuerRegistry registry = builtin_issuers();
  EXPECT_EQ(registry.names(), (std::vector<std::string>{"local", "http", "cfssl",
                                                        "sap-service-manager", "est", "acme"}));
  EXPECT_FALSE(registry.find("local")->needs_network);
  EXPECT_TRUE(registry.find("http")->needs_network);
  EXPECT_TRUE(registry.find("cfssl")->needs_network);
  EXPECT_TRUE(registry.find("est")->needs_network);
  EXPECT_TRUE(registry.find("acme")->needs_network);
  EXPECT_EQ(registry.find("no-such-type"), nullptr);
}

TEST(IssuerRegistry, ATypeMayNameACredentialKeyOfItsOwn) {
  const IssuerRegistry registry = builtin_issuers();
  EXPECT_EQ(registry.credential_keys(), (std::vector<std::string>{"sap"}));
  const auto sap = registry.find_by_credential_key("sap");
  ASSERT_TRUE(sap);
  EXPECT_EQ(sap->name, "sap-service-manager");
  EXPECT_TRUE(sap->credential_key_required);
  EXPECT_TRUE(sap->read_credential);
  EXPECT_EQ(registry.find_by_credential_key("output"), nullptr);
  EXPECT_EQ(registry.find_by_credential_key(""), nullptr);
}

TEST(IssuerRegistry, ATypeReadsItsOwnKeysAndLeavesTheCommonOnesToTheCaller) {
  yaml::Problems problems;
  problems.add_source("test.yaml");
  const auto options = read_section(
      "local", "ca: { type: local, ca_cert: ca.pem, ca_key: ca.key, max_concurrent: 3 }\n",
      problems);
  EXPECT_TRUE(problems.empty()) << problems.render();
  ASSERT_TRUE(options);
  const auto& local = options_as<LocalIssuerOptions>(*options);
  EXPECT_EQ(local.ca_cert, "/etc/certrotd/ca.pem");
  EXPECT_EQ(local.ca_key, "/etc/certrotd/ca.key");
}

TEST(IssuerRegistry, ATypeReportsAnUnknownKeyWithAHintFromItsOwnKeys) {
  yaml::Problems problems;
  problems.add_source("test.yaml");
  // The key is left out and reported; the load fails on the problem, as for any other section.
  (void)read_section(
      "http", "corp: { type: http, url: \"https://pki\", ca_bundle: b.pem, tokn: {} }\n", problems);
  EXPECT_EQ(problems.render(),
            "test.yaml:1:59: unknown key 'tokn' in issuer 'corp'; did you mean 'token'?");
}

TEST(IssuerRegistry, NetworkOptionsAreOneTypesAndNotAnothers) {
  yaml::Problems problems;
  problems.add_source("test.yaml");
  const auto options = read_section(
      "http", "corp: { type: http, url: \"https://pki\", ca_bundle: b.pem }\n", problems);
  ASSERT_TRUE(options);
  EXPECT_EQ(options_as<HttpIssuerOptions>(*options).url, "https://pki");
  EXPECT_EQ(options->max_lifetime(), std::nullopt);
  EXPECT_THROW((void)options_as<LocalIssuerOptions>(*options), std::bad_cast);
}

TEST(IssuerRegistry, AcmeReadsItsChallengesInTheOrderWritten) {
  yaml::Problems problems;
  problems.add_source("test.yaml");
  const auto options = read_section(
      "acme",
      "le: { type: acme, directory: \"https://acme.test/dir\", ca_bundle: b.pem, trust_anchors: "
      "r.pem, contact: [\"mailto:ops@example.com\"], terms_of_service_agreed: true, eab: { kid: "
      "k1, hmac_key_file: eab.key }, account_key: RS256, profile: shortlived, challenge: { "
      "http-01: { webroot: /var/www } } }\n",
      problems);
  EXPECT_TRUE(problems.empty()) << problems.render();
  ASSERT_TRUE(options);
  const auto& read = options_as<AcmeIssuerOptions>(*options);
  EXPECT_EQ(read.url, "https://acme.test/dir");
  EXPECT_EQ(read.trust_anchors, "/etc/certrotd/r.pem");
  EXPECT_EQ(read.contact, std::vector<std::string>{"mailto:ops@example.com"});
  EXPECT_TRUE(read.terms_of_service_agreed);
  ASSERT_TRUE(read.eab);
  EXPECT_EQ(read.eab->hmac_key_file, "/etc/certrotd/eab.key");
  EXPECT_EQ(read.account_key, acme::AccountKeyType::rs256);
  EXPECT_EQ(read.profile, "shortlived");
  ASSERT_EQ(read.challenges.size(), 1u);
  EXPECT_EQ(read.challenges[0].type.name, "http-01");
}

TEST(IssuerRegistry, AcmeDefaultsToTheHttp01ResponderAndEs256) {
  yaml::Problems problems;
  problems.add_source("test.yaml");
  const auto options = read_section(
      "acme",
      "le: { type: acme, directory: \"https://acme.test/dir\", ca_bundle: b.pem, trust_anchors: "
      "r.pem }\n",
      problems);
  ASSERT_TRUE(options) << problems.render();
  const auto& read = options_as<AcmeIssuerOptions>(*options);
  EXPECT_FALSE(read.terms_of_service_agreed);
  EXPECT_EQ(read.account_key, acme::AccountKeyType::es256);
  ASSERT_EQ(read.challenges.size(), 1u);
  const auto& http = dynamic_cast<const acme::Http01Options&>(*read.challenges[0].options);
  EXPECT_EQ(http.port, 80);
}

TEST(IssuerRegistry, AcmeRefusesWhatItCannotUseWithWhatToWrite) {
  yaml::Problems problems;
  problems.add_source("test.yaml");
  EXPECT_FALSE(read_section(
      "acme",
      "le: { type: acme, directory: \"http://acme.test/dir\", ca_bundle: b.pem, account_key: "
      "ES384, challenge: { http-01: { listen: \"localhost\" } } }\n",
      problems));
  const std::string text = problems.render();
  EXPECT_NE(text.find("needs trust_anchors"), std::string::npos) << text;
  EXPECT_NE(text.find("directory must be an https:// URL"), std::string::npos) << text;
  EXPECT_NE(text.find("account_key must be ES256"), std::string::npos) << text;
  EXPECT_NE(text.find("listen must be ADDRESS:PORT"), std::string::npos) << text;
}

}  // namespace
}  // namespace certrotd::issuer
