// Shared by the config tests: parse YAML text written inline, with a fixed file name and base
// directory so that expected messages and resolved paths can be spelled out exactly.
#pragma once

#include <string>

#include "config/config.hpp"

namespace certrotd::config::test {

// Inline YAML in tests starts on the line after R"( for readability; drop that first newline so
// line numbers in expectations match what is seen in the test.
inline std::string yaml(std::string text) {
  if (!text.empty() && text.front() == '\n') text.erase(0, 1);
  return text;
}

inline Result<Config> parse(const std::string& text) {
  return parse_config(yaml(text), "test.yaml", "/etc/certrotd");
}

// The error message of a config that must not load, or a marker that shows it loaded.
inline std::string errors_of(const std::string& text) {
  const auto config = parse(text);
  return config ? std::string("<loaded without errors>") : config.error().message;
}

// An issuer and a credential using it, for tests that vary one other thing.
constexpr const char* k_issuers = R"(
issuers:
  ca:
    type: local
    ca_cert: ca.pem
    ca_key: ca.key
)";

}  // namespace certrotd::config::test
