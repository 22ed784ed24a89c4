// The control interface's status answer: one JSON array built one credential at a time.
#include "control/server.hpp"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

namespace certrotd::control {
namespace {

using engine::CredentialStatus;

TEST(StatusJson, IsOneArrayBuiltOneCredentialAtATime) {
  CredentialStatus a;
  a.name = "a\"quoted\"";
  a.issuer = "ca";
  a.last_error = "line one\nline two";
  CredentialStatus b;
  b.name = "b";
  notify::ActionOutcome reloaded;
  reloaded.action = "systemd reload nginx.service";
  reloaded.ok = true;
  reloaded.attempts = 1;
  reloaded.detail = "job done";
  b.dependents.push_back(reloaded);
  std::string out = "[";
  append_status_json(out, a);
  append_status_json(out, b);
  out += ']';
  EXPECT_EQ(out, status_json({a, b}));
  const auto parsed = nlohmann::json::parse(out);
  ASSERT_EQ(parsed.size(), 2u);
  EXPECT_EQ(parsed[0]["name"], "a\"quoted\"");
  EXPECT_EQ(parsed[0]["last_error"], "line one\nline two");
  EXPECT_EQ(parsed[0]["serial"], "");
  EXPECT_EQ(parsed[1]["dependents"][0]["detail"], "job done");
  EXPECT_EQ(status_json({}), "[]");
}

TEST(StatusJson, CarriesTheRenewalWindowAndNextQuestionOnlyWhenThereAreSome) {
  CredentialStatus plain;
  plain.name = "plain";
  CredentialStatus ari;
  ari.name = "ari";
  const SystemTime t{std::chrono::hours(24 * 365 * 56)};
  ari.renewal_window = schedule::Window{t, t + std::chrono::hours(24)};
  ari.renewal_instant = t + std::chrono::hours(3);
  ari.explanation_url = "https://ca.example/why";
  ari.renewal_info_next = t - std::chrono::hours(1);
  const auto parsed = nlohmann::json::parse(status_json({plain, ari}));
  EXPECT_FALSE(parsed[0].contains("renewal_window"));
  EXPECT_FALSE(parsed[0].contains("renewal_info_next"));
  EXPECT_EQ(parsed[1]["renewal_window"]["start"], format_rfc3339(t));
  EXPECT_EQ(parsed[1]["renewal_window"]["end"], format_rfc3339(t + std::chrono::hours(24)));
  EXPECT_EQ(parsed[1]["renewal_window"]["chosen"], format_rfc3339(t + std::chrono::hours(3)));
  EXPECT_EQ(parsed[1]["renewal_window"]["explanation_url"], "https://ca.example/why");
  EXPECT_EQ(parsed[1]["renewal_info_next"], format_rfc3339(t - std::chrono::hours(1)));
  ari.renewal_instant.reset();
  EXPECT_EQ(nlohmann::json::parse(status_json({ari}))[0]["renewal_window"]["chosen"], "")
      << "a window the schedule does not use";
}

TEST(StatusJson, AStagedVersionIsShownWithWhenAndWhyItActivates) {
  CredentialStatus plain;
  plain.name = "plain";
  CredentialStatus staged;
  staged.name = "partner";
  const SystemTime t{std::chrono::seconds(1'800'000'000)};
  staged.staged = engine::StagedStatus{
      "0000000002-0b", "0b", t, t + std::chrono::hours(720), t, t + std::chrono::hours(24),
      "activate_after"};
  const auto parsed = nlohmann::json::parse(status_json({plain, staged}));
  EXPECT_FALSE(parsed[0].contains("staged")) << "absent while nothing is staged";
  const auto& s = parsed[1]["staged"];
  EXPECT_EQ(s["serial"], "0b");
  EXPECT_EQ(s["version"], "0000000002-0b");
  EXPECT_EQ(s["not_after"], format_rfc3339(t + std::chrono::hours(720)));
  EXPECT_EQ(s["activate_at"], format_rfc3339(t + std::chrono::hours(24)));
  EXPECT_EQ(s["activate_why"], "activate_after");
  EXPECT_FALSE(s.contains("replace_at"));
}

}  // namespace
}  // namespace certrotd::control
