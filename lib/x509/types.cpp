#include "x509/types.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <algorithm>
#include <cctype>

#include "util/strings.hpp"

namespace certrotd::x509 {

std::string to_string(const KeySpec& spec) {
  switch (spec.type) {
    case KeyType::ec: return "ec " + spec.curve;
    case KeyType::rsa: return "rsa " + std::to_string(spec.rsa_bits);
    case KeyType::ed25519: return "ed25519";
  }
  return "unknown key type";
}

namespace {

constexpr std::string_view k_san_help =
    "expected a SAN such as DNS:web.example, IP:10.0.0.5, URI:spiffe://td/ns/x or "
    "email:ops@example.com";

// The canonical text of an IPv4 or IPv6 address (RFC 5952: zeros compressed, lower case), so
// that equal addresses compare equal however they were written.
Result<std::string> canonical_ip(const std::string& text) {
  in6_addr v6{};
  in_addr v4{};
  char out[INET6_ADDRSTRLEN] = {};
  if (::inet_pton(AF_INET, text.c_str(), &v4) == 1) {
    ::inet_ntop(AF_INET, &v4, out, sizeof out);
    return std::string(out);
  }
  if (::inet_pton(AF_INET6, text.c_str(), &v6) == 1) {
    ::inet_ntop(AF_INET6, &v6, out, sizeof out);
    return std::string(out);
  }
  return fail("'" + text + "' is not an IPv4 or IPv6 address");
}

bool has_space_or_control(std::string_view s) {
  return std::any_of(s.begin(), s.end(),
                     [](unsigned char c) { return std::isspace(c) != 0 || std::iscntrl(c) != 0; });
}

}  // namespace

Result<San> parse_san(std::string_view text) {
  const std::string original(text);
  text = trim(text);
  const auto colon = text.find(':');
  if (colon == std::string_view::npos) {
    return fail(std::string(k_san_help) + ", got '" + original + "'");
  }
  const std::string prefix = to_lower(trim(text.substr(0, colon)));
  const std::string_view value = trim(text.substr(colon + 1));
  San san;
  if (prefix == "dns") {
    san.type = SanType::dns;
  } else if (prefix == "ip") {
    san.type = SanType::ip;
  } else if (prefix == "uri") {
    san.type = SanType::uri;
  } else if (prefix == "email") {
    san.type = SanType::email;
  } else {
    return fail(std::string(k_san_help) + ", got unknown type '" +
                std::string(text.substr(0, colon)) + "' in '" + original + "'");
  }
  if (value.empty()) {
    return fail("empty SAN value in '" + original + "'");
  }
  if (has_space_or_control(value)) {
    return fail("SAN value contains whitespace or control characters: '" + original + "'");
  }
  if (san.type == SanType::ip) {
    auto ip = canonical_ip(std::string(value));
    if (!ip) return fail(ip.error());
    san.value = std::move(*ip);
  } else {
    san.value = std::string(value);
  }
  return san;
}

std::string to_string(const San& san) {
  switch (san.type) {
    case SanType::dns: return "DNS:" + san.value;
    case SanType::ip: return "IP:" + san.value;
    case SanType::uri: return "URI:" + san.value;
    case SanType::email: return "email:" + san.value;
  }
  return san.value;
}

Result<ExtendedUsage> parse_extended_usage(std::string_view text) {
  const std::string lower = to_lower(trim(text));
  if (lower == "serverauth") return ExtendedUsage::server_auth;
  if (lower == "clientauth") return ExtendedUsage::client_auth;
  return fail("expected serverAuth or clientAuth, got '" + std::string(text) + "'");
}

std::vector<std::string> Subject::values(Attribute attribute) const {
  std::vector<std::string> out;
  for (const auto& [type, text] : attributes) {
    if (type == attribute) out.push_back(text);
  }
  return out;
}

std::string Subject::value(Attribute attribute) const {
  for (const auto& [type, text] : attributes) {
    if (type == attribute) return text;
  }
  return {};
}

void Subject::add(Attribute attribute, std::string value) {
  const auto after = std::upper_bound(
      attributes.begin(), attributes.end(), attribute,
      [](Attribute a, const std::pair<Attribute, std::string>& entry) { return a < entry.first; });
  attributes.emplace(after, attribute, std::move(value));
}

void Subject::set(Attribute attribute, std::string value) {
  std::erase_if(attributes, [attribute](const auto& entry) { return entry.first == attribute; });
  add(attribute, std::move(value));
}

std::string to_string(ExtendedUsage usage) {
  switch (usage) {
    case ExtendedUsage::server_auth: return "serverAuth";
    case ExtendedUsage::client_auth: return "clientAuth";
  }
  return "unknown";
}

}  // namespace certrotd::x509
