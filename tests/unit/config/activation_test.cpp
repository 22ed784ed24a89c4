// `activation:` and `on_staged:`: defaults, the modes, the durations checked against the
// lifetime, and an on_staged action that would hand out the staged private key refused.
#include <gtest/gtest.h>

#include "config_test_util.hpp"

namespace certrotd::config::test {
namespace {

using std::chrono::hours;

constexpr const char* k_day_ca = R"(
issuers:
  ca:
    type: local
    ca_cert: ca.pem
    ca_key: ca.key
    lifetime: 30d
)";

TEST(ConfigActivation, IsImmediateByDefaultWithADayForEachDuration) {
  const auto config = parse(std::string(k_issuers) + R"(
credentials:
  a: { issuer: ca, sans: ["DNS:a"] }
)");
  ASSERT_TRUE(config) << config.error().message;
  const auto& activation = config->find_credential("a")->activation;
  EXPECT_EQ(activation.mode, schedule::ActivationMode::immediate);
  EXPECT_EQ(activation.activate_after, hours(24));
  EXPECT_EQ(activation.activate_before_expiry, hours(24));
}

TEST(ConfigActivation, StagedModeWithItsDurationsAndOnStagedActions) {
  const auto config = parse(std::string(k_day_ca) + R"(
credentials:
  a:
    issuer: ca
    sans: ["DNS:a"]
    activation: { mode: staged, activate_after: 3d, activate_before_expiry: 12h }
    on_staged:
      - exec: { command: [/bin/true, next/fullchain.pem] }
)");
  ASSERT_TRUE(config) << config.error().message;
  const auto* a = config->find_credential("a");
  EXPECT_EQ(a->activation.mode, schedule::ActivationMode::staged);
  EXPECT_EQ(a->activation.activate_after, hours(72));
  EXPECT_EQ(a->activation.activate_before_expiry, hours(12));
  ASSERT_EQ(a->on_staged.size(), 1u);
}

TEST(ConfigActivation, AnUnknownModeIsRefusedWithThePosition) {
  const std::string errors = errors_of(std::string(k_issuers) + R"(
credentials:
  a: { issuer: ca, sans: ["DNS:a"], activation: { mode: later } }
)");
  EXPECT_NE(errors.find("test.yaml:8:"), std::string::npos) << errors;
  EXPECT_NE(errors.find("unknown activation mode 'later'"), std::string::npos) << errors;
  EXPECT_NE(errors.find("mode: staged"), std::string::npos) << errors;
}

TEST(ConfigActivation, AnOnStagedActionHandedTheKeyIsRefused) {
  for (const char* file : {"next/key.pem", "/srv/out/next/bundle.pem"}) {
    const std::string errors = errors_of(std::string(k_day_ca) + R"(
credentials:
  a:
    issuer: ca
    sans: ["DNS:a"]
    activation: { mode: staged }
    on_staged:
      - exec: { command: [/bin/cp, )" + file +
                                         R"(, /srv/partner/] }
)");
    EXPECT_NE(errors.find("test.yaml:13:"), std::string::npos) << errors;
    EXPECT_NE(errors.find("holds the staged private key"), std::string::npos) << errors;
    EXPECT_NE(errors.find("next/fullchain.pem"), std::string::npos) << errors;
  }
}

TEST(ConfigActivation, OnStagedWithoutStagedModeIsRefused) {
  const std::string errors = errors_of(std::string(k_issuers) + R"(
credentials:
  a:
    issuer: ca
    sans: ["DNS:a"]
    on_staged:
      - exec: { command: [/bin/true] }
)");
  EXPECT_NE(errors.find("on_staged is set but credential 'a' activates immediately"),
            std::string::npos)
      << errors;
}

TEST(ConfigActivation, ActivateBeforeExpiryMustBeShorterThanWhatIsLeftAtRenewal) {
  // 30 days renewed at 2/3: 10 days left; with renew_before: 2d, two.
  const std::string errors = errors_of(std::string(k_day_ca) + R"(
credentials:
  a:
    issuer: ca
    sans: ["DNS:a"]
    activation: { mode: staged, activate_before_expiry: 10d }
  b:
    issuer: ca
    sans: ["DNS:b"]
    renew_before: 2d
    activation: { mode: staged, activate_before_expiry: 3d }
)");
  EXPECT_NE(errors.find("test.yaml:12:57"), std::string::npos) << errors;
  EXPECT_NE(errors.find("activate_before_expiry 10d is not shorter than the 10d"),
            std::string::npos)
      << errors;
  EXPECT_NE(errors.find("test.yaml:17:57"), std::string::npos) << errors;
  EXPECT_NE(errors.find("activate_before_expiry 3d is not shorter than the 2d"), std::string::npos)
      << errors;

  const auto fits = parse(std::string(k_day_ca) + R"(
credentials:
  a: { issuer: ca, sans: ["DNS:a"], activation: { mode: staged, activate_before_expiry: 9d } }
)");
  EXPECT_TRUE(fits) << fits.error().message;
}

TEST(ConfigActivation, TheDefaultDurationDoesNotFitAShortLifetime) {
  const std::string errors = errors_of(std::string(k_issuers) + R"(
    lifetime: 1h
credentials:
  a: { issuer: ca, sans: ["DNS:a"], activation: { mode: staged } }
)");
  EXPECT_NE(errors.find("activate_before_expiry 1d is not shorter"), std::string::npos) << errors;
  EXPECT_NE(errors.find("test.yaml:9:"), std::string::npos) << errors;
}

}  // namespace
}  // namespace certrotd::config::test
