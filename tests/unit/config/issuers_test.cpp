// `issuers:` as config/ reads it: the keys common to every type, and the dispatch of each
// section to the registry entry its `type:` names.
#include <gtest/gtest.h>

#include "config/config.hpp"
#include "config_test_util.hpp"
#include "issuer/local/local.hpp"

namespace certrotd::config::test {
namespace {

TEST(IssuerSections, MaxConcurrentIsReadForEveryType) {
  const auto config = parse(R"(
issuers:
  ca: { type: local, ca_cert: ca.pem, ca_key: ca.key, max_concurrent: 2 }
  slow: { type: cfssl, url: "https://ca.internal", ca_bundle: b.pem, max_concurrent: 1024 }
  plain: { type: http, url: "https://pki.internal", ca_bundle: b.pem }
)");
  ASSERT_TRUE(config.has_value()) << config.error().message;
  EXPECT_EQ(config->issuers.at("ca").max_concurrent, 2);
  EXPECT_EQ(config->issuers.at("slow").max_concurrent, 1024);
  EXPECT_EQ(config->issuers.at("plain").max_concurrent, std::nullopt);
}

TEST(IssuerSections, MaxConcurrentOutOfRangeIsReportedAtItsValue) {
  EXPECT_EQ(errors_of(R"(
issuers:
  ca:
    type: local
    ca_cert: ca.pem
    ca_key: ca.key
    max_concurrent: 0
)"),
            "test.yaml:6:21: max_concurrent must be between 1 and 1024, got 0; write a number in "
            "that range");
  EXPECT_EQ(errors_of(R"(
issuers:
  corp: { type: http, url: "https://pki.internal", ca_bundle: b.pem, max_concurrent: 1025 }
)"),
            "test.yaml:2:86: max_concurrent must be between 1 and 1024, got 1025; write a number "
            "in that range");
}

TEST(IssuerSections, MaxConcurrentMustBeAWholeNumber) {
  EXPECT_EQ(errors_of(R"(
issuers:
  ca: { type: local, ca_cert: ca.pem, ca_key: ca.key, max_concurrent: few }
)"),
            "test.yaml:2:71: max_concurrent must be a whole number, got 'few'; write e.g. "
            "max_concurrent: 1");
}

TEST(IssuerSections, TheTypeIsReadByTheRegistryEntryItNames) {
  const auto config = parse(k_issuers);
  ASSERT_TRUE(config.has_value()) << config.error().message;
  const IssuerConfig& ca = config->issuers.at("ca");
  ASSERT_TRUE(ca.kind);
  EXPECT_EQ(ca.kind->name, "local");
  EXPECT_FALSE(ca.kind->needs_network);
  EXPECT_EQ(ca.options->max_lifetime(), std::chrono::hours(24));
}

TEST(IssuerSections, UnknownTypesAreHintedFromTheRegistryItWasGiven) {
  issuer::IssuerRegistry only_local;
  only_local.add(issuer::local_issuer_type());
  const auto config = parse_config("issuers:\n  corp: { type: htp }\n", "test.yaml",
                                   "/etc/certrotd", only_local);
  ASSERT_FALSE(config.has_value());
  EXPECT_EQ(config.error().message,
            "test.yaml:2:17: unknown issuer type 'htp'; this version of certrotd supports type: "
            "local");
}

}  // namespace
}  // namespace certrotd::config::test
