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

}  // namespace
}  // namespace certrotd::control
