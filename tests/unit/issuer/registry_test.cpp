// The built-in issuer types and what their entries read, through the generic YAML reader.
#include <gtest/gtest.h>

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
  EXPECT_EQ(registry.names(),
            (std::vector<std::string>{"local", "http", "cfssl", "sap-service-manager", "est"}));
  EXPECT_FALSE(registry.find("local")->needs_network);
  EXPECT_TRUE(registry.find("http")->needs_network);
  EXPECT_TRUE(registry.find("cfssl")->needs_network);
  EXPECT_TRUE(registry.find("est")->needs_network);
  EXPECT_EQ(registry.find("acme"), nullptr);
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

}  // namespace
}  // namespace certrotd::issuer
