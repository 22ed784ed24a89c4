// expiring_at / critical_at as a percentage or a time before notAfter, and `notify:` actions.
#include <gtest/gtest.h>

#include "config/config.hpp"
#include "config_test_util.hpp"

namespace certrotd::config::test {
namespace {

using namespace std::chrono_literals;

std::string with_credentials(const std::string& defaults, const std::string& own) {
  return std::string("defaults:\n") + defaults + k_issuers +
         "credentials:\n"
         "  web:\n    issuer: ca\n    sans: [\"DNS:web.example\"]\n    output: { dir: /srv/web "
         "}\n" +
         own +
         "  api:\n    issuer: ca\n    sans: [\"DNS:api.example\"]\n    output: { dir: /srv/api }\n";
}

const CredentialConfig& named(const Config& config, const std::string& name) {
  for (const auto& c : config.credentials) {
    if (c.name == name) return c;
  }
  throw std::runtime_error("no credential " + name);
}

TEST(ExpiryThresholds, DefaultToTenAndThreePercentOfTheLifetime) {
  const auto config = parse(with_credentials("  renew_at: 66%\n", ""));
  ASSERT_TRUE(config) << config.error().what();
  const auto& policy = named(*config, "api").policy;
  EXPECT_DOUBLE_EQ(policy.expiring_at, 0.10);
  EXPECT_FALSE(policy.expiring_before.has_value());
  EXPECT_DOUBLE_EQ(policy.critical_at, 0.03);
  EXPECT_FALSE(policy.critical_before.has_value());
  EXPECT_TRUE(named(*config, "api").notify.empty());
}

TEST(ExpiryThresholds, ATimeBeforeNotAfterOrAPercentageInDefaultsAndPerCredential) {
  const auto config = parse(
      with_credentials("  expiring_at: 7d\n  critical_at: 1d\n", "    critical_at: 2%\n"));
  ASSERT_TRUE(config) << config.error().what();
  const auto& api = named(*config, "api").policy;
  EXPECT_EQ(api.expiring_before, Millis(7 * 24h));
  EXPECT_EQ(api.critical_before, Millis(24h));
  const auto& web = named(*config, "web").policy;
  EXPECT_EQ(web.expiring_before, Millis(7 * 24h));
  EXPECT_FALSE(web.critical_before.has_value()) << "the credential's own value wins";
  EXPECT_DOUBLE_EQ(web.critical_at, 0.02);
}

TEST(ExpiryThresholds, AValueThatIsNeitherIsExplained) {
  EXPECT_EQ(errors_of(with_credentials("  critical_at: soon\n", "")),
            "test.yaml:2:16: critical_at must be a percentage between 0% and 100%, got 'soon'; "
            "write e.g. critical_at: 66%");
  EXPECT_NE(errors_of(with_credentials("  expiring_at: 7x\n", "")).find("test.yaml:2:16"),
            std::string::npos);
}

TEST(ExpiryThresholds, NotifyTakesTheActionsOfOnRotate) {
  const auto config = parse(
      with_credentials("",
                       "    notify:\n      - exec: { command: [/usr/local/bin/mail-expiry] }\n"
                       "      - systemd: { unit: alert.service, action: restart }\n"));
  ASSERT_TRUE(config) << config.error().what();
  EXPECT_EQ(named(*config, "web").notify.size(), 2u);
  EXPECT_TRUE(named(*config, "web").on_rotate.empty());
  EXPECT_EQ(
      errors_of(with_credentials("", "    notify: mail\n"))
          .rfind("test.yaml:13:13: notify must be a list, not a single value; write notify: ", 0),
      0u);
}

}  // namespace
}  // namespace certrotd::config::test
