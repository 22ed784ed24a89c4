// Plain value types that describe keys, names and certificates. No OpenSSL in here, so config and
// schedule can use them without linking crypto.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "util/clock.hpp"
#include "util/result.hpp"

namespace certrotd::x509 {

enum class KeyType { ec, rsa, ed25519 };

// What key to generate (and what a received key must be).
struct KeySpec {
  KeyType type = KeyType::ec;
  std::string curve = "P-256";  // ec only: P-256 | P-384
  int rsa_bits = 2048;          // rsa only: 2048 | 3072 | 4096

  friend bool operator==(const KeySpec&, const KeySpec&) = default;
};

// "ec P-256", "rsa 3072", "ed25519".
std::string to_string(const KeySpec& spec);

enum class SanType { dns, ip, uri, email };

struct San {
  SanType type = SanType::dns;
  std::string value;  // IP addresses in their canonical text form

  friend bool operator==(const San&, const San&) = default;
  friend auto operator<=>(const San&, const San&) = default;
};

// "DNS:web.example", "IP:10.0.0.5", "URI:spiffe://td/ns/x", "email:ops@example.com".
// The type prefix is case-insensitive; IPs are validated and canonicalised.
Result<San> parse_san(std::string_view text);
std::string to_string(const San& san);

enum class ExtendedUsage { server_auth, client_auth };

// "serverAuth" / "clientAuth".
Result<ExtendedUsage> parse_extended_usage(std::string_view text);
std::string to_string(ExtendedUsage usage);

struct Subject {
  // C, ST, L, O and OU are rarely set, so they share one list instead of five members (every
  // one of 10,000 credentials holds a Subject). The list is kept in this order, the order the
  // name is built in; values of one attribute stay in the order given.
  enum class Attribute { country, state, locality, organization, organizational_unit };

  std::string common_name;
  std::vector<std::pair<Attribute, std::string>> attributes;

  // Every value of an attribute; the first one ("" if none).
  std::vector<std::string> values(Attribute attribute) const;
  std::string value(Attribute attribute) const;
  // Appends a value after the others of its attribute; set() replaces them.
  void add(Attribute attribute, std::string value);
  void set(Attribute attribute, std::string value);

  friend bool operator==(const Subject&, const Subject&) = default;
};

// What a credential asks for: used to build the CSR and to validate what comes back.
struct CertificateRequest {
  Subject subject;
  std::vector<San> sans;
  std::vector<ExtendedUsage> usages;  // empty: no EKU requested
};

// What certrotd needs to know about a certificate, extracted once.
struct CertInfo {
  std::string serial;       // lower-case hex, no separators, no leading zeros
  std::string subject;      // RFC 2253 one-line form
  std::string issuer;       // RFC 2253 one-line form
  std::string common_name;  // first CN of the subject, empty if none
  std::vector<San> sans;
  std::vector<ExtendedUsage> usages;
  SystemTime not_before;
  SystemTime not_after;
  std::string sha256_fingerprint;  // lower-case hex with ':' separators
  std::string subject_key_id;      // hex, empty if absent
  std::string authority_key_id;    // hex, empty if absent
  bool is_ca = false;
  KeySpec public_key;  // the algorithm and size of the certified key
};

}  // namespace certrotd::x509
